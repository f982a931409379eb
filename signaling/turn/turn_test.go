package turn_test

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/transport/v5/test"
	pionturn "github.com/pion/turn/v5"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/securecam/securecam/signaling/client/media"
	"github.com/securecam/securecam/signaling/client/media/mediatest"
	"github.com/securecam/securecam/signaling/ice"
	"github.com/securecam/securecam/signaling/turn"
)

const (
	secret    = "turn-test-secret"
	waitLimit = 15 * time.Second
)

// startServer starts a TURN server on loopback with its own registry.
func startServer(t *testing.T, cfg turn.Config) (*turn.Server, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg.Addr, cfg.PublicIP, cfg.Secret, cfg.Registerer = "127.0.0.1:0", "127.0.0.1", secret, reg
	s, err := turn.New(cfg)
	if err != nil {
		t.Fatalf("turn.New: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, reg
}

// metric returns the value of a gauge or counter (with label value, if any).
func metric(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if label != "" && (len(m.GetLabel()) == 0 || m.GetLabel()[0].GetValue() != label) {
				continue
			}
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(waitLimit)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// relayConfig is a media config that uses only the TURN URL with the given
// transport, relay candidates only.
func relayConfig(t *testing.T, p *ice.Provider, device, transport string) media.Config {
	t.Helper()
	var servers []webrtc.ICEServer
	for _, s := range p.Servers(device).WebRTC() {
		for _, u := range s.URLs {
			if strings.HasSuffix(u, "?transport="+transport) {
				s.URLs = []string{u}
				servers = append(servers, s)
			}
		}
	}
	if len(servers) != 1 {
		t.Fatalf("no %s turn url in %+v", transport, p.Servers(device))
	}
	return media.Config{
		ICEServers:         servers,
		ICETransportPolicy: webrtc.ICETransportPolicyRelay,
		SettingEngine:      media.LoopbackSettingEngine(),
	}
}

func TestMediaThroughRelay(t *testing.T) {
	for _, transport := range []string{"udp", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			// Registered first, so it runs after the peers and the server closed.
			t.Cleanup(test.CheckRoutines(t))
			srv, reg := startServer(t, turn.Config{})
			provider, err := ice.New(ice.Config{TURNHost: "127.0.0.1", TURNPort: srv.Port(), Secret: secret})
			if err != nil {
				t.Fatal(err)
			}
			p := mediatest.Connect(t,
				media.CameraConfig{Config: relayConfig(t, provider, "camera-1", transport)},
				media.ViewerConfig{Config: relayConfig(t, provider, "viewer-1", transport)})

			select {
			case <-p.Viewer.FirstFrame():
			case <-time.After(waitLimit):
				t.Fatal("no frame through the relay")
			}
			s := p.Viewer.Stats()
			t.Logf("turn/%s: time to first packet %s, to first keyframe %s",
				transport, s.TimeToFirstPacket(), s.TimeToFirstFrame())

			for name, get := range map[string]func() (*webrtc.ICECandidatePair, error){
				"viewer": p.Viewer.SelectedCandidatePair, "camera": p.Camera.SelectedCandidatePair,
			} {
				pair, err := get()
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if pair.Local.Typ != webrtc.ICECandidateTypeRelay || pair.Remote.Typ != webrtc.ICECandidateTypeRelay {
					t.Errorf("%s selected %s, want relay on both ends", name, pair)
				}
			}
			if got := metric(t, reg, "securecam_turn_allocations_active", ""); got < 2 {
				t.Errorf("allocations_active = %v, want >= 2", got)
			}
			if got := metric(t, reg, "securecam_turn_allocations_total", ""); got < 2 {
				t.Errorf("allocations_total = %v, want >= 2", got)
			}
			if got := metric(t, reg, "securecam_turn_relayed_bytes_total", "to_peer"); got < float64(s.Bytes) {
				t.Errorf("relayed to_peer = %v bytes, the viewer got %d payload bytes", got, s.Bytes)
			}
		})
	}
}

// allocation is a pion TURN client's allocation.
type allocation struct {
	client *pionturn.Client
	relay  net.PacketConn
	close  func()
}

// allocate asks the server on 127.0.0.1 for a UDP relay with the credentials.
func allocate(t *testing.T, srv *turn.Server, user, pass string) (*allocation, error) {
	t.Helper()
	return allocateAt(t, "127.0.0.1", srv, user, pass)
}

// allocateAt asks the server listening on host for a UDP relay.
func allocateAt(t *testing.T, host string, srv *turn.Server, user, pass string) (*allocation, error) {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c, err := pionturn.NewClient(&pionturn.ClientConfig{
		TURNServerAddr: net.JoinHostPort(host, strconv.Itoa(srv.Port())),
		Username:       user,
		Password:       pass,
		Conn:           conn,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	closeAll := func() {
		c.Close()
		_ = conn.Close()
	}
	relay, err := c.Allocate()
	if err != nil {
		closeAll()
		return nil, err
	}
	a := &allocation{client: c, relay: relay, close: func() { _ = relay.Close(); closeAll() }}
	t.Cleanup(a.close)
	return a, nil
}

func turnCode(err error) int {
	var te *stun.TurnError
	if errors.As(err, &te) {
		return int(te.ErrorCodeAttr.Code)
	}
	return 0
}

func TestCredentials(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	srv, reg := startServer(t, turn.Config{Now: func() time.Time { return now }})
	valid := func(expiry time.Time) (string, string) { return ice.Credentials(secret, "dev-1", expiry) }

	tests := []struct {
		name   string
		creds  func() (string, string)
		code   int    // 0: allocated
		reason string // refused_total label that must grow
	}{
		{"valid", func() (string, string) { return valid(now.Add(time.Hour)) }, 0, ""},
		{"valid for one more second", func() (string, string) { return valid(now.Add(time.Second)) }, 0, ""},
		{"expired", func() (string, string) { return valid(now.Add(-time.Second)) }, 401, "expired"},
		{"expires now", func() (string, string) { return valid(now) }, 401, "expired"},
		{"wrong secret", func() (string, string) {
			return ice.Credentials("another-secret", "dev-1", now.Add(time.Hour))
		}, 401, "bad_credential"},
		{"credential of another username", func() (string, string) {
			user, _ := valid(now.Add(time.Hour))
			_, cred := ice.Credentials(secret, "dev-2", now.Add(time.Hour))
			return user, cred
		}, 401, "bad_credential"},
		{"malformed username", func() (string, string) { return "dev-1", ice.Credential(secret, "dev-1") }, 401, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := metric(t, reg, "securecam_turn_refused_total", tt.reason)
			user, pass := tt.creds()
			a, err := allocate(t, srv, user, pass)
			if tt.code == 0 {
				if err != nil {
					t.Fatalf("Allocate: %v", err)
				}
				if got := a.relay.LocalAddr().(*net.UDPAddr).IP.String(); got != "127.0.0.1" {
					t.Errorf("relay address %s, want the public ip", got)
				}
				return
			}
			if code := turnCode(err); code != tt.code {
				t.Fatalf("Allocate: %v (code %d), want code %d", err, code, tt.code)
			}
			if got := metric(t, reg, "securecam_turn_refused_total", tt.reason); got <= before {
				t.Errorf("refused_total{reason=%q} stayed at %v", tt.reason, got)
			}
		})
	}
}

func TestQuotaPerDevice(t *testing.T) {
	srv, reg := startServer(t, turn.Config{MaxAllocationsPerDevice: 2})
	expiry := time.Now().Add(time.Hour)
	userA, passA := ice.Credentials(secret, "device-a", expiry)
	userB, passB := ice.Credentials(secret, "device-b", expiry)

	first, err := allocate(t, srv, userA, passA)
	if err != nil {
		t.Fatalf("first allocation: %v", err)
	}
	if _, err := allocate(t, srv, userA, passA); err != nil {
		t.Fatalf("second allocation: %v", err)
	}
	if _, err := allocate(t, srv, userA, passA); turnCode(err) != int(stun.CodeAllocQuotaReached) {
		t.Fatalf("third allocation of device a: %v, want 486", err)
	}
	if got := metric(t, reg, "securecam_turn_refused_total", "quota"); got != 1 {
		t.Errorf("refused_total{quota} = %v, want 1", got)
	}
	if _, err := allocate(t, srv, userB, passB); err != nil {
		t.Fatalf("device b is not limited by device a: %v", err)
	}

	// Releasing an allocation gives its slot back.
	first.close()
	waitFor(t, "the allocation to be released", func() bool {
		return metric(t, reg, "securecam_turn_allocations_active", "") == 2
	})
	if _, err := allocate(t, srv, userA, passA); err != nil {
		t.Fatalf("allocation after a release: %v", err)
	}
	if got := metric(t, reg, "securecam_turn_allocations_total", ""); got != 4 {
		t.Errorf("allocations_total = %v, want 4", got)
	}
}

func TestCloseStopsEverything(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv, err := turn.New(turn.Config{Addr: "127.0.0.1:0", PublicIP: "127.0.0.1", Secret: secret, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	user, pass := ice.Credentials(secret, "dev-1", time.Now().Add(time.Hour))
	if _, err := allocate(t, srv, user, pass); err != nil {
		t.Fatal(err)
	}
	tcp, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(srv.Port())))
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	// Wait until the server has accepted the connection: a Binding request answered.
	req := stun.MustBuild(stun.TransactionID, stun.BindingRequest)
	if _, err := tcp.Write(req.Raw); err != nil {
		t.Fatal(err)
	}
	_ = tcp.SetReadDeadline(time.Now().Add(waitLimit))
	buf := make([]byte, 1500)
	if _, err := tcp.Read(buf); err != nil {
		t.Fatalf("binding over tcp: %v", err)
	}

	if err := srv.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if got := metric(t, reg, "securecam_turn_allocations_active", ""); got != 0 {
		t.Errorf("allocations_active after Close = %v", got)
	}
	if _, err := tcp.Read(buf); !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		t.Errorf("tcp connection after Close: read gave %v, want it closed", err)
	}
	if _, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(srv.Port()))); err == nil {
		t.Error("tcp listener still accepts after Close")
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

func TestRelayPortRange(t *testing.T) {
	// A range starting at a port that was free a moment ago.
	probe, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	low := probe.LocalAddr().(*net.UDPAddr).Port
	_ = probe.Close()
	high := min(low+19, 65535)
	srv, _ := startServer(t, turn.Config{RelayPortMin: low, RelayPortMax: high})
	now := time.Now()
	for i := range 3 {
		user, pass := ice.Credentials(secret, "device-"+strconv.Itoa(i), now.Add(time.Minute))
		a, err := allocate(t, srv, user, pass)
		if err != nil {
			t.Fatalf("allocate: %v", err)
		}
		if port := a.relay.LocalAddr().(*net.UDPAddr).Port; port < low || port > high {
			t.Errorf("relay port %d outside %d-%d", port, low, high)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	tests := []struct {
		name string
		cfg  turn.Config
	}{
		{"no secret", turn.Config{Addr: "127.0.0.1:0", PublicIP: "127.0.0.1"}},
		{"no public ip", turn.Config{Addr: "127.0.0.1:0", Secret: "s"}},
		{"public ip is a name", turn.Config{Addr: "127.0.0.1:0", PublicIP: "turn.example.org", Secret: "s"}},
		{"negative quota", turn.Config{Addr: "127.0.0.1:0", PublicIP: "127.0.0.1", Secret: "s", MaxAllocationsPerDevice: -1}},
		{"bad address", turn.Config{Addr: "127.0.0.1", PublicIP: "127.0.0.1", Secret: "s"}},
		{"relay ports reversed", turn.Config{Addr: "127.0.0.1:0", PublicIP: "127.0.0.1", Secret: "s", RelayPortMin: 50010, RelayPortMax: 50000}},
		{"relay port max only", turn.Config{Addr: "127.0.0.1:0", PublicIP: "127.0.0.1", Secret: "s", RelayPortMax: 50000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := turn.New(tt.cfg); err == nil {
				_ = s.Close()
				t.Fatal("New accepted it")
			}
		})
	}
	t.Run("metrics registered twice", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		cfg := turn.Config{Addr: "127.0.0.1:0", PublicIP: "127.0.0.1", Secret: "s", Registerer: reg}
		first, err := turn.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer first.Close()
		if s, err := turn.New(cfg); err == nil {
			_ = s.Close()
			t.Fatal("a second server registered the same metrics")
		}
	})
}

// TestPeerRules drives a pion TURN client against a server whose relay
// address is 127.0.0.3: permissions for the hub's network are refused with
// 403 and counted, an allowed peer and another relay of the server are
// reachable both ways, and packets to the relay address at a port no relay
// holds (the TURN port, another service) are dropped and counted.
func TestPeerRules(t *testing.T) {
	reg := prometheus.NewRegistry()
	srv, err := turn.New(turn.Config{Addr: "127.0.0.3:0", PublicIP: "127.0.0.3", Secret: secret, Registerer: reg,
		AllowPeers: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	expiry := time.Now().Add(time.Hour)
	user, pass := ice.Credentials(secret, "device-a", expiry)
	a, err := allocateAt(t, "127.0.0.3", srv, user, pass)
	if err != nil {
		t.Fatalf("allocate: %v", err)
	}

	t.Run("refused", func(t *testing.T) {
		for _, peer := range []string{"127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "100.64.0.1",
			"169.254.169.254", "0.0.0.0", "224.0.0.251", "255.255.255.255"} {
			before := metric(t, reg, "securecam_turn_refused_total", "peer_address")
			err := a.client.CreatePermission(&net.UDPAddr{IP: net.ParseIP(peer), Port: 9})
			if code := turnCode(err); code != int(stun.CodeForbidden) {
				t.Errorf("CreatePermission to %s: %v (code %d), want 403", peer, err, code)
			}
			if got := metric(t, reg, "securecam_turn_refused_total", "peer_address"); got != before+1 {
				t.Errorf("CreatePermission to %s: refused_total{peer_address} went from %v to %v, want +1", peer, before, got)
			}
		}
	})

	t.Run("allowed peer", func(t *testing.T) {
		peer := listenUDP(t, "127.0.0.2:0")
		exchange(t, a, peer)
	})

	t.Run("another relay of the server", func(t *testing.T) {
		user, pass := ice.Credentials(secret, "device-b", expiry)
		b, err := allocateAt(t, "127.0.0.3", srv, user, pass)
		if err != nil {
			t.Fatalf("allocate: %v", err)
		}
		if err := b.client.CreatePermission(a.relay.LocalAddr()); err != nil {
			t.Fatalf("permission of b for a: %v", err)
		}
		exchange(t, a, b.relay)
	})

	t.Run("relay address at a port no relay holds", func(t *testing.T) {
		service := listenUDP(t, "127.0.0.3:0")
		turnPort := &net.UDPAddr{IP: net.ParseIP("127.0.0.3"), Port: srv.Port()}
		for _, to := range []net.Addr{service.LocalAddr(), turnPort} {
			if err := a.client.CreatePermission(to); err != nil {
				t.Fatalf("permission for the relay address %s: %v", to, err)
			}
			before := metric(t, reg, "securecam_turn_refused_total", "peer_port")
			if _, err := a.relay.WriteTo([]byte("knock"), to); err != nil {
				t.Fatalf("write to %s: %v", to, err)
			}
			waitFor(t, "the packet to "+to.String()+" to be dropped", func() bool {
				return metric(t, reg, "securecam_turn_refused_total", "peer_port") > before
			})
		}
		// The drop is counted where the packet would have been sent: nothing arrived.
		_ = service.SetReadDeadline(time.Now())
		if n, from, err := service.ReadFrom(make([]byte, 64)); err == nil {
			t.Fatalf("the service got %d bytes from %s", n, from)
		}
	})
}

func listenUDP(t *testing.T, addr string) net.PacketConn {
	t.Helper()
	c, err := net.ListenPacket("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// exchange sends a datagram from a's relay to peer and one back, repeating
// each until it arrives (the first may race the permission).
func exchange(t *testing.T, a *allocation, peer net.PacketConn) {
	t.Helper()
	if err := a.client.CreatePermission(peer.LocalAddr()); err != nil {
		t.Fatalf("CreatePermission to %s: %v", peer.LocalAddr(), err)
	}
	deliver := func(from, to net.PacketConn, toAddr net.Addr, msg string) {
		t.Helper()
		buf := make([]byte, 64)
		deadline := time.Now().Add(waitLimit)
		for time.Now().Before(deadline) {
			if _, err := from.WriteTo([]byte(msg), toAddr); err != nil {
				t.Fatalf("write %q: %v", msg, err)
			}
			_ = to.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			n, _, err := to.ReadFrom(buf)
			if err == nil && string(buf[:n]) == msg {
				return
			}
		}
		t.Fatalf("%q never arrived at %s", msg, toAddr)
	}
	deliver(a.relay, peer, peer.LocalAddr(), "ping")
	deliver(peer, a.relay, a.relay.LocalAddr(), "pong")
}
