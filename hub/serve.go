package hub

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/securecam/securecam/hub/internal/ipbudget"
	"github.com/securecam/securecam/hub/internal/sendq"
)

// ServeHTTP serves GET /ws: subprotocol check (400), refusals that cost nothing (503
// while shutting down or when the accept budget is empty; 429 + Retry-After for a
// client network whose failed-authentication budget is spent), authentication (the
// Authenticator's status; each failure spends from the network's budget), an accept
// slot (503 + Retry-After), the upgrade, then the connection until it closes.
//
// Authentication comes before the accept slot, so requests with bad credentials never
// take the slots of real devices: they spend their own per-network budget instead.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !offersSubprotocol(r) {
		WriteProblem(w, http.StatusBadRequest, CodeBadRequest, "the WebSocket subprotocol "+Subprotocol+" must be offered")
		return
	}
	h.mu.Lock()
	if h.draining {
		h.mu.Unlock()
		h.refuseBusy(w, time.Second)
		return
	}
	h.conns.Add(1)
	h.mu.Unlock()
	handedOver := false
	defer func() {
		if !handedOver {
			h.conns.Done()
		}
	}()

	network := ipbudget.Key(r.RemoteAddr)
	if after := h.authFailures.Wait(network, h.cfg.Now()); after > 0 {
		h.metrics.authThrottled.Inc()
		h.refuseThrottled(w, after)
		return
	}
	// A look at the accept budget that takes nothing: when it is empty, refuse before
	// spending a credential lookup (or a single-use ticket) on the request.
	if t := h.accept.Tokens(); t < 1 {
		h.refuseAdmission(w, time.Duration((1-t)/float64(h.accept.Limit())*float64(time.Second)))
		return
	}

	id, err := h.cfg.Authenticator.Authenticate(r)
	if err != nil {
		var ae *AuthError
		if errors.As(err, &ae) && ae.Status >= 400 && ae.Status <= 599 {
			if ae.Status < 500 {
				h.metrics.authFailures.Inc()
				h.authFailures.Spend(network, h.cfg.Now())
			}
			if ae.RetryAfter > 0 {
				w.Header().Set("Retry-After", retryAfter(ae.RetryAfter))
			}
			WriteProblem(w, ae.Status, ae.Code, ae.Message)
			return
		}
		h.log.Error("authenticate websocket", "err", err)
		WriteProblem(w, http.StatusInternalServerError, CodeInternal, "internal error")
		return
	}

	if res := h.accept.Reserve(); res.Delay() > 0 { // taken meanwhile by another request
		res.Cancel()
		h.refuseAdmission(w, res.Delay())
		return
	}

	c := h.newClient(id)
	conn, err := websocket.Accept(smallBuffers{w, c}, r, &websocket.AcceptOptions{
		Subprotocols:       []string{Subprotocol},
		InsecureSkipVerify: true, // origins are the Authenticator's job
		OnPingReceived:     c.pingReceived,
	})
	if err != nil {
		h.log.Debug("websocket accept", "err", err)
		return
	}
	c.conn = conn
	// Serve the socket from a goroutine of our own and let net/http's goroutine return:
	// its stack, the request and the response buffers are freed for the connection's
	// lifetime. The goroutine is counted in h.conns, awaited by Shutdown.
	handedOver = true
	go func() {
		defer h.conns.Done()
		h.serveConn(c)
	}()
}

// Buffer sizes of a hijacked connection (net/http's are 4 KiB each): idle sockets
// dominate the hub's memory, and messages are small. A relayed candidate's frame fits
// in 512 bytes; a larger payload is read straight into the message, and the writes a
// full buffer makes join the socket's cork below it, so small buffers add no system
// call where it counts (docs/benchmarks.md, idle: 512-byte buffers).
const (
	connReadBuffer  = 512
	connWriteBuffer = 512
)

