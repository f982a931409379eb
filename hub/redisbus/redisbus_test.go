package redisbus_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/hub/bustest"
	"github.com/securecam/securecam/hub/redisbus"
)

func TestBus(t *testing.T) {
	url := bustest.RedisURL(t)
	bustest.Run(t, func(t testing.TB) func() hub.Bus {
		prefix := bustest.Prefix(t)
		return func() hub.Bus {
			b := redisbus.New(bustest.Client(t, url, prefix), redisbus.Config{Prefix: prefix, PingInterval: 100 * time.Millisecond})
			t.Cleanup(func() { _ = b.Close() })
			return b
		}
	})
}

func TestPresence(t *testing.T) {
	url := bustest.RedisURL(t)
	bustest.RunPresence(t, func(t testing.TB, ttl time.Duration) func() hub.Presence {
		prefix := bustest.Prefix(t)
		return func() hub.Presence {
			return redisbus.NewPresence(bustest.Client(t, url, prefix), redisbus.PresenceConfig{Prefix: prefix, TTL: ttl})
		}
	})
}

// spyConn lets a test make a pub/sub connection go silent while it stays open, as a
// connection through a dead proxy or after a failover does.
type spyConn struct {
	net.Conn
	pubsub atomic.Bool
	frozen atomic.Bool
}

func (c *spyConn) Write(p []byte) (int, error) {
	if bytes.Contains(bytes.ToLower(p), []byte("subscribe")) {
		c.pubsub.Store(true)
	}
	if c.frozen.Load() {
		return len(p), nil // lost
	}
	return c.Conn.Write(p)
}

func (c *spyConn) Read(p []byte) (int, error) {
	for {
		n, err := c.Conn.Read(p)
		if err != nil || !c.frozen.Load() {
			return n, err
		}
		// frozen: what arrives is lost; deadlines still apply.
	}
}

type spyDialer struct {
	mu    sync.Mutex
	conns []*spyConn
}

func (d *spyDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var nd net.Dialer
	c, err := nd.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	sc := &spyConn{Conn: c}
	d.mu.Lock()
	d.conns = append(d.conns, sc)
	d.mu.Unlock()
	return sc, nil
}

// freezePubSub silences the pub/sub connections open now and returns how many.
func (d *spyDialer) freezePubSub() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, c := range d.conns {
		if c.pubsub.Load() {
			c.frozen.Store(true)
			n++
		}
	}
	return n
}

func TestSilentPubSubMakesBusNotReadyThenIsReplaced(t *testing.T) {
	url := bustest.RedisURL(t)
	prefix := bustest.Prefix(t)
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	spy := &spyDialer{}
	opt.Dialer = spy.dial
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	const ping = 100 * time.Millisecond
	got := make(chan string, 16)
	var resumes atomic.Int32
	a := redisbus.New(rdb, redisbus.Config{Prefix: prefix, PingInterval: ping})
	if err := a.Start(func(key string, msg []byte) { got <- string(msg) }, func(time.Time) { resumes.Add(1) }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	b := redisbus.New(bustest.Client(t, url, prefix), redisbus.Config{Prefix: prefix, PingInterval: ping})
	if err := b.Start(func(string, []byte) {}, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	waitUntil(t, ctx, "ready", func() bool { return a.Ready(ctx) == nil })
	if err := a.Subscribe(ctx, "cam"); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}

	if n := spy.freezePubSub(); n != 1 {
		t.Fatalf("froze %d pub/sub connections, want 1", n)
	}
	// Redis itself answers PING: only the pub/sub probe can tell.
	waitUntil(t, ctx, "not ready with a silent pub/sub connection", func() bool { return a.Ready(ctx) != nil })
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("Redis ping: %v", err)
	}
	// The bus replaces the silent connection, subscribes again and says it resumed.
	waitUntil(t, ctx, "ready again", func() bool { return a.Ready(ctx) == nil })
	waitUntil(t, ctx, "resumed on the new connection", func() bool { return resumes.Load() >= 2 })
	waitUntil(t, ctx, "cam subscribed again", func() bool {
		n, err := b.Publish(ctx, "cam", []byte("probe"))
		return err == nil && n == 1
	})
	if _, err := b.Publish(ctx, "cam", []byte("after")); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	for {
		select {
		case msg := <-got:
			if msg == "after" {
				return
			}
		case <-ctx.Done():
			t.Fatal("message published after the replacement never arrived")
		}
	}
}

