package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/securecam/securecam/store/blobs"
)

// envPrefix starts every configuration variable; the YAML key is the rest of the name in
// lower case (SECURECAM_HTTP_ADDR ↔ http_addr).
const envPrefix = "SECURECAM_"

// configFileVar names the optional YAML file. It is not itself a YAML key.
const configFileVar = envPrefix + "CONFIG"

// Config is everything a securecam process is configured with. Load fills it from the
// environment and the optional YAML file, applies defaults and validates it; a Config that
// Load returned is complete and consistent. docs/configuration.md describes every variable.
type Config struct {
	// HTTPAddr is the HTTP + WebSocket listen address (SECURECAM_HTTP_ADDR, default ":8080").
	HTTPAddr string
	// PublicURL is how clients reach this hub, normalised to scheme://host[:port] with no
	// trailing slash (SECURECAM_PUBLIC_URL, default "http://localhost:8080").
	PublicURL string
	// NodeURL is this replica's own address, reachable by clients, where WHIP and WHEP
	// requests for the camera publications it holds are redirected (307) from other
	// replicas (SECURECAM_NODE_URL, normalised like PublicURL; default PublicURL, right
	// for one replica).
	NodeURL string
	// DataDir holds the SQLite database and stored recordings (SECURECAM_DATA_DIR,
	// default "./data").
	DataDir string
	// DatabaseURL selects PostgreSQL when set (postgres:// or postgresql://); empty means
	// SQLite in DataDir (SECURECAM_DATABASE_URL).
	DatabaseURL string
	// RedisURL selects Redis fan-out and presence when set (redis:// or rediss://); empty
	// means the in-process bus (SECURECAM_REDIS_URL).
	RedisURL string
	// NodeID is this replica's id in the cluster (SECURECAM_NODE_ID, default the host name
	// plus a random suffix). Letters, digits, '.', '_' and '-' only, at most 64 bytes.
	NodeID string
	// AllowedOrigins are the origins (scheme://host[:port], normalised: lower case, no
	// default port) allowed for browser WebSockets and cookie-authenticated requests besides
	// same-origin ones, and native apps' origins (a custom scheme: "myapp://", as Better
	// Auth's Expo plugin sends in expo-origin) (SECURECAM_ALLOWED_ORIGINS, comma-separated,
	// default the origin of PublicURL).
	AllowedOrigins []string
	// LogLevel is the minimum level logged (SECURECAM_LOG_LEVEL: debug, info, warn, error;
	// default info).
	LogLevel slog.Level
	// LogFormat is "text" or "json" (SECURECAM_LOG_FORMAT, default "text").
	LogFormat string
	// APNs configures Apple push; all of it is empty when APNs is off.
	APNs APNsConfig
	// FCM configures Firebase Cloud Messaging; all of it is empty when FCM is off.
	FCM FCMConfig
	// VAPID is the Web Push key pair and contact; the keys are empty when the hub makes
	// its own pair (on its first start, kept in the database).
	VAPID VAPIDConfig
	// TURN configures the embedded TURN server; all of it is empty when it is off.
	TURN TURNConfig
	// STUNURLs are STUN servers handed to clients, each "stun:host[:port]" or
	// "stuns:host[:port]" (SECURECAM_STUN_URLS, comma-separated, default none).
	STUNURLs []string
	// RelayUDPAddr is the UDP address every media connection of the relay (WHIP, WHEP)
	// shares (SECURECAM_RELAY_UDP_ADDR, default ":0": one port picked at start). The
	// TURN server lets relays reach that port on the hub's own addresses.
	RelayUDPAddr string
	// TLS makes the hub serve HTTPS when set.
	TLS TLSConfig
	// TrustedProxies are the networks whose X-Forwarded-For is believed for the client IP
	// (SECURECAM_TRUSTED_PROXIES, comma-separated CIDRs or single addresses, default none).
	TrustedProxies []netip.Prefix
	// MaxMessageBytes is the largest WebSocket message accepted (SECURECAM_MAX_MESSAGE_BYTES,
	// default 65536, at least 4096).
	MaxMessageBytes int64
	// MaxUploadBytes is the largest recording upload accepted (SECURECAM_MAX_UPLOAD_BYTES,
	// default 268435456 = 256 MiB).
	MaxUploadBytes int64
	// HeaderTimeout bounds reading a request's headers (SECURECAM_HEADER_TIMEOUT, default
	// 10s).
	HeaderTimeout time.Duration
	// BodyTimeout and BodyMinRate keep request bodies moving: each BodyTimeout spent
	// waiting for a body must bring BodyMinRate×BodyTimeout bytes or the rest of it, else
	// 408 and the connection closes (SECURECAM_BODY_TIMEOUT, default 30s;
	// SECURECAM_BODY_MIN_RATE in bytes per second, default 4096).
	BodyTimeout time.Duration
	BodyMinRate int64
	// IdleTimeout closes keep-alive connections idle this long (SECURECAM_IDLE_TIMEOUT,
	// default 2m).
	IdleTimeout time.Duration
	// MaxHeaderBytes caps a request's headers (SECURECAM_MAX_HEADER_BYTES, default 32768,
	// at least 4096).
	MaxHeaderBytes int64
	// MaxConns caps open HTTP and WebSocket connections together; 0 means 80% of the
	// process's open-file limit, read at start (SECURECAM_MAX_CONNS).
	MaxConns int64
	// MaxConnsPerIP caps the open HTTP and WebSocket connections of one client IP (an
	// IPv6 client: its /64); connections from SECURECAM_TRUSTED_PROXIES are not capped per
	// IP (SECURECAM_MAX_CONNS_PER_IP, default 100).
	MaxConnsPerIP int64
	// StorageQuotaBytes is how many bytes of clips one account may keep; an upload past it
	// answers 507 (SECURECAM_STORAGE_QUOTA_BYTES, default 10737418240 = 10 GiB).
	StorageQuotaBytes int64
	// StorageReserveBytes is the free space uploads leave on the recordings volume: below
	// it they answer 507 and retention deletes the oldest clips (SECURECAM_STORAGE_RESERVE_BYTES,
	// default 1073741824 = 1 GiB). The variable may instead be a percentage of the volume
	// ("5%"): then StorageReservePercent is set and StorageReserveBytes is 0.
	StorageReserveBytes   int64
	StorageReservePercent float64
	// AdminAddr is the listen address of the admin server (pprof); empty means no admin
	// server (SECURECAM_ADMIN_ADDR).
	AdminAddr string
	// SMTPURL is the outgoing mail server, smtp://user:pass@host:port/?from=addr (or smtps://
	// for implicit TLS); empty means mail is written to the log (SECURECAM_SMTP_URL).
	SMTPURL string
	// WakeInterval is the shortest time between two wake-up pushes to one device
	// (SECURECAM_WAKE_INTERVAL, default 30s).
	WakeInterval time.Duration
	// CameraOfflineAfter is how long a camera may stay away before a camera_offline event is
	// raised (SECURECAM_CAMERA_OFFLINE_AFTER, default 2m).
	CameraOfflineAfter time.Duration
	// StreamResumeGrace is how long a live session whose party's socket dropped is kept
	// for that party to come back and resume it (SECURECAM_STREAM_RESUME_GRACE, default 30s).
	StreamResumeGrace time.Duration
	// RetentionDays is how many days events and recordings are kept
	// (SECURECAM_RETENTION_DAYS, default 30, at least 1).
	RetentionDays int
	// SegmentSeconds is the length of a server-side recording file in continuous mode
	// (SECURECAM_SEGMENT_SECONDS, default 600, at least 1): a new file starts at the
	// first keyframe once that long has passed.
	SegmentSeconds int
	// MessageRate is how many messages per second one socket may send, with bursts of
	// twice as many; beyond, it is closed with 4029 (SECURECAM_MESSAGE_RATE, default 0:
	// the hub's default of 50). The benchmark raises it.
	MessageRate float64
	// AcceptRate is how many new sockets per second this replica accepts, with bursts of
	// twice as many; beyond, /ws answers 503 (SECURECAM_ACCEPT_RATE, default 0: the hub's
	// default of 200). The benchmark raises it.
	AcceptRate float64
	// S3 keeps recordings in an S3-compatible bucket; all of it is empty when the clips
	// stay in the data directory.
	S3 S3Config
	// RevalidateInterval is how often each replica checks again the credentials of its
	// open sockets and closes revoked ones with 4003 (SECURECAM_REVALIDATE_INTERVAL,
	// default 60s, spread by ±10 %).
	RevalidateInterval time.Duration
	// BetterAuthSecret is the BETTER_AUTH_SECRET of the Better Auth server the hub takes
	// over or shares the database with; set, it turns on Better Auth's routes under
	// /api/auth and its cookies and signed tokens (SECURECAM_BETTER_AUTH_SECRET).
	BetterAuthSecret string
	// BetterAuthShared says a Better Auth server still uses the database
	// (SECURECAM_BETTER_AUTH_SHARED, default false: the hub takes it over).
	BetterAuthShared bool
}

