package main

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/securecam/securecam/signaling/ice"
	"github.com/securecam/securecam/signaling/turn"
)

// liveViewServers starts the embedded TURN server when SECURECAM_TURN_* configure it
// (nil otherwise; the caller closes it) and returns the ICE server list handed to
// clients: the SECURECAM_STUN_URLS and, with TURN, its URLs and short-lived
// credentials. Relays may reach mediaPorts (the media relay's) on the hub's own addresses.
func liveViewServers(cfg Config, mediaPorts []int, reg prometheus.Registerer, logger *slog.Logger) (*turn.Server, *ice.Provider, error) {
	if !cfg.TURN.Enabled() {
		p, err := ice.New(ice.Config{STUNURLs: cfg.STUNURLs})
		if err != nil {
			return nil, nil, fmt.Errorf("SECURECAM_STUN_URLS: %w", err)
		}
		return nil, p, nil
	}
	srv, err := turn.New(turn.Config{
		Addr:         cfg.TURN.Addr,
		PublicIP:     cfg.TURN.PublicIP.String(),
		Realm:        cfg.TURN.Realm,
		RelayPortMin: cfg.TURN.RelayPortMin,
		RelayPortMax: cfg.TURN.RelayPortMax,
		Secret:       cfg.TURN.Secret,
		AllowPeers:   cfg.TURN.AllowPeers,
		MediaPorts:   mediaPorts,
		Registerer:   reg,
		Logger:       logger,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("start TURN on SECURECAM_TURN_ADDR %s: %w", cfg.TURN.Addr, err)
	}
	p, err := ice.New(ice.Config{
		STUNURLs: cfg.STUNURLs,
		TURNHost: cfg.TURN.PublicIP.String(),
		TURNPort: srv.Port(),
		Secret:   cfg.TURN.Secret,
	})
	if err != nil {
		_ = srv.Close()
		return nil, nil, fmt.Errorf("TURN urls: %w", err)
	}
	logger.Info("TURN server listening", "addr", cfg.TURN.Addr, "public_ip", cfg.TURN.PublicIP.String(), "port", srv.Port())
	return srv, p, nil
}