// smallBuffers swaps net/http's 4 KiB buffers of a hijacked connection for small ones,
// the write buffer over the client's corkedConn, and records the connection and its
// reader in the client's idle.
type smallBuffers struct {
	http.ResponseWriter
	c *Client
}

func (w smallBuffers) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack hijacks the connection and returns a small reader that holds, in its buffer,
// every byte net/http had already read past the request: the client's first frames
// when it sent them with the upgrade request or right after the 101 (net/http's
// background read may have taken one byte). They must be in the buffer, not behind it:
// websocket.Accept keeps the buffered bytes of the reader it gets and reads the rest
// from the connection itself.
func (w smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	n := brw.Reader.Buffered()
	pending, _ := brw.Reader.Peek(n) // n bytes are buffered: cannot fail
	br := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(pending), conn), max(connReadBuffer, n))
	if n > 0 {
		// The buffer holds n bytes and the first read returns all of them: nothing is
		// read from conn.
		if _, err := br.Peek(n); err != nil {
			return nil, nil, fmt.Errorf("hijack: keep buffered bytes: %w", err)
		}
	}
	w.c.idle.set(conn, br, n)
	w.c.out = &corkedConn{Conn: conn, timeout: w.c.hub.cfg.WriteTimeout}
	return conn, bufio.NewReadWriter(br, bufio.NewWriterSize(w.c.out, connWriteBuffer)), nil
}

// refuseAdmission answers 503 with Retry-After: the accept budget is spent.
func (h *Hub) refuseAdmission(w http.ResponseWriter, after time.Duration) {
	h.metrics.admissionRefusals.Inc()
	h.refuseBusy(w, after)
}

// refuseThrottled answers 429 with Retry-After: the client network's failed
// authentications are over budget.
func (h *Hub) refuseThrottled(w http.ResponseWriter, after time.Duration) {
	w.Header().Set("Retry-After", retryAfter(after))
	WriteProblem(w, http.StatusTooManyRequests, CodeRateLimited, "too many failed authentications, retry later")
}

// retryAfter formats a Retry-After value: whole seconds, at least 1.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

// refuseBusy answers 503 with Retry-After.
func (h *Hub) refuseBusy(w http.ResponseWriter, after time.Duration) {
	w.Header().Set("Retry-After", retryAfter(after))
	WriteProblem(w, http.StatusServiceUnavailable, CodeUnavailable, "too many connections, retry later")
}

func offersSubprotocol(r *http.Request) bool {
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(v, ",") {
			if strings.TrimSpace(p) == Subprotocol {
				return true
			}
		}
	}
	return false
}

// newClient prepares the Client of a connection about to be accepted; the caller sets
// conn once the upgrade succeeded.
func (h *Hub) newClient(id Identity) *Client {
	c := &Client{
		hub:    h,
		id:     id,
		connID: uuid.Must(uuid.NewV7()).String(),
		done:   make(chan struct{}),
	}
	c.q = sendq.New(h.cfg.SendQueueSize, h.cfg.SendQueueBytes, c.write, func(v any) {
		c.logger().Error("panic in writer", "panic", v)
	})
	c.touch()
	c.tokens = float64(h.cfg.MessageBurst)
	c.tokensTime = h.cfg.Now()
	return c
}

// serveConn runs one accepted connection to its end.
func (h *Hub) serveConn(c *Client) {
	c.conn.SetReadLimit(h.cfg.ReadLimit)
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()

	h.metrics.connections.Inc()
	defer h.metrics.connections.Dec()

	// The connection's reads take no context (the library would register with it on
	// every read): the connection's end closes the socket instead, which ends a read.
	stop := context.AfterFunc(ctx, func() { _ = c.conn.CloseNow() })
	defer stop()

	registered := h.connect(ctx, c)
	var err error
	if registered {
		err = h.readLoop(ctx, c)
	}
	h.disconnect(c, registered, err)
}

