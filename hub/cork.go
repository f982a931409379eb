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
type corkedConn struct {
	net.Conn
	corked atomic.Bool

	mu      sync.Mutex // guards pending; the library serializes frames, this only the buffer
	pending []byte     // kept-back bytes; nil when empty, so an idle socket holds none
}

// Write implements io.Writer for the library's write buffer.
func (c *corkedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.corked.Load() && len(c.pending)+len(p) <= maxCorked {
		c.pending = append(c.pending, p...)
		return len(p), nil
	}
	if len(c.pending) == 0 {
		return c.Conn.Write(p)
	}
	buf := append(c.pending, p...)
	c.pending = nil
	n, err := c.Conn.Write(buf)
	return max(0, n-(len(buf)-len(p))), err
}

// uncork stops keeping bytes back and sends those kept, within timeout. The writer
// calls it when a write failed: the batch ends there, and what others wrote meanwhile
// (a close frame the failure followed) must still go out.
func (c *corkedConn) uncork(timeout time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked.Store(false)
	if len(c.pending) == 0 {
		return nil
	}
	buf := c.pending
	c.pending = nil
	_ = c.Conn.SetWriteDeadline(time.Now().Add(timeout))
	defer func() { _ = c.Conn.SetWriteDeadline(time.Time{}) }()
	_, err := c.Conn.Write(buf)
	return err
}
