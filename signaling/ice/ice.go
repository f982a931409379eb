// Package ice builds the ICE server list the hub hands to clients (GET
// /api/v1/ice-servers, the ack of stream.request, stream.requested): the
// configured STUN URLs and, when TURN is configured, the TURN URLs with
// short-lived TURN REST credentials.
//
// Credentials follow the TURN REST convention (draft-uberti-behave-turn-rest):
// the username is "<expiry unix seconds>:<device id>" and the credential is
// base64(HMAC-SHA1(secret, username)). The TURN server (signaling/turn)
// recomputes the credential from the username and the shared secret, so no
// state is shared between the two beyond the secret.
//
// Concurrency: a Provider is immutable after New and safe for concurrent use.
// The package has no goroutines and does no I/O.
package ice

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // HMAC-SHA1 is what TURN REST credentials are.
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/webrtc/v4"
)

// Defaults of Config.
const (
	DefaultTURNPort = 3478
	DefaultTTL      = time.Hour
)

// ErrBadUsername is returned by ParseUsername for a username that is not
// "<expiry unix seconds>:<device id>".
var ErrBadUsername = errors.New("ice: malformed turn username")

// Server is one entry of the list, as on the wire.
type Server struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}

// List is the body of GET /api/v1/ice-servers.
type List struct {
	ICEServers []Server `json:"ice_servers"`
	// TTLSeconds is how long the credentials stay valid; clients fetch a new
	// list before it runs out (before an ICE restart, for instance).
	TTLSeconds int `json:"ttl_seconds"`
}

// WebRTC converts the list to pion's configuration type.
func (l List) WebRTC() []webrtc.ICEServer {
	out := make([]webrtc.ICEServer, 0, len(l.ICEServers))
	for _, s := range l.ICEServers {
		out = append(out, webrtc.ICEServer{
			URLs:       append([]string(nil), s.URLs...),
			Username:   s.Username,
			Credential: s.Credential,
		})
	}
	return out
}

// Config configures a Provider. The zero value hands out no servers at all
// (host candidates only), which works on one LAN.
type Config struct {
	// STUNURLs are handed out as they are ("stun:host:port" or "stuns:…").
	STUNURLs []string
	// TURNHost is the public IP (or name) clients reach the TURN server at.
	// Empty: no TURN.
	TURNHost string
	// TURNPort is the TURN server's port, the same for UDP and TCP. Default
	// DefaultTURNPort.
	TURNPort int
	// Secret is the TURN REST shared secret; required with TURNHost.
	Secret string
	// TTL is the lifetime of TURN credentials. Default DefaultTTL.
	TTL time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Provider hands out ICE server lists.
type Provider struct {
	stun     []string
	turnURLs []string
	secret   string
	ttl      time.Duration
	now      func() time.Time
}

// New validates cfg and returns a Provider.
func New(cfg Config) (*Provider, error) {
	p := &Provider{
		stun:   append([]string(nil), cfg.STUNURLs...),
		secret: cfg.Secret,
		ttl:    cfg.TTL,
		now:    cfg.Now,
	}
	if p.ttl == 0 {
		p.ttl = DefaultTTL
	}
	if p.ttl < time.Second {
		return nil, fmt.Errorf("ice: ttl %s is shorter than a second", p.ttl)
	}
	if p.now == nil {
		p.now = time.Now
	}
	for _, u := range p.stun {
		uri, err := stun.ParseURI(u)
		if err != nil {
			return nil, fmt.Errorf("ice: stun url %q: %w", u, err)
		}
		if uri.Scheme != stun.SchemeTypeSTUN && uri.Scheme != stun.SchemeTypeSTUNS {
			return nil, fmt.Errorf("ice: stun url %q: scheme is not stun or stuns", u)
		}
	}
	if cfg.TURNHost == "" {
		return p, nil
	}
	if cfg.Secret == "" {
		return nil, errors.New("ice: a turn host needs a secret")
	}
	port := cfg.TURNPort
	if port == 0 {
		port = DefaultTURNPort
	}
	if port < 0 || port > 65535 {
		return nil, fmt.Errorf("ice: turn port %d out of range", port)
	}
	hostPort := net.JoinHostPort(cfg.TURNHost, strconv.Itoa(port))
	for _, transport := range []string{"udp", "tcp"} {
		u := "turn:" + hostPort + "?transport=" + transport
		if _, err := stun.ParseURI(u); err != nil {
			return nil, fmt.Errorf("ice: turn url %q: %w", u, err)
		}
		p.turnURLs = append(p.turnURLs, u)
	}
	return p, nil
}

// Servers returns the list for one device: its TURN username carries the
// device id, which the TURN server uses for per-device allocation quotas.
func (p *Provider) Servers(deviceID string) List {
	l := List{ICEServers: []Server{}, TTLSeconds: int(p.ttl / time.Second)}
	if len(p.stun) > 0 {
		l.ICEServers = append(l.ICEServers, Server{URLs: append([]string(nil), p.stun...)})
	}
	if len(p.turnURLs) > 0 {
		user, cred := Credentials(p.secret, deviceID, p.now().Add(p.ttl))
		l.ICEServers = append(l.ICEServers, Server{
			URLs:       append([]string(nil), p.turnURLs...),
			Username:   user,
			Credential: cred,
		})
	}
	return l
}

// Credentials returns a TURN REST username and credential for deviceID that
// expire at expiry.
func Credentials(secret, deviceID string, expiry time.Time) (username, credential string) {
	username = strconv.FormatInt(expiry.Unix(), 10) + ":" + deviceID
	return username, Credential(secret, username)
}

// Credential is base64(HMAC-SHA1(secret, username)).
func Credential(secret, username string) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// ParseUsername splits a TURN REST username into its expiry and device id.
func ParseUsername(username string) (expiry time.Time, deviceID string, err error) {
	ts, id, ok := strings.Cut(username, ":")
	if !ok || id == "" {
		return time.Time{}, "", ErrBadUsername
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec <= 0 {
		return time.Time{}, "", ErrBadUsername
	}
	return time.Unix(sec, 0).UTC(), id, nil
}
