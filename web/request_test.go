package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestClientIP(t *testing.T) {
	t.Parallel()
	proxies, err := parseTrustedProxies([]string{"10.0.0.0/8", "192.0.2.7", " "})
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{creds: &credentials{trustedProxies: proxies}}
	tests := []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"direct", "203.0.113.5:1234", nil, "203.0.113.5"},
		{"direct ignores XFF", "203.0.113.5:1234", []string{"198.51.100.1"}, "203.0.113.5"},
		{"trusted proxy", "10.1.2.3:80", []string{"198.51.100.1"}, "198.51.100.1"},
		{"right-most untrusted hop", "10.1.2.3:80", []string{"6.6.6.6, 198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"several headers", "192.0.2.7:80", []string{"6.6.6.6", "198.51.100.1"}, "198.51.100.1"},
		{"all hops trusted", "10.1.2.3:80", []string{"10.0.0.1, 10.0.0.2"}, "10.0.0.1"},
		{"garbage stops the walk", "10.1.2.3:80", []string{"198.51.100.1, junk"}, "10.1.2.3"},
		{"no XFF from proxy", "10.1.2.3:80", nil, "10.1.2.3"},
		{"ipv6 and mapped", "[::ffff:10.0.0.1]:80", []string{"2001:db8::1"}, "2001:db8::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := s.clientIP(r); got != tt.want {
				t.Fatalf("clientIP = %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := parseTrustedProxies([]string{"not-a-cidr"}); err == nil {
		t.Fatal("bad CIDR accepted")
	}
}

func TestOriginAllowed(t *testing.T) {
	t.Parallel()
	proxies, err := parseTrustedProxies([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{creds: &credentials{allowedOrigins: map[string]bool{"https://app.example.com": true}, trustedProxies: proxies}}
	tests := []struct {
		name, host, origin, fetchSite string
		tls                           bool   // the request came over TLS
		remote, forwardedProto        string // the peer, and its X-Forwarded-Proto
		replaced                      bool   // the peer was a trusted proxy replaced by the client (/ws)
		want                          bool
	}{
		{name: "same host", host: "hub.local:8080", origin: "http://hub.local:8080", want: true},
		{name: "same host, other case", host: "Hub.Local:8080", origin: "http://hub.local:8080", want: true},
		{name: "allow-listed", host: "hub.local:8080", origin: "https://APP.example.com", want: true},
		{name: "foreign", host: "hub.local:8080", origin: "https://evil.example"},
		{name: "other port", host: "hub.local:8080", origin: "http://hub.local:9090"},
		{name: "other scheme", host: "hub.local", origin: "https://hub.local"},
		{name: "other scheme, same port", host: "hub.local:8080", origin: "https://hub.local:8080"},
		{name: "plain http origin of a TLS hub", host: "hub.local", origin: "http://hub.local", tls: true},
		{name: "TLS", host: "hub.local", origin: "https://hub.local", tls: true, want: true},
		{name: "default port written out", host: "hub.local", origin: "http://hub.local:80", want: true},
		{name: "default TLS port in Host", host: "hub.local:443", origin: "https://hub.local", tls: true, want: true},
		{name: "trusted proxy terminating TLS", host: "hub.local", origin: "https://hub.local",
			remote: "10.0.0.2:5000", forwardedProto: "https", want: true},
		{name: "trusted proxy's client on /ws", host: "hub.local", origin: "https://hub.local",
			remote: "203.0.113.9:5000", forwardedProto: "https", replaced: true, want: true},
		{name: "X-Forwarded-Proto from a stranger", host: "hub.local", origin: "https://hub.local",
			remote: "203.0.113.9:5000", forwardedProto: "https"},
		{name: "null", host: "hub.local:8080", origin: "null"},
		{name: "no origin, same-origin fetch", host: "hub.local:8080", fetchSite: "same-origin", want: true},
		{name: "no origin, cross-site fetch", host: "hub.local:8080", fetchSite: "cross-site"},
		{name: "no origin at all", host: "hub.local:8080"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			if tt.tls {
				r = httptest.NewRequest(http.MethodPost, "https://"+tt.host+"/", nil)
			}
			if tt.remote != "" {
				r.RemoteAddr = tt.remote
				r.Header.Set("X-Forwarded-Proto", tt.forwardedProto)
			}
			if tt.replaced {
				r = r.WithContext(context.WithValue(r.Context(), viaTrustedProxyKey{}, true))
			}
			r.Host = tt.host
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			if tt.fetchSite != "" {
				r.Header.Set("Sec-Fetch-Site", tt.fetchSite)
			}
			if got := s.originAllowed(r); got != tt.want {
				t.Fatalf("originAllowed = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestValidators(t *testing.T) {
	t.Parallel()
	emails := map[string]string{
		" Alice@Example.COM ":   "alice@example.com",
		"a+tag@sub.example.org": "a+tag@sub.example.org",
		"":                      "",
		"no-at":                 "",
		"Alice <a@example.com>": "",
		"a@localhost":           "",
		strings.Repeat("a", 250) + "@example.com": "",
	}
	for in, want := range emails {
		got, err := normalizeEmail(in)
		if (want == "") != (err != nil) || got != want {
			t.Errorf("normalizeEmail(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for pw, ok := range map[string]bool{
		"1234567":                false,
		"12345678":               true,
		"ééééééé":                false, // 7 characters, 14 bytes
		strings.Repeat("x", 128): true,
		strings.Repeat("x", 129): false,
	} {
		if err := checkPassword(pw); (err == nil) != ok {
			t.Errorf("checkPassword(%d runes) = %v, want ok=%v", len([]rune(pw)), err, ok)
		}
	}
	for name, want := range map[string]string{
		"  Kitchen  ":            "Kitchen",
		"":                       "",
		"   ":                    "",
		"bad\x00name":            "",
		strings.Repeat("n", 100): strings.Repeat("n", 100),
		strings.Repeat("n", 101): "",
	} {
		got, err := checkName("name", name)
		if (want == "") != (err != nil) || got != want {
			t.Errorf("checkName(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	if id, ok := parseID("0192F5E0-0000-7000-8000-000000000000"); !ok || id != "0192f5e0-0000-7000-8000-000000000000" {
		t.Errorf("parseID upper case = %q, %v", id, ok)
	}
	for _, bad := range []string{"", "x", "0192f5e000007000800000000000000000", "{0192f5e0-0000-7000-8000-000000000000}"} {
		if _, ok := parseID(bad); ok {
			t.Errorf("parseID(%q) accepted", bad)
		}
	}
}

func TestScopedTokens(t *testing.T) {
	t.Parallel()
	tok, err := newScopedToken("dev", "")
	if err != nil {
		t.Fatal(err)
	}
	ids, ok := splitScopedToken(tok, 2)
	if !ok || ids[0] != "dev" || ids[1] != "" {
		t.Fatalf("split %q = %v, %v", tok, ids, ok)
	}
	for _, bad := range []string{"", "a.b", "a.b.c.d", "a.b.", strings.Repeat("a", 600) + ".b.c"} {
		if _, ok := splitScopedToken(bad, 2); ok {
			t.Errorf("splitScopedToken(%q) accepted", bad)
		}
	}
	if a, b := hashToken("x"), hashToken("y"); a == b || len(a) != 64 {
		t.Fatalf("hashToken: %q %q", a, b)
	}
}
