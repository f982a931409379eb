package connlimit_test

import (
	"context"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/securecam/securecam/web/connlimit"
)

func TestNetwork(t *testing.T) {
	tests := map[string]string{
		"192.0.2.7":               "192.0.2.7/32",
		"::ffff:192.0.2.7":        "192.0.2.7/32",
		"2001:db8:1:2:3:4:5:6":    "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1":    "2001:db8:1:2::/64",
		"2001:db8:1:3::1":         "2001:db8:1:3::/64",
		"fe80::1":                 "fe80::/64",
		"::1":                     "::/64",
		"2001:db8:0:0:0:0:0:00ff": "2001:db8::/64",
	}
	for in, want := range tests {
		if got := connlimit.Network(netip.MustParseAddr(in)).String(); got != want {
			t.Errorf("Network(%s) = %s, want %s", in, got, want)
		}
	}
}

// accept dials ln and returns the server side's verdict.
func accept(t *testing.T, ln net.Listener, lim *connlimit.Limiter) (net.Conn, connlimit.Verdict) {
	t.Helper()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Close() })
	return server, connlimit.VerdictOf(lim.ConnContext(context.Background(), server))
}

func listen(t *testing.T, cfg connlimit.Config) (net.Listener, *connlimit.Limiter, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	lim, err := connlimit.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return lim.Listen(ln), lim, reg
}

func TestVerdicts(t *testing.T) {
	ln, lim, reg := listen(t, connlimit.Config{MaxConnsPerClient: 2})
	first, v1 := accept(t, ln, lim)
	_, v2 := accept(t, ln, lim)
	_, v3 := accept(t, ln, lim)
	if v1 != connlimit.Admitted || v2 != connlimit.Admitted || v3 != connlimit.OverClientCap {
		t.Fatalf("verdicts %v %v %v, want admitted, admitted, over the client cap", v1, v2, v3)
	}
	if got := open(t, reg); got != 3 {
		t.Fatalf("connections_open = %v, want 3", got)
	}
	// Closing twice gives one count back.
	_ = first.Close()
	_ = first.Close()
	if got := open(t, reg); got != 2 {
		t.Fatalf("connections_open after a close = %v, want 2", got)
	}
}

func TestExemptNetworksCountOnlyInTotal(t *testing.T) {
	ln, lim, _ := listen(t, connlimit.Config{MaxConnsPerClient: 1, MaxConns: 3,
		Exempt: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	for i := range 3 {
		if _, v := accept(t, ln, lim); v != connlimit.Admitted {
			t.Fatalf("connection %d from a trusted proxy: %v, want admitted", i+1, v)
		}
	}
	if _, v := accept(t, ln, lim); v != connlimit.OverTotalCap {
		t.Fatalf("fourth connection: %v, want over the total cap", v)
	}
}

func TestOverCapReadsEndAtTheOverflowTimeout(t *testing.T) {
	ln, lim, _ := listen(t, connlimit.Config{MaxConnsPerClient: 1, OverflowTimeout: 100 * time.Millisecond})
	accept(t, ln, lim)
	over, _ := accept(t, ln, lim)
	// A later or cleared deadline does not lift the bound.
	if err := over.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := over.Read(make([]byte, 1))
		done <- err
	}()
	select {
	case err := <-done:
		if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
			t.Fatalf("read ended with %v, want a timeout", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the read of a connection over the cap outlived its bound")
	}
}

// open is the value of securecam_http_connections_open.
func open(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == "securecam_http_connections_open" {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no securecam_http_connections_open")
	return 0
}

// A counted connection keeps its descriptor reachable: the hub waits on it for an idle
// socket's next frame (hub/idle.go), which keeps the socket's stack small.
func TestConnKeepsItsDescriptor(t *testing.T) {
	ln, lim, _ := listen(t, connlimit.Config{})
	c, _ := accept(t, ln, lim)
	sc, ok := c.(syscall.Conn)
	if !ok {
		t.Fatalf("%T is not a syscall.Conn", c)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		t.Fatalf("SyscallConn: %v", err)
	}
	if err := raw.Control(func(fd uintptr) {
		if fd == 0 {
			t.Error("descriptor 0")
		}
	}); err != nil {
		t.Fatalf("Control: %v", err)
	}
}
