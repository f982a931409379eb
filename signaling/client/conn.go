package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/pion/webrtc/v4"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling/wire"
)

// DefaultMessageBuffer is the default capacity of Conn.Messages.
const DefaultMessageBuffer = 256

// readLimit bounds a message from the hub (hello carries the presence of
// every linked device).
const readLimit = 1 << 20

// ErrClosed is returned by the methods of a Conn that has ended; errors.Is
// finds it in their errors, which also wrap the cause (Conn.Err).
var ErrClosed = errors.New("client: connection closed")

// ICECandidate converts a candidate of webrtc.candidate to pion's type.
func ICECandidate(c wire.Candidate) webrtc.ICECandidateInit {
	return webrtc.ICECandidateInit{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex}
}

// Retryable reports whether a viewer whose session ended with reason (in
// stream.ended) asks for live view again by itself, with Backoff, once the
// camera is online: the reasons that pass when the camera or the network
// comes back. Others (hangup, declined, link_revoked, …) end the view until a
// person asks again.
func Retryable(reason string) bool {
	switch reason {
	case "disconnected", "camera_offline", "camera_unreachable", "timeout", "camera_stopped", "connection_failed":
		return true
	}
	return false
}

// Data decodes the data of env into a T.
func Data[T any](env hub.Envelope) (T, error) {
	var v T
	if len(env.Data) == 0 {
		return v, nil
	}
	if err := json.Unmarshal(env.Data, &v); err != nil {
		return v, fmt.Errorf("client: %s data: %w", env.Type, err)
	}
	return v, nil
}

// DialOptions says how to authenticate the socket.
type DialOptions struct {
	// DeviceID is sent as X-Device-Id: required with a session token,
	// unneeded with a device token.
	DeviceID string
	// Ticket, if set, authenticates with ?ticket= instead of the token.
	Ticket string
	// MessageBuffer is the capacity of Messages; default DefaultMessageBuffer.
	MessageBuffer int
}

// Conn is an open device socket. Answers to requests (ack, error, pong
// carrying the ref of a pending Request or Ping) go to their caller;
// every other message goes to Messages, in order. The hub's application
// pings are answered with pong.
type Conn struct {
	ws       *websocket.Conn
	hello    hub.HelloData
	messages chan hub.Envelope
	client   *Client

	// ctx is the connection's lifetime; Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   chan struct{}
	err    error // why the connection ended; set before done is closed

	mu      sync.Mutex
	waiting map[string]chan hub.Envelope
}

// Dial opens the device socket and waits for hello.
func (c *Client) Dial(ctx context.Context, opts DialOptions) (*Conn, error) {
	u := *c.base
	switch u.Scheme {
	case "https":
		u.Scheme = "wss"
	default:
		u.Scheme = "ws"
	}
	u.Path += "/ws"
	header := http.Header{}
	if opts.Ticket != "" {
		u.RawQuery = url.Values{"ticket": {opts.Ticket}}.Encode()
	} else if c.token != "" {
		header.Set("Authorization", "Bearer "+c.token)
	}
	if opts.DeviceID != "" {
		header.Set("X-Device-Id", opts.DeviceID)
	}
	ws, resp, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{
		HTTPClient:   c.http,
		HTTPHeader:   header,
		Subprotocols: []string{hub.Subprotocol},
	})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			var body []byte
			if resp.Body != nil {
				body, _ = io.ReadAll(resp.Body)
			}
			return nil, fmt.Errorf("client: dial: %w", problem(resp.StatusCode, body))
		}
		return nil, fmt.Errorf("client: dial: %w", err)
	}
	if ws.Subprotocol() != hub.Subprotocol {
		_ = ws.Close(websocket.StatusProtocolError, "subprotocol not selected")
		return nil, fmt.Errorf("client: dial: hub selected subprotocol %q", ws.Subprotocol())
	}
	ws.SetReadLimit(readLimit)

	first, err := readEnvelope(ctx, ws)
	if err == nil && first.Type != hub.TypeHello {
		err = fmt.Errorf("first message is %q, not hello", first.Type)
	}
	var hello hub.HelloData
	if err == nil {
		hello, err = Data[hub.HelloData](first)
	}
	if err != nil {
		_ = ws.Close(websocket.StatusProtocolError, "no hello")
		return nil, fmt.Errorf("client: dial: %w", err)
	}

	size := opts.MessageBuffer
	if size <= 0 {
		size = DefaultMessageBuffer
	}
	conn := &Conn{
		ws:       ws,
		hello:    hello,
		messages: make(chan hub.Envelope, size),
		client:   c,
		done:     make(chan struct{}),
		waiting:  map[string]chan hub.Envelope{},
	}
	conn.ctx, conn.cancel = context.WithCancel(context.Background())
	conn.wg.Add(1)
	go conn.readLoop()
	return conn, nil
}