// readLoop reads and dispatches messages until the connection fails or closes.
// WebSocket pings are counted against the same rate, in [Client.pingReceived]. It
// returns once the handlers it started have returned.
func (h *Hub) readLoop(ctx context.Context, c *Client) error {
	var fl inflight
	defer fl.wait()
	for {
		c.waitReadable()
		typ, b, err := c.conn.Read(context.Background()) // see serveConn
		if err != nil {
			return err
		}
		now := h.cfg.Now()
		c.lastActive.Store(now.UnixNano())
		if !c.allow(now) {
			h.rateLimited(c)
			continue // read on until the close handshake ends the loop
		}
		if typ != websocket.MessageText {
			h.metrics.messagesIn.WithLabelValues("invalid").Inc()
			c.close(StatusProtocolViolation, "binary frames are not allowed", false)
			continue
		}
		if !utf8.Valid(b) {
			h.metrics.messagesIn.WithLabelValues("invalid").Inc()
			c.close(websocket.StatusInvalidFramePayloadData, "text frame is not valid UTF-8", false)
			continue
		}
		env, err := decode(b, h.typeName)
		if err != nil {
			h.metrics.messagesIn.WithLabelValues("invalid").Inc()
			c.close(StatusProtocolViolation, "invalid envelope", false)
			continue
		}
		h.dispatch(ctx, c, env, &fl)
	}
}

// rateLimited closes a socket that sent more than its message rate.
func (h *Hub) rateLimited(c *Client) {
	h.metrics.messagesIn.WithLabelValues("rate_limited").Inc()
	c.close(StatusRateLimited, "rate limited", false)
}

// dispatch handles one decoded client message: a concurrent one in a goroutine of fl,
// any other after fl's handlers have returned, on the read goroutine.
func (h *Hub) dispatch(ctx context.Context, c *Client, env Envelope, fl *inflight) {
	if c.isClosing() {
		return // the socket is closing: ignore what still arrives
	}
	hd := h.handler(env.Type)
	if !hd.concurrent {
		fl.wait() // the concurrent messages sent before this one come first
	}
	switch env.Type {
	case TypePing:
		h.metrics.messagesIn.WithLabelValues(env.Type).Inc()
		_ = c.Send(Envelope{Type: TypePong, Ref: env.ID, Data: json.RawMessage(`{}`)})
		return
	case TypePong:
		h.metrics.messagesIn.WithLabelValues(env.Type).Inc()
		return
	}
	if hd.fn == nil {
		h.metrics.messagesIn.WithLabelValues("unknown").Inc()
		_ = c.Error(env.ID, CodeUnknownType, "unknown message type")
		return
	}
	h.metrics.messagesIn.WithLabelValues(env.Type).Inc()
	if hd.concurrent {
		fl.run(ctx, func() { h.handle(ctx, c, env, hd.fn) })
		return
	}
	h.handle(ctx, c, env, hd.fn)
}

// handle runs fn for env, answering a panic with an internal error.
func (h *Hub) handle(ctx context.Context, c *Client, env Envelope, fn HandlerFunc) {
	defer func() {
		if v := recover(); v != nil {
			h.metrics.panics.Inc()
			c.logger().Error("panic in handler", "type", env.Type, "panic", v)
			_ = c.Error(env.ID, CodeInternal, "internal error")
		}
	}()
	fn(ctx, c, env)
}

// recoverGoroutine logs a panic at the root of a hub goroutine. Deferred.
func (h *Hub) recoverGoroutine(where string) {
	if v := recover(); v != nil {
		h.metrics.panics.Inc()
		h.log.Error("panic in hub goroutine", "where", where, "panic", v)
	}
}

// runHook calls a hook, recovering a panic.
func (h *Hub) runHook(name string, fn func()) {
	defer func() {
		if v := recover(); v != nil {
			h.metrics.panics.Inc()
			h.log.Error("panic in hook", "hook", name, "panic", v)
		}
	}()
	fn()
}

// disconnectCleanTimeout bounds the cleanup after a connection ended.
const disconnectCleanTimeout = 10 * time.Second
