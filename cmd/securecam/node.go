package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/hub/redisbus"
	"github.com/securecam/securecam/signaling"
	"github.com/securecam/securecam/signaling/relay"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/postgres"
	"github.com/securecam/securecam/store/sqlite"
	"github.com/securecam/securecam/web"
	"github.com/securecam/securecam/web/app"
)

// node is one replica, built and ready to run: its parts, in the order they were
// built, and the listeners it serves on.
type node struct {
	cfg Config
	log *slog.Logger

	store  store.Store
	reg    *prometheus.Registry
	rdb    *redis.Client // nil in embedded mode
	events eventParts
	svc    *signaling.Service
	relay  *relay.Relay
	rec    *recorders
	// relayUDP is the relay's one UDP socket (SECURECAM_RELAY_UDP_ADDR).
	relayUDP net.PacketConn
	hub      *hub.Hub
	web      *web.Server

	http    *http.Server
	ln      net.Listener
	adminLn net.Listener // nil without SECURECAM_ADMIN_ADDR

	// closers release what was built, in reverse order, after the node ran (or when
	// building it failed half way).
	closers []func()
}

// build makes every part of the node from the configuration: store, registry, Redis,
// live view, events and push, signaling, socket auth, hub, web (and the adoption of a
// Better Auth database's sessions), listeners (behind the connection caps). On failure it releases what it made.
func build(ctx context.Context, cfg Config, logger *slog.Logger) (*node, error) {
	n := &node{cfg: cfg, log: logger}
	if err := n.build(ctx); err != nil {
		n.close()
		return nil, err
	}
	return n, nil
}

func (n *node) build(ctx context.Context) error {
	if err := n.openStore(ctx); err != nil {
		return err
	}
	n.reg = prometheus.NewRegistry()
	n.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := n.connectRedis(ctx); err != nil {
		return err
	}
	if err := n.buildSignaling(ctx); err != nil {
		return err
	}
	cfg := n.cfg
	deps := web.Deps{Store: n.store, Logger: n.log.With("component", "web"), Registerer: n.reg, Gatherer: n.reg}
	webCfg := web.Config{
		PublicURL:           cfg.PublicURL,
		NodeURL:             cfg.NodeURL,
		AllowedOrigins:      cfg.AllowedOrigins,
		TrustedProxies:      prefixStrings(cfg),
		MaxUploadBytes:      cfg.MaxUploadBytes,
		BodyTimeout:         cfg.BodyTimeout,
		BodyMinRate:         cfg.BodyMinRate,
		StorageQuotaBytes:   cfg.StorageQuotaBytes,
		StorageReserveBytes: n.events.reserve,
		BetterAuthSecret:    cfg.BetterAuthSecret,
		BetterAuthShared:    cfg.BetterAuthShared,
		VAPIDPublicKey:      n.events.vapidPublicKey,
	}
	auth, err := web.NewSocketAuth(webCfg, deps)
	if err != nil {
		return err
	}
	if err := n.buildHub(auth); err != nil {
		return err
	}
	if err := n.buildWeb(webCfg, deps); err != nil {
		return err
	}
	if err := n.adoptSessions(ctx); err != nil {
		return err
	}
	return n.listen()
}

// close releases the parts in reverse order of building.
func (n *node) close() {
	for i := len(n.closers) - 1; i >= 0; i-- {
		n.closers[i]()
	}
	n.closers = nil
}

// pgCommandBatches is how many group commits of each kind of command write the hub
// on PostgreSQL writes at once at most (more than one only under a backlog,
// signaling's openAt); pgMaxConns makes room in the pool for them (three
// kinds) beside everything else. pgx's default pool is the larger of 4 and the CPUs.
const (
	pgCommandBatches = 4
	pgMaxConns       = 3*pgCommandBatches + 8
)

// commandBatches is signaling.Config.CommandBatches for the configured store: SQLite
// has one writer, so one batch of a kind at a time.
func commandBatches(cfg Config) int {
	if cfg.DatabaseURL != "" {
		return pgCommandBatches
	}
	return 1
}

