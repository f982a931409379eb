// Package turn runs the hub's embedded TURN server (pion/turn) for viewers and
// cameras that cannot reach each other directly (CGNAT, symmetric NATs,
// networks that only let TCP out).
//
// It listens on one port over UDP and TCP (clients reach it with the URLs of
// signaling/ice: turn:<public ip>:<port>?transport=udp|tcp) and relays UDP:
// TCP relay allocations (RFC 6062) are refused, WebRTC does not use them.
// Clients authenticate with the short-lived credentials signaling/ice hands
// out: the username "<expiry>:<device id>" must not have expired (for every
// request, so a relayed session outliving its credentials needs an ICE
// restart with fresh ones; ttl_seconds tells clients when), and the
// credential must be the HMAC of the username under the shared secret.
//
// Quotas: each device (the id in the username) holds at most
// MaxAllocationsPerDevice allocations at once. The check is pion's
// QuotaHandler (answering 486 Allocation Quota Reached); the count is kept
// exact by the relay address generator, which takes a slot when it opens a
// relay socket (refusing, with 508, when a concurrent request took the last
// one) and gives it back when pion closes the socket (allocation deleted,
// expired, or server closed).
//
// Peers: relays send only to the internet. CreatePermission and ChannelBind
// (and so every relayed packet) are refused, with 403, for peers at loopback,
// unspecified, link-local, private (RFC 1918, RFC 6598, ULA), multicast and
// reserved addresses and at the host's own interface addresses, unless
// Config.AllowPeers names them (a LAN camera an operator wants reachable). The
// relay address itself is allowed, because two clients of this server meet
// relay to relay there, but only packets to the ports of open relays leave for
// it. Config.MediaPorts (the hub's media relay) are the one exception at the
// host's own addresses: permissions for them are granted and packets to those
// ports only are let through. Refusals are counted in
// securecam_turn_refused_total (reasons peer_address and peer_port).
//
// Concurrency: a Server is safe for concurrent use. pion runs one goroutine
// per listener, per TCP connection and per allocation; Close closes every
// socket the server opened, after which those goroutines return.
package turn

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/pion/turn/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/securecam/securecam/signaling/ice"
	"github.com/securecam/securecam/signaling/internal/pionlog"
)

// Defaults of Config.
const (
	DefaultAddr                    = ":3478"
	DefaultRealm                   = "securecam"
	DefaultMaxAllocationsPerDevice = 10
)

// Errors returned to pion when it asks for a relay (pion answers the client
// with 508 Insufficient Capacity).
var (
	errQuota         = errors.New("turn: allocation quota reached")
	errTCPRelay      = errors.New("turn: tcp relay allocations are not supported")
	errServerClosed  = errors.New("turn: server closed")
	errAddressFamily = errors.New("turn: relay address family not served")
)

// Config configures a Server.
type Config struct {
	// Addr is where to listen, UDP and TCP on the same port. Default
	// DefaultAddr; with port 0 a free port is picked (the same for both).
	Addr string
	// PublicIP is the address peers reach relays at (required). It also
	// picks the address family served.
	PublicIP string
	// Realm defaults to DefaultRealm.
	Realm string
	// Secret is the TURN REST shared secret, the same as signaling/ice's
	// (required).
	Secret string
	// RelayPortMin and RelayPortMax bound the UDP ports of relay sockets
	// (inclusive), so that a server behind NAT can have them forwarded. Both
	// zero: any free port.
	RelayPortMin, RelayPortMax int
	// MaxAllocationsPerDevice caps concurrent allocations per device id.
	// Default DefaultMaxAllocationsPerDevice. A WebRTC peer makes one per TURN
	// URL (two with the UDP and TCP URLs), and more during an ICE restart.
	MaxAllocationsPerDevice int
	// AllowPeers are networks relays may send to although the peer rules
	// refuse them (a private LAN range, say). The host's own addresses stay
	// refused.
	AllowPeers []netip.Prefix
	// MediaPorts are the UDP ports of the hub's own media sockets (the relay's
	// ICE UDP mux): relays may send to them at the host's own addresses and the
	// relay address, so that a viewer or camera that can only use TURN reaches
	// the hub's media relay. Nothing else at the host's addresses is reachable.
	MediaPorts []int
	// Now is the clock checking credential expiry; default time.Now.
	Now func() time.Time
	// Registerer receives the server's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Logger receives the server's and pion's logs; nil discards them.
	Logger *slog.Logger
}

// Server is a running TURN server.
type Server struct {
	srv     *turn.Server
	port    int
	tcp     *trackingListener
	relays  *relays
	metrics *metrics
	secret  string
	realm   string
	now     func() time.Time

	closeOnce sync.Once
	closeErr  error
}

