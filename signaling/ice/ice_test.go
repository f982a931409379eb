package ice_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/securecam/securecam/signaling/ice"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) // 1767225600

func fixedClock() time.Time { return t0 }

func TestServers(t *testing.T) {
	const device = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
	tests := []struct {
		name string
		cfg  ice.Config
		want string // JSON
	}{
		{
			name: "zero config",
			cfg:  ice.Config{},
			want: `{"ice_servers":[],"ttl_seconds":3600}`,
		},
		{
			name: "stun only",
			cfg:  ice.Config{STUNURLs: []string{"stun:stun.example.org:3478", "stun:127.0.0.1:19302"}},
			want: `{"ice_servers":[{"urls":["stun:stun.example.org:3478","stun:127.0.0.1:19302"]}],"ttl_seconds":3600}`,
		},
		{
			name: "turn with default port and ttl",
			cfg:  ice.Config{TURNHost: "203.0.113.7", Secret: "s3cret", Now: fixedClock},
			want: `{"ice_servers":[{"urls":["turn:203.0.113.7:3478?transport=udp","turn:203.0.113.7:3478?transport=tcp"],` +
				`"username":"1767229200:` + device + `","credential":"1PsdlXYuU01i/PBjDUc3o8TbDkg="}],"ttl_seconds":3600}`,
		},
		{
			name: "stun and turn, custom port and ttl, ipv6 host",
			cfg: ice.Config{
				STUNURLs: []string{"stun:stun.example.org"},
				TURNHost: "2001:db8::1", TURNPort: 5349, Secret: "s3cret", TTL: 10 * time.Minute, Now: fixedClock,
			},
			want: `{"ice_servers":[{"urls":["stun:stun.example.org"]},` +
				`{"urls":["turn:[2001:db8::1]:5349?transport=udp","turn:[2001:db8::1]:5349?transport=tcp"],` +
				`"username":"1767226200:` + device + `","credential":"` + ice.Credential("s3cret", "1767226200:"+device) + `"}],"ttl_seconds":600}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ice.New(tt.cfg)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			got, err := json.Marshal(p.Servers(device))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("Servers:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name string
		cfg  ice.Config
	}{
		{"turn without secret", ice.Config{TURNHost: "203.0.113.7"}},
		{"port out of range", ice.Config{TURNHost: "203.0.113.7", Secret: "x", TURNPort: 70000}},
		{"ttl under a second", ice.Config{TTL: time.Millisecond}},
		{"negative ttl", ice.Config{TTL: -time.Hour}},
		{"stun url with turn scheme", ice.Config{STUNURLs: []string{"turn:example.org"}}},
		{"stun url garbage", ice.Config{STUNURLs: []string{"http://example.org"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ice.New(tt.cfg); err == nil {
				t.Fatal("New accepted an invalid config")
			}
		})
	}
}

func TestCredentialKnownVector(t *testing.T) {
	// printf '%s' "1767225660:cam" | openssl dgst -sha1 -hmac "other" -binary | base64
	if got := ice.Credential("other", "1767225660:cam"); got != "1HqpY1V3I7Rb/7DPUTsOplQwDM8=" {
		t.Fatalf("Credential = %q", got)
	}
}

func TestParseUsername(t *testing.T) {
	tests := []struct {
		name     string
		username string
		expiry   time.Time
		device   string
		err      error
	}{
		{"valid", "1767229200:dev-1", t0.Add(time.Hour), "dev-1", nil},
		{"device id with colon keeps the rest", "1767229200:a:b", t0.Add(time.Hour), "a:b", nil},
		{"no colon", "1767229200", time.Time{}, "", ice.ErrBadUsername},
		{"empty device", "1767229200:", time.Time{}, "", ice.ErrBadUsername},
		{"not a number", "soon:dev-1", time.Time{}, "", ice.ErrBadUsername},
		{"negative", "-5:dev-1", time.Time{}, "", ice.ErrBadUsername},
		{"empty", "", time.Time{}, "", ice.ErrBadUsername},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expiry, device, err := ice.ParseUsername(tt.username)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if !expiry.Equal(tt.expiry) || device != tt.device {
				t.Fatalf("got (%s, %q), want (%s, %q)", expiry, device, tt.expiry, tt.device)
			}
		})
	}
}

func TestCredentialsRoundTrip(t *testing.T) {
	user, cred := ice.Credentials("k", "dev-9", t0)
	expiry, device, err := ice.ParseUsername(user)
	if err != nil || !expiry.Equal(t0) || device != "dev-9" {
		t.Fatalf("ParseUsername(%q) = %s, %q, %v", user, expiry, device, err)
	}
	if cred != ice.Credential("k", user) {
		t.Fatal("credential does not match its username")
	}
}

func TestWebRTC(t *testing.T) {
	l := ice.List{ICEServers: []ice.Server{
		{URLs: []string{"stun:a"}},
		{URLs: []string{"turn:b?transport=udp"}, Username: "u", Credential: "c"},
	}}
	w := l.WebRTC()
	if len(w) != 2 || w[0].URLs[0] != "stun:a" || w[1].Username != "u" || w[1].Credential != "c" {
		t.Fatalf("WebRTC() = %+v", w)
	}
}

func FuzzParseUsername(f *testing.F) {
	for _, s := range []string{"1767229200:dev-1", "1:a:b", "", ":", "x:y", "-1:d", "99999999999999999999:d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, username string) {
		expiry, device, err := ice.ParseUsername(username)
		if err != nil {
			return
		}
		// What parses formats back to a username that parses the same.
		again, cred := ice.Credentials("k", device, expiry)
		expiry2, device2, err := ice.ParseUsername(again)
		if err != nil || !expiry2.Equal(expiry) || device2 != device || cred != ice.Credential("k", again) {
			t.Fatalf("%q → (%s, %q) → %q → (%s, %q, %v)", username, expiry, device, again, expiry2, device2, err)
		}
	})
}
