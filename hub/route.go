package hub

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"time"

	"github.com/coder/websocket"
)

var shardSeed = maphash.MakeSeed()

func (h *Hub) shard(deviceID string) *shard {
	return &h.shards[maphash.String(shardSeed, deviceID)%shardCount]
}

// local returns the connection of deviceID on this replica, or nil.
func (h *Hub) local(deviceID string) *Client {
	s := h.shard(deviceID)
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.clients[deviceID]
}

// register makes c the local connection of its device and returns the connection it
// displaced, to be closed with 4001. When a newer connection of the device is
// already registered, c is returned instead.
func (h *Hub) register(c *Client) (loser *Client) {
	s := h.shard(c.id.DeviceID)
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.clients[c.id.DeviceID]
	if old != nil && old.connID > c.connID {
		return c
	}
	s.clients[c.id.DeviceID] = c
	return old
}

// unregister removes c if it is still its device's local connection and reports
// whether it was.
func (h *Hub) unregister(c *Client) bool {
	s := h.shard(c.id.DeviceID)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.clients[c.id.DeviceID] != c {
		return false
	}
	delete(s.clients, c.id.DeviceID)
	return true
}

// eachClient calls fn for every local connection, holding a shard's read lock:
// fn must not block.
func (h *Hub) eachClient(fn func(c *Client)) {
	for i := range h.shards {
		s := &h.shards[i]
		s.mu.RLock()
		for _, c := range s.clients {
			fn(c)
		}
		s.mu.RUnlock()
	}
}

func (h *Hub) localClients() []*Client {
	var cs []*Client
	h.eachClient(func(c *Client) { cs = append(cs, c) })
	return cs
}

func (h *Hub) localDevices() []string {
	var ids []string
	h.eachClient(func(c *Client) { ids = append(ids, c.id.DeviceID) })
	return ids
}

// ConnectedHere reports whether deviceID has a socket on this replica, to which
// [Hub.Send] hands a message directly (unless that socket closes meanwhile).
func (h *Hub) ConnectedHere(deviceID string) bool {
	return h.local(deviceID) != nil
}

// Send delivers env to deviceID wherever it is connected in the cluster: a socket on
// this replica gets it queued directly; otherwise it goes over the bus. It returns
// [ErrOffline] when the device is connected nowhere, [ErrQueueFull] when its local
// queue overflowed (the socket is closing with 4008). Delivery to another replica is
// at most once: that replica's queue may still overflow. The hub stamps nothing:
// callers set From. Messages from one goroutine to one device arrive in order.
func (h *Hub) Send(ctx context.Context, deviceID string, env Envelope) error {
	b, err := Encode(env)
	if err != nil {
		return fmt.Errorf("hub: send: %w", err)
	}
	return h.route(ctx, deviceID, env.Type, b)
}

func (h *Hub) route(ctx context.Context, deviceID, typ string, b []byte) error {
	start := time.Now()
	done, selfSubscribed, err := h.routeLocal(deviceID, typ, b, start)
	if done {
		return err
	}
	n, err := h.bus.Publish(ctx, deviceID, messageFrame(typ, b))
	return h.published(n, err, selfSubscribed, start)
}

// SendThen is Send without waiting for the bus: done gets Send's result, at once
// when the device is connected here (or the message cannot be encoded), else once the
// bus answered, from another goroutine; done must not block. The message is queued
// (here, or for the bus) before SendThen returns, so messages from one goroutine to
// one device by Send and SendThen arrive in order.
func (h *Hub) SendThen(ctx context.Context, deviceID string, env Envelope, done func(error)) {
	b, err := Encode(env)
	if err != nil {
		done(fmt.Errorf("hub: send: %w", err))
		return
	}
	start := time.Now()
	local, selfSubscribed, err := h.routeLocal(deviceID, env.Type, b, start)
	if local {
		done(err)
		return
	}
	frame := messageFrame(env.Type, b)
	pt, ok := h.bus.(publisherThen)
	if !ok {
		n, err := h.bus.Publish(ctx, deviceID, frame)
		done(h.published(n, err, selfSubscribed, start))
		return
	}
	pt.PublishThen(ctx, deviceID, frame, func(n int, err error) {
		done(h.published(n, err, selfSubscribed, start))
	})
}

