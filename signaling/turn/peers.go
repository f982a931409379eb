package turn

import (
	"fmt"
	"net"
	"net/netip"
)

// refusedPeers are the networks a relay never sends to unless Config.AllowPeers
// names them: they reach the hub's own host or the network it sits in, not a
// phone on the internet. Loopback, link-local, multicast, private (RFC 1918
// and ULA) and unspecified addresses are tested with netip's predicates;
// these are the rest.
var refusedPeers = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),     // "this network" (RFC 1122)
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT shared space (RFC 6598)
	netip.MustParsePrefix("240.0.0.0/4"),   // reserved, and the limited broadcast address
	netip.MustParsePrefix("fec0::/10"),     // deprecated site-local (RFC 3879)
}

// nat64 is the well-known NAT64 prefix (RFC 6052): its addresses carry an IPv4
// address in their last four bytes, which is judged instead.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// peerPolicy decides which peer addresses relays may reach.
//
// A peer at the relay address itself (Config.PublicIP) is allowed by
// address, because two clients of this server reach each other relay to
// relay there; relayConn.WriteTo then lets through only packets to the ports
// of open relays, so nothing else listening on that address (the hub's HTTP
// port, this server's own port, a router's admin page behind a forwarded
// public address) is reachable.
type peerPolicy struct {
	relayIP netip.Addr
	allow   []netip.Prefix
	own     map[netip.Addr]bool // the host's interface addresses
	media   bool                // the hub's media ports are reachable at own addresses
}

// newPeerPolicy reads the host's interface addresses once.
func newPeerPolicy(relayIP netip.Addr, allow []netip.Prefix) (*peerPolicy, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("turn: interface addresses: %w", err)
	}
	p := &peerPolicy{relayIP: relayIP.Unmap(), own: map[netip.Addr]bool{}}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				p.own[ip.Unmap()] = true
			}
		}
	}
	for _, pr := range allow {
		if !pr.IsValid() || pr.Addr().Is4In6() {
			return nil, fmt.Errorf("turn: allowed peers %s: want an IPv4 or IPv6 CIDR", pr)
		}
		p.allow = append(p.allow, pr.Masked())
	}
	return p, nil
}

// allowed reports whether relays may send to ip.
func (p *peerPolicy) allowed(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() {
		return false
	}
	if ip == p.relayIP {
		return true // relay to relay; ports are checked per packet
	}
	if p.own[ip] {
		// Only the hub's media ports (relayConn.WriteTo checks each packet).
		return p.media
	}
	for _, pr := range p.allow {
		if pr.Contains(ip) {
			return true
		}
	}
	if nat64.Contains(ip) {
		b := ip.As16()
		ip = netip.AddrFrom4([4]byte(b[12:]))
	}
	if ip.IsLoopback() || ip.IsUnspecified() || ip.IsPrivate() || ip.IsMulticast() ||
		ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() {
		return false
	}
	for _, pr := range refusedPeers {
		if pr.Contains(ip) {
			return false
		}
	}
	return true
}
