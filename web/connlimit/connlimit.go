// Package connlimit caps the connections an HTTP server holds open, per
// client network (an IPv4 address, an IPv6 /64) and in total, so that one
// client, or a crowd, cannot take every file descriptor of the process and
// with them /healthz, /readyz and everyone else's sockets.
//
// [Limiter.Listen] wraps the server's listener and counts every accepted
// connection until it is closed: plain requests, keep-alive connections and
// WebSockets (a hijacked connection keeps its count while it lives). A
// connection that arrives over a cap is still accepted while the overflow
// allowance has room, so that it can be answered, 429 over the per-client cap
// and 503 over the total, with Retry-After, and can serve health checks: it
// carries a [Verdict] (read with [VerdictOf] from the request context, which
// [Limiter.ConnContext] fills), its reads end OverflowTimeout after it was
// accepted whatever deadlines the server sets, and the handler closes it after
// one answer. Beyond the allowance (Reserve connections over the total cap,
// ClientOverflow over a client's cap) a connection is closed as soon as it is
// accepted, so the process never holds more than MaxConns+Reserve of them.
//
// Connections from Exempt networks (trusted reverse proxies, which carry many
// clients) count towards the total only.
//
// Concurrency: a Limiter is safe for concurrent use. Accept runs in the
// server's accept loop; a connection's Close may run on any goroutine.
package connlimit

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Config.
const (
	DefaultReserve         = 32
	DefaultClientOverflow  = 4
	DefaultOverflowTimeout = 5 * time.Second
)

// Verdict is how a connection was admitted.
type Verdict int

const (
	// Admitted is a connection within every cap.
	Admitted Verdict = iota
	// OverClientCap is a connection of a client that already held its cap:
	// answer 429 (health checks excepted) and close it.
	OverClientCap
	// OverTotalCap is a connection over the total cap, in the reserve: answer
	// 503 (health checks excepted) and close it.
	OverTotalCap
)

// Config sets the caps. The zero value caps nothing.
type Config struct {
	// MaxConns caps open connections in total; 0 means no cap.
	MaxConns int
	// MaxConnsPerClient caps the open connections of one client network;
	// 0 means no cap.
	MaxConnsPerClient int
	// Reserve is how many connections beyond MaxConns are accepted to be
	// answered (and to serve health checks). Default DefaultReserve.
	Reserve int
	// ClientOverflow is how many connections beyond its cap one client may
	// hold to be answered. Default DefaultClientOverflow.
	ClientOverflow int
	// OverflowTimeout bounds the life of a connection accepted over a cap:
	// its reads fail after it. Default DefaultOverflowTimeout.
	OverflowTimeout time.Duration
	// Exempt are networks not capped per client (trusted proxies).
	Exempt []netip.Prefix
	// Registerer receives the metrics; nil registers nothing.
	Registerer prometheus.Registerer
}

// Limiter counts connections. Create it with [New].
type Limiter struct {
	maxTotal, maxClient     int
	reserve, clientOverflow int
	overflowTimeout         time.Duration
	exempt                  []netip.Prefix
	open                    prometheus.Gauge
	refused                 *prometheus.CounterVec

	mu        sync.Mutex
	total     int
	perClient map[netip.Prefix]int
}

// New validates cfg and registers the metrics.
func New(cfg Config) (*Limiter, error) {
	if cfg.MaxConns < 0 || cfg.MaxConnsPerClient < 0 || cfg.Reserve < 0 || cfg.ClientOverflow < 0 || cfg.OverflowTimeout < 0 {
		return nil, errors.New("connlimit: negative limit")
	}
	l := &Limiter{
		maxTotal:        cfg.MaxConns,
		maxClient:       cfg.MaxConnsPerClient,
		reserve:         orDefault(cfg.Reserve, DefaultReserve),
		clientOverflow:  orDefault(cfg.ClientOverflow, DefaultClientOverflow),
		overflowTimeout: orDefault(cfg.OverflowTimeout, DefaultOverflowTimeout),
		perClient:       map[netip.Prefix]int{},
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "securecam", Subsystem: "http", Name: "connections_open",
			Help: "HTTP connections open now, WebSockets included.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "securecam", Subsystem: "http", Name: "connections_refused_total",
			Help: "Connections over a cap, by reason: client_cap (answered 429), total_cap (answered 503), " +
				"overflow (closed unanswered, beyond the allowance).",
		}, []string{"reason"}),
	}
	for _, p := range cfg.Exempt {
		l.exempt = append(l.exempt, p.Masked())
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{l.open, l.refused} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("connlimit: register metrics: %w", err)
			}
		}
	}
	return l, nil
}