// New listens and starts serving.
func New(cfg Config) (*Server, error) {
	if cfg.Secret == "" {
		return nil, errors.New("turn: no secret")
	}
	publicIP := net.ParseIP(cfg.PublicIP)
	if publicIP == nil {
		return nil, fmt.Errorf("turn: public ip %q is not an ip address", cfg.PublicIP)
	}
	s := &Server{secret: cfg.Secret, realm: cfg.Realm, now: cfg.Now}
	if s.realm == "" {
		s.realm = DefaultRealm
	}
	if s.now == nil {
		s.now = time.Now
	}
	maxPerDevice := cfg.MaxAllocationsPerDevice
	if maxPerDevice == 0 {
		maxPerDevice = DefaultMaxAllocationsPerDevice
	}
	if maxPerDevice < 0 {
		return nil, fmt.Errorf("turn: max allocations per device %d is negative", maxPerDevice)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "turn")

	relayIP, _ := netip.AddrFromSlice(publicIP)
	peers, err := newPeerPolicy(relayIP, cfg.AllowPeers)
	if err != nil {
		return nil, err
	}
	media := map[int]bool{}
	for _, p := range cfg.MediaPorts {
		if p < 1 || p > 65535 {
			return nil, fmt.Errorf("turn: media port %d out of range", p)
		}
		media[p] = true
	}
	peers.media = len(media) > 0
	s.metrics = newMetrics()
	s.relays = &relays{max: maxPerDevice, perDevice: map[string]int{}, conns: map[*relayConn]struct{}{},
		ports: map[int]int{}, relayIP: peers.relayIP, own: peers.own, media: media, metrics: s.metrics}
	permit := func(client net.Addr, peer net.IP) bool {
		ip, _ := netip.AddrFromSlice(peer)
		if peers.allowed(ip) {
			return true
		}
		s.metrics.refused.WithLabelValues("peer_address").Inc()
		log.Debug("peer refused", "client", client.String(), "peer", ip.String())
		return false
	}

	addr := cfg.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	family, unspecified := "4", "0.0.0.0"
	if publicIP.To4() == nil {
		family, unspecified = "6", "::"
	}
	udp, tcp, err := listen(addr, family)
	if err != nil {
		return nil, err
	}
	s.port = udp.LocalAddr().(*net.UDPAddr).Port
	s.tcp = &trackingListener{Listener: tcp, conns: map[*trackedConn]struct{}{}}

	bindHost, _, _ := net.SplitHostPort(addr)
	if bindHost == "" {
		bindHost = unspecified
	}
	gen := &relayGenerator{
		ports:  &turn.RelayAddressGeneratorStatic{RelayAddress: publicIP, Address: bindHost},
		relays: s.relays,
		family: family,
	}
	if cfg.RelayPortMin != 0 || cfg.RelayPortMax != 0 {
		if cfg.RelayPortMin < 1 || cfg.RelayPortMax > 65535 || cfg.RelayPortMin > cfg.RelayPortMax {
			_ = udp.Close()
			_ = tcp.Close()
			return nil, fmt.Errorf("turn: relay ports %d-%d: want 1 <= min <= max <= 65535", cfg.RelayPortMin, cfg.RelayPortMax)
		}
		gen.ports = &turn.RelayAddressGeneratorPortRange{RelayAddress: publicIP, Address: bindHost,
			MinPort: uint16(cfg.RelayPortMin), MaxPort: uint16(cfg.RelayPortMax)}
	}
	s.srv, err = turn.NewServer(turn.ServerConfig{
		Realm:        s.realm,
		AuthHandler:  s.authenticate,
		QuotaHandler: s.quotaOK,
		EventHandler: turn.EventHandler{
			OnAuth: func(_, _ net.Addr, _, _, _, _ string, verdict bool) {
				if !verdict {
					s.metrics.refused.WithLabelValues("bad_credential").Inc()
				}
			},
		},
		LoggerFactory:     pionlog.Factory{Logger: log},
		PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: udp, RelayAddressGenerator: gen, PermissionHandler: permit}},
		ListenerConfigs:   []turn.ListenerConfig{{Listener: s.tcp, RelayAddressGenerator: gen, PermissionHandler: permit}},
	})
	if err != nil {
		_ = udp.Close()
		_ = tcp.Close()
		return nil, fmt.Errorf("turn: start: %w", err)
	}
	if err := s.metrics.register(cfg.Registerer); err != nil {
		_ = s.Close()
		return nil, err
	}
	log.Info("turn server listening", "addr", udp.LocalAddr().String(), "public_ip", publicIP.String(), "realm", s.realm)
	return s, nil
}

