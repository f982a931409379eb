//go:build !linux

package hub

import (
	"bufio"
	"net"
)

// set leaves w empty: off Linux the read goroutine parks in Read.
func (w *idleWait) set(net.Conn, *bufio.Reader, int) {}

// kernelReadable is never called off Linux (set leaves no descriptor).
func kernelReadable(uintptr) bool { return true }
