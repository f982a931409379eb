// Package redisbus implements the hub's [hub.Bus] on Redis pub/sub and its
// [hub.Presence] registry on Redis keys, for a cluster of replicas.
//
// Layout, all names under Config.Prefix (e.g. "securecam:"):
//
//	channel <prefix>dev:<device id>    messages for one device; a replica subscribes while
//	                                   the device is connected to it, so PUBLISH's receiver
//	                                   count says whether the device is online anywhere
//	channel <prefix>broadcast          messages for every replica
//	hash    <prefix>presence:node      device id → replica holding its socket
//	zset    <prefix>presence:seen      device id → last refresh (Redis time, ms)
//	string  <prefix>presence:lease     replica allowed to sweep, with a TTL
//
// Each replica holds one pub/sub connection (go-redis reconnects it and resubscribes
// after a Redis restart) and probes it with PING every PingInterval: Ready fails when
// no PONG came back recently, and a connection silent for three intervals is replaced.
// Every (re)connection subscribes the broadcast channel with all the others in one
// SUBSCRIBE, which Redis executes at once: the confirmation of the broadcast channel
// means every subscription is back, and the hub is told the bus resumed.
// Publishes to one device go through one of a few workers (chosen by device id) that
// pipeline what is queued, which keeps them in order per device; PublishThen queues a
// publish without waiting for Redis's answer.
//
// Concurrency: Bus and Presence are safe for concurrent use. Bus owns the goroutines it
// starts in Start and waits for them in Close; the *redis.Client is the caller's. A
// loop of the bus that panics is logged with its stack, counted in
// securecam_redisbus_loop_restarts_total and started again after a backoff; the
// publishes of a pipeline that panicked fail with an error.
package redisbus

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/hub/internal/supervise"
)

// Config configures a [Bus].
type Config struct {
	// Prefix is put before every channel and key name. Default "securecam:".
	Prefix string
	// PingInterval is the period of the pub/sub health probe. Default 5 s.
	PingInterval time.Duration
	// PublishWorkers is the number of pipelining publish workers. Default 4.
	PublishWorkers int
	// Logger receives the bus's logs. Default: discarded.
	Logger *slog.Logger
	// Registerer receives the bus's Prometheus metrics (at Start). Nil: not registered.
	Registerer prometheus.Registerer
}

func (c *Config) setDefaults() {
	if c.Prefix == "" {
		c.Prefix = "securecam:"
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 5 * time.Second
	}
	if c.PublishWorkers <= 0 {
		c.PublishWorkers = 4
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// Bus is a [hub.Bus] endpoint on Redis pub/sub.
type Bus struct {
	rdb       redis.UniversalClient
	cfg       Config
	log       *slog.Logger
	devPrefix string
	bcast     string

	mu      sync.Mutex // guards ps, subs, started, closed
	ps      *redis.PubSub
	subs    map[string]int
	recv    func(key string, msg []byte)
	resumed func(since time.Time)
	started bool
	closed  bool

	lastPong atomic.Int64 // unix nanoseconds of the last PONG on the pub/sub connection
	heard    atomic.Int64 // unix nanoseconds of the last message or PONG received, or of the last resume

	waitMu  sync.Mutex
	waiters map[string][]chan struct{} // channel → Subscribe calls awaiting confirmation

	pubMu   sync.RWMutex // Publish holds it shared while queueing; Close exclusively
	pubShut bool
	pubs    []chan *pubReq

	stop     chan struct{}
	wg       sync.WaitGroup
	restarts *prometheus.CounterVec // loops restarted after a panic, by loop
}

type pubReq struct {
	channel string
	msg     []byte
	done    func(n int, err error) // called once, on the worker's goroutine
}

// New returns a bus endpoint on rdb. Call Start (the hub does) before use.
func New(rdb redis.UniversalClient, cfg Config) *Bus {
	cfg.setDefaults()
	b := &Bus{
		rdb:       rdb,
		cfg:       cfg,
		log:       cfg.Logger,
		devPrefix: cfg.Prefix + "dev:",
		bcast:     cfg.Prefix + "broadcast",
		subs:      make(map[string]int),
		waiters:   make(map[string][]chan struct{}),
		stop:      make(chan struct{}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "securecam_redisbus_loop_restarts_total",
			Help: "Redis bus loops restarted after a panic, by loop (receive, ping, publish).",
		}, []string{"loop"}),
	}
	b.pubs = make([]chan *pubReq, cfg.PublishWorkers)
	for i := range b.pubs {
		b.pubs[i] = make(chan *pubReq, 1024)
	}
	return b
}

// Start implements [hub.Bus]. It does not fail when Redis is unreachable: the bus
// connects when Redis is back, and Ready tells the truth meanwhile. resumed follows
// every (re)connection of the pub/sub connection, its subscriptions made.
func (b *Bus) Start(recv func(key string, msg []byte), resumed func(since time.Time)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return hub.ErrBusClosed
	}
	if b.started {
		return errors.New("redisbus: already started")
	}
	if b.cfg.Registerer != nil {
		if err := b.cfg.Registerer.Register(b.restarts); err != nil {
			return fmt.Errorf("redisbus: register metrics: %w", err)
		}
	}
	b.started = true
	b.recv, b.resumed = recv, resumed
	b.ps = b.newPubSub(context.Background())
	b.goLoop("receive", b.receiveLoop)
	b.goLoop("ping", b.pingLoop)
	for _, ch := range b.pubs {
		b.goLoop("publish", func() { b.publishWorker(ch) })
	}
	return nil
}

