package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/go-redis/v9"
	"github.com/securecam/securecam/hub"
)

// wait bounds every wait in these tests.
const wait = 10 * time.Second

func TestMain(m *testing.M) {
	redis.SetLogger(quietRedis{}) // tests stop Redis on purpose: no dial errors on stderr
	code := m.Run()
	if code == 0 {
		if leaked := leakedGoroutines(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines leaked by the hub tests:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// leakedGoroutines waits up to timeout for every goroutine running hub, websocket or
// Redis code to end, and returns the stacks of those that did not.
func leakedGoroutines(timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for g := range strings.SplitSeq(string(buf), "\n\n") {
			if strings.Contains(g, "leakedGoroutines") {
				continue
			}
			if strings.Contains(g, "securecam/hub") || strings.Contains(g, "coder/websocket") || strings.Contains(g, "go-redis") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond) // polling the runtime for goroutines to end
	}
}

type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// fakeAuth authenticates from test headers: X-Device (required), X-User, X-Session;
// X-Refuse: <status> refuses with an AuthError (503: with Retry-After 1.5 s), X-Fail
// with a plain error.
type fakeAuth struct{}

func (fakeAuth) Authenticate(r *http.Request) (hub.Identity, error) {
	if s := r.Header.Get("X-Refuse"); s != "" {
		status, _ := strconv.Atoi(s)
		e := &hub.AuthError{Status: status, Code: "code_" + s, Message: "refused"}
		if status == http.StatusServiceUnavailable {
			e.RetryAfter = 1500 * time.Millisecond
		}
		return hub.Identity{}, e
	}
	if r.Header.Get("X-Fail") != "" {
		return hub.Identity{}, errors.New("store down")
	}
	user := r.Header.Get("X-User")
	if user == "" {
		user = "user-1"
	}
	return hub.Identity{UserID: user, DeviceID: r.Header.Get("X-Device"), SessionID: r.Header.Get("X-Session")}, nil
}

// Revalidate finds every identity still valid.
func (fakeAuth) Revalidate(_ context.Context, ids []hub.Identity) ([]bool, error) {
	ok := make([]bool, len(ids))
	for i := range ok {
		ok[i] = true
	}
	return ok, nil
}

// fakeDir is an in-memory Directory.
type fakeDir struct {
	mu       sync.Mutex
	links    map[string][]string
	lastSeen map[string]time.Time
	recorded []hub.PresenceUpdate
	changed  chan struct{}
}

func newFakeDir() *fakeDir {
	return &fakeDir{links: map[string][]string{}, lastSeen: map[string]time.Time{}, changed: make(chan struct{}, 1)}
}

func (d *fakeDir) link(a, b string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.links[a] = append(d.links[a], b)
	d.links[b] = append(d.links[b], a)
}

func (d *fakeDir) LinkedDevices(_ context.Context, id string) ([]hub.LinkedDevice, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []hub.LinkedDevice
	for _, l := range d.links[id] {
		out = append(out, hub.LinkedDevice{DeviceID: l, LastSeenAt: d.lastSeen[l]})
	}
	return out, nil
}

func (d *fakeDir) RecordPresence(_ context.Context, us []hub.PresenceUpdate) error {
	d.mu.Lock()
	for _, u := range us {
		d.lastSeen[u.DeviceID] = u.LastSeenAt
	}
	d.recorded = append(d.recorded, us...)
	d.mu.Unlock()
	select {
	case d.changed <- struct{}{}:
	default:
	}
	return nil
}

// waitRecorded waits until the device's latest recorded presence is online.
func (d *fakeDir) waitRecorded(t *testing.T, dev string, online bool) hub.PresenceUpdate {
	t.Helper()
	timeout := time.After(wait)
	for {
		d.mu.Lock()
		var last *hub.PresenceUpdate
		for i := range d.recorded {
			if d.recorded[i].DeviceID == dev {
				last = &d.recorded[i]
			}
		}
		var u hub.PresenceUpdate
		if last != nil {
			u = *last
		}
		d.mu.Unlock()
		if last != nil && u.Online == online {
			return u
		}
		select {
		case <-d.changed:
		case <-timeout:
			t.Fatalf("presence of %s never recorded as online=%v", dev, online)
		}
	}
}

// hookLog records OnDisconnect calls.
type hookLog struct {
	mu    sync.Mutex
	discs []disc
	ch    chan struct{}
}

type disc struct {
	id    hub.Identity
	clean bool
}

func newHookLog() *hookLog { return &hookLog{ch: make(chan struct{}, 1)} }

func (l *hookLog) onDisconnect(_ context.Context, id hub.Identity, clean bool) {
	l.mu.Lock()
	l.discs = append(l.discs, disc{id, clean})
	l.mu.Unlock()
	select {
	case l.ch <- struct{}{}:
	default:
	}
}

func (l *hookLog) waitDisconnect(t *testing.T, dev string) disc {
	t.Helper()
	timeout := time.After(wait)
	for {
		l.mu.Lock()
		i := slices.IndexFunc(l.discs, func(d disc) bool { return d.id.DeviceID == dev })
		var d disc
		if i >= 0 {
			d = l.discs[i]
		}
		l.mu.Unlock()
		if i >= 0 {
			return d
		}
		select {
		case <-l.ch:
		case <-timeout:
			t.Fatalf("OnDisconnect never called for %s", dev)
		}
	}
}

type testHub struct {
	*hub.Hub
	srv  *httptest.Server // nil for a hub in a synctest bubble
	url  string
	http *http.Client // nil: the default client
	dir  *fakeDir
	hook *hookLog
}

// newHub starts a hub behind an httptest server, with fakeAuth, a fakeDir and a hook
// log unless cfg sets its own; both stop when the test ends.
func newHub(t *testing.T, cfg hub.Config) *testHub {
	t.Helper()
	if cfg.PresenceFlushInterval == 0 {
		cfg.PresenceFlushInterval = 10 * time.Millisecond
	}
	th := startHub(t, cfg)
	th.srv = httptest.NewServer(th.Hub)
	th.url = "ws" + strings.TrimPrefix(th.srv.URL, "http")
	t.Cleanup(th.srv.Close)
	th.stopAtCleanup(t)
	return th
}

// newBubbleHub starts a hub like newHub, for a test inside a testing/synctest bubble:
// it is served over in-memory pipes (a bubble's clock only moves while every
// goroutine in it waits on the bubble, never on a network socket), so the bubble's
// fake clock drives the hub's tickers and timestamps. Its intervals keep their
// defaults unless cfg sets them.
func newBubbleHub(t *testing.T, cfg hub.Config) *testHub {
	t.Helper()
	th := startHub(t, cfg)
	l := newPipeListener()
	srv := &http.Server{Handler: th.Hub}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(l)
	}()
	th.url = "ws://hub"
	th.http = &http.Client{Transport: &http.Transport{DialContext: l.dial}}
	t.Cleanup(func() {
		_ = srv.Close()
		<-served
		th.http.CloseIdleConnections()
	})
	th.stopAtCleanup(t)
	return th
}

func startHub(t *testing.T, cfg hub.Config) *testHub {
	t.Helper()
	th := &testHub{hook: newHookLog()}
	if cfg.Authenticator == nil {
		cfg.Authenticator = fakeAuth{}
	}
	if cfg.Directory == nil {
		th.dir = newFakeDir()
		cfg.Directory = th.dir
	}
	if cfg.OnDisconnect == nil {
		cfg.OnDisconnect = th.hook.onDisconnect
	}
	h, err := hub.New(cfg)
	if err != nil {
		t.Fatalf("hub.New: %v", err)
	}
	th.Hub = h
	return th
}

// stopAtCleanup shuts the hub down when the test ends (before the server closes).
func (th *testHub) stopAtCleanup(t *testing.T) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := th.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
}