// routeLocal queues the encoded envelope b for deviceID's socket on this replica.
// done reports that this settled the message (err is its result); otherwise it goes
// over the bus, and selfSubscribed says that this replica's socket of the device,
// closing, is still among the bus's subscribers.
func (h *Hub) routeLocal(deviceID, typ string, b []byte, start time.Time) (done, selfSubscribed bool, err error) {
	c := h.local(deviceID)
	if c == nil {
		return false, false, nil
	}
	err = c.sendRaw(typ, b)
	if err == nil {
		h.metrics.routeSeconds.WithLabelValues("local").Observe(time.Since(start).Seconds())
		return true, false, nil
	}
	if errors.Is(err, ErrQueueFull) {
		return true, false, err
	}
	// Closing here, and still subscribed: the device may already be connected
	// elsewhere, but this replica's own subscription does not count.
	return false, true, nil
}

// published turns the bus's answer to a message's publish into route's result.
func (h *Hub) published(n int, err error, selfSubscribed bool, start time.Time) error {
	if err != nil {
		h.metrics.busPublishErrors.Inc()
		return fmt.Errorf("hub: send: %w", err)
	}
	if selfSubscribed {
		n--
	}
	if n <= 0 {
		return ErrOffline
	}
	h.metrics.routeSeconds.WithLabelValues("bus").Observe(time.Since(start).Seconds())
	return nil
}

func (h *Hub) publishControl(ctx context.Context, key string, m control) {
	frame := controlFrame(m)
	var err error
	if key == "" {
		err = h.bus.Broadcast(ctx, frame)
	} else {
		_, err = h.bus.Publish(ctx, key, frame)
	}
	if err != nil {
		h.metrics.busPublishErrors.Inc()
		h.log.Warn("bus publish control", "op", m.Op, "err", err)
	}
}

// receive handles a frame from the bus. It never blocks.
func (h *Hub) receive(key string, msg []byte) {
	defer h.recoverGoroutine("bus receive")
	f, err := decodeFrame(msg)
	if err != nil {
		h.log.Warn("bad frame on bus", "err", err)
		return
	}
	switch f.kind {
	case frameMessage:
		if c := h.local(key); c != nil {
			// The bus hands over its buffer; the queue keeps the slice.
			_ = c.sendRaw(f.typ, f.body)
		}
	case frameControl:
		h.control(key, f.ctl)
	}
}

func (h *Hub) control(key string, m control) {
	switch m.Op {
	case opReplace:
		if c := h.local(key); c != nil && c.connID < m.Conn {
			c.close(StatusReplaced, "replaced by a newer connection", false)
		}
	case opClose:
		if c := h.local(key); c != nil {
			c.close(websocket.StatusCode(m.Code), m.Reason, true)
		}
	case opCloseSession, opCloseUser:
		if m.Node != h.cfg.NodeID {
			h.closeLocal(m, websocket.StatusCode(m.Code))
		}
	case opNode:
		h.receiveNode(m)
	case opSendUser:
		if m.Node != h.cfg.NodeID {
			h.sendUserLocal(m.User, m.Except, m.Type, []byte(m.Data))
		}
	}
}

// SendUser delivers env to every device of userID connected anywhere in the cluster,
// except the device except (empty: none). It costs one pass over each replica's
// sockets and one broadcast on the bus, however many devices the user has. Delivery is
// at most once and best effort: a socket whose queue overflows closes with 4008, and a
// replica the broadcast misses (the bus is down) does not deliver. The hub stamps
// nothing: callers set From.
func (h *Hub) SendUser(ctx context.Context, userID, except string, env Envelope) error {
	if userID == "" {
		return errors.New("hub: send user: empty user id")
	}
	b, err := Encode(env)
	if err != nil {
		return fmt.Errorf("hub: send user: %w", err)
	}
	h.sendUserLocal(userID, except, env.Type, b)
	m := control{Op: opSendUser, Node: h.cfg.NodeID, User: userID, Except: except, Type: env.Type, Data: string(b)}
	if err := h.bus.Broadcast(ctx, controlFrame(m)); err != nil {
		h.metrics.busPublishErrors.Inc()
		return fmt.Errorf("hub: send user: %w", err)
	}
	return nil
}