func readEnvelope(ctx context.Context, ws *websocket.Conn) (hub.Envelope, error) {
	for {
		typ, b, err := ws.Read(ctx)
		if err != nil {
			return hub.Envelope{}, fmt.Errorf("read: %w", err)
		}
		if typ != websocket.MessageText {
			continue // the contract has text frames only
		}
		env, err := hub.Decode(b)
		if err != nil {
			return hub.Envelope{}, fmt.Errorf("read: %w", err)
		}
		return env, nil
	}
}

// Hello returns the hello the hub greeted the connection with.
func (c *Conn) Hello() hub.HelloData { return c.hello }

// Messages delivers the hub's messages that are not answers to this side's
// requests. It is closed when the connection ends. Read it promptly: when
// it is full the connection stops reading, so answers to Request wait too,
// and the hub eventually drops the connection as too slow.
func (c *Conn) Messages() <-chan hub.Envelope { return c.messages }

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err says why the connection ended (nil while it is open);
// websocket.CloseStatus(Err()) is the close code the hub sent, if any.
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Send writes one message; the answer to an id it carries arrives on
// Messages.
func (c *Conn) Send(ctx context.Context, env hub.Envelope) error {
	b, err := hub.Encode(env)
	if err != nil {
		return fmt.Errorf("client: send %s: %w", env.Type, err)
	}
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		if cerr := c.Err(); cerr != nil {
			return fmt.Errorf("client: send %s: %w: %w", env.Type, ErrClosed, cerr)
		}
		if errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("client: send %s: %w: %w", env.Type, ErrClosed, err)
		}
		return fmt.Errorf("client: send %s: %w", env.Type, err)
	}
	return nil
}

// Request sends env with an id (a new UUID unless env.ID is set: reuse an id
// to retry a command.send idempotently) and waits for its answer: the ack
// (or, for ping, the pong) is returned; an error answer is an *Error.
func (c *Conn) Request(ctx context.Context, env hub.Envelope) (hub.Envelope, error) {
	if env.ID == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return hub.Envelope{}, fmt.Errorf("client: request %s: %w", env.Type, err)
		}
		env.ID = id.String()
	}
	answer := make(chan hub.Envelope, 1)
	c.mu.Lock()
	if _, dup := c.waiting[env.ID]; dup {
		c.mu.Unlock()
		return hub.Envelope{}, fmt.Errorf("client: request %s: id %q already pending", env.Type, env.ID)
	}
	c.waiting[env.ID] = answer
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiting, env.ID)
		c.mu.Unlock()
	}()

	if err := c.Send(ctx, env); err != nil {
		return hub.Envelope{}, err
	}
	select {
	case a := <-answer:
		if a.Type == hub.TypeError {
			d, err := Data[hub.ErrorData](a)
			if err != nil {
				return hub.Envelope{}, fmt.Errorf("client: request %s: %w", env.Type, err)
			}
			return a, fmt.Errorf("client: request %s: %w", env.Type, &Error{Code: d.Code, Message: d.Message})
		}
		return a, nil
	case <-ctx.Done():
		return hub.Envelope{}, fmt.Errorf("client: request %s: %w", env.Type, ctx.Err())
	case <-c.done:
		return hub.Envelope{}, fmt.Errorf("client: request %s: %w: %w", env.Type, ErrClosed, c.err)
	}
}