func waitUntil(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting: %s", what)
		case <-tick.C:
		}
	}
}

// panicOnce is a go-redis hook whose first pipeline of PUBLISH commands panics.
type panicOnce struct{ done atomic.Bool }

func (*panicOnce) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (*panicOnce) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *panicOnce) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if cmds[0].Name() == "publish" && h.done.CompareAndSwap(false, true) {
			panic("pipeline bug")
		}
		return next(ctx, cmds)
	}
}

func TestLoopsRestartAfterPanic(t *testing.T) {
	url := bustest.RedisURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	t.Run("receive", func(t *testing.T) {
		prefix := bustest.Prefix(t)
		reg := prometheus.NewRegistry()
		got := make(chan string, 16)
		var calls atomic.Int32
		a := redisbus.New(bustest.Client(t, url, prefix), redisbus.Config{Prefix: prefix, Registerer: reg})
		if err := a.Start(func(_ string, msg []byte) {
			if calls.Add(1) == 1 {
				panic("receiver bug")
			}
			got <- string(msg)
		}, nil); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = a.Close() })
		if err := a.Subscribe(ctx, "cam"); err != nil {
			t.Fatalf("Subscribe: %v", err)
		}
		b := redisbus.New(bustest.Client(t, url, prefix), redisbus.Config{Prefix: prefix})
		if err := b.Start(func(string, []byte) {}, nil); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.Close() })
		if _, err := b.Publish(ctx, "cam", []byte("lost")); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		// The receive loop comes back after its backoff and delivers again.
		waitUntil(t, ctx, "a message delivered after the panic", func() bool {
			if _, err := b.Publish(ctx, "cam", []byte("again")); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			select {
			case msg := <-got:
				return msg == "again"
			case <-time.After(50 * time.Millisecond):
				return false
			}
		})
		wantRestarts(t, reg, "receive")
	})

	t.Run("publish", func(t *testing.T) {
		prefix := bustest.Prefix(t)
		reg := prometheus.NewRegistry()
		rdb := bustest.Client(t, url, prefix)
		rdb.AddHook(&panicOnce{})
		a := redisbus.New(rdb, redisbus.Config{Prefix: prefix, Registerer: reg, PublishWorkers: 1})
		if err := a.Start(func(string, []byte) {}, nil); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = a.Close() })
		if err := a.Subscribe(ctx, "cam"); err != nil {
			t.Fatalf("Subscribe: %v", err)
		}
		// The publish caught in the panic gets an error, not a wait without end.
		if _, err := a.Publish(ctx, "cam", []byte("x")); err == nil || ctx.Err() != nil {
			t.Fatalf("Publish in the panicking pipeline: %v, want an error at once", err)
		}
		// The worker is back after its backoff.
		if n, err := a.Publish(ctx, "cam", []byte("y")); err != nil || n != 1 {
			t.Fatalf("Publish after the restart = %d, %v; want 1 receiver", n, err)
		}
		wantRestarts(t, reg, "publish")
	})
}

// wantRestarts checks the bus counted one restart of loop.
func wantRestarts(t *testing.T, reg *prometheus.Registry, loop string) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "securecam_redisbus_loop_restarts_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if m.GetLabel()[0].GetValue() == loop && m.GetCounter().GetValue() == 1 {
				return
			}
		}
	}
	t.Fatalf("securecam_redisbus_loop_restarts_total{loop=%q} is not 1: %v", loop, mfs)
}

