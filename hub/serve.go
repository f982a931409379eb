package hub

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/securecam/securecam/hub/internal/sendq"
)

// ServeHTTP serves GET /ws: admission control (503 + Retry-After beyond the accept
// rate or while shutting down), subprotocol check (400), authentication (the
// Authenticator's status), upgrade, then the connection until it closes.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !offersSubprotocol(r) {
		writeProblem(w, http.StatusBadRequest, CodeBadRequest, "the WebSocket subprotocol "+Subprotocol+" must be offered")
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

	if res := h.accept.Reserve(); res.Delay() > 0 {
		res.Cancel()
		h.metrics.admissionRefusals.Inc()
		h.refuseBusy(w, res.Delay())
		return
	}

	id, err := h.cfg.Authenticator.Authenticate(r)
	if err != nil {
		var ae *AuthError
		if errors.As(err, &ae) && ae.Status >= 400 && ae.Status <= 599 {
			writeProblem(w, ae.Status, ae.Code, ae.Message)
			return
		}
		h.log.Error("authenticate websocket", "err", err)
		writeProblem(w, http.StatusInternalServerError, CodeInternal, "internal error")
		return
	}

	conn, err := websocket.Accept(smallBuffers{w}, r, &websocket.AcceptOptions{
		Subprotocols:       []string{Subprotocol},
		InsecureSkipVerify: true, // origins are the Authenticator's job
	})
	if err != nil {
		h.log.Debug("websocket accept", "err", err)
		return
	}
	// Serve the socket from a goroutine of our own and let net/http's goroutine return:
	// its stack, the request and the response buffers are freed for the connection's
	// lifetime. The goroutine is counted in h.conns, awaited by Shutdown.
	handedOver = true
	go func() {
		defer h.conns.Done()
		h.serveConn(id, conn)
	}()
}

// Buffer sizes of a hijacked connection (net/http's are 4 KiB each): idle sockets
// dominate the hub's memory, and messages are small.
const (
	connReadBuffer  = 1024
	connWriteBuffer = 1024
)

// smallBuffers swaps net/http's 4 KiB buffers of a hijacked connection for small ones.
type smallBuffers struct {
	http.ResponseWriter
}

func (w smallBuffers) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w smallBuffers) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	var src io.Reader = conn
	if n := brw.Reader.Buffered(); n > 0 {
		pending, _ := brw.Reader.Peek(n)
		src = io.MultiReader(bytes.NewReader(bytes.Clone(pending)), conn)
	}
	return conn, bufio.NewReadWriter(bufio.NewReaderSize(src, connReadBuffer), bufio.NewWriterSize(conn, connWriteBuffer)), nil
}

// refuseBusy answers 503 with Retry-After (whole seconds, at least 1).
func (h *Hub) refuseBusy(w http.ResponseWriter, after time.Duration) {
	secs := int(math.Ceil(after.Seconds()))
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeProblem(w, http.StatusServiceUnavailable, CodeUnavailable, "too many connections, retry later")
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

// writeProblem writes an RFC 9457 problem document with the extra member code.
func writeProblem(w http.ResponseWriter, status int, code, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail,omitempty"`
		Code   string `json:"code"`
	}{"about:blank", http.StatusText(status), status, detail, code})
}

// serveConn runs one accepted connection to its end.
func (h *Hub) serveConn(id Identity, conn *websocket.Conn) {
	connID := uuid.Must(uuid.NewV7()).String()
	conn.SetReadLimit(h.cfg.ReadLimit)
	c := &Client{
		hub:    h,
		id:     id,
		connID: connID,
		conn:   conn,
		done:   make(chan struct{}),
	}
	c.q = sendq.New(h.cfg.SendQueueSize, h.cfg.SendQueueBytes, c.write, func(v any) {
		c.logger().Error("panic in writer", "panic", v)
	})
	now := time.Now()
	c.touch()
	c.tokens = float64(h.cfg.MessageBurst)
	c.tokensTime = now

	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()

	h.metrics.connections.Inc()
	defer h.metrics.connections.Dec()

	registered := h.connect(ctx, c)
	var err error
	if registered {
		err = h.readLoop(ctx, c)
	}
	h.disconnect(c, registered, err)
}

// readLoop reads and dispatches messages until the connection fails or closes.
func (h *Hub) readLoop(ctx context.Context, c *Client) error {
	for {
		typ, b, err := c.conn.Read(ctx)
		if err != nil {
			return err
		}
		now := time.Now()
		c.lastActive.Store(now.UnixNano())
		if !c.allow(now) {
			h.metrics.messagesIn.WithLabelValues("rate_limited").Inc()
			c.close(StatusRateLimited, "rate limited", false)
			continue // read on until the close handshake ends the loop
		}
		if typ != websocket.MessageText {
			h.metrics.messagesIn.WithLabelValues("invalid").Inc()
			c.close(StatusProtocolViolation, "binary frames are not allowed", false)
			continue
		}
		env, err := Decode(b)
		if err != nil {
			h.metrics.messagesIn.WithLabelValues("invalid").Inc()
			c.close(StatusProtocolViolation, "invalid envelope", false)
			continue
		}
		h.dispatch(ctx, c, env)
	}
}

// dispatch handles one decoded client message.
func (h *Hub) dispatch(ctx context.Context, c *Client, env Envelope) {
	if c.isClosing() {
		return // the socket is closing: ignore what still arrives
	}
	switch env.Type {
	case "ping":
		h.metrics.messagesIn.WithLabelValues(env.Type).Inc()
		_ = c.Send(Envelope{Type: "pong", Ref: env.ID, Data: json.RawMessage(`{}`)})
		return
	case "pong":
		h.metrics.messagesIn.WithLabelValues(env.Type).Inc()
		return
	}
	fn := h.handler(env.Type)
	if fn == nil {
		h.metrics.messagesIn.WithLabelValues("unknown").Inc()
		_ = c.Error(env.ID, CodeUnknownType, "unknown message type")
		return
	}
	h.metrics.messagesIn.WithLabelValues(env.Type).Inc()
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
