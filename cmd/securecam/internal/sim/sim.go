// Package sim runs simulated SecureCam devices on real pion peers: a camera that
// answers live-view requests with a VP8 test pattern and acknowledges commands, and a
// viewer that requests live view, counts the frames that arrive and measures the time
// to the first one. `securecam sim camera|viewer` wires them to flags; the benchmark
// and the end-to-end tests reuse them.
//
// A device signs in over REST ([Login]), registers itself or reuses the device of
// the same name ([EnsureDevice]), links a viewer to a camera ([EnsureLink]) and
// opens its socket with client.Client.Dial; [RunCamera] and [View] then speak the
// live-view protocol on that socket.
//
// The socket is a client.Socket, which reconnects as the protocol says: the media
// peers live on while it does (media is peer to peer), and the devices resume their
// sessions with stream.resume when it is back. A viewer whose session ended for a
// reason that passes (client.Retryable) asks again, with backoff, once the camera is
// online, when ViewerConfig.Rerequest is set.
//
// Concurrency: RunCamera and View read the Socket's messages on the calling goroutine
// until they return, and close the media peers they made (waiting for their
// goroutines, and for the goroutines that wait for answers to stream.resume) before
// returning. Nothing else may read the same Socket's messages meanwhile. Login,
// EnsureDevice and EnsureLink are plain REST calls.
package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling/client"
	"github.com/securecam/securecam/signaling/client/media"
	"github.com/securecam/securecam/signaling/ice"

	"github.com/securecam/securecam/signaling/wire"

	"github.com/securecam/securecam/store"
)

// Media tunes the pion peers of a simulated device. The zero value uses pion's
// defaults and the ICE servers the hub hands out.
type Media struct {
	// SettingEngine tunes pion (see media.LoopbackSettingEngine for one host).
	SettingEngine *webrtc.SettingEngine
	// ICETransportPolicy: webrtc.ICETransportPolicyRelay sends media through TURN only.
	ICETransportPolicy webrtc.ICETransportPolicy
	// Logger receives the device's logs; nil discards them.
	Logger *slog.Logger
	// PeerLogger receives the logs of the pion peers (pion's own included); nil
	// discards them.
	PeerLogger *slog.Logger
}

func (m Media) logger() *slog.Logger {
	if m.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return m.Logger
}

func (m Media) config(sig media.Signaler, servers []ice.Server, onState func(webrtc.PeerConnectionState)) media.Config {
	return media.Config{
		Signaler:           sig,
		ICEServers:         ice.List{ICEServers: servers}.WebRTC(),
		ICETransportPolicy: m.ICETransportPolicy,
		SettingEngine:      m.SettingEngine,
		OnStateChange:      onState,
		Logger:             m.PeerLogger,
	}
}

// answerTimeout bounds the wait for the hub's answer to one request.
const answerTimeout = 10 * time.Second

// request sends a message with an id on conn and waits for the hub's answer (an
// error answer is a *client.Error).
func request(ctx context.Context, conn *client.Socket, typ, session string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("sim: encode %s: %w", typ, err)
	}
	ctx, cancel := context.WithTimeout(ctx, answerTimeout)
	defer cancel()
	_, err = conn.Request(ctx, hub.Envelope{Type: typ, Session: session, Data: raw})
	return err
}

// resumed is the hub's answer to the stream.resume of one session.
type resumed struct {
	id    string
	state wire.StreamStatus
	err   error
}

// resume asks the hub where session id is now that the socket is back, on a
// goroutine counted in wg, and hands the answer to out unless ctx ends first.
func resume(ctx context.Context, sock *client.Socket, id string, out chan<- resumed, wg *sync.WaitGroup) {
	wg.Go(func() {
		rctx, cancel := context.WithTimeout(ctx, answerTimeout)
		defer cancel()
		st, err := sock.ResumeStream(rctx, id)
		select {
		case out <- resumed{id: id, state: st, err: err}:
		case <-ctx.Done():
		}
	})
}