// S3Config is the S3-compatible bucket recordings are stored in. Bucket is set whenever
// any of it is.
type S3Config struct {
	// Endpoint is the service's URL (SECURECAM_S3_ENDPOINT; empty: AWS S3).
	Endpoint string
	// PublicEndpoint is the URL clients reach the service at, used in presigned URLs
	// (SECURECAM_S3_PUBLIC_ENDPOINT, default Endpoint).
	PublicEndpoint string
	// Bucket holds the clips; it must exist (SECURECAM_S3_BUCKET).
	Bucket string
	// Region signs requests (SECURECAM_S3_REGION, default us-east-1).
	Region string
	// AccessKeyID and SecretAccessKey are set together, or neither for the standard AWS
	// credential chain (SECURECAM_S3_ACCESS_KEY_ID, SECURECAM_S3_SECRET_ACCESS_KEY).
	AccessKeyID, SecretAccessKey string
	// PathStyle addresses the bucket in the URL path (SECURECAM_S3_PATH_STYLE, default
	// true with an Endpoint, false on AWS).
	PathStyle bool
	// pathStyleSet records that SECURECAM_S3_PATH_STYLE was given.
	pathStyleSet bool
}

// Enabled reports whether recordings go to S3.
func (s S3Config) Enabled() bool { return s.Bucket != "" }

// APNsConfig is Apple push with token (.p8 key) authentication. KeyFile, KeyID, TeamID and
// Topic are set together or not at all.
type APNsConfig struct {
	// KeyFile is the path of the .p8 signing key (SECURECAM_APNS_KEY_FILE).
	KeyFile string
	// KeyID is the key's id from the Apple developer account (SECURECAM_APNS_KEY_ID).
	KeyID string
	// TeamID is the Apple developer team id (SECURECAM_APNS_TEAM_ID).
	TeamID string
	// Topic is the app's bundle id (SECURECAM_APNS_TOPIC).
	Topic string
	// Endpoint, when set, replaces Apple's production/sandbox host; the credentials are
	// still used (SECURECAM_APNS_ENDPOINT).
	Endpoint string
}

// Enabled reports whether APNs is configured.
func (a APNsConfig) Enabled() bool { return a.KeyFile != "" }

