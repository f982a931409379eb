package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// envMap is a getenv backed by a map, so tests never touch the process environment.
func envMap(m map[string]string) func(string) string {
	return func(name string) string { return m[name] }
}

// writeFile writes content to a new file in a per-test directory and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load(envMap(nil))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	prefix := regexp.QuoteMeta(host)
	if len(host) > 48 || checkNodeID(host) != nil { // mangled to fit: check the shape only
		prefix = `[A-Za-z0-9._-]+`
	}
	if !regexp.MustCompile(`^` + prefix + `-[0-9a-f]{8}$`).MatchString(c.NodeID) {
		t.Errorf("NodeID = %q, want host name %q plus a random suffix", c.NodeID, host)
	}
	c2, err := Load(envMap(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c2.NodeID == c.NodeID {
		t.Errorf("two loads gave the same default NodeID %q", c.NodeID)
	}

	c.NodeID = ""
	want := Config{
		HTTPAddr:            ":8080",
		PublicURL:           "http://localhost:8080",
		DataDir:             "./data",
		AllowedOrigins:      []string{"http://localhost:8080"},
		LogLevel:            slog.LevelInfo,
		LogFormat:           "text",
		MaxMessageBytes:     65536,
		MaxUploadBytes:      268435456,
		StorageQuotaBytes:   10 << 30,
		StorageReserveBytes: 1 << 30,
		HeaderTimeout:       10 * time.Second,
		BodyTimeout:         30 * time.Second,
		BodyMinRate:         4096,
		IdleTimeout:         2 * time.Minute,
		MaxHeaderBytes:      32768,
		MaxConnsPerIP:       100,
		WakeInterval:        30 * time.Second,
		CameraOfflineAfter:  2 * time.Minute,
		StreamResumeGrace:   30 * time.Second,
		RetentionDays:       30,
		RevalidateInterval:  time.Minute,
		NodeURL:             "http://localhost:8080", // the public URL
		VAPID:               VAPIDConfig{Subject: "mailto:securecam@localhost"},
		RelayUDPAddr:        ":0",
		SegmentSeconds:      600,
	}
	assertConfig(t, c, want)
}

func TestLoadEveryVariable(t *testing.T) {
	t.Parallel()
	keyFile := writeFile(t, "AuthKey.p8", "key")
	credFile := writeFile(t, "fcm.json", "{}")
	certFile := writeFile(t, "cert.pem", "cert")
	tlsKeyFile := writeFile(t, "key.pem", "key")
	env := map[string]string{
		"SECURECAM_HTTP_ADDR":             "127.0.0.1:9090",
		"SECURECAM_PUBLIC_URL":            "HTTPS://Cam.Example.com:443/",
		"SECURECAM_DATA_DIR":              "/var/lib/securecam",
		"SECURECAM_DATABASE_URL":          "postgresql://hub:pw@db:5432/hub?sslmode=require",
		"SECURECAM_REDIS_URL":             "rediss://redis:6380/0",
		"SECURECAM_NODE_ID":               "hub-1",
		"SECURECAM_ALLOWED_ORIGINS":       " https://app.example.com , http://localhost:5173 , myapp:// ",
		"SECURECAM_LOG_LEVEL":             "DEBUG",
		"SECURECAM_LOG_FORMAT":            "json",
		"SECURECAM_APNS_KEY_FILE":         keyFile,
		"SECURECAM_APNS_KEY_ID":           "ABC123DEFG",
		"SECURECAM_APNS_TEAM_ID":          "TEAM123456",
		"SECURECAM_APNS_TOPIC":            "com.example.securecam",
		"SECURECAM_APNS_ENDPOINT":         "http://127.0.0.1:2197",
		"SECURECAM_FCM_CREDENTIALS_FILE":  credFile,
		"SECURECAM_FCM_PROJECT_ID":        "securecam-test",
		"SECURECAM_FCM_ENDPOINT":          "http://127.0.0.1:2198",
		"SECURECAM_TURN_ADDR":             "0.0.0.0:3478",
		"SECURECAM_TURN_PUBLIC_IP":        "203.0.113.7",
		"SECURECAM_TURN_REALM":            "cam.example.com",
		"SECURECAM_TURN_RELAY_PORTS":      "49160-49200",
		"SECURECAM_TURN_SECRET":           "0123456789abcdef0123",
		"SECURECAM_TURN_ALLOW_PEERS":      "192.168.1.0/24, fd00:1::5/64",
		"SECURECAM_STUN_URLS":             "stun:stun.example.com:3478,stuns:stun.example.com",
		"SECURECAM_TLS_CERT_FILE":         certFile,
		"SECURECAM_TLS_KEY_FILE":          tlsKeyFile,
		"SECURECAM_TRUSTED_PROXIES":       "10.0.0.0/8, 192.168.1.7, fd00::1/8",
		"SECURECAM_MAX_MESSAGE_BYTES":     "131072",
		"SECURECAM_MAX_UPLOAD_BYTES":      "1048576",
		"SECURECAM_STORAGE_QUOTA_BYTES":   "5000000",
		"SECURECAM_STORAGE_RESERVE_BYTES": "2000000",
		"SECURECAM_HEADER_TIMEOUT":        "5s",
		"SECURECAM_BODY_TIMEOUT":          "20s",
		"SECURECAM_BODY_MIN_RATE":         "1024",
		"SECURECAM_IDLE_TIMEOUT":          "90s",
		"SECURECAM_MAX_HEADER_BYTES":      "16384",
		"SECURECAM_MAX_CONNS":             "5000",
		"SECURECAM_MAX_CONNS_PER_IP":      "20",
		"SECURECAM_ADMIN_ADDR":            "127.0.0.1:6060",
		"SECURECAM_SMTP_URL":              "smtp://user:pass@mail.example.com:587/?from=hub@example.com",
		"SECURECAM_WAKE_INTERVAL":         "45s",
		"SECURECAM_CAMERA_OFFLINE_AFTER":  "5m",
		"SECURECAM_STREAM_RESUME_GRACE":   "45s",
		"SECURECAM_RETENTION_DAYS":        "7",
		"SECURECAM_MESSAGE_RATE":          "1e6",
		"SECURECAM_ACCEPT_RATE":           "2500.5",
		"SECURECAM_S3_ENDPOINT":           "http://minio.internal:9000",
		"SECURECAM_S3_PUBLIC_ENDPOINT":    "https://s3.example.com",
		"SECURECAM_S3_BUCKET":             "securecam-clips",
		"SECURECAM_S3_REGION":             "eu-west-1",
		"SECURECAM_S3_ACCESS_KEY_ID":      "AKIAEXAMPLE",
		"SECURECAM_S3_SECRET_ACCESS_KEY":  "s3-secret",
		"SECURECAM_S3_PATH_STYLE":         "false",
		"SECURECAM_REVALIDATE_INTERVAL":   "90s",
		"SECURECAM_BETTER_AUTH_SECRET":    "better-auth-secret-of-the-old-server-0123",
		"SECURECAM_BETTER_AUTH_SHARED":    "TRUE",
		"SECURECAM_NODE_URL":              "http://10.0.0.5:8080/",
		"SECURECAM_VAPID_PUBLIC_KEY":      "BPublicKeyOfTheOperator",
		"SECURECAM_VAPID_PRIVATE_KEY":     "privateKeyOfTheOperator",
		"SECURECAM_VAPID_SUBJECT":         "mailto:ops@example.com",
		"SECURECAM_RELAY_UDP_ADDR":        "0.0.0.0:3479",
		"SECURECAM_SEGMENT_SECONDS":       "300",
	}
	// Every variable of the settings table is exercised here.
	for _, s := range settings {
		if _, ok := env[envName(s.key)]; !ok {
			t.Errorf("test does not set %s", envName(s.key))
		}
	}
	c, err := Load(envMap(env))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := Config{
		HTTPAddr:       "127.0.0.1:9090",
		PublicURL:      "https://cam.example.com",
		DataDir:        "/var/lib/securecam",
		DatabaseURL:    "postgresql://hub:pw@db:5432/hub?sslmode=require",
		RedisURL:       "rediss://redis:6380/0",
		NodeID:         "hub-1",
		AllowedOrigins: []string{"https://app.example.com", "http://localhost:5173", "myapp://"},
		LogLevel:       slog.LevelDebug,
		LogFormat:      "json",
		APNs: APNsConfig{KeyFile: keyFile, KeyID: "ABC123DEFG", TeamID: "TEAM123456",
			Topic: "com.example.securecam", Endpoint: "http://127.0.0.1:2197"},
		FCM: FCMConfig{CredentialsFile: credFile, ProjectID: "securecam-test", Endpoint: "http://127.0.0.1:2198"},
		TURN: TURNConfig{Addr: "0.0.0.0:3478", PublicIP: netip.MustParseAddr("203.0.113.7"),
			Realm: "cam.example.com", RelayPortMin: 49160, RelayPortMax: 49200, Secret: "0123456789abcdef0123",
			AllowPeers: []netip.Prefix{netip.MustParsePrefix("192.168.1.0/24"), netip.MustParsePrefix("fd00:1::/64")}},
		STUNURLs: []string{"stun:stun.example.com:3478", "stuns:stun.example.com"},
		TLS:      TLSConfig{CertFile: certFile, KeyFile: tlsKeyFile},
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"),
			netip.MustParsePrefix("192.168.1.7/32"), netip.MustParsePrefix("fd00::/8")},
		MaxMessageBytes:     131072,
		MaxUploadBytes:      1048576,
		StorageQuotaBytes:   5000000,
		StorageReserveBytes: 2000000,
		HeaderTimeout:       5 * time.Second,
		BodyTimeout:         20 * time.Second,
		BodyMinRate:         1024,
		IdleTimeout:         90 * time.Second,
		MaxHeaderBytes:      16384,
		MaxConns:            5000,
		MaxConnsPerIP:       20,
		AdminAddr:           "127.0.0.1:6060",
		SMTPURL:             "smtp://user:pass@mail.example.com:587/?from=hub@example.com",
		WakeInterval:        45 * time.Second,
		CameraOfflineAfter:  5 * time.Minute,
		StreamResumeGrace:   45 * time.Second,
		RetentionDays:       7,
		MessageRate:         1e6,
		AcceptRate:          2500.5,
		S3: S3Config{Endpoint: "http://minio.internal:9000", PublicEndpoint: "https://s3.example.com", Bucket: "securecam-clips",
			Region: "eu-west-1", AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "s3-secret", PathStyle: false, pathStyleSet: true},
		RevalidateInterval: 90 * time.Second,
		BetterAuthSecret:   "better-auth-secret-of-the-old-server-0123",
		BetterAuthShared:   true,
		NodeURL:            "http://10.0.0.5:8080",
		VAPID:              VAPIDConfig{PublicKey: "BPublicKeyOfTheOperator", PrivateKey: "privateKeyOfTheOperator", Subject: "mailto:ops@example.com"},
		RelayUDPAddr:       "0.0.0.0:3479",
		SegmentSeconds:     300,
	}
	assertConfig(t, c, want)
}

