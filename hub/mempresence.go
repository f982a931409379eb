package hub

import (
	"context"
	"sync"
	"time"
)

// MemoryPresence is the in-process [Presence] registry of one replica.
type MemoryPresence struct {
	ttl time.Duration

	mu      sync.Mutex
	entries map[string]memEntry
}

type memEntry struct {
	node string
	seen time.Time
}

// NewMemoryPresence returns an empty registry whose entries expire ttl after their
// last refresh (0: 30 s).
func NewMemoryPresence(ttl time.Duration) *MemoryPresence {
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	return &MemoryPresence{ttl: ttl, entries: make(map[string]memEntry)}
}

// Add implements [Presence].
func (p *MemoryPresence) Add(_ context.Context, deviceID, node string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.entries[deviceID] = memEntry{node: node, seen: time.Now()}
	return nil
}

// Remove implements [Presence].
func (p *MemoryPresence) Remove(_ context.Context, deviceID, node string) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.entries[deviceID]
	if !ok || e.node != node {
		return false, nil
	}
	delete(p.entries, deviceID)
	return true, nil
}

// Refresh implements [Presence].
func (p *MemoryPresence) Refresh(_ context.Context, node string, deviceIDs []string) error {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range deviceIDs {
		if e, ok := p.entries[id]; !ok || e.node == node {
			p.entries[id] = memEntry{node: node, seen: now}
		}
	}
	return nil
}

// Online implements [Presence].
func (p *MemoryPresence) Online(_ context.Context, deviceIDs []string) ([]bool, error) {
	cutoff := time.Now().Add(-p.ttl)
	p.mu.Lock()
	defer p.mu.Unlock()
	on := make([]bool, len(deviceIDs))
	for i, id := range deviceIDs {
		e, ok := p.entries[id]
		on[i] = ok && e.seen.After(cutoff)
	}
	return on, nil
}

// Sweep implements [Presence].
func (p *MemoryPresence) Sweep(context.Context, string) ([]Expired, error) {
	cutoff := time.Now().Add(-p.ttl)
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Expired
	for id, e := range p.entries {
		if !e.seen.After(cutoff) {
			delete(p.entries, id)
			out = append(out, Expired{DeviceID: id, LastSeen: e.seen})
		}
	}
	return out, nil
}

// Ready implements [Presence]: always ready.
func (p *MemoryPresence) Ready(context.Context) error { return nil }

// Close implements [Presence].
func (p *MemoryPresence) Close() error { return nil }