// FCMConfig is Firebase Cloud Messaging with a service account.
type FCMConfig struct {
	// CredentialsFile is the path of the service-account JSON file
	// (SECURECAM_FCM_CREDENTIALS_FILE).
	CredentialsFile string
	// ProjectID overrides the project id found in the credentials (SECURECAM_FCM_PROJECT_ID).
	ProjectID string
	// Endpoint, when set, replaces the FCM base URL; the credentials are still used
	// (SECURECAM_FCM_ENDPOINT).
	Endpoint string
}

// Enabled reports whether FCM is configured.
func (f FCMConfig) Enabled() bool { return f.CredentialsFile != "" }

// VAPIDConfig is Web Push's application server identity (RFC 8292).
type VAPIDConfig struct {
	// PublicKey and PrivateKey are a P-256 pair in base64url, as web-push generate-vapid-keys
	// prints them (SECURECAM_VAPID_PUBLIC_KEY, SECURECAM_VAPID_PRIVATE_KEY). Unset: the
	// hub's own pair, generated on its first start and kept in the database.
	PublicKey, PrivateKey string
	// Subject is the contact push services may reach, a mailto: or https: URL
	// (SECURECAM_VAPID_SUBJECT). Default: the public URL when it is https, else
	// mailto:securecam@localhost.
	Subject string
}

// TURNConfig is the embedded TURN server handing out short-lived credentials.
type TURNConfig struct {
	// Addr is the TURN listen address, host:port (SECURECAM_TURN_ADDR).
	Addr string
	// PublicIP is the address clients reach the relay at (SECURECAM_TURN_PUBLIC_IP, default
	// the host of Addr when that is a specific IP).
	PublicIP netip.Addr
	// Realm is the TURN realm (SECURECAM_TURN_REALM, default "securecam").
	Realm string
	// RelayPortMin and RelayPortMax bound the UDP ports of relays, to forward them on a
	// router (SECURECAM_TURN_RELAY_PORTS, "min-max"; default any free port).
	RelayPortMin, RelayPortMax int
	// Secret signs the short-lived credentials, at least 16 bytes (SECURECAM_TURN_SECRET).
	Secret string
	// AllowPeers are networks relays may send to although they are private, loopback or
	// otherwise refused (SECURECAM_TURN_ALLOW_PEERS, comma-separated CIDRs, default none).
	AllowPeers []netip.Prefix
}

// Enabled reports whether the TURN server is configured.
func (t TURNConfig) Enabled() bool { return t.Addr != "" }

// TLSConfig is the certificate and key for HTTPS.
type TLSConfig struct {
	// CertFile is the PEM certificate chain (SECURECAM_TLS_CERT_FILE).
	CertFile string
	// KeyFile is the PEM private key (SECURECAM_TLS_KEY_FILE).
	KeyFile string
}

// Enabled reports whether HTTPS is configured.
func (t TLSConfig) Enabled() bool { return t.CertFile != "" }

// defaultConfig is the configuration before any variable is read. NodeID and
// AllowedOrigins are derived in Load when left empty.
func defaultConfig() Config {
	return Config{
		HTTPAddr:            ":8080",
		RelayUDPAddr:        ":0",
		PublicURL:           "http://localhost:8080",
		DataDir:             "./data",
		LogLevel:            slog.LevelInfo,
		LogFormat:           "text",
		MaxMessageBytes:     65536,
		MaxUploadBytes:      256 << 20,
		StorageQuotaBytes:   10 << 30,
		StorageReserveBytes: 1 << 30,
		HeaderTimeout:       10 * time.Second,
		BodyTimeout:         30 * time.Second,
		BodyMinRate:         4096,
		IdleTimeout:         2 * time.Minute,
		MaxHeaderBytes:      32 << 10,
		MaxConnsPerIP:       100,
		WakeInterval:        30 * time.Second,
		CameraOfflineAfter:  2 * time.Minute,
		StreamResumeGrace:   30 * time.Second,
		RetentionDays:       30,
		SegmentSeconds:      600,
		RevalidateInterval:  time.Minute,
	}
}

// setting is one configuration variable: its YAML key (the variable name is envPrefix plus
// the key in upper case) and how a non-empty value is stored into a Config.
type setting struct {
	key   string
	list  bool // a YAML sequence is accepted and joined with commas
	apply func(c *Config, v string) error
}

