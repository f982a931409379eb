package storetest

import (
	"sync"
	"time"
)

// Clock is a settable time source for the Now of the code under test (the Configs
// of signaling, web and push), whose timestamps land in the store: a test moves it
// past a deadline (a command's expiry, a session's lifetime, a job's next attempt)
// instead of waiting. It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock at the current wall-clock time, in UTC.
func NewClock() *Clock { return &Clock{now: time.Now().UTC()} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// NewClockAt returns a Clock at t, in UTC.
func NewClockAt(t time.Time) *Clock { return &Clock{now: t.UTC()} }
