package bustest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/securecam/securecam/hub"
)

// NewCluster makes the endpoints of one test's network: every call of the returned
// function is another replica's endpoint on the same network, not yet started. The
// factory closes the endpoints it made when the test ends (closing twice is allowed).
type NewCluster func(t testing.TB) (newEndpoint func() hub.Bus)

// wait bounds every wait of the suite.
const wait = 5 * time.Second

// Run runs the Bus conformance suite.
func Run(t *testing.T, newCluster NewCluster) {
	tests := []struct {
		name string
		fn   func(t *testing.T, newEndpoint func() hub.Bus)
	}{
		{"PublishWithoutSubscriberReachesNobody", testPublishNobody},
		{"PublishReachesSubscriberOnOtherEndpoint", testPublishRemote},
		{"PublishReachesOwnSubscription", testPublishSelf},
		{"OrderPerPublisherAndKey", testOrder},
		{"SubscriptionsNest", testNesting},
		{"EveryEndpointSubscribedCounts", testTwoSubscribers},
		{"BroadcastReachesEveryEndpoint", testBroadcast},
		{"BytesArriveIntact", testBytes},
		{"CloseEndsDelivery", testClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newCluster(t))
		})
	}
}

type delivery struct {
	key string
	msg []byte
}

// endpoint is a started bus with its received messages.
type endpoint struct {
	hub.Bus
	mu  sync.Mutex
	got []delivery
	ch  chan struct{} // signalled on every delivery
}

func start(t *testing.T, newEndpoint func() hub.Bus) *endpoint {
	t.Helper()
	e := &endpoint{Bus: newEndpoint(), ch: make(chan struct{}, 1)}
	if err := e.Start(func(key string, msg []byte) {
		e.mu.Lock()
		e.got = append(e.got, delivery{key, msg})
		e.mu.Unlock()
		select {
		case e.ch <- struct{}{}:
		default:
		}
	}, func(time.Time) {}); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = e.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	waitReady(ctx, t, e)
	return e
}

func waitReady(ctx context.Context, t *testing.T, b hub.Bus) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err := b.Ready(ctx)
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("bus not ready: %v", err)
		case <-tick.C:
		}
	}
}

// waitFor waits until cond holds for the messages received so far.
func (e *endpoint) waitFor(t *testing.T, what string, cond func([]delivery) bool) []delivery {
	t.Helper()
	timeout := time.NewTimer(wait)
	defer timeout.Stop()
	for {
		e.mu.Lock()
		got := slices.Clone(e.got)
		e.mu.Unlock()
		if cond(got) {
			return got
		}
		select {
		case <-e.ch:
		case <-timeout.C:
			t.Fatalf("timed out waiting for %s; received %d messages", what, len(got))
		}
	}
}

func (e *endpoint) received() []delivery {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.got)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return c
}

func mustSubscribe(t *testing.T, b hub.Bus, key string) {
	t.Helper()
	if err := b.Subscribe(ctx(t), key); err != nil {
		t.Fatalf("Subscribe(%q): %v", key, err)
	}
}

func mustPublish(t *testing.T, b hub.Bus, key string, msg []byte) int {
	t.Helper()
	n, err := b.Publish(ctx(t), key, msg)
	if err != nil {
		t.Fatalf("Publish(%q): %v", key, err)
	}
	return n
}

func testPublishNobody(t *testing.T, newEndpoint func() hub.Bus) {
	a := start(t, newEndpoint)
	if n := mustPublish(t, a, "device-x", []byte("hello")); n != 0 {
		t.Fatalf("Publish to a key nobody subscribes: %d receivers, want 0", n)
	}
}

func testPublishRemote(t *testing.T, newEndpoint func() hub.Bus) {
	a, b := start(t, newEndpoint), start(t, newEndpoint)
	mustSubscribe(t, a, "device-1")
	if n := mustPublish(t, b, "device-1", []byte("m1")); n != 1 {
		t.Fatalf("receivers = %d, want 1", n)
	}
	got := a.waitFor(t, "m1", func(d []delivery) bool { return len(d) >= 1 })
	if got[0].key != "device-1" || string(got[0].msg) != "m1" {
		t.Fatalf("received %q on %q, want m1 on device-1", got[0].msg, got[0].key)
	}
	if d := b.received(); len(d) != 0 {
		t.Fatalf("the publisher, not subscribed, received %d messages", len(d))
	}
}

func testPublishSelf(t *testing.T, newEndpoint func() hub.Bus) {
	a := start(t, newEndpoint)
	mustSubscribe(t, a, "device-1")
	if n := mustPublish(t, a, "device-1", []byte("self")); n != 1 {
		t.Fatalf("receivers = %d, want 1", n)
	}
	a.waitFor(t, "own message", func(d []delivery) bool { return len(d) == 1 && string(d[0].msg) == "self" })
}

