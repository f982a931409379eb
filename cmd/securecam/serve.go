package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"path/filepath"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/hub/redisbus"
	"github.com/securecam/securecam/signaling"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/postgres"
	"github.com/securecam/securecam/store/sqlite"
	"github.com/securecam/securecam/web"
	"github.com/securecam/securecam/web/app"
)

// shutdownTimeout bounds the drain on SIGTERM: closing sockets, finishing requests.
const shutdownTimeout = 25 * time.Second

// serve runs the hub until ctx is cancelled.
func serve(ctx context.Context, getenv func(string) string, environ []string, logOut io.Writer) error {
	cfg, logger, err := setup(getenv, environ, logOut)
	if err != nil {
		return err
	}
	logger.Info("starting securecam", "version", version, "node", cfg.NodeID, "mode", mode(cfg))

	st, err := openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer st.Close()
	if cfg.RedisURL == "" {
		// Embedded mode: this is the only replica, so nobody is connected yet.
		if err := st.MarkAllDevicesOffline(ctx, time.Now().UTC()); err != nil {
			return fmt.Errorf("mark devices offline: %w", err)
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	var rdb *redis.Client
	if cfg.RedisURL != "" {
		opts, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return fmt.Errorf("SECURECAM_REDIS_URL: %w", err)
		}
		redis.SetLogger(redisLogger{logger.With("component", "redis")})
		rdb = redis.NewClient(opts)
		defer rdb.Close()
		if err := rdb.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("redis at %s is not reachable: %w", opts.Addr, err)
		}
	}

	turnSrv, iceServers, err := liveViewServers(cfg, reg, logger.With("component", "turn"))
	if err != nil {
		return err
	}
	if turnSrv != nil {
		defer turnSrv.Close()
	}
	ev, err := newEventParts(ctx, cfg, st, reg, logger)
	if err != nil {
		return err
	}
	svc, err := signaling.New(signaling.Config{Store: st, Logger: logger.With("component", "signaling"),
		Waker: ev.queue, Alerter: ev.queue, Events: signaling.EventConfig{CameraOfflineAfter: cfg.CameraOfflineAfter},
		Streams: signaling.StreamConfig{ICE: iceServers}})
	if err != nil {
		return err
	}
	defer svc.Close()

	auth := &socketAuth{}
	hcfg := hub.Config{
		NodeID:        cfg.NodeID,
		Authenticator: auth,
		Directory:     signaling.Directory{Store: st},
		OnConnect:     svc.OnConnect,
		OnDisconnect:  svc.OnDisconnect,
		ReadLimit:     cfg.MaxMessageBytes,
		MessageRate:   cfg.MessageRate,
		MessageBurst:  burst(cfg.MessageRate),
		AcceptRate:    cfg.AcceptRate,
		AcceptBurst:   burst(cfg.AcceptRate),
		Logger:        logger.With("component", "hub"),
		Registerer:    reg,
	}
	if rdb != nil {
		hcfg.Bus = redisbus.New(rdb, redisbus.Config{Logger: hcfg.Logger})
		hcfg.Presence = redisbus.NewPresence(rdb, redisbus.PresenceConfig{})
	}
	h, err := hub.New(hcfg)
	if err != nil {
		return err
	}
	svc.Attach(h)

	deps := web.Deps{
		Store:         st,
		Logger:        logger.With("component", "web"),
		Registerer:    reg,
		Gatherer:      reg,
		Sockets:       hubSockets{h},
		Commands:      svc,
		Events:        svc,
		Recordings:    ev.recordings,
		Streams:       svc,
		OnLinkRevoked: svc.LinkRevoked,
		Presence:      h,
		WS:            h,
		App:           app.Handler(),
		Ready:         []web.ReadyCheck{{Name: "hub", Check: h.Ready}},
	}
	if rdb != nil {
		deps.Limiter = web.NewRedisLimiter(rdb, "securecam:ratelimit:")
	}
	if cfg.SMTPURL != "" {
		if deps.Mailer, err = web.NewSMTPMailer(cfg.SMTPURL); err != nil {
			return fmt.Errorf("SECURECAM_SMTP_URL: %w", err)
		}
	}
	srv, err := web.New(web.Config{
		PublicURL:      cfg.PublicURL,
		AllowedOrigins: cfg.AllowedOrigins,
		TrustedProxies: prefixStrings(cfg),
		MaxUploadBytes: cfg.MaxUploadBytes,
		BodyTimeout:    cfg.BodyTimeout,
		BodyMinRate:    cfg.BodyMinRate,
	}, deps)
	if err != nil {
		return err
	}
	auth.web = srv

	lim, err := connLimiter(cfg, reg, logger)
	if err != nil {
		return err
	}
	httpSrv := httpServer(cfg, srv, lim, logger)
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on SECURECAM_HTTP_ADDR %s: %w", cfg.HTTPAddr, err)
	}
	ln = lim.Listen(ln)
	var adminLn net.Listener
	if cfg.AdminAddr != "" {
		if adminLn, err = net.Listen("tcp", cfg.AdminAddr); err != nil {
			_ = ln.Close()
			return fmt.Errorf("listen on SECURECAM_ADMIN_ADDR %s: %w", cfg.AdminAddr, err)
		}
	}

	runCtx, stopRun := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Go(func() {
		var err error
		if cfg.TLS.CertFile != "" {
			err = httpSrv.ServeTLS(ln, cfg.TLS.CertFile, cfg.TLS.KeyFile)
		} else {
			err = httpSrv.Serve(ln)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			errs <- fmt.Errorf("http server: %w", err)
		}
	})
	wg.Go(func() {
		if err := svc.Run(runCtx); err != nil {
			errs <- fmt.Errorf("signaling: %w", err)
		}
	})
	// The push worker drains its sends in flight when runCtx ends; wg.Wait waits for it
	// before the store closes.
	wg.Go(func() { _ = ev.worker.Run(runCtx) })
	wg.Go(func() { _ = ev.retention.Run(runCtx) })
	wg.Go(func() { _ = ev.reconcile.Run(runCtx) })
	var admin *http.Server
	if adminLn != nil {
		admin = &http.Server{Handler: adminMux(), ReadHeaderTimeout: 10 * time.Second}
		wg.Go(func() {
			if err := admin.Serve(adminLn); !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("admin server: %w", err)
			}
		})
		// Logged with its port, so SECURECAM_ADMIN_ADDR may be 127.0.0.1:0.
		logger.Info("admin listening", "addr", adminLn.Addr().String())
	}
	logger.Info("listening", "addr", ln.Addr().String(), "public_url", cfg.PublicURL, "tls", cfg.TLS.CertFile != "")

	var runErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down: draining connections")
	case runErr = <-errs:
		logger.Error("shutting down after a failure", "err", runErr)
	}

	// Drain: stop accepting, close sockets with 1012, finish requests, stop workers.
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := httpSrv.Shutdown(sctx); err != nil {
		logger.Warn("http shutdown", "err", err)
	}
	if err := h.Shutdown(sctx); err != nil {
		logger.Warn("hub shutdown", "err", err)
	}
	if err := srv.Shutdown(sctx); err != nil {
		logger.Warn("web shutdown", "err", err)
	}
	if admin != nil {
		_ = admin.Shutdown(sctx)
	}
	stopRun()
	wg.Wait()
	logger.Info("stopped")
	return runErr
}