func orDefault[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Network is what a client is counted by: its address for IPv4, its /64 for
// IPv6 (one subscriber commonly holds a whole /64).
func Network(ip netip.Addr) netip.Prefix {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p
	}
	return netip.PrefixFrom(ip, ip.BitLen())
}

// Listen wraps ln: its Accept counts connections and closes those beyond
// the allowance.
func (l *Limiter) Listen(ln net.Listener) net.Listener { return &listener{Listener: ln, l: l} }

// ConnContext is for http.Server.ConnContext: it puts the connection's
// verdict in the context of its requests.
func (l *Limiter) ConnContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if lc, ok := c.(*conn); ok && lc.verdict != Admitted {
		return context.WithValue(ctx, verdictKey{}, lc.verdict)
	}
	return ctx
}

type verdictKey struct{}

// VerdictOf returns the verdict of the connection a request came on
// (Admitted when the server does not use a Limiter).
func VerdictOf(ctx context.Context) Verdict {
	v, _ := ctx.Value(verdictKey{}).(Verdict)
	return v
}

// admit counts c and returns its verdict; ok is false when c must be closed.
func (l *Limiter) admit(remote net.Addr) (key netip.Prefix, v Verdict, ok bool) {
	capped := false
	if ta, isTCP := remote.(*net.TCPAddr); isTCP {
		ip := ta.AddrPort().Addr().Unmap()
		key = Network(ip)
		capped = l.maxClient > 0 && !l.exempted(ip)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.perClient[key]
	switch {
	case l.maxTotal > 0 && l.total >= l.maxTotal+l.reserve,
		capped && n >= l.maxClient+l.clientOverflow:
		l.refused.WithLabelValues("overflow").Inc()
		return key, 0, false
	case l.maxTotal > 0 && l.total >= l.maxTotal:
		l.refused.WithLabelValues("total_cap").Inc()
		v = OverTotalCap
	case capped && n >= l.maxClient:
		l.refused.WithLabelValues("client_cap").Inc()
		v = OverClientCap
	}
	l.total++
	l.perClient[key] = n + 1
	l.open.Inc()
	return key, v, true
}

func (l *Limiter) release(key netip.Prefix) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.perClient[key]--; l.perClient[key] <= 0 {
		delete(l.perClient, key)
	}
	l.open.Dec()
}

func (l *Limiter) exempted(ip netip.Addr) bool {
	for _, p := range l.exempt {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

type listener struct {
	net.Listener
	l *Limiter
}

// Accept returns the next connection within the allowance, closing those
// beyond it.
func (ln *listener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key, v, ok := ln.l.admit(c.RemoteAddr())
		if !ok {
			_ = c.Close()
			continue
		}
		lc := &conn{Conn: c, l: ln.l, key: key, verdict: v}
		if v != Admitted {
			lc.end = time.Now().Add(ln.l.overflowTimeout)
			if err := c.SetReadDeadline(lc.end); err != nil {
				_ = lc.Close()
				continue
			}
		}
		return lc, nil
	}
}

// conn is a counted connection. Over a cap, its read deadlines never pass end.
type conn struct {
	net.Conn
	l       *Limiter
	key     netip.Prefix
	verdict Verdict
	end     time.Time
	once    sync.Once
}

func (c *conn) Close() error {
	c.once.Do(func() { c.l.release(c.key) })
	return c.Conn.Close()
}

func (c *conn) clamp(t time.Time) time.Time {
	if c.verdict != Admitted && (t.IsZero() || t.After(c.end)) {
		return c.end
	}
	return t
}

func (c *conn) SetReadDeadline(t time.Time) error { return c.Conn.SetReadDeadline(c.clamp(t)) }

func (c *conn) SetDeadline(t time.Time) error {
	if c.verdict == Admitted {
		return c.Conn.SetDeadline(t)
	}
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetReadDeadline(c.clamp(t))
}

// SyscallConn keeps the descriptor reachable: the hub parks an idle socket's reader on
// it (hub/idle.go).
func (c *conn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("connlimit: the connection has no descriptor")
	}
	return sc.SyscallConn()
}

// ReadFrom keeps net/http's sendfile path (files served with io.Copy).
func (c *conn) ReadFrom(r io.Reader) (int64, error) { return io.Copy(c.Conn, r) }

// CloseWrite keeps net/http's graceful close of HTTP/1 connections.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
