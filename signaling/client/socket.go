package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/securecam/securecam/hub"

	"github.com/securecam/securecam/signaling/wire"
)

// ErrReconnecting is returned by the methods of a Socket that send while it
// is between two connections; errors.Is finds it in their errors.
var ErrReconnecting = errors.New("client: reconnecting")

// Backoff of a Socket between connection attempts (see Backoff; the browser
// app uses the same). After 1012 (a replica draining) the first attempt comes
// at once, within restartJitter.
const (
	minBackoff    = time.Second
	maxBackoff    = 30 * time.Second
	restartJitter = time.Second
	// dialTimeout bounds one connection attempt.
	dialTimeout = 30 * time.Second
)

// SocketConfig configures a Socket.
type SocketConfig struct {
	// Dial opens one connection (required), for the first one and for every
	// reconnection; Client.Connect dials the client's hub.
	Dial func(ctx context.Context) (*Conn, error)
	// MessageBuffer is the capacity of Messages; default DefaultMessageBuffer.
	MessageBuffer int
	// Logger receives a line per reconnection; nil discards them.
	Logger *slog.Logger
}

// Socket is a device socket that reconnects, as the protocol tells clients
// to: when the hub closes the connection with 1012 (a replica restarting) it
// dials again at once, with jitter; when the connection drops or the hub
// closes it with any other code that asks for a retry (1001, 1011, 1013,
// 4008, 4029, …) it dials again with jittered exponential backoff, until a
// connection is up. It stops for good on a normal close (1000), on 4001
// (replaced by a newer connection of the device), 4003 (forbidden) and the
// codes that say the client is wrong (1002, 1003, 1007, 1008, 1009, 4002),
// and when a dial is refused with 400, 401, 403 or 404.
//
// The messages of every connection arrive on one channel, in order, and each
// connection's hello comes first among its own (as a message of type hello
// with the Hello as data): a hello after the first says that the socket
// reconnected, which is when a device resumes its live-view sessions
// (stream.resume). Answers to Request go to their caller, as on a Conn.
//
// Concurrency: the methods are safe for concurrent use. A Socket runs one
// goroutine, which Close waits for.
type Socket struct {
	cfg      SocketConfig
	log      *slog.Logger
	messages chan hub.Envelope

	// ctx lives as long as the Socket: Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	err    error // why the Socket ended; set before done is closed

	mu       sync.Mutex
	conn     *Conn // the connection up now, nil between two
	hello    hub.HelloData
	presence map[string]bool // linked devices online, from hello and presence
}

// Connect opens a Socket to the client's hub with opts (see Dial).
func (c *Client) Connect(ctx context.Context, opts DialOptions) (*Socket, error) {
	return Connect(ctx, SocketConfig{
		Dial:   func(ctx context.Context) (*Conn, error) { return c.Dial(ctx, opts) },
		Logger: c.log,
	})
}

// Connect dials the first connection of a Socket, and returns the error
// when that fails; later connections are retried as the Socket says. ctx
// bounds the first dial only.
func Connect(ctx context.Context, cfg SocketConfig) (*Socket, error) {
	if cfg.Dial == nil {
		return nil, errors.New("client: SocketConfig.Dial is required")
	}
	if cfg.MessageBuffer <= 0 {
		cfg.MessageBuffer = DefaultMessageBuffer
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	first, err := cfg.Dial(ctx)
	if err != nil {
		return nil, err
	}
	s := &Socket{
		cfg:      cfg,
		log:      log,
		messages: make(chan hub.Envelope, cfg.MessageBuffer),
		done:     make(chan struct{}),
		conn:     first,
	}
	s.greeted(first.Hello())
	s.ctx, s.cancel = context.WithCancel(context.Background())
	go s.run(first)
	return s, nil
}

// Messages delivers the hub's messages that are not answers to this side's
// requests, each connection's hello first. It is closed when the Socket ends.
// Read it promptly, as Conn.Messages.
func (s *Socket) Messages() <-chan hub.Envelope { return s.messages }

// Done is closed when the Socket has ended: closed, or stopped reconnecting.
func (s *Socket) Done() <-chan struct{} { return s.done }

// Err says why the Socket ended (nil while it runs);
// websocket.CloseStatus(Err()) is the close code that stopped it, if any.
func (s *Socket) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Hello returns the hello of the latest connection.
func (s *Socket) Hello() hub.HelloData {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hello
}

// Online reports whether the hub last said that deviceID, a device linked
// with this one, is online (in hello or a presence message).
func (s *Socket) Online(deviceID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.presence[deviceID]
}

// current returns the connection up now.
func (s *Socket) current() (*Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		select {
		case <-s.done:
			return nil, fmt.Errorf("%w: %w", ErrClosed, s.err)
		default:
			return nil, ErrReconnecting
		}
	}
	return s.conn, nil
}

