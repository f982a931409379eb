package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling/client"
)

// dialer opens the load generator's sockets, spreading them over loopback source
// addresses so that one address's ports do not run out.
type dialer struct {
	clients []*http.Client // one per source address
	next    atomic.Uint64
}

// newDialer returns a dialer over n loopback sources (127.0.0.1 …), or over the
// default route when the target (addr, if given) is not on loopback.
func newDialer(n int, addr string) *dialer {
	d := &dialer{}
	if addr != "" && !isLoopback(addr) {
		n = 1
	}
	for i := range n {
		nd := &net.Dialer{Timeout: 30 * time.Second}
		if addr == "" || isLoopback(addr) {
			nd.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, byte((1+i)>>8), byte(1+i))}
		}
		d.clients = append(d.clients, &http.Client{Transport: &http.Transport{
			DialContext:         nd.DialContext,
			MaxIdleConnsPerHost: 64,
			IdleConnTimeout:     30 * time.Second,
		}})
	}
	return d
}

// client returns the HTTP client of the next source address.
func (d *dialer) client() *http.Client {
	return d.clients[d.next.Add(1)%uint64(len(d.clients))]
}

func (d *dialer) close() {
	for _, c := range d.clients {
		c.CloseIdleConnections()
	}
}

// readLimit bounds a message the generator reads.
const readLimit = 1 << 20

// dialHub opens a device socket with a device token and reads hello.
func (d *dialer) dialHub(ctx context.Context, base, token string) (*websocket.Conn, error) {
	u := wsURL(base, "/ws")
	ws, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{
		HTTPClient:   d.client(),
		HTTPHeader:   http.Header{"Authorization": {"Bearer " + token}},
		Subprotocols: []string{hub.Subprotocol},
	})
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", u, err)
	}
	ws.SetReadLimit(readLimit)
	if _, err := expect(ctx, ws, func(env hub.Envelope) bool { return env.Type == hub.TypeHello }); err != nil {
		_ = ws.CloseNow()
		return nil, fmt.Errorf("dial %s: %w", u, err)
	}
	return ws, nil
}

// dialRaw opens a socket of the bare relay as id, relaying to peer.
func (d *dialer) dialRaw(ctx context.Context, base, id, peer string) (*websocket.Conn, error) {
	u := wsURL(base, "/relay") + "?" + url.Values{"id": {id}, "peer": {peer}}.Encode()
	ws, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: d.client()})
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", u, err)
	}
	ws.SetReadLimit(readLimit)
	return ws, nil
}

func wsURL(base, path string) string {
	return "ws" + strings.TrimPrefix(strings.TrimSuffix(base, "/"), "http") + path
}

// send writes one envelope.
func send(ctx context.Context, ws *websocket.Conn, env hub.Envelope) error {
	b, err := hub.Encode(env)
	if err != nil {
		return err
	}
	if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
		return fmt.Errorf("send %s: %w", env.Type, err)
	}
	return nil
}

// setupTimeout bounds one step of a setup exchange.
const setupTimeout = 30 * time.Second

// expect reads until a message matches and returns it. An error message whose ref
// the matcher would accept on an ack (the answer to the request waited for) is
// returned as a *client.Error; other error messages are skipped.
func expect(ctx context.Context, ws *websocket.Conn, match func(hub.Envelope) bool) (hub.Envelope, error) {
	ctx, cancel := context.WithTimeout(ctx, setupTimeout)
	defer cancel()
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			return hub.Envelope{}, fmt.Errorf("read: %w", err)
		}
		env, err := hub.Decode(b)
		if err != nil {
			return hub.Envelope{}, fmt.Errorf("read: %w", err)
		}
		if env.Type == hub.TypeError && env.Ref != "" && match(hub.Envelope{Type: hub.TypeAck, Ref: env.Ref}) {
			d, _ := client.Data[hub.ErrorData](env)
			return env, &client.Error{Code: d.Code, Message: d.Message}
		}
		if match(env) {
			return env, nil
		}
	}
}

// request sends a message with an id and waits for its ack.
func request(ctx context.Context, ws *websocket.Conn, typ, session, id string, data any) (hub.Envelope, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return hub.Envelope{}, fmt.Errorf("%s: %w", typ, err)
	}
	if err := send(ctx, ws, hub.Envelope{Type: typ, ID: id, Session: session, Data: raw}); err != nil {
		return hub.Envelope{}, err
	}
	ack, err := expect(ctx, ws, func(env hub.Envelope) bool { return env.Type == hub.TypeAck && env.Ref == id })
	if err != nil {
		return hub.Envelope{}, fmt.Errorf("%s: %w", typ, err)
	}
	return ack, nil
}

// device is a registered device and its token.
type device struct {
	ID    string
	Token string
}

// account signs up a new user on the hub and returns its REST client.
func (r *runner) account(ctx context.Context, base string) (*client.Client, error) {
	c, err := client.New(client.Config{BaseURL: base, HTTPClient: r.dial.client()})
	if err != nil {
		return nil, err
	}
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	tag := hex.EncodeToString(b)
	auth, err := c.SignUp(ctx, "bench-"+tag+"@example.com", "bench-"+tag, "Benchmark")
	if err != nil {
		return nil, fmt.Errorf("sign up: %w", err)
	}
	return c.WithToken(auth.Session.Token), nil
}

// setupWorkers is how many REST calls or dials run at once while setting up.
const setupWorkers = 32

// parallel runs fn(i) for i in [0, n) on setupWorkers goroutines and returns the
// first error; it reports progress every second as "what i/n".
func (r *runner) parallel(ctx context.Context, what string, n int, fn func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next, done atomic.Int64
		once       sync.Once
		first      error
		wg         sync.WaitGroup
	)
	stop := r.ticker(func() { r.progressf("%s %d/%d", what, done.Load(), n) })
	defer stop()
	for range min(setupWorkers, n) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(ctx, i); err != nil {
					once.Do(func() {
						first = fmt.Errorf("%s %d: %w", what, i, err)
						cancel()
					})
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	if first == nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return first
}

// devices registers n devices of role for the user.
func (r *runner) devices(ctx context.Context, user *client.Client, role string, n int) ([]device, error) {
	out := make([]device, n)
	err := r.parallel(ctx, "register "+role+"s", n, func(ctx context.Context, i int) error {
		d, err := user.CreateDevice(ctx, client.NewDevice{Name: fmt.Sprintf("bench %s %d", role, i), Role: role, Platform: "other"})
		if err != nil {
			return err
		}
		out[i] = device{ID: d.Device.ID, Token: d.DeviceToken}
		return nil
	})
	return out, err
}

// linkAll links viewers[i] to cameras[i].
func (r *runner) linkAll(ctx context.Context, user *client.Client, cameras, viewers []device) error {
	return r.parallel(ctx, "link pairs", len(cameras), func(ctx context.Context, i int) error {
		_, err := user.CreateLink(ctx, cameras[i].ID, viewers[i].ID)
		return err
	})
}

// closeAll closes sockets at once (no close handshake).
func closeAll(conns []*websocket.Conn) {
	for _, c := range conns {
		if c != nil {
			_ = c.CloseNow()
		}
	}
}

// errClosed reports whether err only says the socket was closed by us.
func errClosed(err error) bool {
	return errors.Is(err, net.ErrClosed) || websocket.CloseStatus(err) != -1 || errors.Is(err, context.Canceled)
}
