package hub

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"time"
)

// countingConn records the writes that reach the network.
type countingConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (c *countingConn) SetWriteDeadline(time.Time) error { return nil }

func (c *countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes = append(c.writes, append([]byte(nil), p...))
	return len(p), nil
}

// TestCorkedConnKeepsBackUntilUncorked: while corked nothing reaches the network; the
// first write after it carries everything kept back, in order, in one write.
func TestCorkedConnKeepsBackUntilUncorked(t *testing.T) {
	under := &countingConn{}
	c := &corkedConn{Conn: under}
	c.corked.Store(true)
	for _, p := range []string{"one", "two", "pong"} {
		if n, err := c.Write([]byte(p)); err != nil || n != len(p) {
			t.Fatalf("corked Write(%q) = %d, %v", p, n, err)
		}
	}
	if len(under.writes) != 0 {
		t.Fatalf("%d writes reached the network while corked, want 0", len(under.writes))
	}
	c.corked.Store(false)
	if n, err := c.Write([]byte("three")); err != nil || n != len("three") {
		t.Fatalf("Write = %d, %v; want 5, nil", n, err)
	}
	if len(under.writes) != 1 || string(under.writes[0]) != "onetwopongthree" {
		t.Fatalf("network writes %q, want one write \"onetwopongthree\"", under.writes)
	}
	if c.pending != nil {
		t.Fatalf("%d bytes kept after the flush, want none", len(c.pending))
	}
}

// TestCorkedConnBounded: beyond maxCorked the kept-back bytes go out even while
// corked.
func TestCorkedConnBounded(t *testing.T) {
	under := &countingConn{}
	c := &corkedConn{Conn: under}
	c.corked.Store(true)
	big := bytes.Repeat([]byte("x"), maxCorked/2+1)
	for range 2 {
		if _, err := c.Write(big); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	if len(under.writes) != 1 || len(under.writes[0]) != 2*len(big) {
		t.Fatalf("network writes of %d bytes in %d writes, want the %d bytes in one", total(under.writes), len(under.writes), 2*len(big))
	}
}

func total(bs [][]byte) (n int) {
	for _, b := range bs {
		n += len(b)
	}
	return n
}

// TestUncorkSendsWhatWasKeptBack: when the writer stops in the middle of a batch (a
// failed write), what was kept back — e.g. a close frame another goroutine wrote —
// still goes out.
func TestUncorkSendsWhatWasKeptBack(t *testing.T) {
	under := &countingConn{}
	c := &corkedConn{Conn: under}
	c.corked.Store(true)
	if _, err := c.Write([]byte("close frame")); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := c.uncork(); err != nil {
		t.Fatalf("uncork: %v", err)
	}
	if len(under.writes) != 1 || string(under.writes[0]) != "close frame" {
		t.Fatalf("network writes %q, want the kept-back bytes", under.writes)
	}
	if c.corked.Load() {
		t.Fatal("still corked after uncork")
	}
}

// discardConn takes every write.
type discardConn struct{ net.Conn }

func (discardConn) SetWriteDeadline(time.Time) error { return nil }
func (discardConn) Write(p []byte) (int, error)      { return len(p), nil }

// BenchmarkCorkedConnBatch: a writer's batch of 8 messages of a route load (one
// write to the network).
func BenchmarkCorkedConnBatch(b *testing.B) {
	c := &corkedConn{Conn: discardConn{}}
	frame := bytes.Repeat([]byte("x"), 260)
	b.ReportAllocs()
	for b.Loop() {
		c.corked.Store(true)
		for range 7 {
			_, _ = c.Write(frame)
		}
		c.corked.Store(false)
		_, _ = c.Write(frame)
	}
}
