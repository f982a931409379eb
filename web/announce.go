package web

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/store"

	"github.com/securecam/securecam/signaling/wire"
)

// announceDevice tells every connected device of the account, linked or not, that d
// was created, updated or deleted. Delivery is at most once and best effort: a device
// that misses it reads the list on its next connection.
func (s *Server) announceDevice(ctx context.Context, userID, change string, d store.Device) {
	if s.sockets == nil {
		return
	}
	data, err := json.Marshal(wire.DeviceChange{Change: change, Device: wire.FromDevice(d)})
	if err != nil {
		s.log.ErrorContext(ctx, "encode device announcement", "err", err)
		return
	}
	env := hub.Envelope{Type: wire.TypeDevice, Data: data}
	page := store.Page{Limit: 100}
	for {
		devices, next, err := s.store.ListDevices(ctx, userID, page)
		if err != nil {
			s.log.WarnContext(ctx, "list devices to announce a change", "device_id", d.ID, "err", err)
			return
		}
		for _, to := range devices {
			err := s.sockets.Send(ctx, to.ID, env)
			if err != nil && !errors.Is(err, hub.ErrOffline) {
				s.log.DebugContext(ctx, "announce device change", "to", to.ID, "err", err)
			}
		}
		if next == "" {
			return
		}
		page.Cursor = next
	}
}
