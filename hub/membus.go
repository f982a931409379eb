package hub

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrBusClosed is returned by a bus endpoint's methods after Close.
var ErrBusClosed = errors.New("hub: bus closed")

// MemoryBus is the in-process [Bus]: one replica (embedded mode), or several hubs of
// one process sharing a network through [MemoryBus.Peer] (tests). Publish delivers
// synchronously, in the publisher's goroutine.
type MemoryBus struct {
	net *memNet

	mu      sync.Mutex
	recv    func(key string, msg []byte)
	subs    map[string]int
	started bool
	closed  bool
}

type memNet struct {
	mu    sync.RWMutex
	peers map[*MemoryBus]struct{}
	keys  map[string]map[*MemoryBus]struct{}
}

// NewMemoryBus returns an endpoint on a new in-process network.
func NewMemoryBus() *MemoryBus {
	return (&memNet{
		peers: make(map[*MemoryBus]struct{}),
		keys:  make(map[string]map[*MemoryBus]struct{}),
	}).endpoint()
}

// Peer returns a new endpoint on the same network as b: another replica.
func (b *MemoryBus) Peer() *MemoryBus { return b.net.endpoint() }

func (n *memNet) endpoint() *MemoryBus {
	b := &MemoryBus{net: n, subs: make(map[string]int)}
	n.mu.Lock()
	n.peers[b] = struct{}{}
	n.mu.Unlock()
	return b
}

// Start implements [Bus]. An in-process network is never lost: resumed is not called.
func (b *MemoryBus) Start(recv func(key string, msg []byte), _ func(time.Time)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrBusClosed
	}
	if b.started {
		return errors.New("hub: memory bus: already started")
	}
	b.recv, b.started = recv, true
	return nil
}

// Subscribe implements [Bus].
func (b *MemoryBus) Subscribe(_ context.Context, key string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrBusClosed
	}
	b.subs[key]++
	if b.subs[key] == 1 {
		b.net.mu.Lock()
		set := b.net.keys[key]
		if set == nil {
			set = make(map[*MemoryBus]struct{})
			b.net.keys[key] = set
		}
		set[b] = struct{}{}
		b.net.mu.Unlock()
	}
	return nil
}

// Unsubscribe implements [Bus].
func (b *MemoryBus) Unsubscribe(_ context.Context, key string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrBusClosed
	}
	if b.subs[key] == 0 {
		return nil
	}
	b.subs[key]--
	if b.subs[key] == 0 {
		delete(b.subs, key)
		b.net.drop(b, key)
	}
	return nil
}

func (n *memNet) drop(b *MemoryBus, key string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if set := n.keys[key]; set != nil {
		delete(set, b)
		if len(set) == 0 {
			delete(n.keys, key)
		}
	}
}

// Publish implements [Bus].
func (b *MemoryBus) Publish(_ context.Context, key string, msg []byte) (int, error) {
	if b.isClosed() {
		return 0, ErrBusClosed
	}
	b.net.mu.RLock()
	targets := make([]*MemoryBus, 0, len(b.net.keys[key]))
	for p := range b.net.keys[key] {
		targets = append(targets, p)
	}
	b.net.mu.RUnlock()
	for _, p := range targets {
		p.deliver(key, msg)
	}
	return len(targets), nil
}

// Broadcast implements [Bus].
func (b *MemoryBus) Broadcast(_ context.Context, msg []byte) error {
	if b.isClosed() {
		return ErrBusClosed
	}
	b.net.mu.RLock()
	targets := make([]*MemoryBus, 0, len(b.net.peers))
	for p := range b.net.peers {
		targets = append(targets, p)
	}
	b.net.mu.RUnlock()
	for _, p := range targets {
		p.deliver("", msg)
	}
	return nil
}

// deliver hands msg to the endpoint's receiver; each receiver gets its own copy.
func (b *MemoryBus) deliver(key string, msg []byte) {
	b.mu.Lock()
	recv := b.recv
	b.mu.Unlock()
	if recv != nil {
		recv(key, append([]byte(nil), msg...))
	}
}

// Ready implements [Bus]: an open memory bus is always ready.
func (b *MemoryBus) Ready(context.Context) error {
	if b.isClosed() {
		return ErrBusClosed
	}
	return nil
}

// Close implements [Bus].
func (b *MemoryBus) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	b.recv = nil
	b.net.mu.Lock()
	delete(b.net.peers, b)
	for key := range b.subs {
		if set := b.net.keys[key]; set != nil {
			delete(set, b)
			if len(set) == 0 {
				delete(b.net.keys, key)
			}
		}
	}
	b.net.mu.Unlock()
	b.subs = nil
	return nil
}

func (b *MemoryBus) isClosed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.closed
}
