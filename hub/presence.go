package hub

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"
)

// PresenceData is the data of presence, and an entry of HelloData.Presence. LastSeenAt
// is nil for a device never seen; the hub sends it in whole seconds.
type PresenceData struct {
	DeviceID   string     `json:"device_id"`
	Status     string     `json:"status"` // online or offline
	LastSeenAt *time.Time `json:"last_seen_at"`
}

func newPresenceData(deviceID string, online bool, lastSeen time.Time) PresenceData {
	p := PresenceData{DeviceID: deviceID, Status: "offline"}
	if online {
		p.Status = "online"
	}
	if !lastSeen.IsZero() {
		t := lastSeen.UTC().Truncate(time.Second)
		p.LastSeenAt = &t
	}
	return p
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
	b, err := Encode(Envelope{Type: TypePresence, Data: data})
	if err != nil {
		h.log.Error("encode presence", "err", err)
		return
	}
	for _, l := range linked {
		err := h.route(ctx, l.DeviceID, TypePresence, b)
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

// flushPresence writes the pending presence updates to the Directory. Updates it
// could not write (an error, or a panic in the Directory) stay pending for the next
// flush unless superseded meanwhile.
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
	slices.SortFunc(updates, func(a, b PresenceUpdate) int { return strings.Compare(a.DeviceID, b.DeviceID) })
	recorded := false
	defer func() {
		if !recorded {
			h.requeuePresence(updates)
		}
	}()
	if err := h.dir.RecordPresence(ctx, updates); err != nil {
		h.log.Warn("record presence", "devices", len(updates), "err", err)
		return
	}
	recorded = true
}

// requeuePresence puts back updates that were not written, except those superseded
// since.
func (h *Hub) requeuePresence(updates []PresenceUpdate) {
	h.presMu.Lock()
	defer h.presMu.Unlock()
	for _, u := range updates {
		if _, newer := h.presPending[u.DeviceID]; !newer {
			h.presPending[u.DeviceID] = u
		}
	}
}

// flushLoop writes presence to the Directory every PresenceFlushInterval, and once
// more when the hub stops.
func (h *Hub) flushLoop() {
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

// presenceLoop refreshes this replica's presence entries and sweeps expired ones,
// every PresenceRefreshInterval and at once after the bus resumed.
func (h *Hub) presenceLoop() {
	t := time.NewTicker(h.cfg.PresenceRefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-h.stopBG:
			return
		case <-t.C:
		case <-h.refreshPresence: // the bus resumed: the registry may have lost our entries
		}
		ctx, cancel := context.WithTimeout(context.Background(), h.cfg.PresenceRefreshInterval)
		h.refreshPresenceNow(ctx)
		cancel()
	}
}

func (h *Hub) refreshPresenceNow(ctx context.Context) {
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
