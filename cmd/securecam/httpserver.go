package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/securecam/securecam/web/connlimit"
)

// httpServer is the hub's http.Server: header, idle and size limits from cfg, and the
// connection verdicts of lim in each request's context (the listener it serves must
// come from lim.Listen). Request bodies are paced by the web server itself.
func httpServer(cfg Config, h http.Handler, lim *connlimit.Limiter, logger *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              cfg.HTTPAddr,
		Handler:           h,
		ReadHeaderTimeout: cfg.HeaderTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    int(cfg.MaxHeaderBytes),
		ConnContext:       lim.ConnContext,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// connLimiter caps the HTTP and WebSocket connections: SECURECAM_MAX_CONNS_PER_IP per
// client (trusted proxies exempt) and SECURECAM_MAX_CONNS in all, by default 80% of the
// process's open-file limit, so that the rest (the reserve answering health checks, the
// database, Redis, TURN relays, recordings) always finds descriptors.
func connLimiter(cfg Config, reg prometheus.Registerer, logger *slog.Logger) (*connlimit.Limiter, error) {
	total := int(cfg.MaxConns)
	if total == 0 {
		var lim syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return nil, fmt.Errorf("read the open-file limit for SECURECAM_MAX_CONNS: %w", err)
		}
		total = int(min(lim.Cur, 1<<30) * 4 / 5)
	}
	l, err := connlimit.New(connlimit.Config{
		MaxConns:          total,
		MaxConnsPerClient: int(cfg.MaxConnsPerIP),
		Exempt:            cfg.TrustedProxies,
		Registerer:        reg,
	})
	if err != nil {
		return nil, err
	}
	logger.Info("connection limits", "max_conns", total, "max_conns_per_ip", cfg.MaxConnsPerIP)
	return l, nil
}