// Send writes one message on the connection up now (see Conn.Send).
func (s *Socket) Send(ctx context.Context, env hub.Envelope) error {
	conn, err := s.current()
	if err != nil {
		return fmt.Errorf("client: send %s: %w", env.Type, err)
	}
	return conn.Send(ctx, env)
}

// Request sends env and waits for its answer on the connection up now (see
// Conn.Request); the connection ending first is an error wrapping ErrClosed.
func (s *Socket) Request(ctx context.Context, env hub.Envelope) (hub.Envelope, error) {
	conn, err := s.current()
	if err != nil {
		return hub.Envelope{}, fmt.Errorf("client: request %s: %w", env.Type, err)
	}
	return conn.Request(ctx, env)
}

// SendSession sends a message of a live-view session (see Conn.SendSession).
func (s *Socket) SendSession(ctx context.Context, typ, session string, data any) error {
	conn, err := s.current()
	if err != nil {
		return fmt.Errorf("client: send %s: %w", typ, err)
	}
	return conn.SendSession(ctx, typ, session, data)
}

// RequestStream sends stream.request for a camera (see Conn.RequestStream).
func (s *Socket) RequestStream(ctx context.Context, cameraDeviceID string) (wire.StreamAck, error) {
	conn, err := s.current()
	if err != nil {
		return wire.StreamAck{}, fmt.Errorf("client: request %s: %w", wire.TypeStreamRequest, err)
	}
	return conn.RequestStream(ctx, cameraDeviceID)
}

// ResumeStream sends stream.resume for a session (see Conn.ResumeStream).
func (s *Socket) ResumeStream(ctx context.Context, session string) (wire.StreamStatus, error) {
	conn, err := s.current()
	if err != nil {
		return wire.StreamStatus{}, fmt.Errorf("client: request %s: %w", wire.TypeStreamResume, err)
	}
	return conn.ResumeStream(ctx, session)
}

// Signaler returns the media.Signaler of a live-view session on this Socket:
// it sends on whichever connection is up, and drops what it cannot send
// between two connections (ICE copes with lost candidates).
func (s *Socket) Signaler(session string) *SessionSignaler {
	return &SessionSignaler{conn: s, session: session}
}

// Close stops reconnecting, closes the connection up now normally (1000) and
// waits for the Socket's goroutine.
func (s *Socket) Close() error {
	s.cancel()
	s.mu.Lock()
	conn := s.conn
	s.mu.Unlock()
	var err error
	if conn != nil {
		err = conn.Close()
	}
	<-s.done
	return err
}

