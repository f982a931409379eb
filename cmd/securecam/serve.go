package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// shutdownTimeout bounds the drain on SIGTERM: closing sockets, finishing requests.
const shutdownTimeout = 25 * time.Second

// serve runs the hub until ctx is cancelled: it builds the node, then runs it.
func serve(ctx context.Context, getenv func(string) string, environ []string, logOut io.Writer) error {
	cfg, logger, err := setup(getenv, environ, logOut)
	if err != nil {
		return err
	}
	logger.Info("starting securecam", "version", version, "node", cfg.NodeID, "mode", mode(cfg))
	tuneGC(getenv, logger)
	n, err := build(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer n.close()
	return n.run(ctx)
}

// run serves until ctx ends or a part fails, then drains the node. It returns the
// failure, if any.
func (n *node) run(ctx context.Context) error {
	runCtx, stopRun := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	admin := n.start(runCtx, &wg, errs)

	var runErr error
	select {
	case <-ctx.Done():
		n.log.Info("shutting down: draining connections")
	case runErr = <-errs:
		n.log.Error("shutting down after a failure", "err", runErr)
	}
	n.drain(admin)
	// The push worker drains its sends in flight when runCtx ends; wg.Wait waits for it
	// (and the other workers) before the store closes.
	stopRun()
	wg.Wait()
	n.log.Info("stopped")
	return runErr
}

// start serves HTTP (and the admin listener) and runs signaling, the push worker, and
// the retention and reconcile jobs until runCtx ends; failures go to errs. It returns
// the admin server, or nil.
func (n *node) start(runCtx context.Context, wg *sync.WaitGroup, errs chan<- error) *http.Server {
	cfg := n.cfg
	wg.Go(func() {
		var err error
		if cfg.TLS.CertFile != "" {
			err = n.http.ServeTLS(n.ln, cfg.TLS.CertFile, cfg.TLS.KeyFile)
		} else {
			err = n.http.Serve(n.ln)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			errs <- fmt.Errorf("http server: %w", err)
		}
	})
	wg.Go(func() {
		if err := n.svc.Run(runCtx); err != nil {
			errs <- fmt.Errorf("signaling: %w", err)
		}
	})
	wg.Go(func() { _ = n.events.worker.Run(runCtx) })
	wg.Go(func() { _ = n.events.retention.Run(runCtx) })
	wg.Go(func() { _ = n.events.reconcile.Run(runCtx) })
	var admin *http.Server
	if n.adminLn != nil {
		admin = &http.Server{Handler: adminMux(), ReadHeaderTimeout: 10 * time.Second}
		wg.Go(func() {
			if err := admin.Serve(n.adminLn); !errors.Is(err, http.ErrServerClosed) {
				errs <- fmt.Errorf("admin server: %w", err)
			}
		})
		// Logged with its port, so SECURECAM_ADMIN_ADDR may be 127.0.0.1:0.
		n.log.Info("admin listening", "addr", n.adminLn.Addr().String())
	}
	n.log.Info("listening", "addr", n.ln.Addr().String(), "public_url", cfg.PublicURL, "tls", cfg.TLS.CertFile != "")
	return admin
}

// drain stops accepting, closes the sockets with 1012, finishes requests and mails.
func (n *node) drain(admin *http.Server) {
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := n.http.Shutdown(sctx); err != nil {
		n.log.Warn("http shutdown", "err", err)
	}
	if err := n.hub.Shutdown(sctx); err != nil {
		n.log.Warn("hub shutdown", "err", err)
	}
	if err := n.web.Shutdown(sctx); err != nil {
		n.log.Warn("web shutdown", "err", err)
	}
	if admin != nil {
		_ = admin.Shutdown(sctx)
	}
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