// openStore opens (and migrates) the store; in embedded mode, the only replica, it
// marks every device offline: nobody is connected yet.
func (n *node) openStore(ctx context.Context) error {
	st, err := openStore(ctx, n.cfg, n.log)
	if err != nil {
		return err
	}
	n.store = st
	n.closers = append(n.closers, func() { _ = st.Close() })
	if n.cfg.RedisURL == "" {
		if err := st.MarkAllDevicesOffline(ctx, time.Now().UTC()); err != nil {
			return fmt.Errorf("mark devices offline: %w", err)
		}
		// Live views go on peer to peer while the hub is down, also after a crash
		// that told nobody: their parties get the grace period to resume them.
		if err := st.MarkStreamPartiesAway(ctx, time.Now().UTC()); err != nil {
			return fmt.Errorf("mark live-view parties away: %w", err)
		}
	}
	return nil
}

// connectRedis connects to SECURECAM_REDIS_URL, when set.
func (n *node) connectRedis(ctx context.Context) error {
	if n.cfg.RedisURL == "" {
		return nil
	}
	opts, err := redis.ParseURL(n.cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("SECURECAM_REDIS_URL: %w", err)
	}
	redis.SetLogger(redisLogger{n.log.With("component", "redis")})
	n.rdb = redis.NewClient(opts)
	n.closers = append(n.closers, func() { _ = n.rdb.Close() })
	if err := n.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis at %s is not reachable: %w", opts.Addr, err)
	}
	return nil
}

// buildSignaling builds live view (TURN, ICE servers), events and push, and the
// signaling service on them.
func (n *node) buildSignaling(ctx context.Context) error {
	network := "udp4"
	if host, _, _ := net.SplitHostPort(n.cfg.RelayUDPAddr); strings.Contains(host, ":") {
		network = "udp6"
	}
	relayUDP, err := net.ListenPacket(network, n.cfg.RelayUDPAddr)
	if err != nil {
		return fmt.Errorf("listen on SECURECAM_RELAY_UDP_ADDR %s: %w", n.cfg.RelayUDPAddr, err)
	}
	n.relayUDP = relayUDP
	n.closers = append(n.closers, func() { _ = relayUDP.Close() }) // the relay closes it too
	relayPort := relayUDP.LocalAddr().(*net.UDPAddr).Port
	turnSrv, iceServers, err := liveViewServers(n.cfg, []int{relayPort}, n.reg, n.log.With("component", "turn"))
	if err != nil {
		return err
	}
	if turnSrv != nil {
		n.closers = append(n.closers, func() { _ = turnSrv.Close() })
	}
	if n.events, err = newEventParts(ctx, n.cfg, n.store, n.reg, n.log); err != nil {
		return err
	}
	n.rec = newRecorders(n.cfg, n.store, n.events.recordings.Primary(), n.log.With("component", "record"))
	if err := n.buildRelay(ctx); err != nil {
		return err
	}
	n.svc, err = signaling.New(signaling.Config{Store: n.store, Logger: n.log.With("component", "signaling"),
		Waker: n.events.queue, Alerter: n.events.queue, Events: signaling.EventConfig{CameraOfflineAfter: n.cfg.CameraOfflineAfter},
		OnEvent: n.rec.event, OnArming: n.rec.armingChanged, Relay: socketRelay{n.relay}, WHIPURL: n.cfg.NodeURL + "/api/v1/whip",
		Streams:        signaling.StreamConfig{ICE: iceServers, ResumeGrace: n.cfg.StreamResumeGrace},
		CommandBatches: commandBatches(n.cfg)})
	if err != nil {
		return err
	}
	n.closers = append(n.closers, n.svc.Close) // before the relay: the legs it holds close first
	return n.buildRecorders(ctx)
}

// socketRelay is the relay as signaling's socket relay flow uses it.
type socketRelay struct{ *relay.Relay }

func (r socketRelay) Subscribe(ctx context.Context, camera, principal, offer string) (signaling.RelayLeg, string, error) {
	s, answer, err := r.Relay.Subscribe(ctx, camera, principal, offer)
	if err != nil {
		return nil, "", err
	}
	return s, answer, nil
}

