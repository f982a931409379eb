package hub

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/coder/websocket"
)

// HelloData is the data of hello, the first message of every connection.
type HelloData struct {
	DeviceID         string         `json:"device_id"`
	UserID           string         `json:"user_id"`
	Node             string         `json:"node"`
	HeartbeatSeconds int            `json:"heartbeat_seconds"`
	Presence         []PresenceData `json:"presence"`
}

// connect sends hello, registers c locally and in the cluster, runs OnConnect and
// announces the device online. It reports false when the connection cannot be served.
func (h *Hub) connect(ctx context.Context, c *Client) bool {
	dev := c.id.DeviceID
	linked, err := h.dir.LinkedDevices(ctx, dev)
	if err != nil {
		c.logger().Error("load linked devices", "err", err)
		c.close(websocket.StatusTryAgainLater, "unavailable", false)
		return false
	}
	// hello goes first: it is queued before the device becomes reachable, and the queue
	// is held until the device is registered in the cluster, so that a client that got
	// hello is visible to every replica.
	c.q.Hold()
	if err := c.Send(h.hello(ctx, c, linked)); err != nil {
		return false
	}
	defer c.q.Release()

	switch loser := h.register(c); loser {
	case nil:
	case c: // a newer connection of the device registered first
		c.close(StatusReplaced, "replaced by a newer connection", false)
		return false
	default:
		loser.close(StatusReplaced, "replaced by a newer connection", false)
	}
	if h.isDraining() { // Shutdown began after this connection was admitted
		h.unregister(c)
		c.close(websocket.StatusServiceRestart, "replica restarting", true)
		return false
	}
	if err := h.bus.Subscribe(ctx, dev); err != nil {
		c.logger().Warn("bus subscribe", "err", err) // the bus subscribes when it is back
	}
	if err := h.pres.Add(ctx, dev, h.cfg.NodeID); err != nil {
		c.logger().Warn("presence add", "err", err) // the refresh loop recreates the entry
	}
	h.publishControl(ctx, dev, control{Op: opReplace, Conn: c.connID})
	c.q.Release()

	if h.cfg.OnConnect != nil {
		h.runHook("on_connect", func() { h.cfg.OnConnect(ctx, c) })
	}
	now := h.cfg.Now().UTC()
	h.queuePresence(PresenceUpdate{DeviceID: dev, Online: true, LastSeenAt: now})
	h.announce(ctx, dev, linked, true, now)
	c.logger().Debug("connected")
	return true
}

// hello builds the first message: identity, node, heartbeat and presence of the
// linked devices.
func (h *Hub) hello(ctx context.Context, c *Client, linked []LinkedDevice) Envelope {
	ids := make([]string, len(linked))
	for i, l := range linked {
		ids[i] = l.DeviceID
	}
	online, err := h.pres.Online(ctx, ids)
	if err != nil {
		c.logger().Warn("presence snapshot: using this replica's view", "err", err)
		online = make([]bool, len(ids))
		for i, id := range ids {
			online[i] = h.local(id) != nil
		}
	}
	d := HelloData{
		DeviceID:         c.id.DeviceID,
		UserID:           c.id.UserID,
		Node:             h.cfg.NodeID,
		HeartbeatSeconds: int(h.cfg.HeartbeatInterval.Round(time.Second) / time.Second),
		Presence:         make([]PresenceData, len(linked)),
	}
	if d.HeartbeatSeconds < 1 {
		d.HeartbeatSeconds = 1
	}
	for i, l := range linked {
		d.Presence[i] = newPresenceData(l.DeviceID, online[i], l.LastSeenAt)
	}
	b, _ := json.Marshal(d) // plain strings and bools: cannot fail
	return Envelope{Type: TypeHello, Data: b}
}

// disconnect tears a finished connection down: waits for its goroutines, records the
// close code, unregisters it and, unless the device is connected elsewhere, records
// and announces it offline, then runs OnDisconnect.
func (h *Hub) disconnect(c *Client, registered bool, readErr error) {
	defer close(c.done)
	c.end()

	code := c.closedBy()
	// A socket closed for revoked credentials is not coming back with them: it ends
	// as cleanly as one its client closed.
	clean := code == StatusForbidden
	if code == -1 {
		switch {
		case errors.Is(readErr, websocket.ErrMessageTooBig):
			code = websocket.StatusMessageTooBig
		default:
			code = websocket.CloseStatus(readErr)
			clean = code == websocket.StatusNormalClosure || code == websocket.StatusGoingAway
		}
	}
	h.metrics.disconnects.WithLabelValues(closeCodeLabel(code)).Inc()
	c.logger().Debug("disconnected", "close_code", closeCodeLabel(code), "clean", clean)
	if !registered {
		return
	}

	ctx, cancel := context.WithTimeout(context.Background(), disconnectCleanTimeout)
	defer cancel()
	dev := c.id.DeviceID
	current := h.unregister(c)
	if err := h.bus.Unsubscribe(ctx, dev); err != nil {
		c.logger().Warn("bus unsubscribe", "err", err)
	}
	if current && code != StatusReplaced {
		removed, err := h.pres.Remove(ctx, dev, h.cfg.NodeID)
		if err != nil {
			c.logger().Warn("presence remove", "err", err)
		}
		if removed {
			now := h.cfg.Now().UTC()
			h.queuePresence(PresenceUpdate{DeviceID: dev, Online: false, LastSeenAt: now})
			h.announceLoad(ctx, dev, false, now)
		}
	}
	if h.cfg.OnDisconnect != nil {
		h.runHook("on_disconnect", func() { h.cfg.OnDisconnect(ctx, c.id, clean) })
	}
}
