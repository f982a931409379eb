package hub

import (
	"bufio"
	"syscall"
)

// An idle socket's read goroutine spends its life parked. Parked inside
// websocket.Conn.Read it sits under a dozen frames of the library, bufio and net, and
// its stack stays at 8 KiB; parked in [Client.waitReadable], right under readLoop, it
// uses little enough that the collector halves the stack to 4 KiB. That is about a
// fifth of an idle socket's memory (docs/benchmarks.md).

// idleWait is what waitReadable needs of a connection: its file descriptor and the
// reader in front of it. raw is nil when the connection has no descriptor of its own
// (TLS served by the hub, a test's in-memory pipe) or off Linux: then the goroutine
// parks in Read.
type idleWait struct {
	raw syscall.RawConn
	br  *bufio.Reader
	// early: bytes arrived with the upgrade. websocket.Accept moves them from br's
	// buffer to a reader behind it, where Buffered does not see them, until the first
	// read brings them back.
	early bool
}

// waitReadable returns when the socket has bytes to read (or failed, or was closed):
// in the reader's buffer, or in the kernel's. It reads nothing. It returns at once while
// the socket is closing: then the closing goroutine reads the reader. Waking on the
// connection's context is left to Read: the hub cancels that context only at shutdown,
// after which it drops every socket, which wakes this wait.
func (c *Client) waitReadable() {
	w := &c.idle
	if w.raw == nil {
		return
	}
	if w.early {
		w.early = false
		return
	}
	c.mu.Lock()
	// Under c.mu: close starts the goroutine that reads br only after it set closing,
	// under c.mu too.
	skip := c.closing || w.br.Buffered() > 0
	c.mu.Unlock()
	if skip {
		return
	}
	_ = w.raw.Read(kernelReadable) // an error (closed) is Read's to report
}
