package turn

import (
	"net/netip"
	"testing"
)

func TestPeerPolicy(t *testing.T) {
	p := &peerPolicy{
		relayIP: netip.MustParseAddr("203.0.113.7"),
		allow:   []netip.Prefix{netip.MustParsePrefix("192.168.50.0/24"), netip.MustParsePrefix("fd00:50::/64")},
		own:     map[netip.Addr]bool{netip.MustParseAddr("198.51.100.9"): true, netip.MustParseAddr("192.168.50.2"): true},
	}
	tests := []struct {
		peer string
		want bool
	}{
		{"8.8.8.8", true},
		{"2606:4700::1111", true},
		{"203.0.113.7", true},        // the relay address: relay to relay
		{"::ffff:203.0.113.7", true}, // the same, mapped
		{"198.51.100.9", false},      // the host's own public address
		{"192.168.50.2", false},      // the host's own address inside an allowed range
		{"192.168.50.20", true},      // allowed range
		{"192.168.51.20", false},
		{"fd00:50::9", true},
		{"fd00:51::9", false},
		{"127.0.0.1", false},
		{"::ffff:127.0.0.1", false},
		{"::1", false},
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"::", false},
		{"10.0.0.1", false},
		{"172.31.255.255", false},
		{"100.64.0.1", false},
		{"100.127.255.255", false},
		{"100.128.0.1", true},
		{"169.254.169.254", false},
		{"fe80::1", false},
		{"fc00::1", false},
		{"fec0::1", false},
		{"224.0.0.251", false},
		{"239.255.255.250", false},
		{"ff02::1", false},
		{"255.255.255.255", false},
		{"240.0.0.1", false},
		{"64:ff9b::a00:1", false},  // NAT64 of 10.0.0.1
		{"64:ff9b::808:808", true}, // NAT64 of 8.8.8.8
	}
	for _, tt := range tests {
		if got := p.allowed(netip.MustParseAddr(tt.peer)); got != tt.want {
			t.Errorf("allowed(%s) = %v, want %v", tt.peer, got, tt.want)
		}
	}
	if p.allowed(netip.Addr{}) {
		t.Error("the zero address is allowed")
	}
}
