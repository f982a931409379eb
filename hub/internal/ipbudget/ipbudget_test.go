package ipbudget

import (
	"net/netip"
	"testing"
	"time"
)

func TestKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.7:4242", "192.0.2.7/32"},
		{"192.0.2.7", "192.0.2.7/32"},
		{"[::ffff:192.0.2.7]:80", "192.0.2.7/32"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:443", "2001:db8:1:2::/64"},
		{"[fe80::1%eth0]:80", "fe80::/64"},
	}
	for _, tt := range tests {
		if got := Key(tt.in); got.String() != tt.want {
			t.Errorf("Key(%q) = %v, want %s", tt.in, got, tt.want)
		}
	}
	if got := Key("@"); got.IsValid() {
		t.Errorf("Key(@) = %v, want the zero Prefix", got)
	}
}

func TestBudgetSpendsAndRefills(t *testing.T) {
	b := New(0.5, 3, 100)
	k, other := Key("192.0.2.1:1"), Key("192.0.2.2:1")
	now := time.Unix(1_000_000, 0)
	for i := range 3 {
		if w := b.Wait(k, now); w != 0 {
			t.Fatalf("failure %d: Wait = %v, want 0", i, w)
		}
		b.Spend(k, now)
	}
	if w := b.Wait(k, now); w != 2*time.Second {
		t.Fatalf("empty bucket: Wait = %v, want 2s (one token at 0.5/s)", w)
	}
	if w := b.Wait(other, now); w != 0 {
		t.Fatalf("another network: Wait = %v, want 0", w)
	}
	if w := b.Wait(k, now.Add(1500*time.Millisecond)); w != 500*time.Millisecond {
		t.Fatalf("after 1.5 s: Wait = %v, want 500ms", w)
	}
	now = now.Add(2 * time.Second)
	if w := b.Wait(k, now); w != 0 {
		t.Fatalf("after 2 s: Wait = %v, want 0", w)
	}
	b.Spend(k, now)
	b.Spend(k, now) // spending an empty bucket leaves it empty, not in debt
	if w := b.Wait(k, now); w != 2*time.Second {
		t.Fatalf("spent again: Wait = %v, want 2s", w)
	}
}

func TestBudgetTableIsBounded(t *testing.T) {
	const maxKeys = 100
	b := New(1, 2, maxKeys)
	now := time.Unix(1_000_000, 0)
	addr := func(i int) netip.Prefix {
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 32)
	}
	// Refilled buckets go first: the network still refused keeps its empty bucket.
	b.Spend(addr(0), now)
	b.Spend(addr(0), now)
	for i := 1; i < maxKeys; i++ {
		b.Spend(addr(i), now.Add(-time.Hour)) // long refilled by now
	}
	b.Spend(addr(maxKeys), now)
	if n := len(b.buckets); n != 2 {
		t.Fatalf("after evicting refilled buckets: %d entries, want 2", n)
	}
	if w := b.Wait(addr(0), now); w == 0 {
		t.Fatal("the empty bucket was evicted")
	}
	// A flood of distinct networks, none refilled: the table never exceeds maxKeys.
	for i := range 10 * maxKeys {
		b.Spend(addr(1000+i), now)
		if n := len(b.buckets); n > maxKeys {
			t.Fatalf("%d entries, over %d", n, maxKeys)
		}
	}
}