// migrate applies the schema migrations of the configured database and returns.
func migrate(ctx context.Context, getenv func(string) string, environ []string, logOut io.Writer) error {
	cfg, logger, err := setup(getenv, environ, logOut)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg, logger)
	if err != nil {
		return err
	}
	logger.Info("migrations applied", "mode", mode(cfg))
	return st.Close()
}

func mode(cfg Config) string {
	if cfg.DatabaseURL != "" || cfg.RedisURL != "" {
		return "cluster"
	}
	return "embedded"
}

// openStore opens (and migrates) PostgreSQL when a database URL is configured, else
// the SQLite file in the data directory.
func openStore(ctx context.Context, cfg Config, logger *slog.Logger) (store.Store, error) {
	log := logger.With("component", "store")
	if cfg.DatabaseURL != "" {
		st, err := postgres.Open(ctx, postgres.Config{URL: cfg.DatabaseURL, Logger: log})
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

// socketAuth lets the hub authenticate sockets through the web server, which is built
// after the hub (it mounts the hub at /ws).
type socketAuth struct{ web *web.Server }

func (a *socketAuth) Authenticate(r *http.Request) (hub.Identity, error) {
	id, err := a.web.AuthenticateSocket(r)
	if err != nil {
		var we *web.Error
		if errors.As(err, &we) {
			return hub.Identity{}, &hub.AuthError{Status: we.Status, Code: we.Code, Message: we.Detail}
		}
		return hub.Identity{}, err
	}
	return hub.Identity{UserID: id.UserID, DeviceID: id.DeviceID, SessionID: id.SessionID}, nil
}

// hubSockets closes sockets for the web server through the hub.
type hubSockets struct{ h *hub.Hub }

func (s hubSockets) CloseDevice(ctx context.Context, deviceID string, code int, reason string) error {
	return s.h.CloseDevice(ctx, deviceID, websocket.StatusCode(code), reason)
}

func (s hubSockets) CloseSession(ctx context.Context, sessionID string, code int, reason string) error {
	return s.h.CloseSession(ctx, sessionID, websocket.StatusCode(code), reason)
}

func (s hubSockets) CloseUserSessions(ctx context.Context, userID string, code int, reason string) error {
	return s.h.CloseUserSessions(ctx, userID, websocket.StatusCode(code), reason)
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