// After Redis restarts, the bus says it resumed only once every subscription is back:
// a publish right after the signal reaches the subscriber.
func TestResumedOnlyOnceResubscribed(t *testing.T) {
	url, stop, restart := bustest.StartRedis(t)
	prefix := bustest.Prefix(t)
	const ping = 100 * time.Millisecond
	got := make(chan string, 64)
	resumed := make(chan time.Time, 8)
	a := redisbus.New(bustest.Client(t, url, prefix), redisbus.Config{Prefix: prefix, PingInterval: ping})
	if err := a.Start(func(key string, msg []byte) { got <- key + "=" + string(msg) }, func(since time.Time) { resumed <- since }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	b := redisbus.New(bustest.Client(t, url, prefix), redisbus.Config{Prefix: prefix, PingInterval: ping})
	if err := b.Start(func(string, []byte) {}, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	waitResumed := func(what string) time.Time {
		t.Helper()
		select {
		case since := <-resumed:
			return since
		case <-ctx.Done():
			t.Fatalf("no resume %s", what)
			return time.Time{}
		}
	}
	if since := waitResumed("at the first connection"); !since.IsZero() {
		t.Errorf("the first connection says messages since %v may be lost, want zero: none can be", since)
	}
	var keys []string
	for i := range 50 {
		keys = append(keys, "cam-"+strconv.Itoa(i))
	}
	for _, k := range keys {
		if err := a.Subscribe(ctx, k); err != nil {
			t.Fatalf("Subscribe %s: %v", k, err)
		}
	}

	// The resume tells from when messages may be lost: the last PONG (or message, or
	// resume) before Redis stopped.
	beforeStop := time.Now()
	stop()
	waitUntil(t, ctx, "not ready with Redis down", func() bool { return a.Ready(ctx) != nil })
	select {
	case <-resumed:
		t.Fatal("resumed while Redis is down")
	default:
	}
	restart()
	since := waitResumed("after the restart")
	if since.IsZero() || since.After(beforeStop) {
		t.Errorf("resumed with since %v, want a moment before Redis stopped (%v)", since, beforeStop)
	}
	for _, k := range keys {
		for { // b's pooled connection may still be the dead one: that errors, never 0
			n, err := b.Publish(ctx, k, []byte("back"))
			if err == nil {
				if n != 1 {
					t.Fatalf("publish to %s right after the resume reached %d subscribers, want 1", k, n)
				}
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("publish to %s: %v", k, err)
			}
		}
	}
	seen := map[string]bool{}
	for len(seen) < len(keys) {
		select {
		case m := <-got:
			seen[m] = true
		case <-ctx.Done():
			t.Fatalf("received only %v after the resume", seen)
		}
	}
}

// PublishThen queues before it returns: publishes to one key by PublishThen and
// Publish arrive in the order of the calls, and each done gets the receiver count
// (0 for a key nobody subscribes), or ErrBusClosed once the bus is closed.
func TestPublishThen(t *testing.T) {
	url := bustest.RedisURL(t)
	prefix := bustest.Prefix(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got := make(chan string, 256)
	a := redisbus.New(bustest.Client(t, url, prefix), redisbus.Config{Prefix: prefix})
	if err := a.Start(func(_ string, msg []byte) { got <- string(msg) }, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	if err := a.Subscribe(ctx, "cam"); err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	b := redisbus.New(bustest.Client(t, url, prefix), redisbus.Config{Prefix: prefix})
	if err := b.Start(func(string, []byte) {}, nil); err != nil {
		t.Fatal(err)
	}

	const n = 200
	counts := make(chan int, n+1)
	for i := range n {
		msg := []byte(strconv.Itoa(i))
		if i%10 == 9 {
			if c, err := b.Publish(ctx, "cam", msg); err != nil || c != 1 {
				t.Fatalf("Publish = %d, %v; want 1 receiver", c, err)
			}
			continue
		}
		b.PublishThen(ctx, "cam", msg, func(c int, err error) {
			if err != nil {
				t.Errorf("PublishThen: %v", err)
			}
			counts <- c
		})
	}
	b.PublishThen(ctx, "nobody", []byte("x"), func(c int, err error) {
		if err != nil {
			t.Errorf("PublishThen: %v", err)
		}
		counts <- c + 100 // told apart from the others
	})
	for i := range n {
		select {
		case msg := <-got:
			if msg != strconv.Itoa(i) {
				t.Fatalf("message %d arrived as %q", i, msg)
			}
		case <-ctx.Done():
			t.Fatalf("message %d did not arrive", i)
		}
	}
	nobody := false
	for range n - n/10 + 1 {
		switch c := <-counts; c {
		case 1:
		case 100:
			nobody = true
		default:
			t.Errorf("PublishThen answered %d receivers", c)
		}
	}
	if !nobody {
		t.Error("PublishThen to a key nobody subscribes did not answer 0")
	}

	_ = b.Close()
	closed := make(chan error, 1)
	b.PublishThen(ctx, "cam", []byte("late"), func(_ int, err error) { closed <- err })
	if err := <-closed; !errors.Is(err, hub.ErrBusClosed) {
		t.Fatalf("PublishThen after Close: %v, want ErrBusClosed", err)
	}
}