// buildRecorders finishes the recordings a previous run left in the spool directory,
// then records the relay's publications (closed before the relay: the files being
// written are finished and stored).
func (n *node) buildRecorders(ctx context.Context) error {
	if err := n.rec.recover(ctx); err != nil {
		return fmt.Errorf("recover the recordings of the previous run: %w", err)
	}
	n.rec.relay, n.rec.publish = n.relay, n.svc
	n.closers = append(n.closers, n.rec.close)
	return nil
}

// buildRelay starts the media relay. The publications this replica held before it
// stopped are gone: their sessions (recorded under SECURECAM_NODE_URL) end first.
func (n *node) buildRelay(ctx context.Context) error {
	ended, err := n.store.EndMediaSessions(ctx, n.cfg.NodeURL+"/", signaling.ReasonDisconnected, time.Now().UTC())
	if err != nil {
		return fmt.Errorf("end this node's old media sessions: %w", err)
	}
	if len(ended) > 0 {
		n.log.Info("ended media sessions this node held before it stopped", "sessions", len(ended))
	}
	st, log := n.store, n.log.With("component", "relay")
	log.Info("media relay listening", "udp_addr", n.relayUDP.LocalAddr().String())
	n.relay, err = relay.New(relay.Config{UDPConn: n.relayUDP, Logger: log, Registerer: n.reg, OnClose: func(s *relay.Session) {
		if !s.Publisher() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := st.TransitionStream(ctx, s.ID(), store.OpenStreamStatuses, store.StreamEnded,
			signaling.ReasonHangup, time.Now().UTC()); err != nil {
			log.Warn("end media session", "session_id", s.ID(), "err", err)
		}
	}})
	if err != nil {
		return err
	}
	n.closers = append(n.closers, n.relay.Close)
	return nil
}

// buildHub builds the hub on auth, the Redis bus and presence registry in cluster
// mode, and attaches signaling to it.
func (n *node) buildHub(auth hub.Authenticator) error {
	cfg := n.cfg
	hcfg := hub.Config{
		NodeID:        cfg.NodeID,
		Authenticator: auth,
		Directory:     signaling.Directory{Store: n.store},
		OnConnect: func(ctx context.Context, c *hub.Client) {
			n.svc.OnConnect(ctx, c)
			n.rec.connected(c)
		},
		OnDisconnect: n.svc.OnDisconnect,
		OnBusResume:  n.svc.OnBusResume,
		ReadLimit:    cfg.MaxMessageBytes,
		MessageRate:  cfg.MessageRate,
		MessageBurst: burst(cfg.MessageRate),
		AcceptRate:   cfg.AcceptRate,
		AcceptBurst:  burst(cfg.AcceptRate),
		Logger:       n.log.With("component", "hub"),
		Registerer:   n.reg,

		RevalidateInterval: cfg.RevalidateInterval,
	}
	if n.rdb != nil {
		hcfg.Bus = redisbus.New(n.rdb, redisbus.Config{Logger: hcfg.Logger, Registerer: n.reg})
		hcfg.Presence = redisbus.NewPresence(n.rdb, redisbus.PresenceConfig{})
	}
	h, err := hub.New(hcfg)
	if err != nil {
		return err
	}
	n.hub = h
	n.rec.online = h.Online
	// After a normal run the hub was drained already: Shutdown returns its first result.
	n.closers = append(n.closers, func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		_ = h.Shutdown(ctx)
	})
	n.svc.Attach(h)
	return nil
}

