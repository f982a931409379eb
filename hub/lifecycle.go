package hub

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/coder/websocket"
)

// statusTimeout marks a connection the hub dropped for silence (no close frame).
const statusTimeout websocket.StatusCode = -2

// helloData is the data of hello.
type helloData struct {
	DeviceID         string         `json:"device_id"`
	UserID           string         `json:"user_id"`
	Node             string         `json:"node"`
	HeartbeatSeconds int            `json:"heartbeat_seconds"`
	Presence         []presenceData `json:"presence"`
}

// presenceData is the data of presence, and an entry of hello.presence.
type presenceData struct {
	DeviceID   string  `json:"device_id"`
	Status     string  `json:"status"`
	LastSeenAt *string `json:"last_seen_at"`
}

func newPresenceData(deviceID string, online bool, lastSeen time.Time) presenceData {
	p := presenceData{DeviceID: deviceID, Status: "offline"}
	if online {
		p.Status = "online"
	}
	if !lastSeen.IsZero() {
		s := lastSeen.UTC().Format(time.RFC3339)
		p.LastSeenAt = &s
	}
	return p
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
	now := time.Now().UTC()
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
	d := helloData{
		DeviceID:         c.id.DeviceID,
		UserID:           c.id.UserID,
		Node:             h.cfg.NodeID,
		HeartbeatSeconds: int(h.cfg.HeartbeatInterval.Round(time.Second) / time.Second),
		Presence:         make([]presenceData, len(linked)),
	}
	if d.HeartbeatSeconds < 1 {
		d.HeartbeatSeconds = 1
	}
	for i, l := range linked {
		d.Presence[i] = newPresenceData(l.DeviceID, online[i], l.LastSeenAt)
	}
	b, _ := json.Marshal(d) // plain strings and bools: cannot fail
	return Envelope{Type: "hello", Data: b}
}

// disconnect tears a finished connection down: waits for its goroutines, records the
// close code, unregisters it and, unless the device is connected elsewhere, records
// and announces it offline, then runs OnDisconnect.
func (h *Hub) disconnect(c *Client, registered bool, readErr error) {
	defer close(c.done)
	c.end()

	code := c.closedBy()
	clean := false
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
			now := time.Now().UTC()
			h.queuePresence(PresenceUpdate{DeviceID: dev, Online: false, LastSeenAt: now})
			h.announceLoad(ctx, dev, false, now)
		}
	}
	if h.cfg.OnDisconnect != nil {
		h.runHook("on_disconnect", func() { h.cfg.OnDisconnect(ctx, c.id, clean) })
	}
}

// announceLoad loads the audience of deviceID's presence and announces it.
func (h *Hub) announceLoad(ctx context.Context, deviceID string, online bool, at time.Time) {
	linked, err := h.dir.LinkedDevices(ctx, deviceID)
	if err != nil {
		h.log.Warn("load linked devices for presence", "device_id", deviceID, "err", err)
		return
	}
	h.announce(ctx, deviceID, linked, online, at)
}

// announce sends presence of deviceID to every linked device, wherever connected.
func (h *Hub) announce(ctx context.Context, deviceID string, linked []LinkedDevice, online bool, at time.Time) {
	if len(linked) == 0 {
		return
	}
	data, _ := json.Marshal(newPresenceData(deviceID, online, at))
	b, err := Encode(Envelope{Type: "presence", Data: data})
	if err != nil {
		h.log.Error("encode presence", "err", err)
		return
	}
	for _, l := range linked {
		err := h.route(ctx, l.DeviceID, "presence", b)
		if err != nil && !errors.Is(err, ErrOffline) {
			h.log.Debug("send presence", "device_id", l.DeviceID, "err", err)
		}
	}
}

// queuePresence schedules a Directory write; later updates of a device replace
// earlier ones not yet written.
func (h *Hub) queuePresence(u PresenceUpdate) {
	h.presMu.Lock()
	h.presPending[u.DeviceID] = u
	h.presMu.Unlock()
}

// flushPresence writes the pending presence updates to the Directory.
func (h *Hub) flushPresence(ctx context.Context) {
	h.presMu.Lock()
	pending := h.presPending
	if len(pending) == 0 {
		h.presMu.Unlock()
		return
	}
	h.presPending = make(map[string]PresenceUpdate)
	h.presMu.Unlock()
	updates := make([]PresenceUpdate, 0, len(pending))
	for _, u := range pending {
		updates = append(updates, u)
	}
	slices.SortFunc(updates, func(a, b PresenceUpdate) int { return cmpString(a.DeviceID, b.DeviceID) })
	if err := h.dir.RecordPresence(ctx, updates); err != nil {
		h.log.Warn("record presence", "devices", len(updates), "err", err)
		// Keep what was not superseded meanwhile, to retry at the next flush.
		h.presMu.Lock()
		for _, u := range updates {
			if _, newer := h.presPending[u.DeviceID]; !newer {
				h.presPending[u.DeviceID] = u
			}
		}
		h.presMu.Unlock()
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// flushLoop writes presence to the Directory every PresenceFlushInterval, and once
// more when the hub stops.
func (h *Hub) flushLoop() {
	defer h.bg.Done()
	defer h.recoverGoroutine("presence flush")
	t := time.NewTicker(h.cfg.PresenceFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-h.stopBG:
			ctx, cancel := context.WithTimeout(context.Background(), disconnectCleanTimeout)
			h.flushPresence(ctx)
			cancel()
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), disconnectCleanTimeout)
			h.flushPresence(ctx)
			cancel()
		}
	}
}

// presenceLoop refreshes this replica's presence entries and sweeps expired ones.
func (h *Hub) presenceLoop() {
	defer h.bg.Done()
	defer h.recoverGoroutine("presence")
	t := time.NewTicker(h.cfg.PresenceRefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-h.stopBG:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), h.cfg.PresenceRefreshInterval)
			h.refreshPresence(ctx)
			cancel()
		}
	}
}

func (h *Hub) refreshPresence(ctx context.Context) {
	node := h.cfg.NodeID
	if err := h.pres.Refresh(ctx, node, h.localDevices()); err != nil {
		h.log.Warn("presence refresh", "err", err)
	}
	// Sweep until nothing is left (a registry may return its expired entries in
	// batches), within this round's time.
	for ctx.Err() == nil {
		expired, err := h.pres.Sweep(ctx, node)
		if err != nil {
			h.log.Warn("presence sweep", "err", err)
			return
		}
		if len(expired) == 0 {
			return
		}
		h.expire(ctx, expired)
	}
}

// expire records and announces offline the devices whose presence entries expired.
func (h *Hub) expire(ctx context.Context, expired []Expired) {
	node := h.cfg.NodeID
	for _, e := range expired {
		if h.local(e.DeviceID) != nil {
			// Connected here after all (the registry lost or delayed our refresh).
			if err := h.pres.Add(ctx, e.DeviceID, node); err != nil {
				h.log.Warn("presence add", "device_id", e.DeviceID, "err", err)
			}
			continue
		}
		h.log.Info("presence expired", "device_id", e.DeviceID, "last_seen_at", e.LastSeen)
		h.queuePresence(PresenceUpdate{DeviceID: e.DeviceID, Online: false, LastSeenAt: e.LastSeen.UTC()})
		h.announceLoad(ctx, e.DeviceID, false, e.LastSeen)
	}
}

// heartbeatLoop pings silent connections and drops dead ones, for all connections
// with one ticker.
func (h *Hub) heartbeatLoop() {
	defer h.bg.Done()
	defer h.recoverGoroutine("heartbeat")
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
		case now := <-t.C:
			h.heartbeat(now)
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