// sendUserLocal queues the encoded envelope b of type typ for this replica's sockets
// of userID, except device except's.
func (h *Hub) sendUserLocal(userID, except, typ string, b []byte) {
	var to []*Client
	h.eachClient(func(c *Client) {
		if c.id.UserID == userID && c.id.DeviceID != except {
			to = append(to, c)
		}
	})
	for _, c := range to {
		_ = c.sendRaw(typ, b) // closed or overflowing (closing with 4008): best effort
	}
}

// CloseDevice closes deviceID's socket with code and reason wherever it is connected
// in the cluster (after the messages already queued for it). A device connected
// nowhere is not an error.
func (h *Hub) CloseDevice(ctx context.Context, deviceID string, code websocket.StatusCode, reason string) error {
	if c := h.local(deviceID); c != nil {
		c.close(code, reason, true)
		return nil
	}
	if _, err := h.bus.Publish(ctx, deviceID, controlFrame(control{Op: opClose, Code: int(code), Reason: reason})); err != nil {
		h.metrics.busPublishErrors.Inc()
		return fmt.Errorf("hub: close device: %w", err)
	}
	return nil
}

// CloseSession closes, on every replica, the sockets opened with user session
// sessionID (sign-out: 4003).
func (h *Hub) CloseSession(ctx context.Context, sessionID string, code websocket.StatusCode, reason string) error {
	if sessionID == "" {
		return errors.New("hub: close session: empty session id")
	}
	return h.closeEverywhere(ctx, control{Op: opCloseSession, Session: sessionID, Code: int(code), Reason: reason})
}

// CloseUserSessions closes, on every replica, the sockets userID opened with any user
// session, not those opened with a device token (password reset: 4003).
func (h *Hub) CloseUserSessions(ctx context.Context, userID string, code websocket.StatusCode, reason string) error {
	if userID == "" {
		return errors.New("hub: close user sessions: empty user id")
	}
	return h.closeEverywhere(ctx, control{Op: opCloseUser, User: userID, Code: int(code), Reason: reason})
}

// closeEverywhere closes the matching sockets here and broadcasts m to the others.
func (h *Hub) closeEverywhere(ctx context.Context, m control) error {
	m.Node = h.cfg.NodeID
	h.closeLocal(m, websocket.StatusCode(m.Code))
	if err := h.bus.Broadcast(ctx, controlFrame(m)); err != nil {
		h.metrics.busPublishErrors.Inc()
		return fmt.Errorf("hub: %s: %w", m.Op, err)
	}
	return nil
}

// closeLocal closes this replica's sockets that m (close_session or close_user) names.
func (h *Hub) closeLocal(m control, code websocket.StatusCode) {
	h.eachClient(func(c *Client) {
		if c.id.SessionID != "" && (c.id.SessionID == m.Session || c.id.UserID == m.User) {
			c.close(code, m.Reason, true)
		}
	})
}

// Online reports whether deviceID is connected anywhere in the cluster.
func (h *Hub) Online(ctx context.Context, deviceID string) (bool, error) {
	if h.local(deviceID) != nil {
		return true, nil
	}
	on, err := h.pres.Online(ctx, []string{deviceID})
	if err != nil {
		return false, fmt.Errorf("hub: online: %w", err)
	}
	return on[0], nil
}

// OnlineDevices reports, for each id, whether that device is connected anywhere in
// the cluster.
func (h *Hub) OnlineDevices(ctx context.Context, deviceIDs []string) ([]bool, error) {
	online, err := h.pres.Online(ctx, deviceIDs)
	if err != nil {
		return nil, fmt.Errorf("hub: online devices: %w", err)
	}
	for i, id := range deviceIDs {
		online[i] = online[i] || h.local(id) != nil
	}
	return online, nil
}

// Ready reports whether the hub can serve: not shutting down, bus and presence
// registry healthy.
func (h *Hub) Ready(ctx context.Context) error {
	if h.isDraining() {
		return ErrShutdown
	}
	if err := h.bus.Ready(ctx); err != nil {
		return fmt.Errorf("hub: bus: %w", err)
	}
	if err := h.pres.Ready(ctx); err != nil {
		return fmt.Errorf("hub: presence: %w", err)
	}
	return nil
}

func (h *Hub) isDraining() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.draining
}