// run forwards the messages of each connection and reconnects, until the
// Socket is closed or a close code or dial refusal stops it.
func (s *Socket) run(conn *Conn) {
	var err error
	defer func() {
		s.setConn(nil)
		s.err = err
		close(s.done)
		close(s.messages)
	}()
	attempt := 0
	for {
		s.setConn(conn)
		if s.ctx.Err() != nil { // Close came while the connection was being dialled
			_ = conn.Close()
			err = ErrClosed
			return
		}
		if err = s.forward(conn); err != nil {
			_ = conn.Close()
			return
		}
		s.setConn(nil)
		cause := conn.Err()
		if s.ctx.Err() != nil {
			err = ErrClosed
			return
		}
		code := websocket.CloseStatus(cause)
		if final(code) {
			err = fmt.Errorf("client: the hub closed the socket: %w", cause)
			return
		}
		var delay time.Duration
		switch code {
		case websocket.StatusServiceRestart:
			attempt = 0
			delay = rand.N(restartJitter)
		case websocket.StatusTryAgainLater, hub.StatusTooSlow, hub.StatusRateLimited:
			attempt = max(attempt, 3)
			fallthrough
		default:
			delay = Backoff(attempt)
			attempt++
		}
		s.log.Info("socket closed: reconnecting", "close_code", int(code), "after", delay.Round(time.Millisecond), "err", cause)
		if conn, err = s.redial(delay, &attempt); err != nil {
			return
		}
		attempt = 0
		s.log.Info("socket reconnected", "node", conn.Hello().Node)
	}
}

// forward hands the connection's hello and then its messages to Messages,
// noting presence, until the connection ends; it returns ErrClosed when the
// Socket was closed meanwhile.
func (s *Socket) forward(conn *Conn) error {
	hello := conn.Hello()
	data, _ := json.Marshal(hello) // plain fields: cannot fail
	s.greeted(hello)
	if !s.push(hub.Envelope{Type: hub.TypeHello, Data: data}) {
		return ErrClosed
	}
	for env := range conn.Messages() {
		if env.Type == hub.TypePresence {
			if p, err := Data[hub.PresenceData](env); err == nil {
				s.mu.Lock()
				s.presence[p.DeviceID] = p.Status == "online"
				s.mu.Unlock()
			}
		}
		if !s.push(env) {
			return ErrClosed
		}
	}
	return nil
}

// greeted notes the hello of a new connection: its presence snapshot.
func (s *Socket) greeted(hello hub.HelloData) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hello = hello
	s.presence = make(map[string]bool, len(hello.Presence))
	for _, p := range hello.Presence {
		s.presence[p.DeviceID] = p.Status == "online"
	}
}

func (s *Socket) push(env hub.Envelope) bool {
	select {
	case s.messages <- env:
		return true
	case <-s.ctx.Done():
		return false
	}
}

// redial waits delay, then dials until a connection is up, backing off
// between attempts. It returns the error that stops the Socket: closed, or a
// refusal that another attempt would get again.
func (s *Socket) redial(delay time.Duration, attempt *int) (*Conn, error) {
	t := time.NewTimer(delay)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return nil, ErrClosed
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(s.ctx, dialTimeout)
		conn, err := s.cfg.Dial(ctx)
		cancel()
		if err == nil {
			return conn, nil
		}
		if s.ctx.Err() != nil {
			return nil, ErrClosed
		}
		var e *Error
		if errors.As(err, &e) {
			switch e.Status {
			case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
				return nil, fmt.Errorf("client: reconnect refused: %w", err)
			}
		}
		delay = Backoff(*attempt)
		*attempt++
		s.log.Info("reconnect failed: retrying", "after", delay.Round(time.Millisecond), "err", err)
		t.Reset(delay)
	}
}

func (s *Socket) setConn(c *Conn) {
	s.mu.Lock()
	s.conn = c
	s.mu.Unlock()
}

// final reports whether a close code tells the client not to reconnect.
func final(code websocket.StatusCode) bool {
	switch code {
	case websocket.StatusNormalClosure, websocket.StatusProtocolError, websocket.StatusUnsupportedData,
		websocket.StatusInvalidFramePayloadData, websocket.StatusPolicyViolation, websocket.StatusMessageTooBig,
		hub.StatusReplaced, hub.StatusProtocolViolation, hub.StatusForbidden:
		return true
	}
	return false
}

// Backoff is the wait before retry number attempt (0-based) of the protocol's
// clients, for reconnecting and for asking for live view again: a random
// point in the upper half of a cap that doubles from 1 s to 30 s, so that a
// hub restart is not met by every client at the same instant.
func Backoff(attempt int) time.Duration {
	limit := maxBackoff
	if attempt < 5 {
		limit = min(maxBackoff, minBackoff<<attempt)
	}
	return limit/2 + rand.N(limit/2+1)
}