// settings lists every variable Load reads, in the order of docs/configuration.md.
var settings = []setting{
	{key: "http_addr", apply: func(c *Config, v string) error { return setAddr(&c.HTTPAddr, v) }},
	{key: "public_url", apply: func(c *Config, v string) error {
		u, err := parseOrigin(v)
		c.PublicURL = u
		return err
	}},
	{key: "node_url", apply: func(c *Config, v string) error {
		u, err := parseOrigin(v)
		c.NodeURL = u
		return err
	}},
	{key: "data_dir", apply: func(c *Config, v string) error { c.DataDir = v; return nil }},
	{key: "database_url", apply: func(c *Config, v string) error {
		c.DatabaseURL = v
		return checkURL(v, "postgres", "postgresql")
	}},
	{key: "redis_url", apply: func(c *Config, v string) error {
		c.RedisURL = v
		return checkURL(v, "redis", "rediss")
	}},
	{key: "node_id", apply: func(c *Config, v string) error {
		c.NodeID = v
		return checkNodeID(v)
	}},
	{key: "allowed_origins", list: true, apply: func(c *Config, v string) error {
		c.AllowedOrigins = nil
		for _, item := range splitList(v) {
			if appOrigin(item) {
				c.AllowedOrigins = append(c.AllowedOrigins, item)
				continue
			}
			o, err := parseOrigin(item)
			if err != nil {
				return err
			}
			c.AllowedOrigins = append(c.AllowedOrigins, o)
		}
		return nil
	}},
	{key: "log_level", apply: func(c *Config, v string) error {
		switch strings.ToLower(v) {
		case "debug":
			c.LogLevel = slog.LevelDebug
		case "info":
			c.LogLevel = slog.LevelInfo
		case "warn", "warning":
			c.LogLevel = slog.LevelWarn
		case "error":
			c.LogLevel = slog.LevelError
		default:
			return fmt.Errorf("%q is not a log level; use debug, info, warn or error", v)
		}
		return nil
	}},
	{key: "log_format", apply: func(c *Config, v string) error {
		c.LogFormat = strings.ToLower(v)
		if c.LogFormat != "text" && c.LogFormat != "json" {
			return fmt.Errorf("%q is not a log format; use text or json", v)
		}
		return nil
	}},
	{key: "apns_key_file", apply: func(c *Config, v string) error { c.APNs.KeyFile = v; return checkFile(v) }},
	{key: "apns_key_id", apply: func(c *Config, v string) error { c.APNs.KeyID = v; return nil }},
	{key: "apns_team_id", apply: func(c *Config, v string) error { c.APNs.TeamID = v; return nil }},
	{key: "apns_topic", apply: func(c *Config, v string) error { c.APNs.Topic = v; return nil }},
	{key: "apns_endpoint", apply: func(c *Config, v string) error {
		c.APNs.Endpoint = v
		return checkURL(v, "https", "http")
	}},
	{key: "fcm_credentials_file", apply: func(c *Config, v string) error {
		c.FCM.CredentialsFile = v
		return checkFile(v)
	}},
	{key: "fcm_project_id", apply: func(c *Config, v string) error { c.FCM.ProjectID = v; return nil }},
	{key: "fcm_endpoint", apply: func(c *Config, v string) error {
		c.FCM.Endpoint = v
		return checkURL(v, "https", "http")
	}},
	{key: "vapid_public_key", apply: func(c *Config, v string) error { c.VAPID.PublicKey = v; return nil }},
	{key: "vapid_private_key", apply: func(c *Config, v string) error { c.VAPID.PrivateKey = v; return nil }},
	{key: "vapid_subject", apply: func(c *Config, v string) error {
		c.VAPID.Subject = v
		if !strings.HasPrefix(v, "mailto:") && !strings.HasPrefix(v, "https://") {
			return fmt.Errorf("%q is not a mailto: or https: URL; write for example mailto:you@example.com", v)
		}
		return nil
	}},
	{key: "turn_addr", apply: func(c *Config, v string) error { return setAddr(&c.TURN.Addr, v) }},
	{key: "turn_public_ip", apply: func(c *Config, v string) error {
		ip, err := netip.ParseAddr(v)
		if err != nil {
			return fmt.Errorf("%q is not an IP address", v)
		}
		c.TURN.PublicIP = ip
		return nil
	}},
	{key: "turn_realm", apply: func(c *Config, v string) error { c.TURN.Realm = v; return nil }},
	{key: "turn_relay_ports", apply: func(c *Config, v string) error {
		lo, hi, ok := strings.Cut(v, "-")
		a, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
		b, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
		if !ok || err1 != nil || err2 != nil || a == 0 || a > b {
			return fmt.Errorf("%q is not a port range; write min-max, for example 49160-49200", v)
		}
		c.TURN.RelayPortMin, c.TURN.RelayPortMax = int(a), int(b)
		return nil
	}},
	{key: "turn_secret", apply: func(c *Config, v string) error {
		c.TURN.Secret = v
		if len(v) < 16 {
			return errors.New("is shorter than 16 bytes; generate one with: openssl rand -hex 32")
		}
		return nil
	}},
	{key: "turn_allow_peers", list: true, apply: func(c *Config, v string) error {
		c.TURN.AllowPeers = nil
		for _, item := range splitList(v) {
			p, err := netip.ParsePrefix(item)
			if err != nil || p.Addr().Is4In6() || p.Addr().Zone() != "" {
				return fmt.Errorf("%q is not a CIDR; write for example 192.168.1.0/24 or fd00:1::/64", item)
			}
			c.TURN.AllowPeers = append(c.TURN.AllowPeers, p.Masked())
		}
		return nil
	}},
	{key: "stun_urls", list: true, apply: func(c *Config, v string) error {
		c.STUNURLs = nil
		for _, item := range splitList(v) {
			scheme, host, _ := strings.Cut(item, ":")
			if (scheme != "stun" && scheme != "stuns") || host == "" || strings.HasPrefix(host, "//") {
				return fmt.Errorf("%q is not a STUN URL; write stun:host[:port] or stuns:host[:port]", item)
			}
			c.STUNURLs = append(c.STUNURLs, item)
		}
		return nil
	}},
	{key: "relay_udp_addr", apply: func(c *Config, v string) error { return setAddr(&c.RelayUDPAddr, v) }},
	{key: "tls_cert_file", apply: func(c *Config, v string) error { c.TLS.CertFile = v; return checkFile(v) }},
	{key: "tls_key_file", apply: func(c *Config, v string) error { c.TLS.KeyFile = v; return checkFile(v) }},
	{key: "trusted_proxies", list: true, apply: func(c *Config, v string) error {
		c.TrustedProxies = nil
		for _, item := range splitList(v) {
			p, err := parsePrefix(item)
			if err != nil {
				return err
			}
			c.TrustedProxies = append(c.TrustedProxies, p)
		}
		return nil
	}},
	{key: "max_message_bytes", apply: func(c *Config, v string) error {
		return setInt(&c.MaxMessageBytes, v, 4096)
	}},
	{key: "max_upload_bytes", apply: func(c *Config, v string) error { return setInt(&c.MaxUploadBytes, v, 1) }},
	{key: "header_timeout", apply: func(c *Config, v string) error { return setDuration(&c.HeaderTimeout, v) }},
	{key: "body_timeout", apply: func(c *Config, v string) error { return setDuration(&c.BodyTimeout, v) }},
	{key: "body_min_rate", apply: func(c *Config, v string) error { return setInt(&c.BodyMinRate, v, 1) }},
	{key: "idle_timeout", apply: func(c *Config, v string) error { return setDuration(&c.IdleTimeout, v) }},
	{key: "max_header_bytes", apply: func(c *Config, v string) error { return setInt(&c.MaxHeaderBytes, v, 4096) }},
	{key: "max_conns", apply: func(c *Config, v string) error { return setInt(&c.MaxConns, v, 0) }},
	{key: "max_conns_per_ip", apply: func(c *Config, v string) error { return setInt(&c.MaxConnsPerIP, v, 1) }},
	{key: "storage_quota_bytes", apply: func(c *Config, v string) error { return setInt(&c.StorageQuotaBytes, v, 1) }},
	{key: "storage_reserve_bytes", apply: func(c *Config, v string) error {
		if pct, ok := strings.CutSuffix(v, "%"); ok {
			p, err := strconv.ParseFloat(strings.TrimSpace(pct), 64)
			if err != nil || !(p > 0 && p < 100) {
				return fmt.Errorf("%q is not a percentage above 0 and below 100", v)
			}
			c.StorageReserveBytes, c.StorageReservePercent = 0, p
			return nil
		}
		c.StorageReservePercent = 0
		return setInt(&c.StorageReserveBytes, v, 1)
	}},
	{key: "admin_addr", apply: func(c *Config, v string) error { return setAddr(&c.AdminAddr, v) }},
	{key: "smtp_url", apply: func(c *Config, v string) error {
		c.SMTPURL = v
		return checkSMTPURL(v)
	}},
	{key: "wake_interval", apply: func(c *Config, v string) error { return setDuration(&c.WakeInterval, v) }},
	{key: "camera_offline_after", apply: func(c *Config, v string) error {
		return setDuration(&c.CameraOfflineAfter, v)
	}},
	{key: "stream_resume_grace", apply: func(c *Config, v string) error {
		return setDuration(&c.StreamResumeGrace, v)
	}},
	{key: "retention_days", apply: func(c *Config, v string) error {
		var n int64
		err := setInt(&n, v, 1)
		c.RetentionDays = int(n)
		return err
	}},
	{key: "segment_seconds", apply: func(c *Config, v string) error {
		var n int64
		err := setInt(&n, v, 1)
		c.SegmentSeconds = int(n)
		return err
	}},
	{key: "message_rate", apply: func(c *Config, v string) error { return setRate(&c.MessageRate, v) }},
	{key: "accept_rate", apply: func(c *Config, v string) error { return setRate(&c.AcceptRate, v) }},
	{key: "s3_endpoint", apply: func(c *Config, v string) error {
		c.S3.Endpoint = v
		return checkEndpoint(v)
	}},
	{key: "s3_public_endpoint", apply: func(c *Config, v string) error {
		c.S3.PublicEndpoint = v
		return checkEndpoint(v)
	}},
	{key: "s3_bucket", apply: func(c *Config, v string) error {
		c.S3.Bucket = v
		return checkBucket(v)
	}},
	{key: "s3_region", apply: func(c *Config, v string) error { c.S3.Region = v; return nil }},
	{key: "s3_access_key_id", apply: func(c *Config, v string) error { c.S3.AccessKeyID = v; return nil }},
	{key: "s3_secret_access_key", apply: func(c *Config, v string) error { c.S3.SecretAccessKey = v; return nil }},
	{key: "s3_path_style", apply: func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not a boolean; write true or false", v)
		}
		c.S3.PathStyle, c.S3.pathStyleSet = b, true
		return nil
	}},
	{key: "revalidate_interval", apply: func(c *Config, v string) error {
		return setDuration(&c.RevalidateInterval, v)
	}},
	{key: "better_auth_secret", apply: func(c *Config, v string) error { c.BetterAuthSecret = v; return nil }},
	{key: "better_auth_shared", apply: func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not a boolean; write true or false", v)
		}
		c.BetterAuthShared = b
		return nil
	}},
}

