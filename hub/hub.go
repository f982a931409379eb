package hub

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/securecam/securecam/hub/internal/ipbudget"
	"golang.org/x/time/rate"

	"github.com/securecam/securecam/hub/internal/supervise"
)

// Config configures a [Hub]. Only Authenticator is required; every other zero field
// takes the default documented beside it.
type Config struct {
	// NodeID names this replica (hello.node). Default: host name + "-" + 4 random hex.
	NodeID string

	// Authenticator authenticates every /ws request before the upgrade. Required.
	Authenticator Authenticator
	// Directory gives linked devices and records presence. Nil: no device is linked
	// and nothing is recorded.
	Directory Directory
	// Bus routes messages between replicas. Nil: a new in-process bus (one replica).
	Bus Bus
	// Presence is the cluster-wide presence registry. Nil: a new in-memory registry.
	Presence Presence

	// OnConnect runs on the connection's goroutine after hello was queued, before the
	// first client message is read (signaling delivers pending commands here). ctx
	// lives as long as the connection.
	OnConnect func(ctx context.Context, c *Client)
	// OnDisconnect runs after the connection ended and was unregistered. clean is true
	// when the client closed the socket normally (1000 or 1001) or the hub closed it
	// because its credentials were revoked (4003): it is not coming back. It is false
	// when the socket was dropped, timed out or closed by the hub for another reason
	// (replaced, too slow, shutdown, …).
	OnDisconnect func(ctx context.Context, id Identity, clean bool)
	// OnBusResume runs after the bus resumed (see [Bus]) with this replica's
	// connections: what was published to them after since may be lost (signaling
	// delivers their waiting commands and the command statuses they missed again here).
	// since is zero when nothing can have been lost (the first connection). It runs on
	// a background goroutine of the hub.
	OnBusResume func(ctx context.Context, clients []*Client, since time.Time)

	// ReadLimit is the largest message accepted, in bytes; larger closes with 1009.
	// Default 64 KiB.
	ReadLimit int64
	// SendQueueSize is the most messages queued for one connection. Default 256.
	SendQueueSize int
	// SendQueueBytes is the most bytes queued for one connection. Default 1 MiB.
	SendQueueBytes int
	// HeartbeatInterval: a connection silent this long gets a WebSocket ping; also
	// hello.heartbeat_seconds, the client's app-level ping period. Default 25 s.
	HeartbeatInterval time.Duration
	// HeartbeatTimeout: a connection from which nothing (message, pong) arrived for
	// this long is dropped. Default 60 s.
	HeartbeatTimeout time.Duration
	// WriteTimeout bounds each write to a socket. Default 10 s.
	WriteTimeout time.Duration
	// MessageRate and MessageBurst bound the messages per second one connection may
	// send (token bucket); beyond, the socket closes with 4029. Defaults 50 and 100.
	MessageRate  float64
	MessageBurst int
	// AcceptRate and AcceptBurst bound new connections per second on this replica;
	// beyond, /ws answers 503 with Retry-After before the upgrade. Defaults 200 and 400.
	AcceptRate  float64
	AcceptBurst int
	// FailedAuthRate and FailedAuthBurst bound the failed authentications per second of
	// one client network (an IPv4 address, an IPv6 /64, taken from the request's
	// RemoteAddr); beyond, /ws answers that network 429 with Retry-After before
	// authenticating. Defaults 1 and 20.
	FailedAuthRate  float64
	FailedAuthBurst int
	// PresenceRefreshInterval: how often this replica refreshes its presence entries
	// and tries to sweep expired ones. Must be well below the registry's TTL.
	// Default 10 s.
	PresenceRefreshInterval time.Duration
	// PresenceFlushInterval: how often presence changes are written to the Directory
	// (coalesced per device). Default 1 s.
	PresenceFlushInterval time.Duration
	// ShutdownConcurrency bounds the sockets closed at once by Shutdown. Default 128.
	ShutdownConcurrency int
	// RevalidateInterval: how often the credentials of this replica's sockets are
	// checked again with [Authenticator.Revalidate] (each wait drawn within ±10 %, so
	// that replicas spread their passes); a pass also follows every resume of the bus.
	// Default 60 s.
	RevalidateInterval time.Duration

	// Now is the clock of the hub's timestamps (presence last_seen_at), of heartbeat
	// idleness, of the message rate and of the failed-authentication budget. Default
	// time.Now. The hub's tickers and its accept rate come from package time: tests
	// drive them with testing/synctest.
	Now func() time.Time

	// Logger receives the hub's logs. Default: discarded.
	Logger *slog.Logger
	// Registerer receives the hub's Prometheus metrics. Nil: not registered.
	Registerer prometheus.Registerer
}