// listen opens UDP and TCP on the same port; when addr asks for any port it
// retries a few times if the UDP port happens to be taken over TCP.
func listen(addr, family string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("turn: listen address %q: %w", addr, err)
	}
	tries := 1
	if port == "0" {
		tries = 10
	}
	for i := 0; ; i++ {
		udp, err := net.ListenPacket("udp"+family, addr)
		if err != nil {
			return nil, nil, fmt.Errorf("turn: listen udp: %w", err)
		}
		got := strconv.Itoa(udp.LocalAddr().(*net.UDPAddr).Port)
		tcp, err := net.Listen("tcp"+family, net.JoinHostPort(host, got))
		if err == nil {
			return udp, tcp, nil
		}
		_ = udp.Close()
		if i+1 == tries {
			return nil, nil, fmt.Errorf("turn: listen tcp: %w", err)
		}
	}
}

// Port is the port the server listens on, over UDP and TCP.
func (s *Server) Port() int { return s.port }

// Close stops the server: listeners, TCP connections and relays.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		err := s.srv.Close()
		s.tcp.closeConns()
		s.relays.closeAll()
		if err != nil {
			s.closeErr = fmt.Errorf("turn: close: %w", err)
		}
	})
	return s.closeErr
}

// authenticate is pion's AuthHandler: it returns the device id as the user
// and the key derived from the expected credential; pion then checks the
// request's MESSAGE-INTEGRITY with it (a wrong credential fails there).
func (s *Server) authenticate(ra *turn.RequestAttributes) (userID string, key []byte, ok bool) {
	expiry, device, err := ice.ParseUsername(ra.Username)
	switch {
	case err != nil:
		s.metrics.refused.WithLabelValues("malformed").Inc()
		return "", nil, false
	case !s.now().Before(expiry):
		s.metrics.refused.WithLabelValues("expired").Inc()
		return "", nil, false
	case ra.Realm != s.realm:
		s.metrics.refused.WithLabelValues("bad_credential").Inc()
		return "", nil, false
	}
	return device, turn.GenerateAuthKey(ra.Username, ra.Realm, ice.Credential(s.secret, ra.Username)), true
}

// quotaOK is pion's QuotaHandler, asked before an allocation is made.
func (s *Server) quotaOK(userID, _ string, _ net.Addr) bool {
	if s.relays.full(userID) {
		s.metrics.refused.WithLabelValues("quota").Inc()
		return false
	}
	return true
}

// relayGenerator opens relay sockets for pion (with ports, which picks their
// ports), counted per device.
type relayGenerator struct {
	ports  turn.RelayAddressGenerator
	relays *relays
	family string
}

func (g *relayGenerator) Validate() error {
	if err := g.ports.Validate(); err != nil {
		return fmt.Errorf("turn: relay generator: %w", err)
	}
	return nil
}

func (g *relayGenerator) AllocatePacketConn(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	if conf.Network != "udp"+g.family {
		return nil, nil, errAddressFamily
	}
	if err := g.relays.acquire(conf.UserID); err != nil {
		return nil, nil, err
	}
	conn, addr, err := g.ports.AllocatePacketConn(conf)
	if err != nil {
		g.relays.release(conf.UserID)
		return nil, nil, fmt.Errorf("turn: open relay: %w", err)
	}
	return g.relays.track(conn, conf.UserID), addr, nil
}

func (g *relayGenerator) AllocateListener(turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, errTCPRelay
}

func (g *relayGenerator) AllocateConn(turn.AllocateConnConfig) (net.Conn, error) {
	return nil, errTCPRelay
}

// relays counts relay sockets per device and keeps them for Close, and knows
// their ports, the only ones at the relay address that relays may send to.
type relays struct {
	max     int
	relayIP netip.Addr
	own     map[netip.Addr]bool // the host's addresses: only media ports there
	media   map[int]bool        // Config.MediaPorts
	metrics *metrics

	mu        sync.Mutex
	closed    bool
	perDevice map[string]int
	conns     map[*relayConn]struct{}
	ports     map[int]int // open relay sockets by port (several with a port range on several IPs)
}