func TestLoadYAMLAndEnvPrecedence(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "securecam.yaml", `
# comments are fine
http_addr: ":9000"
public_url: https://hub.example.com
database_url: postgres://file@db/hub
redis_url:            # empty: unset, the default stays
allowed_origins:
  - https://a.example.com
  - https://b.example.com
max_message_bytes: 100000
wake_interval: 1m
log_level: warn
`)
	env := map[string]string{
		"SECURECAM_CONFIG":         file,
		"SECURECAM_HTTP_ADDR":      ":7000",                 // the environment wins
		"SECURECAM_DATABASE_URL":   "postgres://env@db/hub", // over the file too
		"SECURECAM_LOG_LEVEL":      "   ",                   // blank counts as unset: the file's value stays
		"SECURECAM_RETENTION_DAYS": "90",                    // not in the file at all
	}
	c, err := Load(envMap(env))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"env over file", c.HTTPAddr, ":7000"},
		{"env over file (url)", c.DatabaseURL, "postgres://env@db/hub"},
		{"file only", c.PublicURL, "https://hub.example.com"},
		{"file null keeps default", c.RedisURL, ""},
		{"file list", c.AllowedOrigins, []string{"https://a.example.com", "https://b.example.com"}},
		{"file number", c.MaxMessageBytes, int64(100000)},
		{"file duration", c.WakeInterval, time.Minute},
		{"blank env falls back to file", c.LogLevel, slog.LevelWarn},
		{"env only", c.RetentionDays, 90},
		{"default", c.DataDir, "./data"},
	}
	for _, tt := range tests {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestLoadDerivedDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		env   map[string]string
		yaml  string // written to a file named by SECURECAM_CONFIG when set
		check func(t *testing.T, c Config)
	}{
		{
			name: "allowed origins follow the public URL",
			env:  map[string]string{"SECURECAM_PUBLIC_URL": "http://Hub.Local:80/"},
			check: func(t *testing.T, c Config) {
				if c.PublicURL != "http://hub.local" || !slices.Equal(c.AllowedOrigins, []string{"http://hub.local"}) {
					t.Errorf("PublicURL %q, AllowedOrigins %q", c.PublicURL, c.AllowedOrigins)
				}
			},
		},
		{
			name: "IPv6 origin keeps its brackets",
			env:  map[string]string{"SECURECAM_PUBLIC_URL": "https://[::1]:443"},
			check: func(t *testing.T, c Config) {
				if c.PublicURL != "https://[::1]" {
					t.Errorf("PublicURL %q", c.PublicURL)
				}
			},
		},
		{
			name: "TURN public IP and realm from the listen address",
			env: map[string]string{
				"SECURECAM_TURN_ADDR":   "192.0.2.10:3478",
				"SECURECAM_TURN_SECRET": "0123456789abcdef",
			},
			check: func(t *testing.T, c Config) {
				want := TURNConfig{Addr: "192.0.2.10:3478", PublicIP: netip.MustParseAddr("192.0.2.10"),
					Realm: "securecam", Secret: "0123456789abcdef"}
				if !reflect.DeepEqual(c.TURN, want) || !c.TURN.Enabled() {
					t.Errorf("TURN = %+v, want %+v", c.TURN, want)
				}
			},
		},
		{
			name: "S3 with an endpoint: path style, us-east-1",
			env:  map[string]string{"SECURECAM_S3_ENDPOINT": "http://127.0.0.1:9000", "SECURECAM_S3_BUCKET": "clips"},
			check: func(t *testing.T, c Config) {
				if !c.S3.Enabled() || !c.S3.PathStyle || c.S3.Region != "us-east-1" {
					t.Errorf("S3 = %+v", c.S3)
				}
			},
		},
		{
			name: "S3 on AWS: host-style addressing, the AWS credential chain",
			env:  map[string]string{"SECURECAM_S3_BUCKET": "clips.example.com", "SECURECAM_S3_REGION": "eu-central-1"},
			check: func(t *testing.T, c Config) {
				if !c.S3.Enabled() || c.S3.PathStyle || c.S3.Region != "eu-central-1" || c.S3.AccessKeyID != "" {
					t.Errorf("S3 = %+v", c.S3)
				}
			},
		},
		{
			name: "no S3: the data directory",
			check: func(t *testing.T, c Config) {
				if c.S3.Enabled() || c.S3 != (S3Config{}) {
					t.Errorf("S3 = %+v", c.S3)
				}
			},
		},
		{
			name: "a YAML file with comments only changes nothing",
			yaml: "# nothing set\n",
			check: func(t *testing.T, c Config) {
				if c.HTTPAddr != ":8080" {
					t.Errorf("HTTPAddr %q", c.HTTPAddr)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := maps.Clone(tt.env)
			if tt.yaml != "" {
				env = map[string]string{"SECURECAM_CONFIG": writeFile(t, "c.yaml", tt.yaml)}
				maps.Copy(env, tt.env)
			}
			c, err := Load(envMap(env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		yaml string // written to a file named by SECURECAM_CONFIG when set
		want []string
	}{
		{name: "database scheme", env: map[string]string{"SECURECAM_DATABASE_URL": "mysql://db/hub"},
			want: []string{"SECURECAM_DATABASE_URL", `scheme "mysql"`, "postgres://", "postgresql://"}},
		{name: "database without scheme", env: map[string]string{"SECURECAM_DATABASE_URL": "db.example.com/hub"},
			want: []string{"SECURECAM_DATABASE_URL", "postgres://"}},
		{name: "redis scheme", env: map[string]string{"SECURECAM_REDIS_URL": "http://redis:6379"},
			want: []string{"SECURECAM_REDIS_URL", "redis://", "rediss://"}},
		{name: "redis without host", env: map[string]string{"SECURECAM_REDIS_URL": "redis://"},
			want: []string{"SECURECAM_REDIS_URL", "no host"}},
		{name: "http addr", env: map[string]string{"SECURECAM_HTTP_ADDR": "8080"},
			want: []string{"SECURECAM_HTTP_ADDR", "host:port"}},
		{name: "http port", env: map[string]string{"SECURECAM_HTTP_ADDR": ":99999"},
			want: []string{"SECURECAM_HTTP_ADDR", "port"}},
		{name: "admin addr", env: map[string]string{"SECURECAM_ADMIN_ADDR": "localhost"},
			want: []string{"SECURECAM_ADMIN_ADDR", "host:port"}},
		{name: "public url scheme", env: map[string]string{"SECURECAM_PUBLIC_URL": "ftp://hub"},
			want: []string{"SECURECAM_PUBLIC_URL", "http:// or https://"}},
		{name: "public url path", env: map[string]string{"SECURECAM_PUBLIC_URL": "https://hub/app"},
			want: []string{"SECURECAM_PUBLIC_URL", "no path"}},
		{name: "allowed origin", env: map[string]string{"SECURECAM_ALLOWED_ORIGINS": "https://ok.example.com,*.example.com"},
			want: []string{"SECURECAM_ALLOWED_ORIGINS", `"*.example.com"`}},
		{name: "app origin that is not a scheme", env: map[string]string{"SECURECAM_ALLOWED_ORIGINS": "my app://"},
			want: []string{"SECURECAM_ALLOWED_ORIGINS", `"my app://"`}},
		{name: "Better Auth shared without secret", env: map[string]string{"SECURECAM_BETTER_AUTH_SHARED": "true"},
			want: []string{"SECURECAM_BETTER_AUTH_SHARED", "SECURECAM_BETTER_AUTH_SECRET"}},
		{name: "Better Auth shared not a boolean", env: map[string]string{"SECURECAM_BETTER_AUTH_SHARED": "yes please"},
			want: []string{"SECURECAM_BETTER_AUTH_SHARED", "true or false"}},
		{name: "node id", env: map[string]string{"SECURECAM_NODE_ID": "hub 1"},
			want: []string{"SECURECAM_NODE_ID", "letters, digits"}},
		{name: "log level", env: map[string]string{"SECURECAM_LOG_LEVEL": "verbose"},
			want: []string{"SECURECAM_LOG_LEVEL", `"verbose"`, "debug, info, warn or error"}},
		{name: "log format", env: map[string]string{"SECURECAM_LOG_FORMAT": "xml"},
			want: []string{"SECURECAM_LOG_FORMAT", "text or json"}},
		{name: "APNs half configured", env: map[string]string{"SECURECAM_APNS_KEY_ID": "ABC", "SECURECAM_APNS_TOPIC": "t"},
			want: []string{"APNs is half configured", "SECURECAM_APNS_KEY_FILE, SECURECAM_APNS_TEAM_ID too"}},
		{name: "APNs endpoint alone", env: map[string]string{"SECURECAM_APNS_ENDPOINT": "http://127.0.0.1:1"},
			want: []string{"APNs is half configured"}},
		{name: "APNs key file missing", env: map[string]string{"SECURECAM_APNS_KEY_FILE": "/nonexistent/AuthKey.p8"},
			want: []string{"SECURECAM_APNS_KEY_FILE", "no such file"}},
		{name: "APNs endpoint scheme", env: map[string]string{"SECURECAM_APNS_ENDPOINT": "api.push.apple.com"},
			want: []string{"SECURECAM_APNS_ENDPOINT", "https://"}},
		{name: "TURN relay ports", env: map[string]string{"SECURECAM_TURN_RELAY_PORTS": "49200-49160"},
			want: []string{"SECURECAM_TURN_RELAY_PORTS", "min-max"}},
		{name: "TURN relay ports alone", env: map[string]string{"SECURECAM_TURN_RELAY_PORTS": "49160-49200"},
			want: []string{"TURN is half configured", "SECURECAM_TURN_ADDR"}},
		{name: "TURN allowed peer not a CIDR", env: map[string]string{"SECURECAM_TURN_ALLOW_PEERS": "192.168.1.0/24,lan"},
			want: []string{"SECURECAM_TURN_ALLOW_PEERS", `"lan"`, "CIDR"}},
		{name: "TURN allowed peers alone", env: map[string]string{"SECURECAM_TURN_ALLOW_PEERS": "192.168.1.0/24"},
			want: []string{"TURN is half configured", "SECURECAM_TURN_ADDR"}},
		{name: "FCM half configured", env: map[string]string{"SECURECAM_FCM_PROJECT_ID": "p"},
			want: []string{"FCM is half configured", "SECURECAM_FCM_CREDENTIALS_FILE"}},
		{name: "TURN without secret", env: map[string]string{"SECURECAM_TURN_ADDR": "198.51.100.1:3478"},
			want: []string{"SECURECAM_TURN_SECRET", "openssl rand"}},
		{name: "TURN short secret", env: map[string]string{"SECURECAM_TURN_ADDR": "198.51.100.1:3478", "SECURECAM_TURN_SECRET": "short"},
			want: []string{"SECURECAM_TURN_SECRET", "16 bytes"}},
		{name: "TURN without public IP", env: map[string]string{"SECURECAM_TURN_ADDR": ":3478", "SECURECAM_TURN_SECRET": "0123456789abcdef"},
			want: []string{"SECURECAM_TURN_PUBLIC_IP", "must be set"}},
		{name: "TURN bad public IP", env: map[string]string{"SECURECAM_TURN_PUBLIC_IP": "example.com"},
			want: []string{"SECURECAM_TURN_PUBLIC_IP", "not an IP address"}},
		{name: "TURN secret alone", env: map[string]string{"SECURECAM_TURN_SECRET": "0123456789abcdef"},
			want: []string{"TURN is half configured", "SECURECAM_TURN_ADDR"}},
		{name: "STUN URL", env: map[string]string{"SECURECAM_STUN_URLS": "stun.example.com:3478"},
			want: []string{"SECURECAM_STUN_URLS", "stun:host[:port]"}},
		{name: "STUN URL with slashes", env: map[string]string{"SECURECAM_STUN_URLS": "stun://stun.example.com"},
			want: []string{"SECURECAM_STUN_URLS", "stun:host[:port]"}},
		{name: "TLS cert without key", env: map[string]string{"SECURECAM_TLS_CERT_FILE": "FILE"},
			want: []string{"TLS is half configured", "SECURECAM_TLS_KEY_FILE"}},
		{name: "TLS key without cert", env: map[string]string{"SECURECAM_TLS_KEY_FILE": "FILE"},
			want: []string{"TLS is half configured", "SECURECAM_TLS_CERT_FILE"}},
		{name: "TLS cert is a directory", env: map[string]string{"SECURECAM_TLS_CERT_FILE": "/", "SECURECAM_TLS_KEY_FILE": "FILE"},
			want: []string{"SECURECAM_TLS_CERT_FILE", "not a regular file"}},
		{name: "trusted proxy CIDR", env: map[string]string{"SECURECAM_TRUSTED_PROXIES": "10.0.0.0/33"},
			want: []string{"SECURECAM_TRUSTED_PROXIES", `"10.0.0.0/33"`, "CIDR"}},
		{name: "message bytes not a number", env: map[string]string{"SECURECAM_MAX_MESSAGE_BYTES": "64KiB"},
			want: []string{"SECURECAM_MAX_MESSAGE_BYTES", "whole number"}},
		{name: "message bytes too small", env: map[string]string{"SECURECAM_MAX_MESSAGE_BYTES": "100"},
			want: []string{"SECURECAM_MAX_MESSAGE_BYTES", "minimum of 4096"}},
		{name: "upload bytes", env: map[string]string{"SECURECAM_MAX_UPLOAD_BYTES": "-1"},
			want: []string{"SECURECAM_MAX_UPLOAD_BYTES", "minimum of 1"}},
		{name: "body timeout", env: map[string]string{"SECURECAM_BODY_TIMEOUT": "0s"},
			want: []string{"SECURECAM_BODY_TIMEOUT", "positive"}},
		{name: "body min rate", env: map[string]string{"SECURECAM_BODY_MIN_RATE": "0"},
			want: []string{"SECURECAM_BODY_MIN_RATE", "minimum of 1"}},
		{name: "header bytes", env: map[string]string{"SECURECAM_MAX_HEADER_BYTES": "1024"},
			want: []string{"SECURECAM_MAX_HEADER_BYTES", "minimum of 4096"}},
		{name: "connections per IP", env: map[string]string{"SECURECAM_MAX_CONNS_PER_IP": "0"},
			want: []string{"SECURECAM_MAX_CONNS_PER_IP", "minimum of 1"}},
		{name: "connections", env: map[string]string{"SECURECAM_MAX_CONNS": "lots"},
			want: []string{"SECURECAM_MAX_CONNS", "whole number"}},
		{name: "storage quota", env: map[string]string{"SECURECAM_STORAGE_QUOTA_BYTES": "0"},
			want: []string{"SECURECAM_STORAGE_QUOTA_BYTES", "minimum of 1"}},
		{name: "storage reserve", env: map[string]string{"SECURECAM_STORAGE_RESERVE_BYTES": "1GiB"},
			want: []string{"SECURECAM_STORAGE_RESERVE_BYTES", "whole number"}},
		{name: "storage reserve percentage", env: map[string]string{"SECURECAM_STORAGE_RESERVE_BYTES": "100%"},
			want: []string{"SECURECAM_STORAGE_RESERVE_BYTES", "percentage above 0 and below 100"}},
		{name: "retention days", env: map[string]string{"SECURECAM_RETENTION_DAYS": "0"},
			want: []string{"SECURECAM_RETENTION_DAYS", "minimum of 1"}},
		{name: "message rate", env: map[string]string{"SECURECAM_MESSAGE_RATE": "0"},
			want: []string{"SECURECAM_MESSAGE_RATE", "must be positive"}},
		{name: "accept rate", env: map[string]string{"SECURECAM_ACCEPT_RATE": "fast"},
			want: []string{"SECURECAM_ACCEPT_RATE", "not a number"}},
		{name: "wake interval", env: map[string]string{"SECURECAM_WAKE_INTERVAL": "30"},
			want: []string{"SECURECAM_WAKE_INTERVAL", "not a duration"}},
		{name: "camera offline after negative", env: map[string]string{"SECURECAM_CAMERA_OFFLINE_AFTER": "-2m"},
			want: []string{"SECURECAM_CAMERA_OFFLINE_AFTER", "positive"}},
		{name: "stream resume grace zero", env: map[string]string{"SECURECAM_STREAM_RESUME_GRACE": "0s"},
			want: []string{"SECURECAM_STREAM_RESUME_GRACE", "positive"}},
		{name: "SMTP scheme", env: map[string]string{"SECURECAM_SMTP_URL": "mailto:hub@example.com"},
			want: []string{"SECURECAM_SMTP_URL", "smtp://"}},
		{name: "SMTP without sender", env: map[string]string{"SECURECAM_SMTP_URL": "smtp://mail.example.com:587"},
			want: []string{"SECURECAM_SMTP_URL", "?from="}},
		{name: "SMTP bad sender", env: map[string]string{"SECURECAM_SMTP_URL": "smtp://mail.example.com/?from=nobody"},
			want: []string{"SECURECAM_SMTP_URL", `from="nobody"`}},
		{name: "S3 without bucket", env: map[string]string{"SECURECAM_S3_ENDPOINT": "http://127.0.0.1:9000"},
			want: []string{"S3 is half configured", "SECURECAM_S3_BUCKET"}},
		{name: "S3 key without secret", env: map[string]string{"SECURECAM_S3_BUCKET": "clips", "SECURECAM_S3_ACCESS_KEY_ID": "k"},
			want: []string{"SECURECAM_S3_SECRET_ACCESS_KEY", "AWS credential chain"}},
		{name: "S3 endpoint scheme", env: map[string]string{"SECURECAM_S3_BUCKET": "clips", "SECURECAM_S3_ENDPOINT": "minio:9000"},
			want: []string{"SECURECAM_S3_ENDPOINT", "https://"}},
		{name: "S3 endpoint with the bucket in it", env: map[string]string{"SECURECAM_S3_BUCKET": "clips", "SECURECAM_S3_ENDPOINT": "http://minio:9000/clips"},
			want: []string{"SECURECAM_S3_ENDPOINT", "no path", "SECURECAM_S3_BUCKET"}},
		{name: "S3 bucket name", env: map[string]string{"SECURECAM_S3_BUCKET": "My_Clips"},
			want: []string{"SECURECAM_S3_BUCKET", "not an S3 bucket name"}},
		{name: "S3 bucket named local", env: map[string]string{"SECURECAM_S3_BUCKET": "local"},
			want: []string{"SECURECAM_S3_BUCKET", "data directory"}},
		{name: "S3 path style", env: map[string]string{"SECURECAM_S3_BUCKET": "clips", "SECURECAM_S3_PATH_STYLE": "sometimes"},
			want: []string{"SECURECAM_S3_PATH_STYLE", "true or false"}},
		{name: "config file missing", env: map[string]string{"SECURECAM_CONFIG": "/nonexistent/securecam.yaml"},
			want: []string{"SECURECAM_CONFIG", "no such file"}},
		{name: "unknown YAML key", yaml: "http_addr: \":1\"\nhttp_adr: \":2\"\n",
			want: []string{":2: unknown key \"http_adr\"", "docs/configuration.md"}},
		{name: "upper-case YAML key", yaml: "HTTP_ADDR: \":1\"\n",
			want: []string{"unknown key \"HTTP_ADDR\""}},
		{name: "repeated YAML key", yaml: "http_addr: \":1\"\nhttp_addr: \":2\"\n",
			want: []string{":2: key \"http_addr\" appears twice"}},
		{name: "YAML not a mapping", yaml: "- http_addr\n",
			want: []string{"want a mapping"}},
		{name: "YAML syntax", yaml: "http_addr: [\n",
			want: []string{"SECURECAM_CONFIG", "yaml"}},
		{name: "YAML list for a single value", yaml: "http_addr:\n  - \":1\"\n",
			want: []string{"http_addr: want a single value"}},
		{name: "YAML nested list item", yaml: "stun_urls:\n  - [stun:a]\n",
			want: []string{"stun_urls: list items must be plain values"}},
		{name: "YAML value error names the file line", yaml: "# line 1\nredis_url: memcached://x\n",
			want: []string{"SECURECAM_REDIS_URL (", ".yaml:2: redis_url)", "redis://"}},
		{name: "every problem is reported", env: map[string]string{"SECURECAM_LOG_LEVEL": "x", "SECURECAM_LOG_FORMAT": "y", "SECURECAM_TLS_KEY_FILE": "FILE"},
			want: []string{"SECURECAM_LOG_LEVEL", "SECURECAM_LOG_FORMAT", "TLS is half configured"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := make(map[string]string)
			for k, v := range tt.env {
				if v == "FILE" {
					v = writeFile(t, "f.pem", "pem")
				}
				env[k] = v
			}
			if tt.yaml != "" {
				env["SECURECAM_CONFIG"] = writeFile(t, "securecam.yaml", tt.yaml)
			}
			c, err := Load(envMap(env))
			if err == nil {
				t.Fatalf("Load succeeded with %+v, want an error", c)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestUnknownEnv(t *testing.T) {
	t.Parallel()
	got := unknownEnv([]string{
		"PATH=/usr/bin",
		"SECURECAM_HTTP_ADDR=:1",
		"SECURECAM_HTTP_ADR=:1",
		"SECURECAM_CONFIG=x.yaml",
		"SECURECAM_TEST_POSTGRES_URL=postgres://x",
		"SECURECAM_SIM_PASSWORD=secret",
		"SECURECAM_DATABSE_URL=postgres://x",
	})
	want := []string{"SECURECAM_DATABSE_URL", "SECURECAM_HTTP_ADR"}
	if !slices.Equal(got, want) {
		t.Errorf("unknownEnv = %q, want %q", got, want)
	}
}

func TestLoggerAndLogValue(t *testing.T) {
	t.Parallel()
	c, err := Load(envMap(map[string]string{
		"SECURECAM_LOG_FORMAT":           "json",
		"SECURECAM_LOG_LEVEL":            "warn",
		"SECURECAM_DATABASE_URL":         "postgres://hub:db-password@db/hub",
		"SECURECAM_REDIS_URL":            "redis://:redis-password@redis:6379",
		"SECURECAM_SMTP_URL":             "smtp://u:smtp-password@mail:587/?from=hub@example.com",
		"SECURECAM_TURN_ADDR":            "192.0.2.1:3478",
		"SECURECAM_TURN_SECRET":          "turn-secret-0123456789",
		"SECURECAM_BETTER_AUTH_SECRET":   "better-auth-secret-0123456789abcdef",
		"SECURECAM_S3_BUCKET":            "clips",
		"SECURECAM_S3_ACCESS_KEY_ID":     "AKIAEXAMPLE",
		"SECURECAM_S3_SECRET_ACCESS_KEY": "s3-secret-key",
	}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	var buf bytes.Buffer
	logger := newLogger(&buf, c)
	logger.Info("dropped: below the level")
	logger.Warn("configuration", "config", c)

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want exactly the warn line, got:\n%s", buf.String())
	}
	var rec struct {
		Msg    string         `json:"msg"`
		Config map[string]any `json:"config"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, lines[0])
	}
	if rec.Msg != "configuration" || rec.Config["database_url"] != "postgres://hub:xxxxx@db/hub" || rec.Config["turn"] != true ||
		rec.Config["better_auth"] != true {
		t.Errorf("unexpected record: %+v", rec)
	}
	if rec.Config["s3_bucket"] != "clips" || rec.Config["s3_static_credentials"] != true {
		t.Errorf("S3 in the log: %+v", rec.Config)
	}
	for _, secret := range []string{"db-password", "redis-password", "smtp-password", "turn-secret", "s3-secret-key", "AKIAEXAMPLE", "better-auth-secret"} {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("log contains %q:\n%s", secret, buf.String())
		}
	}

	c.LogFormat = "text"
	buf.Reset()
	newLogger(&buf, c).Warn("hello", "k", "v")
	if got := buf.String(); !strings.Contains(got, "level=WARN msg=hello k=v") {
		t.Errorf("text log line = %q", got)
	}
}

func assertConfig(t *testing.T, got, want Config) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("config mismatch\n got: %+v\nwant: %+v", got, want)
	}
}

// The example files load, and each mentions every key (set or commented out).
func TestExampleConfigs(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("../../configs/*.yaml")
	if err != nil || len(files) < 2 {
		t.Fatalf("example configs: %v %v", files, err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			if _, err := Load(envMap(map[string]string{"SECURECAM_CONFIG": path})); err != nil {
				t.Errorf("Load: %v", err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range settings {
				if !regexp.MustCompile(`(?m)^(# )?` + s.key + `:`).Match(data) {
					t.Errorf("%s does not show key %s", path, s.key)
				}
			}
		})
	}
}

func TestStorageReservePercentage(t *testing.T) {
	t.Parallel()
	c, err := Load(envMap(map[string]string{"SECURECAM_STORAGE_RESERVE_BYTES": " 2.5% "}))
	if err != nil {
		t.Fatal(err)
	}
	if c.StorageReservePercent != 2.5 || c.StorageReserveBytes != 0 {
		t.Errorf("reserve %d bytes, %v%%; want 2.5%%", c.StorageReserveBytes, c.StorageReservePercent)
	}
}