// pipeListener is a net.Listener of in-memory connections made by its dial.
type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	up, down := newStream(), newStream()
	select {
	case l.conns <- &memConn{r: up, w: down}:
		return &memConn{r: down, w: up}, nil
	case <-l.closed:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// memConn is one end of an in-memory connection. Unlike net.Pipe its writes never wait
// for the reader (they are buffered, as in a socket), so a client that stops reading
// behaves as it does over TCP. Its waits are on a sync.Cond: durably blocking in a
// synctest bubble.
type memConn struct{ r, w *stream }

// stream is one direction of a memConn.
type stream struct {
	mu           sync.Mutex
	cond         *sync.Cond
	data         []byte
	writerClosed bool
	readerClosed bool
	deadline     time.Time
	timer        *time.Timer
}

func newStream() *stream {
	s := &stream{}
	s.cond = sync.NewCond(&s.mu)
	return s
}

func (c *memConn) Read(b []byte) (int, error) {
	s := c.r
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		switch {
		case s.readerClosed:
			return 0, net.ErrClosed
		case len(s.data) > 0:
			n := copy(b, s.data)
			s.data = s.data[n:]
			return n, nil
		case s.writerClosed:
			return 0, io.EOF
		case !s.deadline.IsZero() && !time.Now().Before(s.deadline):
			return 0, os.ErrDeadlineExceeded
		}
		s.cond.Wait()
	}
}