func testOrder(t *testing.T, newEndpoint func() hub.Bus) {
	a, b := start(t, newEndpoint), start(t, newEndpoint)
	mustSubscribe(t, a, "device-1")
	mustSubscribe(t, a, "device-2")
	const n = 300
	var wg sync.WaitGroup
	for _, key := range []string{"device-1", "device-2"} {
		wg.Go(func() {
			for i := range n {
				if _, err := b.Publish(context.Background(), key, fmt.Appendf(nil, "%s/%d", key, i)); err != nil {
					t.Errorf("Publish: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	got := a.waitFor(t, "all messages", func(d []delivery) bool { return len(d) >= 2*n })
	next := map[string]int{}
	for _, d := range got {
		want := fmt.Sprintf("%s/%d", d.key, next[d.key])
		if string(d.msg) != want {
			t.Fatalf("received %q, want %q: order lost", d.msg, want)
		}
		next[d.key]++
	}
}

func testNesting(t *testing.T, newEndpoint func() hub.Bus) {
	a, b := start(t, newEndpoint), start(t, newEndpoint)
	mustSubscribe(t, a, "device-1")
	mustSubscribe(t, a, "device-1")
	if err := a.Unsubscribe(ctx(t), "device-1"); err != nil {
		t.Fatalf("Unsubscribe: %v", err)
	}
	if n := mustPublish(t, b, "device-1", []byte("still")); n != 1 {
		t.Fatalf("after 2 Subscribe and 1 Unsubscribe: receivers = %d, want 1", n)
	}
	a.waitFor(t, "message", func(d []delivery) bool { return len(d) == 1 })
	if err := a.Unsubscribe(ctx(t), "device-1"); err != nil {
		t.Fatalf("Unsubscribe: %v", err)
	}
	waitReceivers(t, b, "device-1", 0)
	if err := a.Unsubscribe(ctx(t), "never-subscribed"); err != nil {
		t.Fatalf("Unsubscribe of an unknown key: %v", err)
	}
}

// waitReceivers publishes probes until key has want receivers (unsubscribing may be
// asynchronous).
func waitReceivers(t *testing.T, b hub.Bus, key string, want int) {
	t.Helper()
	deadline := time.Now().Add(wait)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		n := mustPublish(t, b, key, []byte("probe"))
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("receivers of %q = %d, want %d", key, n, want)
		}
		<-tick.C
	}
}

func testTwoSubscribers(t *testing.T, newEndpoint func() hub.Bus) {
	a, b, c := start(t, newEndpoint), start(t, newEndpoint), start(t, newEndpoint)
	mustSubscribe(t, a, "device-1")
	mustSubscribe(t, b, "device-1")
	if n := mustPublish(t, c, "device-1", []byte("both")); n != 2 {
		t.Fatalf("receivers = %d, want 2", n)
	}
	a.waitFor(t, "message on a", func(d []delivery) bool { return len(d) == 1 })
	b.waitFor(t, "message on b", func(d []delivery) bool { return len(d) == 1 })
}

func testBroadcast(t *testing.T, newEndpoint func() hub.Bus) {
	a, b := start(t, newEndpoint), start(t, newEndpoint)
	if err := a.Broadcast(ctx(t), []byte("all")); err != nil {
		t.Fatalf("Broadcast: %v", err)
	}
	for name, e := range map[string]*endpoint{"sender": a, "other": b} {
		got := e.waitFor(t, "broadcast on "+name, func(d []delivery) bool { return len(d) == 1 })
		if got[0].key != "" || string(got[0].msg) != "all" {
			t.Fatalf("%s received %q on key %q, want \"all\" on \"\"", name, got[0].msg, got[0].key)
		}
	}
}

func testBytes(t *testing.T, newEndpoint func() hub.Bus) {
	a, b := start(t, newEndpoint), start(t, newEndpoint)
	mustSubscribe(t, a, "device-1")
	msg := []byte{'m', 0, 1, 2, 0xff, '\n', '"', 0}
	msg = append(msg, bytes.Repeat([]byte("x"), 64<<10)...)
	mustPublish(t, b, "device-1", msg)
	got := a.waitFor(t, "message", func(d []delivery) bool { return len(d) == 1 })
	if !bytes.Equal(got[0].msg, msg) {
		t.Fatalf("message changed in transit (%d bytes received, %d sent)", len(got[0].msg), len(msg))
	}
}

func testClose(t *testing.T, newEndpoint func() hub.Bus) {
	a, b := start(t, newEndpoint), start(t, newEndpoint)
	mustSubscribe(t, a, "device-1")
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := a.Publish(ctx(t), "device-1", []byte("x")); err == nil {
		t.Fatal("Publish on a closed endpoint succeeded")
	}
	if err := a.Ready(ctx(t)); err == nil {
		t.Fatal("Ready on a closed endpoint succeeded")
	}
	waitReceivers(t, b, "device-1", 0)
	if err := b.Ready(ctx(t)); err != nil {
		t.Fatalf("the other endpoint is not ready after one closed: %v", err)
	}
}