// envName is the environment variable of a YAML key.
func envName(key string) string { return envPrefix + strings.ToUpper(key) }

// Load reads the configuration: each SECURECAM_* variable from getenv, else from the YAML
// file named by SECURECAM_CONFIG (if any), else its default. An empty variable counts as
// unset. Every problem found is reported, each naming the variable (and file key) to fix.
func Load(getenv func(string) string) (Config, error) {
	var file map[string]fileValue
	path := getenv(configFileVar)
	if path != "" {
		var errs configError
		if file, errs = readConfigFile(path); len(errs) > 0 {
			return Config{}, errs
		}
	}
	return load(getenv, path, file)
}

// load is Load with the settings of the file at path already read.
func load(getenv func(string) string, path string, file map[string]fileValue) (Config, error) {
	c := defaultConfig()
	var errs configError
	for _, s := range settings {
		name := envName(s.key)
		v, from := strings.TrimSpace(getenv(name)), name
		if v == "" {
			fv, ok := file[s.key]
			if !ok {
				continue
			}
			v, from = fv.value, fmt.Sprintf("%s (%s:%d: %s)", name, path, fv.line, s.key)
		}
		if err := s.apply(&c, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", from, err))
		}
	}
	errs = append(errs, c.complete()...)
	if len(errs) > 0 {
		return Config{}, errs
	}
	return c, nil
}

// configError lists every problem Load found, one per line.
type configError []error

func (e configError) Error() string {
	var b strings.Builder
	b.WriteString("invalid configuration:")
	for _, err := range e {
		b.WriteString("\n  - ")
		b.WriteString(strings.ReplaceAll(err.Error(), "\n", "\n    "))
	}
	return b.String()
}

func (e configError) Unwrap() []error { return e }