// buildWeb builds the HTTP surface: REST over the store and signaling, /ws on the hub.
func (n *node) buildWeb(cfg web.Config, deps web.Deps) error {
	deps.Sockets = n.hub
	deps.Commands = n.svc
	deps.Events = n.svc
	deps.Arming = n.svc
	deps.Recordings = n.events.recordings
	if !n.cfg.S3.Enabled() {
		// New clips go to the data directory: uploads keep its reserve.
		deps.FreeSpace = n.events.freeSpace
	}
	deps.Streams = n.svc
	deps.OnLinkRevoked = n.svc.LinkRevoked
	deps.Media = web.RelayMedia(n.relay)
	deps.Nodes = n.hub
	deps.OnPublished = n.rec.published
	deps.OnRecordingMode = n.rec.modeChanged
	deps.Publishers = n.svc
	deps.Presence = n.hub
	deps.WS = n.hub
	deps.App = app.Handler()
	deps.Ready = []web.ReadyCheck{{Name: "hub", Check: n.hub.Ready}}
	if n.rdb != nil {
		deps.Limiter = web.NewRedisLimiter(n.rdb, "securecam:ratelimit:")
	}
	if n.cfg.SMTPURL != "" {
		m, err := web.NewSMTPMailer(n.cfg.SMTPURL)
		if err != nil {
			return fmt.Errorf("SECURECAM_SMTP_URL: %w", err)
		}
		deps.Mailer = m
	}
	srv, err := web.New(cfg, deps)
	if err != nil {
		return err
	}
	n.web = srv
	return nil
}

// adoptSessions takes over what a Better Auth server left (unless it still shares the
// database): its raw session tokens become hashes.
func (n *node) adoptSessions(ctx context.Context) error {
	if l := len(n.cfg.BetterAuthSecret); l > 0 && l < 32 {
		n.log.Warn("SECURECAM_BETTER_AUTH_SECRET is shorter than 32 characters; Better Auth recommends at least 32 (openssl rand -base64 32)")
	}
	count, err := n.web.AdoptSessions(ctx)
	if err != nil {
		return err
	}
	if count > 0 {
		n.log.Info("hashed session tokens Better Auth stored raw", "sessions", count)
	}
	return nil
}

// listen binds SECURECAM_HTTP_ADDR, behind the connection caps, and, when set,
// SECURECAM_ADMIN_ADDR.
func (n *node) listen() error {
	cfg := n.cfg
	lim, err := connLimiter(cfg, n.reg, n.log)
	if err != nil {
		return err
	}
	n.http = httpServer(cfg, n.web, lim, n.log)
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on SECURECAM_HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
	}
	n.ln = lim.Listen(ln)
	n.closers = append(n.closers, func() { _ = ln.Close() })
	if cfg.AdminAddr != "" {
		if n.adminLn, err = net.Listen("tcp", cfg.AdminAddr); err != nil {
			return fmt.Errorf("listen on SECURECAM_ADMIN_ADDR %s: %w", cfg.AdminAddr, err)
		}
		adminLn := n.adminLn
		n.closers = append(n.closers, func() { _ = adminLn.Close() })
	}
	return nil
}

// openStore opens (and migrates) PostgreSQL when a database URL is configured, else
// the SQLite file in the data directory.
func openStore(ctx context.Context, cfg Config, logger *slog.Logger) (store.Store, error) {
	log := logger.With("component", "store")
	if cfg.DatabaseURL != "" {
		st, err := postgres.Open(ctx, postgres.Config{URL: cfg.DatabaseURL, Logger: log, MaxConns: pgMaxConns})
		if err != nil {
			return nil, fmt.Errorf("open PostgreSQL (SECURECAM_DATABASE_URL): %w", err)
		}
		return st, nil
	}
	path := filepath.Join(cfg.DataDir, "securecam.db")
	st, err := sqlite.Open(ctx, sqlite.Config{Path: path, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("open SQLite at %s (SECURECAM_DATA_DIR): %w", path, err)
	}
	return st, nil
}

// burst is the token-bucket burst of a configured rate: twice the rate, or 0 (the hub's
// default) when the rate is not configured.
func burst(rate float64) int {
	if rate == 0 {
		return 0
	}
	return int(max(1, min(2*rate, math.MaxInt32)))
}

func prefixStrings(cfg Config) []string {
	out := make([]string, len(cfg.TrustedProxies))
	for i, p := range cfg.TrustedProxies {
		out[i] = p.String()
	}
	return out
}

// redisLogger sends go-redis's own messages (dial failures while Redis is away) to
// the process log.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, fmt.Sprintf(format, v...))
}

// adminMux serves pprof on the admin listener.
func adminMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
