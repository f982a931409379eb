package hub_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/securecam/securecam/hub"
)

// gate counts the handlers that entered and holds them until it is opened.
type gate struct {
	mu       sync.Mutex
	entered  []string
	open     chan struct{}
	openOnce sync.Once
}

// newGate returns a closed gate, opened at the latest when the test ends (before the
// hub shuts down, which waits for the handlers).
func newGate(t *testing.T) *gate {
	g := &gate{open: make(chan struct{})}
	t.Cleanup(g.release)
	return g
}

func (g *gate) release() { g.openOnce.Do(func() { close(g.open) }) }

func (g *gate) handler(ctx context.Context, c *hub.Client, env hub.Envelope) {
	g.mu.Lock()
	g.entered = append(g.entered, env.ID)
	g.mu.Unlock()
	select {
	case <-g.open:
	case <-ctx.Done():
		return
	}
	_ = c.Ack(env.ID, nil)
}

func (g *gate) ids() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.entered...)
}

// A socket's concurrent messages are handled at once; a message of another type waits
// for the concurrent ones sent before it, and the messages sent after it wait for it.
func TestConcurrentHandlersOverlapAndKeepOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		th := newBubbleHub(t, hub.Config{})
		slow, plain, later := newGate(t), newGate(t), newGate(t)
		th.HandleConcurrent("slow", slow.handler)
		th.Handle("plain", plain.handler)
		th.HandleConcurrent("later", later.handler)
		c, _ := dial(t, th, "d1")

		c.send(hub.Envelope{Type: "slow", ID: "s0"})
		c.send(hub.Envelope{Type: "slow", ID: "s1"})
		c.send(hub.Envelope{Type: "plain", ID: "p"})
		c.send(hub.Envelope{Type: "later", ID: "l"})
		synctest.Wait()
		if got := slow.ids(); len(got) != 2 {
			t.Fatalf("slow handlers running at once: %v, want s0 and s1", got)
		}
		if got := plain.ids(); len(got) != 0 {
			t.Fatalf("plain handled while the concurrent messages sent before it were running: %v", got)
		}

		slow.release()
		readAcks(t, c, "s0", "s1")
		synctest.Wait()
		if got := plain.ids(); len(got) != 1 {
			t.Fatalf("plain handlers entered: %v, want p once the slow ones returned", got)
		}
		if got := later.ids(); len(got) != 0 {
			t.Fatalf("a concurrent message handled before the plain one sent before it returned: %v", got)
		}
		plain.release()
		readAcks(t, c, "p")
		later.release()
		readAcks(t, c, "l")
	})
}

// No more than MaxConcurrentPerConn messages of a socket are handled at once: the
// next waits for a slot.
func TestConcurrentHandlersBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		th := newBubbleHub(t, hub.Config{})
		slow := newGate(t)
		th.HandleConcurrent("slow", slow.handler)
		c, _ := dial(t, th, "d1")

		ids := make([]string, hub.MaxConcurrentPerConn+1)
		for i := range ids {
			ids[i] = fmt.Sprintf("s%d", i)
			c.send(hub.Envelope{Type: "slow", ID: ids[i]})
		}
		synctest.Wait()
		if got := len(slow.ids()); got != hub.MaxConcurrentPerConn {
			t.Fatalf("%d handlers running at once, want %d (the bound)", got, hub.MaxConcurrentPerConn)
		}
		slow.release()
		readAcks(t, c, ids...)
	})
}

// readAcks reads one ack for each of refs, in any order, and nothing else.
func readAcks(t *testing.T, c *client, refs ...string) {
	t.Helper()
	want := map[string]bool{}
	for _, r := range refs {
		want[r] = true
	}
	for range refs {
		env := c.read()
		if env.Type != "ack" || !want[env.Ref] {
			t.Fatalf("got %s ref %q, want an ack of one of %v", env.Type, env.Ref, want)
		}
		delete(want, env.Ref)
	}
}

// A panic in a concurrent handler is answered like one in any handler, and the socket
// goes on.
func TestConcurrentHandlerPanic(t *testing.T) {
	t.Parallel()
	th := newHub(t, hub.Config{})
	th.HandleConcurrent("boom", func(context.Context, *hub.Client, hub.Envelope) { panic("handler bug") })
	c, _ := dial(t, th, "d1")
	c.send(hub.Envelope{Type: "boom", ID: "b1"})
	if env := c.read(); errorOf(t, env).Code != hub.CodeInternal || env.Ref != "b1" {
		t.Fatalf("got %+v, want error internal ref b1", env)
	}
	c.send(hub.Envelope{Type: "ping", ID: "p1"})
	if pong := c.read(); pong.Type != "pong" || pong.Ref != "p1" {
		t.Fatalf("got %+v, want pong ref p1", pong)
	}
}