func (c *memConn) Write(b []byte) (int, error) {
	s := c.w
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.writerClosed:
		return 0, net.ErrClosed
	case s.readerClosed:
		return 0, io.ErrClosedPipe
	}
	s.data = append(s.data, b...)
	s.cond.Broadcast()
	return len(b), nil
}

func (c *memConn) Close() error {
	for _, s := range []*stream{c.r, c.w} {
		s.mu.Lock()
		if s == c.r {
			s.readerClosed = true
		} else {
			s.writerClosed = true
		}
		if s.timer != nil {
			s.timer.Stop()
		}
		s.cond.Broadcast()
		s.mu.Unlock()
	}
	return nil
}

// SetReadDeadline wakes a waiting Read when t passes (net/http sets a past deadline to
// end its background read when a handler hijacks the connection).
func (c *memConn) SetReadDeadline(t time.Time) error {
	s := c.r
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deadline = t
	if s.timer != nil {
		s.timer.Stop()
	}
	if !t.IsZero() {
		s.timer = time.AfterFunc(time.Until(t), func() {
			s.mu.Lock()
			s.cond.Broadcast()
			s.mu.Unlock()
		})
	}
	s.cond.Broadcast()
	return nil
}

// SetWriteDeadline does nothing: writes never wait.
func (c *memConn) SetWriteDeadline(time.Time) error { return nil }

func (c *memConn) SetDeadline(t time.Time) error { return c.SetReadDeadline(t) }

func (c *memConn) LocalAddr() net.Addr  { return pipeAddr{} }
func (c *memConn) RemoteAddr() net.Addr { return pipeAddr{} }

type client struct {
	t      *testing.T
	conn   *websocket.Conn
	msgs   chan readResult // set by pump
	pumped chan struct{}   // closed when the pump goroutine ended
}

