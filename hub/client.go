package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/securecam/securecam/hub/internal/sendq"
)

// Client is one connected device. Its methods are safe for concurrent use.
type Client struct {
	hub    *Hub
	id     Identity
	connID string // UUID v7: orders connections of a device in time
	conn   *websocket.Conn
	out    *corkedConn // conn's write side, for write to cork and time out
	idle   idleWait    // parks the read goroutine between messages
	q      *sendq.Queue
	done   chan struct{} // closed when the connection's teardown finished

	lastActive atomic.Int64 // unix nanoseconds of the last frame or pong received
	pinging    atomic.Bool  // a heartbeat ping is in flight

	// The message-rate token bucket. Messages spend from it on the read goroutine, and
	// WebSocket pings wherever the library reads frames (also a closing goroutine).
	rateMu     sync.Mutex
	tokens     float64
	tokensTime time.Time

	mu        sync.Mutex // guards the fields below and Adds to wg
	closing   bool       // the hub is closing the socket, with closeCode
	ended     bool       // teardown began: no goroutine may be added to wg
	closeCode websocket.StatusCode
	wg        sync.WaitGroup // closer and ping goroutines
}

// logger returns the connection's logger (made on demand: an idle connection keeps
// none).
func (c *Client) logger() *slog.Logger {
	return c.hub.log.With("device_id", c.id.DeviceID, "conn_id", c.connID)
}

// Identity returns who the connection belongs to.
func (c *Client) Identity() Identity { return c.id }

// Send queues env for this connection without blocking. It returns [ErrClientClosed]
// once the connection is closing, or [ErrQueueFull] when the queue overflowed: then the
// socket is being closed with 4008.
func (c *Client) Send(env Envelope) error {
	b, err := Encode(env)
	if err != nil {
		return err
	}
	return c.sendRaw(env.Type, b)
}

func (c *Client) sendRaw(typ string, b []byte) error {
	switch err := c.q.Push(b); {
	case err == nil:
		c.hub.metrics.messagesOut.WithLabelValues(typ).Inc()
		return nil
	case errors.Is(err, sendq.ErrFull):
		c.hub.metrics.queueOverflows.Inc()
		c.logger().Warn("send queue overflow", "type", typ)
		c.close(StatusTooSlow, "send queue overflow", false)
		return ErrQueueFull
	default:
		return ErrClientClosed
	}
}

// Ack answers the client message whose id is ref with an ack carrying data (nil:
// {}). With an empty ref it sends nothing: only messages with an id are answered.
func (c *Client) Ack(ref string, data any) error {
	if ref == "" {
		return nil
	}
	raw := json.RawMessage(`{}`)
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			return fmt.Errorf("ack: %w", err)
		}
		raw = b
	}
	return c.Send(Envelope{Type: TypeAck, Ref: ref, Data: raw})
}

// Error sends an error message {code, message} answering ref (which may be empty).
// The socket stays open.
func (c *Client) Error(ref, code, message string) error {
	b, err := json.Marshal(ErrorData{Code: code, Message: message})
	if err != nil {
		return fmt.Errorf("error message: %w", err)
	}
	return c.Send(Envelope{Type: TypeError, Ref: ref, Data: b})
}

// close closes the socket once, from a goroutine the client owns. With drain the
// queued messages are written first; without, they are dropped.
func (c *Client) close(code websocket.StatusCode, reason string, drain bool) {
	c.mu.Lock()
	if c.closing || c.ended {
		c.mu.Unlock()
		return
	}
	c.closing = true
	c.closeCode = code
	c.wg.Add(1)
	c.mu.Unlock()
	if len(reason) > maxCloseReason {
		reason = reason[:maxCloseReason]
	}
	if drain {
		c.q.Close()
	} else {
		c.q.Abort()
	}
	go func() {
		defer c.wg.Done()
		defer c.hub.recoverGoroutine("close")
		if drain {
			c.q.Wait()
		}
		_ = c.conn.Close(code, reason)
	}()
}

// maxCloseReason is the longest close reason a close frame carries.
const maxCloseReason = 123

// drop closes the socket at once without a close handshake (dead peer).
func (c *Client) drop(code websocket.StatusCode) {
	c.mu.Lock()
	if !c.closing {
		c.closing = true
		c.closeCode = code
	}
	c.mu.Unlock()
	c.q.Abort()
	_ = c.conn.CloseNow()
}

// isClosing reports whether the socket is being closed.
func (c *Client) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closing
}

// end marks the start of the teardown and waits for the connection's goroutines.
func (c *Client) end() {
	c.mu.Lock()
	c.ended = true
	c.mu.Unlock()
	c.q.Abort()
	_ = c.conn.CloseNow()
	c.wg.Wait()
	c.q.Wait()
}

// closedBy returns the close code the hub set, or -1 when the hub did not close.
func (c *Client) closedBy() websocket.StatusCode {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closing {
		return -1
	}
	return c.closeCode
}

// write sends one message; the writer goroutine of the queue calls it. With more, the
// frame may be kept back to go out with the next one (see corkedConn), whose write
// deadline bounds the write. A write that ran out of time drops the socket.
func (c *Client) write(b []byte, more bool) error {
	c.out.corked.Store(more)
	if err := c.conn.Write(context.Background(), websocket.MessageText, b); err != nil {
		// The writer stops here: send what it kept back, with any close frame written
		// meanwhile (a close without drain makes this write fail).
		_ = c.out.uncork()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			_ = c.conn.CloseNow()
		}
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// ping sends a WebSocket ping and waits for the pong; a pong counts as activity.
func (c *Client) ping(timeout time.Duration) {
	c.mu.Lock()
	if c.closing || c.ended {
		c.mu.Unlock()
		c.pinging.Store(false)
		return
	}
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		defer c.pinging.Store(false)
		defer c.hub.recoverGoroutine("ping")
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := c.conn.Ping(ctx); err == nil {
			c.touch()
		}
	}()
}

func (c *Client) touch() {
	c.lastActive.Store(c.hub.cfg.Now().UnixNano())
}

// pingReceived counts a WebSocket ping against the message rate: beyond it the socket
// closes with 4029 and the ping gets no pong. The library calls it as it reads the
// ping.
func (c *Client) pingReceived(context.Context, []byte) bool {
	now := c.hub.cfg.Now()
	c.lastActive.Store(now.UnixNano())
	if !c.allow(now) {
		c.hub.rateLimited(c)
		return false
	}
	return true
}

// allow takes one token from the message-rate bucket.
func (c *Client) allow(now time.Time) bool {
	c.rateMu.Lock()
	defer c.rateMu.Unlock()
	cfg := &c.hub.cfg
	c.tokens += now.Sub(c.tokensTime).Seconds() * cfg.MessageRate
	if burst := float64(cfg.MessageBurst); c.tokens > burst {
		c.tokens = burst
	}
	c.tokensTime = now
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}