// reachable reports whether a relay may send to addr: anything the
// permissions let through, except the relay address at a port no relay holds.
func (r *relays) reachable(addr net.Addr) bool {
	ua, ok := addr.(*net.UDPAddr)
	if !ok {
		return false
	}
	ip, _ := netip.AddrFromSlice(ua.IP)
	ip = ip.Unmap()
	switch {
	case r.media[ua.Port] && (ip == r.relayIP || r.own[ip]):
		return true // the hub's media relay
	case ip != r.relayIP && r.own[ip]:
		return false // permitted only for the media ports
	case ip != r.relayIP:
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ports[ua.Port] > 0
}

func (r *relays) full(device string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.perDevice[device] >= r.max
}

func (r *relays) acquire(device string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errServerClosed
	}
	if r.perDevice[device] >= r.max {
		r.metrics.refused.WithLabelValues("quota").Inc()
		return errQuota
	}
	r.perDevice[device]++
	return nil
}

func (r *relays) release(device string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.perDevice[device]--; r.perDevice[device] <= 0 {
		delete(r.perDevice, device)
	}
}

func (r *relays) track(conn net.PacketConn, device string) *relayConn {
	c := &relayConn{PacketConn: conn, device: device, relays: r}
	if ua, ok := conn.LocalAddr().(*net.UDPAddr); ok {
		c.port = ua.Port
	}
	r.mu.Lock()
	r.conns[c] = struct{}{}
	r.ports[c.port]++
	r.mu.Unlock()
	r.metrics.active.Inc()
	r.metrics.total.Inc()
	return c
}

func (r *relays) untrack(c *relayConn) {
	r.mu.Lock()
	delete(r.conns, c)
	if r.ports[c.port]--; r.ports[c.port] <= 0 {
		delete(r.ports, c.port)
	}
	r.mu.Unlock()
	r.release(c.device)
	r.metrics.active.Dec()
}

func (r *relays) closeAll() {
	r.mu.Lock()
	r.closed = true
	conns := make([]*relayConn, 0, len(r.conns))
	for c := range r.conns {
		conns = append(conns, c)
	}
	r.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// relayConn is a relay socket that counts the bytes it relays, drops packets
// to the relay address at ports no relay holds, and gives its quota slot back
// when closed.
type relayConn struct {
	net.PacketConn
	device string
	port   int
	relays *relays
	once   sync.Once
}

func (c *relayConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(b)
	if n > 0 {
		c.relays.metrics.fromPeer.Add(float64(n))
	}
	return n, addr, err
}

func (c *relayConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if !c.relays.reachable(addr) {
		// Dropped as the network could have: pion logs write errors per packet.
		c.relays.metrics.refused.WithLabelValues("peer_port").Inc()
		return len(b), nil
	}
	n, err := c.PacketConn.WriteTo(b, addr)
	if n > 0 {
		c.relays.metrics.toPeer.Add(float64(n))
	}
	return n, err
}

func (c *relayConn) Close() error {
	err := c.PacketConn.Close()
	c.once.Do(func() { c.relays.untrack(c) })
	return err
}

// trackingListener keeps the TCP connections it accepted, which pion does
// not close when the server closes.
type trackingListener struct {
	net.Listener

	mu     sync.Mutex
	closed bool
	conns  map[*trackedConn]struct{}
}

func (l *trackingListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		_ = conn.Close()
		return nil, net.ErrClosed
	}
	c := &trackedConn{Conn: conn, l: l}
	l.conns[c] = struct{}{}
	return c, nil
}

func (l *trackingListener) closeConns() {
	l.mu.Lock()
	l.closed = true
	conns := make([]*trackedConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

type trackedConn struct {
	net.Conn
	l    *trackingListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// metrics of the TURN server.
type metrics struct {
	active   prometheus.Gauge
	total    prometheus.Counter
	relayed  *prometheus.CounterVec
	toPeer   prometheus.Counter
	fromPeer prometheus.Counter
	refused  *prometheus.CounterVec
}

func newMetrics() *metrics {
	relayed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "securecam_turn_relayed_bytes_total",
		Help: "Bytes relayed by TURN allocations: to_peer (sent from relays), from_peer (received on relays).",
	}, []string{"direction"})
	m := &metrics{
		active: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "securecam_turn_allocations_active",
			Help: "TURN allocations open now.",
		}),
		total: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "securecam_turn_allocations_total",
			Help: "TURN allocations made.",
		}),
		relayed:  relayed,
		toPeer:   relayed.WithLabelValues("to_peer"),
		fromPeer: relayed.WithLabelValues("from_peer"),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "securecam_turn_refused_total",
			Help: "TURN requests refused, by reason: malformed, expired, bad_credential, quota, " +
				"peer_address (a permission for a forbidden peer), peer_port (a packet to the relay address at a port no relay holds).",
		}, []string{"reason"}),
	}
	return m
}

func (m *metrics) register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{m.active, m.total, m.relayed, m.refused} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("turn: register metrics: %w", err)
		}
	}
	return nil
}
