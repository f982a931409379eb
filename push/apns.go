package push

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sideshow/apns2"
	"github.com/sideshow/apns2/token"
)

// APNsConfig configures Apple Push Notification service with token (.p8) auth. The zero
// value means APNs is not configured; otherwise KeyFile, KeyID, TeamID and Topic are all
// required.
type APNsConfig struct {
	// KeyFile is the path of the .p8 auth key downloaded from the Apple developer account.
	KeyFile string
	// KeyID is the key's 10-character id; TeamID is the developer team id.
	KeyID  string
	TeamID string
	// Topic is the app's bundle id (apns-topic).
	Topic string
	// Endpoint is the base URL of the service; empty means production,
	// https://api.push.apple.com (https://api.sandbox.push.apple.com for development
	// builds). It changes only where requests go: the key is still loaded and used.
	Endpoint string
	// RootCAs, when set, replaces the system roots for verifying the endpoint's
	// certificate. Only tests set it, to trust a local fake (see push/pushtest).
	RootCAs *x509.CertPool
}

func (c APNsConfig) configured() bool {
	return c != (APNsConfig{})
}

// APNs transport settings (apns2's own values: keep connections alive and check them).
const (
	apnsDialTimeout = 20 * time.Second
	apnsKeepAlive   = 15 * time.Second
	apnsPingAfter   = 15 * time.Second
)

// apnsProvider sends through one apns2 client: one HTTP/2 connection pool and one
// provider token (apns2 re-signs it only when it is 50 minutes old, so sends never churn
// tokens — APNs answers TooManyProviderTokenUpdates to that).
type apnsProvider struct {
	client *apns2.Client
	topic  string
	logger *slog.Logger
}

func newAPNs(cfg APNsConfig, logger *slog.Logger) (*apnsProvider, error) {
	for _, f := range []struct{ name, value string }{
		{"key file", cfg.KeyFile}, {"key id", cfg.KeyID}, {"team id", cfg.TeamID}, {"topic", cfg.Topic},
	} {
		if f.value == "" {
			return nil, fmt.Errorf("APNs %s is not set (key file, key id, team id and topic are all needed)", f.name)
		}
	}
	host := apns2.HostProduction
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, fmt.Errorf("APNs endpoint %q: want an https:// URL such as %s", cfg.Endpoint, apns2.HostDevelopment)
		}
		host = strings.TrimSuffix(cfg.Endpoint, "/")
	}
	key, err := token.AuthKeyFromFile(cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("read APNs key file %s: %w", cfg.KeyFile, err)
	}
	tok := &token.Token{AuthKey: key, KeyID: cfg.KeyID, TeamID: cfg.TeamID}
	if _, err := tok.Generate(); err != nil {
		return nil, fmt.Errorf("sign APNs provider token with %s: %w", cfg.KeyFile, err)
	}

	var http2Only http.Protocols
	http2Only.SetHTTP2(true) // APNs speaks HTTP/2 over TLS only
	dialer := &net.Dialer{Timeout: apnsDialTimeout, KeepAlive: apnsKeepAlive}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         dialer.DialContext,
		TLSHandshakeTimeout: apnsDialTimeout,
		Protocols:           &http2Only,
		HTTP2:               &http.HTTP2Config{SendPingTimeout: apnsPingAfter, PingTimeout: apnsPingAfter},
	}
	if cfg.RootCAs != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: cfg.RootCAs}
	}
	client := &apns2.Client{Host: host, Token: tok, HTTPClient: &http.Client{Transport: headerCapture{tr}}}
	return &apnsProvider{client: client, topic: cfg.Topic, logger: logger}, nil
}

// apnsBody is the JSON body of an APNs request.
type apnsBody struct {
	APS       apnsAPS         `json:"aps"`
	SecureCam securecamObject `json:"securecam"`
}

type apnsAPS struct {
	Alert            *apnsAlert `json:"alert,omitempty"`
	Sound            string     `json:"sound,omitempty"`
	ContentAvailable int        `json:"content-available,omitempty"`
}

type apnsAlert struct {
	Title string `json:"title"`
	Body  string `json:"body,omitempty"`
}

// notification builds the APNs request for a validated message.
func (p *apnsProvider) notification(m Message, expiry time.Time) (*apns2.Notification, error) {
	n := &apns2.Notification{
		DeviceToken: url.PathEscape(m.Token),
		Topic:       p.topic,
		Expiration:  expiry,
		CollapseID:  m.CollapseID,
	}
	body := apnsBody{SecureCam: m.object()}
	if m.Kind == KindWake {
		n.PushType = apns2.PushTypeBackground
		n.Priority = apns2.PriorityLow // background pushes must use 5
		body.APS.ContentAvailable = 1
		if n.CollapseID == "" {
			n.CollapseID = wakeCollapseID
		}
	} else {
		n.PushType = apns2.PushTypeAlert
		n.Priority = apns2.PriorityHigh
		body.APS.Alert = &apnsAlert{Title: m.Title, Body: m.Body}
		body.APS.Sound = "default"
		if n.CollapseID == "" {
			n.CollapseID = m.EventID
		}
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode APNs payload: %w", err)
	}
	n.Payload = b
	return n, nil
}

func (p *apnsProvider) send(ctx context.Context, m Message, expiry time.Time) error {
	n, err := p.notification(m, expiry)
	if err != nil {
		return err
	}
	var hdr http.Header
	res, err := p.client.PushWithContext(context.WithValue(ctx, headerCaptureKey{}, &hdr), n)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = ctxErr
		}
		return &Error{Service: "apns", Class: ClassRetryable, Err: err}
	}
	if res.Sent() {
		p.logger.Debug("push sent", "service", "apns", "device_id", m.DeviceID, "kind", m.Kind, "apns_id", res.ApnsID)
		return nil
	}
	class := apnsClass(res.StatusCode, res.Reason)
	return &Error{
		Service:    "apns",
		Class:      class,
		Status:     res.StatusCode,
		Reason:     res.Reason,
		RetryAfter: parseRetryAfter(hdr, time.Now()),
	}
}

// apnsClass classifies an APNs rejection.
func apnsClass(status int, reason string) Class {
	switch {
	case status == http.StatusGone, // Unregistered, ExpiredToken
		reason == apns2.ReasonBadDeviceToken,
		reason == apns2.ReasonDeviceTokenNotForTopic:
		return ClassTokenInvalid
	case status == http.StatusTooManyRequests, // TooManyRequests, TooManyProviderTokenUpdates
		status >= 500,
		reason == apns2.ReasonExpiredProviderToken, // apns2 re-signs before the hour is up
		reason == apns2.ReasonIdleTimeout:
		return ClassRetryable
	}
	return ClassPermanent
}

// headerCapture keeps the response headers of a request whose context carries a
// *http.Header under headerCaptureKey: apns2's Response does not expose them and
// Retry-After lives there.
type headerCapture struct{ rt *http.Transport }

type headerCaptureKey struct{}

func (h headerCapture) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := h.rt.RoundTrip(r)
	if res != nil {
		if p, ok := r.Context().Value(headerCaptureKey{}).(*http.Header); ok {
			*p = res.Header
		}
	}
	return res, err
}

// CloseIdleConnections lets apns2.Client.CloseIdleConnections reach the transport.
func (h headerCapture) CloseIdleConnections() { h.rt.CloseIdleConnections() }