// Ping sends an application ping and returns the time until its pong.
func (c *Conn) Ping(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	if _, err := c.Request(ctx, hub.Envelope{Type: hub.TypePing, Data: json.RawMessage(`{}`)}); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// SendCommand sends command.send and returns the new command's id.
func (c *Conn) SendCommand(ctx context.Context, cmd wire.CommandRequest) (string, error) {
	env, err := envelope(wire.TypeCommandSend, "", cmd)
	if err != nil {
		return "", err
	}
	ack, err := c.Request(ctx, env)
	if err != nil {
		return "", err
	}
	d, err := Data[wire.CommandStatus](ack)
	return d.CommandID, err
}

// RequestStream sends stream.request for a camera.
func (c *Conn) RequestStream(ctx context.Context, cameraDeviceID string) (wire.StreamAck, error) {
	env, err := envelope(wire.TypeStreamRequest, "", wire.StreamRequest{CameraDeviceID: cameraDeviceID})
	if err != nil {
		return wire.StreamAck{}, err
	}
	ack, err := c.Request(ctx, env)
	if err != nil {
		return wire.StreamAck{}, err
	}
	return Data[wire.StreamAck](ack)
}

// ResumeStream sends stream.resume for a session this device is a party of,
// after its socket came back, and returns where the session is. A session
// that ended while the device was away is answered with its closed status
// and reason, and stream.ended follows on Messages.
func (c *Conn) ResumeStream(ctx context.Context, session string) (wire.StreamStatus, error) {
	env, err := envelope(wire.TypeStreamResume, session, nil)
	if err != nil {
		return wire.StreamStatus{}, err
	}
	ack, err := c.Request(ctx, env)
	if err != nil {
		return wire.StreamStatus{}, err
	}
	return Data[wire.StreamStatus](ack)
}

// SendSession sends a message of a live-view session, without waiting for
// an answer; data nil sends {}.
func (c *Conn) SendSession(ctx context.Context, typ, session string, data any) error {
	env, err := envelope(typ, session, data)
	if err != nil {
		return err
	}
	return c.Send(ctx, env)
}

// Signaler returns the media.Signaler of a live-view session on this
// connection: descriptions go out as webrtc.offer / webrtc.answer,
// candidates as webrtc.candidate.
func (c *Conn) Signaler(session string) *SessionSignaler {
	return &SessionSignaler{conn: c, session: session}
}

// SessionSignaler sends a peer's signaling over a Conn or a Socket (see
// Conn.Signaler).
type SessionSignaler struct {
	conn interface {
		SendSession(ctx context.Context, typ, session string, data any) error
	}
	session string
}

// SendDescription sends an offer or an answer.
func (s *SessionSignaler) SendDescription(ctx context.Context, d webrtc.SessionDescription) error {
	typ := wire.TypeOffer
	if d.Type == webrtc.SDPTypeAnswer {
		typ = wire.TypeAnswer
	}
	return s.conn.SendSession(ctx, typ, s.session, wire.SessionDescription{SDP: d.SDP})
}

// SendCandidate sends a candidate; Candidate "" ends gathering.
func (s *SessionSignaler) SendCandidate(ctx context.Context, c webrtc.ICECandidateInit) error {
	return s.conn.SendSession(ctx, wire.TypeCandidate, s.session,
		wire.Candidate{Candidate: c.Candidate, SDPMid: c.SDPMid, SDPMLineIndex: c.SDPMLineIndex})
}

func envelope(typ, session string, data any) (hub.Envelope, error) {
	raw := json.RawMessage(`{}`)
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			return hub.Envelope{}, fmt.Errorf("client: encode %s: %w", typ, err)
		}
		raw = b
	}
	return hub.Envelope{Type: typ, Session: session, Data: raw}, nil
}

// Close closes the socket normally (1000) and waits for the read loop.
func (c *Conn) Close() error {
	err := c.ws.Close(websocket.StatusNormalClosure, "")
	c.cancel()
	c.wg.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("client: close: %w", err)
	}
	return nil
}

// CloseNow closes the socket without the close handshake, as a lost network
// does (the hub sees the connection drop rather than close), and waits for the
// read loop.
func (c *Conn) CloseNow() error {
	err := c.ws.CloseNow()
	c.cancel()
	c.wg.Wait()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("client: close: %w", err)
	}
	return nil
}

// readLoop reads until the connection ends, routing answers to their
// requests and everything else to messages.
func (c *Conn) readLoop() {
	defer c.wg.Done()
	var err error
	defer func() {
		if r := recover(); r != nil {
			c.client.log.Error("panic in socket read loop", "panic", r)
			err = fmt.Errorf("client: read loop panic: %v", r)
			_ = c.ws.CloseNow()
		}
		c.err = err
		close(c.done)
		close(c.messages)
	}()
	for {
		var env hub.Envelope
		env, err = readEnvelope(c.ctx, c.ws)
		if err != nil {
			return
		}
		switch env.Type {
		case hub.TypePing:
			if env.ID != "" {
				if err := c.Send(c.ctx, hub.Envelope{Type: hub.TypePong, Ref: env.ID, Data: json.RawMessage(`{}`)}); err != nil {
					c.client.log.Debug("answer ping", "err", err)
				}
			}
			continue
		case hub.TypeAck, hub.TypeError, hub.TypePong:
			if c.deliver(env) {
				continue
			}
		}
		select {
		case c.messages <- env:
		case <-c.ctx.Done():
			err = c.ctx.Err()
			return
		}
	}
}

// deliver hands an answer to the Request waiting for it.
func (c *Conn) deliver(env hub.Envelope) bool {
	if env.Ref == "" {
		return false
	}
	c.mu.Lock()
	ch, ok := c.waiting[env.Ref]
	delete(c.waiting, env.Ref)
	c.mu.Unlock()
	if ok {
		ch <- env // buffered, one answer per id
	}
	return ok
}