// goLoop runs loop in a goroutine until Close. A panic in loop is logged with its
// stack, counted and the loop started again after a backoff.
func (b *Bus) goLoop(name string, loop func()) {
	b.wg.Go(func() {
		supervise.Run(b.stop, loop, func(v any, stack []byte) {
			b.restarts.WithLabelValues(name).Inc()
			b.log.Error("panic in redis bus loop: restarting it", "loop", name, "panic", v, "stack", string(stack))
		})
	})
}

// newPubSub opens a pub/sub connection subscribed to the broadcast channel and to
// every key subscribed so far. Called with b.mu held.
func (b *Bus) newPubSub(ctx context.Context) *redis.PubSub {
	channels := make([]string, 0, 1+len(b.subs))
	channels = append(channels, b.bcast)
	for k := range b.subs {
		channels = append(channels, b.devPrefix+k)
	}
	// Subscribe records the channels even when Redis is down and subscribes them
	// when its connection is (re)established.
	return b.rdb.Subscribe(ctx, channels...)
}

func (b *Bus) pubSub() *redis.PubSub {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ps
}

func (b *Bus) stopped() bool {
	select {
	case <-b.stop:
		return true
	default:
		return false
	}
}

// receiveLoop delivers messages and records PONGs; it replaces a pub/sub connection
// that stayed silent for three ping intervals, and reports each resume.
func (b *Bus) receiveLoop() {
	backoff := 50 * time.Millisecond
	for !b.stopped() {
		ps := b.pubSub()
		m, err := ps.ReceiveTimeout(context.Background(), b.cfg.PingInterval)
		if err != nil {
			if b.stopped() {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				if b.silentFor() > 3*b.cfg.PingInterval {
					b.log.Warn("redis pub/sub connection silent: reconnecting")
					b.replacePubSub(ps)
				}
				continue
			}
			b.log.Debug("redis pub/sub receive", "err", err)
			select {
			case <-b.stop:
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		now := time.Now().UnixNano()
		switch m := m.(type) {
		case *redis.Message:
			b.heard.Store(now)
			b.deliver(m)
		case *redis.Pong:
			b.heard.Store(now)
			b.lastPong.Store(now)
		case *redis.Subscription:
			// Any reply proves the connection alive.
			b.lastPong.Store(now)
			if m.Kind == "subscribe" {
				b.confirm(m.Channel)
				if m.Channel == b.bcast && b.resumed != nil {
					// A (re)connection: its one SUBSCRIBE restored every channel.
					// What came after the last message or PONG on the old
					// connection may be lost.
					var since time.Time
					if before := b.heard.Swap(now); before != 0 {
						since = time.Unix(0, before)
					}
					b.resumed(since)
				}
			}
		}
	}
}

func (b *Bus) deliver(m *redis.Message) {
	var key string
	switch {
	case m.Channel == b.bcast:
	case len(m.Channel) > len(b.devPrefix) && m.Channel[:len(b.devPrefix)] == b.devPrefix:
		key = m.Channel[len(b.devPrefix):]
	default:
		return
	}
	b.recv(key, []byte(m.Payload))
}

func (b *Bus) silentFor() time.Duration {
	return time.Since(time.Unix(0, b.lastPong.Load()))
}

// replacePubSub closes old, if it is still current, and opens a new connection with
// the same subscriptions.
func (b *Bus) replacePubSub(old *redis.PubSub) {
	b.mu.Lock()
	if b.ps != old || b.closed {
		b.mu.Unlock()
		return
	}
	b.ps = b.newPubSub(context.Background())
	b.lastPong.Store(time.Now().UnixNano()) // give the new connection a full period
	b.mu.Unlock()
	_ = old.Close()
}

// pingLoop sends PING on the pub/sub connection every PingInterval.
func (b *Bus) pingLoop() {
	t := time.NewTicker(b.cfg.PingInterval)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), b.cfg.PingInterval)
		if err := b.pubSub().Ping(ctx, "securecam"); err != nil {
			b.log.Debug("redis pub/sub ping", "err", err)
		}
		cancel()
		select {
		case <-b.stop:
			return
		case <-t.C:
		}
	}
}