func (c *Config) setDefaults() {
	if c.NodeID == "" {
		host, _ := os.Hostname()
		if host == "" {
			host = "hub"
		}
		var b [2]byte
		_, _ = rand.Read(b[:])
		c.NodeID = host + "-" + hex.EncodeToString(b[:])
	}
	if c.Bus == nil {
		c.Bus = NewMemoryBus()
	}
	if c.Presence == nil {
		c.Presence = NewMemoryPresence(0)
	}
	setDefault(&c.ReadLimit, 64<<10)
	setDefault(&c.SendQueueSize, 256)
	setDefault(&c.SendQueueBytes, 1<<20)
	setDefault(&c.HeartbeatInterval, 25*time.Second)
	setDefault(&c.HeartbeatTimeout, 60*time.Second)
	setDefault(&c.WriteTimeout, 10*time.Second)
	setDefault(&c.MessageRate, 50)
	setDefault(&c.MessageBurst, 100)
	setDefault(&c.AcceptRate, 200)
	setDefault(&c.AcceptBurst, 400)
	setDefault(&c.FailedAuthRate, 1)
	setDefault(&c.FailedAuthBurst, 20)
	setDefault(&c.PresenceRefreshInterval, 10*time.Second)
	setDefault(&c.PresenceFlushInterval, time.Second)
	setDefault(&c.ShutdownConcurrency, 128)
	setDefault(&c.RevalidateInterval, 60*time.Second)
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

func setDefault[T int | int64 | float64 | time.Duration](p *T, v T) {
	if *p <= 0 {
		*p = v
	}
}

// HandlerFunc handles one client message of a registered type. It runs on the
// connection's goroutine (or, registered with [Hub.HandleConcurrent], on one the
// connection goroutine waits for); ctx ends with the connection. A handler answers messages
// that carry an id with [Client.Ack] or [Client.Error].
type HandlerFunc func(ctx context.Context, c *Client, env Envelope)

const shardCount = 64

// maxAuthFailureNetworks bounds the client networks whose failed authentications are
// remembered (about 100 bytes each).
const maxAuthFailureNetworks = 1 << 16

type shard struct {
	mu      sync.RWMutex
	clients map[string]*Client // by device id
}

// Hub accepts device connections and routes messages to them. Create it with [New],
// register handlers with [Hub.Handle] before serving, mount it on GET /ws, and call
// [Hub.Shutdown] to stop it.
type Hub struct {
	cfg     Config
	log     *slog.Logger
	dir     Directory
	bus     Bus
	pres    Presence
	metrics *metrics
	accept  *rate.Limiter
	// authFailures is the failed-authentication budget of each client network.
	authFailures *ipbudget.Budget

	handlersMu sync.RWMutex
	handlers   map[string]handler
	typeNames  map[string]string // the keys of handlers, to decode types without allocating
	// nodeHandlers handle the node messages of other replicas, by name (node.go).
	nodeHandlers map[string]NodeHandlerFunc
	nodeIn       chan nodeMessage

	shards [shardCount]shard

	// ctx is the hub's lifetime context: the parent of every connection's context,
	// cancelled when Shutdown gives up waiting.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex // guards draining and Adds to conns
	draining bool
	conns    sync.WaitGroup // connection goroutines (ServeHTTP calls past admission)

	stopBG chan struct{}
	bg     sync.WaitGroup // background loops

	busResumed      chan struct{} // the bus resumed: cap 1, signalled without blocking
	resumeMu        sync.Mutex
	resumeSince     time.Time     // earliest since of the resumes not yet handled; zero: none lost
	refreshPresence chan struct{} // refresh presence now: cap 1, signalled without blocking

	presMu      sync.Mutex
	presPending map[string]PresenceUpdate

	shutdownOnce sync.Once
	shutdownErr  error
}

// New returns a running hub. It starts the bus and the hub's background goroutines;
// [Hub.Shutdown] stops them.
func New(cfg Config) (*Hub, error) {
	if cfg.Authenticator == nil {
		return nil, errors.New("hub: new: Config.Authenticator is required")
	}
	cfg.setDefaults()
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("hub: new: %w", err), cfg.Bus.Close(), cfg.Presence.Close())
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hub{
		cfg:          cfg,
		log:          cfg.Logger.With("node", cfg.NodeID),
		dir:          cfg.Directory,
		bus:          cfg.Bus,
		pres:         cfg.Presence,
		metrics:      m,
		accept:       rate.NewLimiter(rate.Limit(cfg.AcceptRate), cfg.AcceptBurst),
		authFailures: ipbudget.New(cfg.FailedAuthRate, cfg.FailedAuthBurst, maxAuthFailureNetworks),
		handlers:     make(map[string]handler),
		typeNames:    map[string]string{TypePing: TypePing},
		nodeHandlers: make(map[string]NodeHandlerFunc),
		nodeIn:       make(chan nodeMessage, nodeQueue),
		ctx:          ctx,
		cancel:       cancel,
		stopBG:       make(chan struct{}),
		presPending:  make(map[string]PresenceUpdate),

		busResumed:      make(chan struct{}, 1),
		refreshPresence: make(chan struct{}, 1),
	}
	if h.dir == nil {
		h.dir = noDirectory{}
	}
	for i := range h.shards {
		h.shards[i].clients = make(map[string]*Client)
	}
	if err := h.bus.Start(h.receive, h.noteBusResumed); err != nil {
		cancel()
		return nil, errors.Join(fmt.Errorf("hub: start bus: %w", err), h.bus.Close(), h.pres.Close())
	}
	h.goLoop("heartbeat", h.heartbeatLoop)
	h.goLoop("presence", h.presenceLoop)
	h.goLoop("presence_flush", h.flushLoop)
	h.goLoop("revalidate", h.revalidateLoop)
	h.goLoop("node", h.nodeLoop)
	return h, nil
}