// complete derives the defaults that depend on other settings and checks the rules that
// span several variables.
func (c *Config) complete() configError {
	var errs configError
	if c.NodeID == "" {
		id, err := defaultNodeID()
		if err != nil {
			errs = append(errs, fmt.Errorf("SECURECAM_NODE_ID: no default: %w; set it", err))
		}
		c.NodeID = id
	}
	if len(c.AllowedOrigins) == 0 {
		c.AllowedOrigins = []string{c.PublicURL}
	}
	if c.NodeURL == "" {
		c.NodeURL = c.PublicURL
	}
	if c.BetterAuthShared && c.BetterAuthSecret == "" {
		errs = append(errs, errors.New("SECURECAM_BETTER_AUTH_SHARED is true: set SECURECAM_BETTER_AUTH_SECRET to the Better Auth server's BETTER_AUTH_SECRET"))
	}

	apns := map[string]string{
		"SECURECAM_APNS_KEY_FILE": c.APNs.KeyFile,
		"SECURECAM_APNS_KEY_ID":   c.APNs.KeyID,
		"SECURECAM_APNS_TEAM_ID":  c.APNs.TeamID,
		"SECURECAM_APNS_TOPIC":    c.APNs.Topic,
	}
	if c.APNs != (APNsConfig{}) {
		var missing []string
		for name, v := range apns {
			if v == "" {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			slices.Sort(missing)
			errs = append(errs, fmt.Errorf("APNs is half configured: set %s too (or unset every SECURECAM_APNS_* variable)",
				strings.Join(missing, ", ")))
		}
	}
	if (c.VAPID.PublicKey == "") != (c.VAPID.PrivateKey == "") {
		errs = append(errs, errors.New("Web Push is half configured: set both SECURECAM_VAPID_PUBLIC_KEY and SECURECAM_VAPID_PRIVATE_KEY, or neither (the hub then makes its own pair)"))
	}
	if c.VAPID.Subject == "" {
		c.VAPID.Subject = "mailto:securecam@localhost"
		if strings.HasPrefix(c.PublicURL, "https://") {
			c.VAPID.Subject = c.PublicURL
		}
	}
	if c.FCM != (FCMConfig{}) && c.FCM.CredentialsFile == "" {
		errs = append(errs, errors.New("FCM is half configured: set SECURECAM_FCM_CREDENTIALS_FILE to the service-account JSON file (or unset every SECURECAM_FCM_* variable)"))
	}

	if c.TURN.Addr != "" || c.TURN.PublicIP.IsValid() || c.TURN.Realm != "" || c.TURN.RelayPortMax != 0 ||
		c.TURN.Secret != "" || len(c.TURN.AllowPeers) > 0 {
		if c.TURN.Addr == "" {
			errs = append(errs, errors.New("TURN is half configured: set SECURECAM_TURN_ADDR (for example :3478), or unset every SECURECAM_TURN_* variable"))
		}
		if c.TURN.Secret == "" {
			errs = append(errs, errors.New("TURN is half configured: set SECURECAM_TURN_SECRET (generate one with: openssl rand -hex 32)"))
		}
		if !c.TURN.PublicIP.IsValid() && c.TURN.Addr != "" {
			host, _, _ := net.SplitHostPort(c.TURN.Addr)
			if ip, err := netip.ParseAddr(host); err == nil && !ip.IsUnspecified() {
				c.TURN.PublicIP = ip
			} else {
				errs = append(errs, errors.New("SECURECAM_TURN_PUBLIC_IP: must be set to the IP address clients reach the TURN server at, since SECURECAM_TURN_ADDR has no specific host"))
			}
		}
		if c.TURN.Realm == "" {
			c.TURN.Realm = "securecam"
		}
	}

	if c.S3 != (S3Config{}) {
		if c.S3.Bucket == "" {
			errs = append(errs, errors.New("S3 is half configured: set SECURECAM_S3_BUCKET to the bucket that holds the recordings (or unset every SECURECAM_S3_* variable)"))
		}
		if (c.S3.AccessKeyID == "") != (c.S3.SecretAccessKey == "") {
			errs = append(errs, errors.New("S3 credentials are half configured: set both SECURECAM_S3_ACCESS_KEY_ID and SECURECAM_S3_SECRET_ACCESS_KEY, or neither to use the AWS credential chain"))
		}
		if c.S3.Region == "" {
			c.S3.Region = "us-east-1"
		}
		if !c.S3.pathStyleSet {
			c.S3.PathStyle = c.S3.Endpoint != ""
		}
	}

	if c.TLS.CertFile != "" && c.TLS.KeyFile == "" {
		errs = append(errs, errors.New("TLS is half configured: SECURECAM_TLS_CERT_FILE is set, set SECURECAM_TLS_KEY_FILE to its private key too"))
	}
	if c.TLS.KeyFile != "" && c.TLS.CertFile == "" {
		errs = append(errs, errors.New("TLS is half configured: SECURECAM_TLS_KEY_FILE is set, set SECURECAM_TLS_CERT_FILE to its certificate too"))
	}
	return errs
}

// fileValue is one setting read from the YAML file, with its line for error messages.
type fileValue struct {
	value string
	line  int
}

// readConfigFile reads a flat YAML mapping of setting keys to scalars (or, for list
// settings, sequences of scalars). Unknown and repeated keys are errors.
func readConfigFile(path string) (map[string]fileValue, configError) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, configError{fmt.Errorf("%s: %w", configFileVar, err)}
	}
	return parseConfigFile(path, data)
}

