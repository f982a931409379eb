package hub

import (
	"context"
	"sync"
)

// MaxConcurrentPerConn bounds the messages of one socket handled at once by handlers
// registered with [Hub.HandleConcurrent]. When that many are running, the socket is
// not read until one returns.
const MaxConcurrentPerConn = 32

// inflight runs the concurrent handlers of one socket. Only the socket's read
// goroutine calls its methods; it owns the handler goroutines and waits for them
// (wait) before it handles a message that is not concurrent and before it returns.
type inflight struct {
	sem chan struct{} // a slot per running handler; made on first use (idle sockets keep none)
	wg  sync.WaitGroup
}

// run starts fn in a goroutine once a slot is free. When ctx ends first (the
// connection is ending), fn is not run.
func (f *inflight) run(ctx context.Context, fn func()) {
	if f.sem == nil {
		f.sem = make(chan struct{}, MaxConcurrentPerConn)
	}
	select {
	case f.sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	f.wg.Go(func() {
		defer func() { <-f.sem }()
		fn()
	})
}

// wait returns once every handler run started has returned.
func (f *inflight) wait() { f.wg.Wait() }
