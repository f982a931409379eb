package hub

import (
	"context"
	"errors"
	"sync"

	"github.com/coder/websocket"
)

// Shutdown stops the hub: /ws answers 503 from now on, every socket is closed with
// 1012 after its queued messages (at most ShutdownConcurrency at a time), the
// connections' cleanups run, presence is flushed to the Directory, and the Bus and
// Presence registry are closed. When ctx ends first, the remaining sockets are cut
// without a close handshake; Shutdown still waits for their goroutines and returns
// ctx's error. Calls after the first return the first result.
func (h *Hub) Shutdown(ctx context.Context) error {
	h.shutdownOnce.Do(func() { h.shutdownErr = h.shutdown(ctx) })
	return h.shutdownErr
}

func (h *Hub) shutdown(ctx context.Context) error {
	h.mu.Lock()
	h.draining = true
	h.mu.Unlock()

	var err error
	sem := make(chan struct{}, h.cfg.ShutdownConcurrency)
	var wg sync.WaitGroup
closing:
	for _, c := range h.localClients() {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break closing
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c.close(websocket.StatusServiceRestart, "replica restarting", true)
			select {
			case <-c.done:
			case <-ctx.Done():
			}
		}()
	}
	wg.Wait()

	conns := make(chan struct{})
	go func() {
		h.conns.Wait()
		close(conns)
	}()
	select {
	case <-conns:
	case <-ctx.Done():
		err = ctx.Err()
		h.cancel() // unblocks reads of the connections still open
		h.eachClient(func(c *Client) { c.drop(websocket.StatusServiceRestart) })
		<-conns
	}
	h.cancel()

	close(h.stopBG)
	h.bg.Wait()
	return errors.Join(err, h.bus.Close(), h.pres.Close())
}
