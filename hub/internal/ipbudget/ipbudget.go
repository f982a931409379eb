// Package ipbudget keeps a token bucket per client network (an IPv4 address, or the
// /64 of an IPv6 address), in a table of bounded size. The hub spends a token for each
// failed WebSocket authentication and refuses a network whose bucket is empty.
//
// A [Budget] is safe for concurrent use. It starts no goroutine: full buckets (which
// say nothing a missing one would not) are dropped when the table is full.
package ipbudget

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// Budget is a set of token buckets keyed by client network.
type Budget struct {
	rate    float64 // tokens per second
	burst   float64
	maxKeys int

	mu      sync.Mutex
	buckets map[netip.Prefix]bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// New returns a Budget whose buckets hold burst tokens and refill at rate per second,
// remembering at most maxKeys networks.
func New(rate float64, burst, maxKeys int) *Budget {
	return &Budget{rate: rate, burst: float64(burst), maxKeys: maxKeys, buckets: make(map[netip.Prefix]bucket)}
}

// Key returns the client network of a request's RemoteAddr ("host:port" or a bare
// host): the address for IPv4, its /64 for IPv6. An unparsable address gives the zero
// Prefix, one shared key.
func Key(remoteAddr string) netip.Prefix {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Prefix{}
	}
	a = a.Unmap().WithZone("")
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits) // bits fits the address family: cannot fail
	return p
}

// Wait returns how long key must wait for a token: 0 when one is available now.
func (b *Budget) Wait(key netip.Prefix, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.buckets[key]
	if !ok {
		return 0
	}
	t := b.level(e, now)
	if t >= 1 {
		return 0
	}
	return time.Duration((1 - t) / b.rate * float64(time.Second))
}

// Spend takes one token from key's bucket (none left: it stays empty).
func (b *Budget) Spend(key netip.Prefix, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.burst
	if e, ok := b.buckets[key]; ok {
		t = b.level(e, now)
	} else if len(b.buckets) >= b.maxKeys {
		b.evict(now)
	}
	b.buckets[key] = bucket{tokens: max(t-1, 0), at: now}
}

// level is e's token count at now.
func (b *Budget) level(e bucket, now time.Time) float64 {
	return min(b.burst, e.tokens+now.Sub(e.at).Seconds()*b.rate)
}

// evict drops the full buckets, then, while the table is still over nine tenths of
// maxKeys (a flood from many networks), arbitrary ones: forgetting a network only
// gives it a full bucket again, and each eviction pass frees a tenth of the table so
// its cost is shared by the insertions that follow.
func (b *Budget) evict(now time.Time) {
	for k, e := range b.buckets {
		if b.level(e, now) >= b.burst {
			delete(b.buckets, k)
		}
	}
	limit := b.maxKeys * 9 / 10
	for k := range b.buckets {
		if len(b.buckets) <= limit {
			break
		}
		delete(b.buckets, k)
	}
}