// parseConfigFile parses the content of the YAML file at path (named in errors).
func parseConfigFile(path string, data []byte) (map[string]fileValue, configError) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, configError{fmt.Errorf("%s: %s: %w", configFileVar, path, err)}
	}
	out := make(map[string]fileValue)
	if len(doc.Content) == 0 { // empty or comments only
		return out, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, configError{fmt.Errorf("%s: %s:%d: want a mapping of keys such as http_addr: \":8080\"", configFileVar, path, root.Line)}
	}
	var errs configError
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		at := fmt.Sprintf("%s:%d", path, k.Line)
		idx := slices.IndexFunc(settings, func(s setting) bool { return s.key == k.Value })
		if idx < 0 {
			errs = append(errs, fmt.Errorf("%s: unknown key %q (keys are the SECURECAM_* names in lower case without the prefix; see docs/configuration.md)", at, k.Value))
			continue
		}
		if _, dup := out[k.Value]; dup {
			errs = append(errs, fmt.Errorf("%s: key %q appears twice", at, k.Value))
			continue
		}
		var value string
		switch {
		case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
			continue // "key:" with no value counts as unset
		case v.Kind == yaml.ScalarNode:
			value = v.Value
		case v.Kind == yaml.SequenceNode && settings[idx].list:
			items := make([]string, 0, len(v.Content))
			for _, item := range v.Content {
				if item.Kind != yaml.ScalarNode {
					errs = append(errs, fmt.Errorf("%s:%d: %s: list items must be plain values", path, item.Line, k.Value))
					break
				}
				items = append(items, item.Value)
			}
			value = strings.Join(items, ",")
		default:
			errs = append(errs, fmt.Errorf("%s: %s: want a single value", at, k.Value))
			continue
		}
		out[k.Value] = fileValue{value: value, line: k.Line}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return out, nil
}

// unknownEnv returns the SECURECAM_* names in environ (as os.Environ lists them) that are
// not configuration variables, so typos can be reported. SECURECAM_TEST_* (the test suite's
// own variables), SECURECAM_SIM_* (securecam sim's) and SECURECAM_CONFIG are known.
func unknownEnv(environ []string) []string {
	var unknown []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, envPrefix) || name == configFileVar || strings.HasPrefix(name, envPrefix+"TEST_") ||
			strings.HasPrefix(name, envPrefix+"SIM_") {
			continue
		}
		if !slices.ContainsFunc(settings, func(s setting) bool { return envName(s.key) == name }) {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	return unknown
}

func splitList(v string) []string {
	var out []string
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func setAddr(dst *string, v string) error {
	_, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("%q is not a listen address; write host:port or :port", v)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 && port != "0" {
		return fmt.Errorf("%q has no valid port number", v)
	}
	*dst = v
	return nil
}

func setInt(dst *int64, v string, minimum int64) error {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not a whole number", v)
	}
	if n < minimum {
		return fmt.Errorf("%d is below the minimum of %d", n, minimum)
	}
	*dst = n
	return nil
}

func setRate(dst *float64, v string) error {
	r, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(r) || math.IsInf(r, 0) {
		return fmt.Errorf("%q is not a number", v)
	}
	if r <= 0 {
		return fmt.Errorf("%s must be positive", v)
	}
	*dst = r
	return nil
}

func setDuration(dst *time.Duration, v string) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("%q is not a duration; write for example 30s, 2m or 1h30m", v)
	}
	if d <= 0 {
		return fmt.Errorf("%s must be positive", v)
	}
	*dst = d
	return nil
}

// checkURL reports whether v is an absolute URL with a host and one of the schemes.
func checkURL(v string, schemes ...string) error {
	u, err := url.Parse(v)
	if err != nil {
		return fmt.Errorf("not a URL: %w", errors.Unwrap(err))
	}
	if !slices.Contains(schemes, strings.ToLower(u.Scheme)) {
		return fmt.Errorf("scheme %q is not supported; the URL must start with %s://", u.Scheme,
			strings.Join(schemes, ":// or "))
	}
	if u.Host == "" {
		return errors.New("the URL has no host")
	}
	return nil
}

// parseOrigin normalises an http(s) URL with no path to its origin: lower-case scheme and
// host, no default port, no trailing slash.
func parseOrigin(v string) (string, error) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%q is not an http:// or https:// URL with a host", v)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("%q must be scheme://host[:port] with no path, query or user", v)
	}
	host := strings.ToLower(u.Host)
	if p := u.Port(); (u.Scheme == "http" && p == "80") || (u.Scheme == "https" && p == "443") {
		host = strings.ToLower(u.Hostname())
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
	}
	return strings.ToLower(u.Scheme) + "://" + host, nil
}