// subscribeWait bounds how long Subscribe waits for Redis to confirm.
const subscribeWait = 3 * time.Second

// Subscribe implements [hub.Bus]. It returns once Redis confirmed the subscription,
// so a Publish that follows reaches this endpoint. When Redis is unreachable it
// returns an error after at most a few seconds; the subscription is made when the
// connection is back.
func (b *Bus) Subscribe(ctx context.Context, key string) error {
	b.mu.Lock()
	if b.closed || !b.started {
		b.mu.Unlock()
		return hub.ErrBusClosed
	}
	b.subs[key]++
	if b.subs[key] > 1 {
		b.mu.Unlock()
		return nil
	}
	channel := b.devPrefix + key
	w := make(chan struct{})
	b.waitMu.Lock()
	b.waiters[channel] = append(b.waiters[channel], w)
	b.waitMu.Unlock()
	err := b.ps.Subscribe(ctx, channel)
	b.mu.Unlock()
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, subscribeWait)
		defer cancel()
		select {
		case <-w:
			return nil
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	b.unwait(channel, w)
	return fmt.Errorf("redisbus: subscribe: %w", err)
}

// confirm wakes the Subscribe calls waiting for channel.
func (b *Bus) confirm(channel string) {
	b.waitMu.Lock()
	defer b.waitMu.Unlock()
	for _, w := range b.waiters[channel] {
		close(w)
	}
	delete(b.waiters, channel)
}

func (b *Bus) unwait(channel string, w chan struct{}) {
	b.waitMu.Lock()
	defer b.waitMu.Unlock()
	ws := b.waiters[channel]
	for i, x := range ws {
		if x == w {
			ws = append(ws[:i], ws[i+1:]...)
			break
		}
	}
	if len(ws) == 0 {
		delete(b.waiters, channel)
	} else {
		b.waiters[channel] = ws
	}
}

// Unsubscribe implements [hub.Bus].
func (b *Bus) Unsubscribe(ctx context.Context, key string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || !b.started {
		return hub.ErrBusClosed
	}
	if b.subs[key] == 0 {
		return nil
	}
	b.subs[key]--
	if b.subs[key] > 0 {
		return nil
	}
	delete(b.subs, key)
	if err := b.ps.Unsubscribe(ctx, b.devPrefix+key); err != nil {
		return fmt.Errorf("redisbus: unsubscribe: %w", err)
	}
	return nil
}

var workerSeed = maphash.MakeSeed()

// Publish implements [hub.Bus]. The message joins the pipeline of the worker that
// owns key; Publish waits for Redis's answer.
func (b *Bus) Publish(ctx context.Context, key string, msg []byte) (int, error) {
	type result struct {
		n   int
		err error
	}
	res := make(chan result, 1)
	b.PublishThen(ctx, key, msg, func(n int, err error) { res <- result{n, err} })
	select {
	case r := <-res:
		return r.n, r.err
	case <-ctx.Done():
		return 0, fmt.Errorf("redisbus: publish: %w", ctx.Err())
	}
}

