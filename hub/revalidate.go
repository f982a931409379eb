package hub

import (
	"context"
	"math/rand/v2"
	"time"
)

// revalidateBatch is the most identities one Revalidate call is asked about.
const revalidateBatch = 500

// passTimeout bounds one re-validation pass, or the work after a bus resume.
const passTimeout = time.Minute

// revalidateLoop re-validates the credentials of this replica's sockets every
// RevalidateInterval (jittered), and after each resume of the bus first refreshes
// presence, runs OnBusResume, then re-validates: a revocation broadcast while the bus
// was down reached no other replica.
func (h *Hub) revalidateLoop() {
	t := time.NewTimer(jittered(h.cfg.RevalidateInterval))
	defer t.Stop()
	for {
		select {
		case <-h.stopBG:
			return
		case <-h.busResumed:
			h.log.Info("bus resumed: refreshing presence, re-delivering, re-validating sockets")
			signal(h.refreshPresence)
			h.resumeClients()
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(h.ctx, passTimeout)
		h.revalidate(ctx)
		cancel()
		t.Reset(jittered(h.cfg.RevalidateInterval)) // Go ≥ 1.23: no stale tick survives Reset
	}
}

// noteBusResumed is the bus's resumed callback: it keeps the earliest moment from
// which messages may have been lost until revalidateLoop handles the resume.
func (h *Hub) noteBusResumed(since time.Time) {
	h.resumeMu.Lock()
	if !since.IsZero() && (h.resumeSince.IsZero() || since.Before(h.resumeSince)) {
		h.resumeSince = since
	}
	h.resumeMu.Unlock()
	signal(h.busResumed)
}

// resumeClients runs OnBusResume with this replica's connections.
func (h *Hub) resumeClients() {
	h.resumeMu.Lock()
	since := h.resumeSince
	h.resumeSince = time.Time{}
	h.resumeMu.Unlock()
	if h.cfg.OnBusResume == nil {
		return
	}
	clients := h.localClients()
	if len(clients) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(h.ctx, passTimeout)
	defer cancel()
	h.runHook("on_bus_resume", func() { h.cfg.OnBusResume(ctx, clients, since) })
}

// revalidate asks the Authenticator whether the credentials of this replica's sockets
// still hold, and closes those that do not with 4003 (after their queued messages). An
// error ends the pass with every socket of the batch left open.
func (h *Hub) revalidate(ctx context.Context) {
	clients := h.localClients()
	for len(clients) > 0 {
		batch := clients[:min(revalidateBatch, len(clients))]
		clients = clients[len(batch):]
		ids := make([]Identity, len(batch))
		for i, c := range batch {
			ids[i] = c.id
		}
		valid, err := h.cfg.Authenticator.Revalidate(ctx, ids)
		if err == nil && len(valid) != len(ids) {
			h.log.Error("revalidate: wrong number of answers", "asked", len(ids), "answered", len(valid))
			return
		}
		if err != nil {
			h.log.Warn("revalidate sockets: keeping them open until the next pass", "err", err)
			return
		}
		for i, c := range batch {
			if !valid[i] {
				c.logger().Info("credentials revoked: closing the socket")
				c.close(StatusForbidden, "credentials revoked", true)
			}
		}
	}
}

// jittered returns d plus or minus up to 10 %.
func jittered(d time.Duration) time.Duration {
	spread := d / 5
	if spread <= 0 {
		return d
	}
	return d - d/10 + rand.N(spread)
}

// signal sends on a channel of capacity 1 without blocking: a signal already pending
// covers this one.
func signal(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
