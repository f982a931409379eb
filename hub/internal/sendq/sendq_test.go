package sendq

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// gate is a write function that blocks until released, recording what it wrote.
type gate struct {
	mu      sync.Mutex
	wrote   []string
	release chan struct{}
	entered chan struct{}
	fail    error
}

func newGate() *gate {
	return &gate{release: make(chan struct{}), entered: make(chan struct{}, 100)}
}

func (g *gate) write(b []byte, _ bool) error {
	g.entered <- struct{}{}
	<-g.release
	g.mu.Lock()
	defer g.mu.Unlock()
	g.wrote = append(g.wrote, string(b))
	return g.fail
}

func (g *gate) written() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.wrote...)
}

func waitEntered(t *testing.T, g *gate) {
	t.Helper()
	select {
	case <-g.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("writer did not start")
	}
}

func TestWriterStartsOnDemandAndStopsWhenDrained(t *testing.T) {
	g := newGate()
	q := New(10, 1<<20, g.write, nil)
	if _, writing := q.Len(); writing {
		t.Fatal("a new queue has a writer")
	}
	for i := range 3 {
		if err := q.Push(fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatalf("Push: %v", err)
		}
	}
	if _, writing := q.Len(); !writing {
		t.Fatal("no writer after Push")
	}
	close(g.release)
	q.Close()
	q.Wait()
	if got := g.written(); fmt.Sprint(got) != "[m0 m1 m2]" {
		t.Fatalf("written %v, want [m0 m1 m2] in order", got)
	}
	if n, writing := q.Len(); n != 0 || writing {
		t.Fatalf("after drain: %d queued, writer %v; want 0, false", n, writing)
	}
}

func TestIdleQueueHasNoWriter(t *testing.T) {
	q := New(10, 1<<20, func([]byte, bool) error { return nil }, nil)
	if err := q.Push([]byte("x")); err != nil {
		t.Fatalf("Push: %v", err)
	}
	q.wg.Wait() // no Push runs concurrently: the writer exits by itself once drained
	if n, writing := q.Len(); n != 0 || writing {
		t.Fatalf("drained queue: %d queued, writer %v; want 0, false", n, writing)
	}
	if err := q.Push([]byte("y")); err != nil { // and starts again on demand
		t.Fatalf("Push: %v", err)
	}
	q.Close()
	q.Wait()
}

func TestHoldKeepsMessagesUntilRelease(t *testing.T) {
	g := newGate()
	close(g.release)
	q := New(10, 1<<20, g.write, nil)
	q.Hold()
	for _, m := range []string{"hello", "a"} {
		if err := q.Push([]byte(m)); err != nil {
			t.Fatalf("Push: %v", err)
		}
	}
	if n, writing := q.Len(); n != 2 || writing {
		t.Fatalf("held queue: %d queued, writer %v; want 2, false", n, writing)
	}
	q.Release()
	q.Close()
	q.Wait()
	if got := g.written(); fmt.Sprint(got) != "[hello a]" {
		t.Fatalf("written %v, want [hello a]", got)
	}
}

func TestLimits(t *testing.T) {
	tests := []struct {
		name     string
		maxLen   int
		maxBytes int
		msgs     []int // sizes pushed while the writer is blocked on the first
		want     []error
	}{
		{"count", 2, 1 << 20, []int{1, 1, 1, 1}, []error{nil, nil, nil, ErrFull}},
		{"bytes", 100, 10, []int{1, 6, 4, 1}, []error{nil, nil, nil, ErrFull}},
		{"one big message fits an empty queue", 100, 10, []int{1, 50, 1}, []error{nil, nil, ErrFull}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newGate()
			q := New(tt.maxLen, tt.maxBytes, g.write, nil)
			for i, size := range tt.msgs {
				err := q.Push(make([]byte, size))
				if !errors.Is(err, tt.want[i]) {
					t.Fatalf("Push #%d (%d bytes): %v, want %v", i, size, err, tt.want[i])
				}
				if i == 0 {
					waitEntered(t, g) // the first message left the queue
				}
			}
			close(g.release)
			q.Close()
			q.Wait()
		})
	}
}

func TestAbortDropsQueued(t *testing.T) {
	g := newGate()
	q := New(10, 1<<20, g.write, nil)
	for _, m := range []string{"a", "b", "c"} {
		if err := q.Push([]byte(m)); err != nil {
			t.Fatalf("Push: %v", err)
		}
		if m == "a" {
			waitEntered(t, g)
		}
	}
	q.Abort()
	if err := q.Push([]byte("d")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Push after Abort: %v, want ErrClosed", err)
	}
	close(g.release)
	q.Wait()
	if got := g.written(); fmt.Sprint(got) != "[a]" {
		t.Fatalf("written %v, want [a]", got)
	}
	if !errors.Is(q.Err(), ErrClosed) {
		t.Fatalf("Err = %v, want ErrClosed", q.Err())
	}
}

func TestWriteErrorAborts(t *testing.T) {
	g := newGate()
	g.fail = errors.New("broken pipe")
	q := New(10, 1<<20, g.write, nil)
	close(g.release)
	for range 3 {
		_ = q.Push([]byte("x"))
	}
	q.Close()
	q.Wait()
	if len(g.written()) != 1 {
		t.Fatalf("written %d messages, want 1 (the write that failed)", len(g.written()))
	}
	if q.Err() != g.fail {
		t.Fatalf("Err = %v, want the write error", q.Err())
	}
	if err := q.Push([]byte("y")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Push after a failed write: %v, want ErrClosed", err)
	}
}

func TestPanicInWriteIsRecovered(t *testing.T) {
	var got any
	q := New(10, 1<<20, func([]byte, bool) error { panic("boom") }, func(v any) { got = v })
	_ = q.Push([]byte("x"))
	q.Close()
	q.Wait()
	if got != "boom" {
		t.Fatalf("onPanic got %v, want boom", got)
	}
	if q.Err() == nil {
		t.Fatal("queue not aborted after a panic")
	}
}

func BenchmarkPushDrain(b *testing.B) {
	for _, size := range []int{64, 1024} {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			msg := make([]byte, size)
			q := New(1<<20, 1<<30, func([]byte, bool) error { return nil }, nil)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				if err := q.Push(msg); err != nil {
					b.Fatal(err)
				}
			}
			q.Close()
			q.Wait()
		})
	}
}

// TestMoreMarksAllButTheLastOfABatch: the writer says more for every message it holds
// after the one it writes, and ends every batch with more false, so that a write
// function that keeps messages back (the hub's corked connection) sends them all.
func TestMoreMarksAllButTheLastOfABatch(t *testing.T) {
	type call struct {
		msg  string
		more bool
	}
	var calls []call // the writer's alone until Wait
	q := New(10, 1<<20, func(b []byte, more bool) error {
		calls = append(calls, call{string(b), more})
		return nil
	}, nil)
	q.Hold()
	for _, m := range []string{"a", "b", "c"} {
		if err := q.Push([]byte(m)); err != nil {
			t.Fatalf("Push: %v", err)
		}
	}
	q.Release()
	q.Close()
	q.Wait()
	want := []call{{"a", true}, {"b", true}, {"c", false}}
	if fmt.Sprint(calls) != fmt.Sprint(want) {
		t.Fatalf("write calls %v, want %v", calls, want)
	}
}