// goLoop runs loop in a background goroutine until Shutdown. A panic in loop is
// logged with its stack, counted (securecam_hub_loop_restarts_total) and the loop
// started again after a backoff.
func (h *Hub) goLoop(name string, loop func()) {
	h.bg.Go(func() {
		supervise.Run(h.stopBG, loop, func(v any, stack []byte) {
			h.metrics.panics.Inc()
			h.metrics.loopRestarts.WithLabelValues(name).Inc()
			h.log.Error("panic in hub loop: restarting it", "loop", name, "panic", v, "stack", string(stack))
		})
	})
}

// NodeID returns this replica's id.
func (h *Hub) NodeID() string { return h.cfg.NodeID }

// Handle registers fn for client messages of type typ, replacing any earlier
// handler. Register before serving. The types ping and pong are the hub's own.
//
// A socket's messages are handled one after the other, in the order they arrived:
// fn runs on the connection's goroutine, and the next message is read when it returns.
func (h *Hub) Handle(typ string, fn HandlerFunc) {
	h.addHandler(typ, handler{fn: fn})
}

// HandleConcurrent registers fn for client messages of type typ like [Hub.Handle],
// except that the messages of typ (and of every other type registered with
// HandleConcurrent) that a socket sends in a row are handled concurrently, up to
// [MaxConcurrentPerConn] at once per socket, each in a goroutine of its own; their
// answers may come out of order. Every other message waits until the concurrent
// handlers of the messages the socket sent before it have returned, and the messages
// after it wait for it, so the order between a concurrent message and any other is
// kept. Use it for requests that are independent of one another and wait on I/O
// (a store's group commit gathers them into fewer commits).
func (h *Hub) HandleConcurrent(typ string, fn HandlerFunc) {
	h.addHandler(typ, handler{fn: fn, concurrent: true})
}

// handler is a registered message handler.
type handler struct {
	fn         HandlerFunc
	concurrent bool // handled beside the socket's other concurrent messages
}

func (h *Hub) addHandler(typ string, hd handler) {
	h.handlersMu.Lock()
	defer h.handlersMu.Unlock()
	h.handlers[typ] = hd
	h.typeNames[typ] = typ
}

// typeName returns the registered message type spelled by b, without allocating.
func (h *Hub) typeName(b []byte) (string, bool) {
	h.handlersMu.RLock()
	defer h.handlersMu.RUnlock()
	s, ok := h.typeNames[string(b)]
	return s, ok
}

// HandledTypes lists, sorted, the message types a handler is registered for: every
// type a client may send besides the hub's own (hello, ack, ping).
func (h *Hub) HandledTypes() []string {
	h.handlersMu.RLock()
	defer h.handlersMu.RUnlock()
	types := make([]string, 0, len(h.handlers))
	for typ := range h.handlers {
		types = append(types, typ)
	}
	slices.Sort(types)
	return types
}

func (h *Hub) handler(typ string) handler {
	h.handlersMu.RLock()
	defer h.handlersMu.RUnlock()
	return h.handlers[typ]
}

type noDirectory struct{}

func (noDirectory) LinkedDevices(context.Context, string) ([]LinkedDevice, error) { return nil, nil }
func (noDirectory) RecordPresence(context.Context, []PresenceUpdate) error        { return nil }

// closeCodeLabel names a close code for metrics and logs.
func closeCodeLabel(code websocket.StatusCode) string {
	switch code {
	case -1:
		return "abnormal"
	case statusTimeout:
		return "timeout"
	}
	return fmt.Sprintf("%d", int(code))
}
