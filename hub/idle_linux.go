package hub

import (
	"bufio"
	"net"
	"syscall"
)

// set records the hijacked connection conn, read through br, which holds early bytes
// that arrived with the upgrade.
func (w *idleWait) set(conn net.Conn, br *bufio.Reader, early int) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	w.raw, w.br, w.early = raw, br, early > 0
}

// kernelReadable reports whether the socket fd has bytes (or an end of file, or an
// error) for a read; false only when a read would block.
func kernelReadable(fd uintptr) bool {
	var b [1]byte
	_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	return err != syscall.EAGAIN
}
