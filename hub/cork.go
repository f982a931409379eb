package hub

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// maxCorked bounds the bytes a corked connection keeps back; beyond it they go out.
const maxCorked = 64 << 10

// corkedConn is the write side of a socket's connection, under the websocket
// library's write buffer. While the socket's writer has further queued messages in
// hand (corked), the frames the library flushes are kept back and go out with the
// flush of the writer's last message: a burst of queued messages costs one write
// system call instead of one per message. Frames other goroutines write meanwhile
// (pongs, pings, a close) join the same write, right after the batch.
//
// Every write to the connection gets a deadline of timeout from its start: the
// socket's writer passes the library no context of its own (a context with a timeout
// per message costs a timer and a registration with the library per message).
type corkedConn struct {
	net.Conn
	timeout time.Duration
	corked  atomic.Bool

	mu      sync.Mutex // guards pending and buf; the library serializes frames, this only the buffer
	pending []byte     // kept-back bytes, in *buf; nil when empty, so an idle socket holds none
	buf     *[]byte    // the pooled buffer of pending; nil with it
}

// corkBuffers are the buffers of kept-back bytes, shared by the sockets: a socket
// holds one only while it keeps bytes back.
var corkBuffers = sync.Pool{New: func() any {
	b := make([]byte, 0, 8<<10)
	return &b
}}

// keep appends p to the kept-back bytes; c.mu is held.
func (c *corkedConn) keep(p []byte) {
	if c.buf == nil {
		c.buf = corkBuffers.Get().(*[]byte)
		c.pending = (*c.buf)[:0]
	}
	c.pending = append(c.pending, p...)
}

// release returns the buffer of the kept-back bytes, which were written; c.mu is held.
func (c *corkedConn) release() {
	*c.buf = c.pending[:0]
	corkBuffers.Put(c.buf)
	c.buf, c.pending = nil, nil
}

// Write implements io.Writer for the library's write buffer.
func (c *corkedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked.Load() && len(c.pending)+len(p) <= maxCorked {
		c.keep(p)
		return len(p), nil
	}
	if len(c.pending) == 0 {
		return c.write(p)
	}
	c.keep(p)
	n, err := c.write(c.pending)
	kept := len(c.pending) - len(p)
	c.release()
	return max(0, n-kept), err
}

// write writes b to the connection within the timeout; c.mu is held.
func (c *corkedConn) write(b []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// uncork stops keeping bytes back and sends those kept. The writer calls it when a
// write failed: the batch ends there, and what others wrote meanwhile (a close frame
// the failure followed) must still go out.
func (c *corkedConn) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked.Store(false)
	if len(c.pending) == 0 {
		return nil
	}
	_, err := c.write(c.pending)
	c.release()
	return err
}