// PublishThen is Publish without waiting for Redis's answer: done gets it, from
// another goroutine, and must not block. The message is queued before PublishThen
// returns (it waits for room in the worker's queue, until ctx ends), so messages to a
// key published one after the other by Publish or PublishThen go out in that order.
func (b *Bus) PublishThen(ctx context.Context, key string, msg []byte, done func(n int, err error)) {
	req := &pubReq{channel: b.devPrefix + key, msg: msg, done: func(n int, err error) {
		if err != nil {
			err = fmt.Errorf("redisbus: publish: %w", err)
		}
		done(n, err)
	}}
	b.pubMu.RLock()
	if b.pubShut {
		b.pubMu.RUnlock()
		done(0, hub.ErrBusClosed)
		return
	}
	ch := b.pubs[maphash.String(workerSeed, key)%uint64(len(b.pubs))]
	select {
	case ch <- req:
		b.pubMu.RUnlock()
	case <-ctx.Done():
		b.pubMu.RUnlock()
		done(0, fmt.Errorf("redisbus: publish: %w", ctx.Err()))
	}
}

const maxPipeline = 256

// publishWorker sends the queued publishes of its keys in pipelines.
func (b *Bus) publishWorker(ch chan *pubReq) {
	batch := make([]*pubReq, 0, maxPipeline)
	cmds := make([]*redis.IntCmd, 0, maxPipeline)
	for {
		var first *pubReq
		select {
		case first = <-ch:
		case <-b.stop:
			// Publish queues nothing after Close began: fail what is left.
			for {
				select {
				case r := <-ch:
					r.done(0, hub.ErrBusClosed)
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < maxPipeline {
			select {
			case r := <-ch:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		cmds = b.publishBatch(batch, cmds[:0])
		clear(batch)
	}
}

// errPublishPanic answers the publishes of a pipeline that panicked.
var errPublishPanic = errors.New("redisbus: publish worker panicked")

// publishBatch sends batch in one pipeline and answers each request; cmds is scratch
// space, returned for reuse. When it panics, the requests not answered yet get an
// error before the panic goes on.
func (b *Bus) publishBatch(batch []*pubReq, cmds []*redis.IntCmd) []*redis.IntCmd {
	answered := 0
	defer func() {
		for _, r := range batch[answered:] {
			r.done(0, errPublishPanic)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pipe := b.rdb.Pipeline()
	for _, r := range batch {
		cmds = append(cmds, pipe.Publish(ctx, r.channel, r.msg))
	}
	_, _ = pipe.Exec(ctx) // errors are per command
	for i, r := range batch {
		n, err := cmds[i].Result()
		answered++ // a panic in done must not answer r again
		r.done(int(n), err)
	}
	return cmds
}

// Broadcast implements [hub.Bus].
func (b *Bus) Broadcast(ctx context.Context, msg []byte) error {
	if b.isClosed() {
		return hub.ErrBusClosed
	}
	if err := b.rdb.Publish(ctx, b.bcast, msg).Err(); err != nil {
		return fmt.Errorf("redisbus: broadcast: %w", err)
	}
	return nil
}

// Ready implements [hub.Bus]: Redis answers, and the pub/sub connection answered a
// probe within the last two ping intervals.
func (b *Bus) Ready(ctx context.Context) error {
	b.mu.Lock()
	started, closed := b.started, b.closed
	b.mu.Unlock()
	if closed || !started {
		return hub.ErrBusClosed
	}
	if silent := b.silentFor(); silent > 2*b.cfg.PingInterval {
		return fmt.Errorf("redisbus: pub/sub connection silent for %s", silent.Round(time.Millisecond))
	}
	if err := b.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redisbus: ping: %w", err)
	}
	return nil
}

func (b *Bus) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}

// Close implements [hub.Bus]: it stops the goroutines, fails pending publishes and
// closes the pub/sub connection. The Redis client stays open.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	ps, started := b.ps, b.started
	b.mu.Unlock()

	b.pubMu.Lock()
	b.pubShut = true
	b.pubMu.Unlock()
	if !started {
		return nil
	}
	close(b.stop)
	err := ps.Close()
	b.wg.Wait()
	if err != nil {
		return fmt.Errorf("redisbus: close: %w", err)
	}
	return nil
}