// appOrigin reports whether v is a native app's origin: a custom scheme such as
// "myapp://" or "exp://192.168.1.5:8081".
func appOrigin(v string) bool {
	scheme, rest, ok := strings.Cut(v, "://")
	if !ok || scheme == "" || strings.EqualFold(scheme, "http") || strings.EqualFold(scheme, "https") {
		return false
	}
	for i, c := range strings.ToLower(scheme) {
		if !(c >= 'a' && c <= 'z' || i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return !strings.ContainsAny(rest, " \t\n,")
}

func parsePrefix(v string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(v); err == nil {
		return p.Masked(), nil
	}
	if ip, err := netip.ParseAddr(v); err == nil {
		return netip.PrefixFrom(ip, ip.BitLen()), nil
	}
	return netip.Prefix{}, fmt.Errorf("%q is not a CIDR (like 10.0.0.0/8 or fd00::/8) or an IP address", v)
}

func checkFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("cannot use file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	return nil
}

// checkEndpoint checks an S3 endpoint: an http(s) URL with a host and no path.
func checkEndpoint(v string) error {
	if err := checkURL(v, "https", "http"); err != nil {
		return err
	}
	u, _ := url.Parse(v)
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return fmt.Errorf("%q must be scheme://host[:port] with no path, query or user (the bucket is SECURECAM_S3_BUCKET)", v)
	}
	return nil
}

// checkBucket checks an S3 bucket name (3–63 lower-case letters, digits, '.' and '-',
// starting and ending with a letter or digit) that is not the data directory's name.
func checkBucket(v string) error {
	if v == blobs.DiskBucket {
		return fmt.Errorf("%q names the data directory in recordings.bucket; choose another bucket name", v)
	}
	ok := len(v) >= 3 && len(v) <= 63
	for i, r := range v {
		alnum := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		if !alnum && (r != '.' && r != '-' || i == 0 || i == len(v)-1) {
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("%q is not an S3 bucket name: 3 to 63 lower-case letters, digits, '.' and '-', starting and ending with a letter or digit", v)
	}
	return nil
}

func checkSMTPURL(v string) error {
	if err := checkURL(v, "smtp", "smtps"); err != nil {
		return err
	}
	u, _ := url.Parse(v)
	from := u.Query().Get("from")
	if from == "" {
		return errors.New("the URL has no sender; add ?from=hub@example.com")
	}
	if _, err := mail.ParseAddress(from); err != nil {
		return fmt.Errorf("from=%q is not an e-mail address", from)
	}
	return nil
}

func checkNodeID(v string) error {
	if len(v) > 64 {
		return errors.New("is longer than 64 bytes")
	}
	for _, r := range v {
		if !isNodeIDRune(r) {
			return fmt.Errorf("%q may contain only letters, digits, '.', '_' and '-'", v)
		}
	}
	return nil
}

func isNodeIDRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
}

// defaultNodeID is the host name (characters a node id may not hold replaced by '-') plus
// a random suffix, so replicas on one host or restarts of one replica never share an id.
func defaultNodeID() (string, error) {
	host, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("host name: %w", err)
	}
	host = strings.Map(func(r rune) rune {
		if isNodeIDRune(r) {
			return r
		}
		return '-'
	}, host)
	if len(host) > 48 {
		host = host[:48]
	}
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return "", fmt.Errorf("random suffix: %w", err)
	}
	if host == "" {
		host = "securecam"
	}
	return host + "-" + hex.EncodeToString(suffix), nil
}

// LogValue is the configuration as logged at start: every setting, with passwords in URLs
// redacted and the TURN and Better Auth secrets left out.
func (c Config) LogValue() slog.Value {
	redact := func(raw string) string {
		if u, err := url.Parse(raw); err == nil {
			return u.Redacted()
		}
		return "[unparsable]"
	}
	attrs := []slog.Attr{
		slog.String("http_addr", c.HTTPAddr),
		slog.String("public_url", c.PublicURL),
		slog.String("node_url", c.NodeURL),
		slog.String("data_dir", c.DataDir),
		slog.String("database_url", redact(c.DatabaseURL)),
		slog.String("redis_url", redact(c.RedisURL)),
		slog.String("node_id", c.NodeID),
		slog.Any("allowed_origins", c.AllowedOrigins),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("log_format", c.LogFormat),
		slog.Bool("apns", c.APNs.Enabled()),
		slog.Bool("fcm", c.FCM.Enabled()),
		slog.Bool("turn", c.TURN.Enabled()),
		slog.Any("turn_allow_peers", c.TURN.AllowPeers),
		slog.Any("stun_urls", c.STUNURLs),
		slog.String("relay_udp_addr", c.RelayUDPAddr),
		slog.Bool("tls", c.TLS.Enabled()),
		slog.Any("trusted_proxies", c.TrustedProxies),
		slog.Int64("max_message_bytes", c.MaxMessageBytes),
		slog.Int64("max_upload_bytes", c.MaxUploadBytes),
		slog.String("header_timeout", c.HeaderTimeout.String()),
		slog.String("body_timeout", c.BodyTimeout.String()),
		slog.Int64("body_min_rate", c.BodyMinRate),
		slog.String("idle_timeout", c.IdleTimeout.String()),
		slog.Int64("max_header_bytes", c.MaxHeaderBytes),
		slog.Int64("max_conns", c.MaxConns),
		slog.Int64("max_conns_per_ip", c.MaxConnsPerIP),
		slog.Int64("storage_quota_bytes", c.StorageQuotaBytes),
		slog.Int64("storage_reserve_bytes", c.StorageReserveBytes),
		slog.Float64("storage_reserve_percent", c.StorageReservePercent),
		slog.String("admin_addr", c.AdminAddr),
		slog.String("smtp_url", redact(c.SMTPURL)),
		slog.Bool("vapid_keys_configured", c.VAPID.PublicKey != ""),
		slog.String("vapid_subject", c.VAPID.Subject),
		slog.String("wake_interval", c.WakeInterval.String()),
		slog.String("camera_offline_after", c.CameraOfflineAfter.String()),
		slog.String("stream_resume_grace", c.StreamResumeGrace.String()),
		slog.Int("retention_days", c.RetentionDays),
		slog.Int("segment_seconds", c.SegmentSeconds),
		slog.Float64("message_rate", c.MessageRate),
		slog.Float64("accept_rate", c.AcceptRate),
		slog.String("s3_endpoint", c.S3.Endpoint),
		slog.String("s3_public_endpoint", c.S3.PublicEndpoint),
		slog.String("s3_bucket", c.S3.Bucket),
		slog.String("s3_region", c.S3.Region),
		slog.Bool("s3_static_credentials", c.S3.AccessKeyID != ""),
		slog.Bool("s3_path_style", c.S3.PathStyle),
		slog.String("revalidate_interval", c.RevalidateInterval.String()),
		slog.Bool("better_auth", c.BetterAuthSecret != ""),
		slog.Bool("better_auth_shared", c.BetterAuthShared),
	}
	return slog.GroupValue(attrs...)
}

// newLogger builds the process logger writing to w in the configured format and level.
func newLogger(w io.Writer, c Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