func deviceHeader(dev string, kv ...string) http.Header {
	h := http.Header{"X-Device": {dev}}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// dial connects as device dev and reads its hello.
func dial(t *testing.T, th *testHub, dev string, kv ...string) (*client, hub.Envelope) {
	t.Helper()
	c := dialRaw(t, th, deviceHeader(dev, kv...))
	hello := c.read()
	if hello.Type != "hello" {
		t.Fatalf("first message %q, want hello", hello.Type)
	}
	return c, hello
}

func dialRaw(t *testing.T, th *testHub, hdr http.Header) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, th.url, &websocket.DialOptions{
		HTTPClient:   th.http,
		Subprotocols: []string{hub.Subprotocol},
		HTTPHeader:   hdr,
	})
	if err != nil {
		t.Fatalf("dial: %v (response %v)", err, resp)
	}
	if conn.Subprotocol() != hub.Subprotocol {
		t.Fatalf("subprotocol %q, want %q", conn.Subprotocol(), hub.Subprotocol)
	}
	conn.SetReadLimit(1 << 20)
	c := &client{t: t, conn: conn}
	t.Cleanup(func() {
		_ = conn.CloseNow()
		if c.pumped != nil {
			<-c.pumped
		}
	})
	return c
}

// pump makes the client read continuously in a goroutine (so its library answers
// pings even while the test waits elsewhere); read and until then take messages from
// the goroutine.
func (c *client) pump() {
	c.msgs = make(chan readResult, 1024)
	c.pumped = make(chan struct{})
	go func() {
		defer close(c.pumped)
		defer close(c.msgs)
		for {
			typ, b, err := c.conn.Read(context.Background())
			c.msgs <- readResult{typ, b, err}
			if err != nil {
				return
			}
		}
	}()
}

type readResult struct {
	typ websocket.MessageType
	b   []byte
	err error
}

func (c *client) next(ctx context.Context) (websocket.MessageType, []byte, error) {
	if c.msgs == nil {
		return c.conn.Read(ctx)
	}
	select {
	case r, ok := <-c.msgs:
		if !ok {
			return 0, nil, errors.New("connection closed")
		}
		return r.typ, r.b, r.err
	case <-ctx.Done():
		return 0, nil, ctx.Err()
	}
}

func (c *client) read() hub.Envelope {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	typ, b, err := c.next(ctx)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	if typ != websocket.MessageText {
		c.t.Fatalf("got a %v frame, want text", typ)
	}
	env, err := hub.Decode(b)
	if err != nil {
		c.t.Fatalf("decode %s: %v", b, err)
	}
	return env
}

// until reads until a message of type typ (skipping others) and returns it.
func (c *client) until(typ string) hub.Envelope {
	c.t.Helper()
	for {
		if env := c.read(); env.Type == typ {
			return env
		}
	}
}

func (c *client) sendRaw(typ websocket.MessageType, b []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := c.conn.Write(ctx, typ, b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *client) send(env hub.Envelope) {
	c.t.Helper()
	b, err := hub.Encode(env)
	if err != nil {
		c.t.Fatalf("encode: %v", err)
	}
	c.sendRaw(websocket.MessageText, b)
}

// closeStatus reads (discarding messages) until the connection ends and returns the
// close code the server sent (-1: none).
func (c *client) closeStatus() websocket.StatusCode {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	for {
		_, _, err := c.next(ctx)
		if err != nil {
			if ctx.Err() != nil {
				c.t.Fatal("connection still open")
			}
			return websocket.CloseStatus(err)
		}
	}
}

func presenceOf(t *testing.T, env hub.Envelope) (dev, status string, lastSeen *string) {
	t.Helper()
	var p struct {
		DeviceID   string  `json:"device_id"`
		Status     string  `json:"status"`
		LastSeenAt *string `json:"last_seen_at"`
	}
	if err := json.Unmarshal(env.Data, &p); err != nil {
		t.Fatalf("presence data %s: %v", env.Data, err)
	}
	return p.DeviceID, p.Status, p.LastSeenAt
}

func errorOf(t *testing.T, env hub.Envelope) hub.ErrorData {
	t.Helper()
	if env.Type != "error" {
		t.Fatalf("got %q %s, want error", env.Type, env.Data)
	}
	var e hub.ErrorData
	if err := json.Unmarshal(env.Data, &e); err != nil {
		t.Fatalf("error data %s: %v", env.Data, err)
	}
	return e
}

func bg(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}
