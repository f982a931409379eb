package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// healthcheck asks the hub on this machine whether it is ready (GET /readyz on
// SECURECAM_HTTP_ADDR) and fails unless it answers 200: the container image's HEALTHCHECK,
// since a distroless image has no curl.
func healthcheck(ctx context.Context, getenv func(string) string, _ []string, _ io.Writer) error {
	cfg, err := Load(getenv)
	if err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("healthcheck: SECURECAM_HTTP_ADDR: %w", err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	scheme, client := "http", &http.Client{Timeout: 5 * time.Second}
	if cfg.TLS.Enabled() {
		// The certificate names the public host, not this loopback address.
		scheme = "https"
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // a local liveness probe
	}
	u := scheme + "://" + net.JoinHostPort(host, port) + "/readyz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	res, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s: %s", u, res.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