// apply acts on the answer to stream.resume of a session whose peer is connected
// (a closed channel) or not: a session that is over is dropped (its stream.ended
// comes too), and one still being set up whose peer connected while the socket was
// away is told connected again (that message may have been lost). A hub that does
// not know stream.resume (unknown_type) ended the session when the socket went.
// Other failures (the socket went again) wait for the next resume.
func (r resumed) apply(ctx context.Context, sock *client.Socket, log *slog.Logger, connected <-chan struct{}, drop func()) {
	switch {
	case r.err != nil:
		if code := client.ErrorCode(r.err); code == "unknown_type" || code == "not_found" {
			log.Info("live view: session not resumed", "session_id", r.id, "code", code)
			drop()
			return
		}
		log.Debug("live view: resume", "session_id", r.id, "err", r.err)
	case !r.state.Open():
		log.Info("live view: session ended while away", "session_id", r.id, "status", r.state.Status)
		drop()
	default:
		log.Info("live view: session resumed", "session_id", r.id, "status", r.state.Status)
		select {
		case <-connected:
			if r.state.Status != store.StreamLive {
				if err := sock.SendSession(ctx, wire.TypeStreamConnected, r.id, nil); err != nil {
					log.Debug("send stream.connected", "session_id", r.id, "err", err)
				}
			}
		default:
		}
	}
}

// Login says how a simulated device signs in: with a user session token, or with
// e-mail and password (creating the account first when SignUp is set and sign-in
// finds none).
type Login struct {
	HubURL   string
	Token    string
	Email    string
	Password string
	SignUp   bool
	// HTTPClient makes the REST calls and the socket handshake; nil: the client's default.
	HTTPClient *http.Client
}

// Client returns a client of the hub signed in as the user.
func (l Login) Client(ctx context.Context) (*client.Client, error) {
	c, err := client.New(client.Config{BaseURL: l.HubURL, HTTPClient: l.HTTPClient, Token: l.Token})
	if err != nil {
		return nil, err
	}
	if l.Token != "" {
		if _, err := c.Me(ctx); err != nil {
			return nil, fmt.Errorf("sim: the token does not sign in a user: %w", err)
		}
		return c, nil
	}
	if l.Email == "" || l.Password == "" {
		return nil, errors.New("sim: give a user session token, or an e-mail and a password")
	}
	auth, err := c.SignIn(ctx, l.Email, l.Password)
	if l.SignUp && client.ErrorCode(err) == "invalid_credentials" {
		auth, err = c.SignUp(ctx, l.Email, l.Password, "Simulated devices")
		if client.ErrorCode(err) == "conflict" {
			return nil, errors.New("sim: sign-in failed: wrong password for an existing account")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("sim: sign in: %w", err)
	}
	return c.WithToken(auth.Session.Token), nil
}

// EnsureDevice returns the user's device called name, registering one with role
// when there is none. A device of that name with another role is an error.
func EnsureDevice(ctx context.Context, c *client.Client, name, role string) (wire.Device, error) {
	d, err := FindDevice(ctx, c, name)
	switch {
	case err == nil && d.Shared != nil: // another account's camera shared with the user: not theirs
	case err == nil && d.Role != role:
		return wire.Device{}, fmt.Errorf("sim: device %q is a %s, not a %s", name, d.Role, role)
	case err == nil:
		return d, nil
	case !errors.Is(err, ErrNoDevice):
		return wire.Device{}, err
	}
	created, err := c.CreateDevice(ctx, client.NewDevice{Name: name, Role: role, Platform: "other"})
	if err != nil {
		return wire.Device{}, fmt.Errorf("sim: register device %q: %w", name, err)
	}
	return created.Device, nil
}

// ErrNoDevice is returned by FindDevice when the user has no such device.
var ErrNoDevice = errors.New("sim: no such device")

// FindDevice returns the user's device whose id or name is nameOrID (the newest of
// that name), or else a camera of that id or name shared with the user (marked
// Shared).
func FindDevice(ctx context.Context, c *client.Client, nameOrID string) (wire.Device, error) {
	p := client.PageRequest{Limit: 200}
	var shared *wire.Device
	for {
		page, err := c.ListDevices(ctx, p)
		if err != nil {
			return wire.Device{}, fmt.Errorf("sim: list devices: %w", err)
		}
		for _, d := range page.Items {
			switch {
			case d.ID != nameOrID && d.Name != nameOrID:
			case d.Shared == nil:
				return d, nil
			case shared == nil:
				shared = &d
			}
		}
		if page.NextCursor == nil {
			if shared != nil {
				return *shared, nil
			}
			return wire.Device{}, fmt.Errorf("%w: %q", ErrNoDevice, nameOrID)
		}
		p.Cursor = *page.NextCursor
	}
}

// EnsureLink links the viewer to the camera unless an active link exists.
func EnsureLink(ctx context.Context, c *client.Client, cameraID, viewerID string) error {
	_, err := c.CreateLink(ctx, cameraID, viewerID)
	if err != nil && client.ErrorCode(err) != "conflict" {
		return fmt.Errorf("sim: link: %w", err)
	}
	return nil
}
