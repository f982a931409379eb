package hub

import (
	"time"

	"github.com/coder/websocket"
)

// statusTimeout marks a connection the hub dropped for silence (no close frame).
const statusTimeout websocket.StatusCode = -2

// heartbeatLoop pings silent connections and drops dead ones, for all connections
// with one ticker.
func (h *Hub) heartbeatLoop() {
	tick := h.cfg.HeartbeatInterval / 2
	if tick > h.cfg.HeartbeatTimeout/4 {
		tick = h.cfg.HeartbeatTimeout / 4
	}
	t := time.NewTicker(max(tick, 5*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-h.stopBG:
			return
		case <-t.C:
			h.heartbeat(h.cfg.Now())
		}
	}
}

func (h *Hub) heartbeat(now time.Time) {
	interval, timeout := h.cfg.HeartbeatInterval, h.cfg.HeartbeatTimeout
	h.eachClient(func(c *Client) {
		idle := now.Sub(time.Unix(0, c.lastActive.Load()))
		switch {
		case idle >= timeout:
			c.logger().Info("heartbeat timeout", "idle", idle.Round(time.Millisecond))
			c.drop(statusTimeout)
		case idle >= interval && c.pinging.CompareAndSwap(false, true):
			c.ping(timeout - idle)
		}
	})
}
