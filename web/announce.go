package web

import (
	"context"
	"encoding/json"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/store"

	"github.com/securecam/securecam/signaling/wire"
)

// announceDevice tells every connected device of the account, linked or not, that d
// was created, updated or deleted (a deleted device's own socket is closed instead).
// Delivery is at most once and best effort: a device that misses it reads the list on
// its next connection. The hub reaches the account's sockets without listing its
// devices, so an announcement costs the same however many devices the account has.
func (s *Server) announceDevice(ctx context.Context, userID, change string, d store.Device) {
	if s.sockets == nil {
		return
	}
	data, err := json.Marshal(wire.DeviceChange{Change: change, Device: wire.FromDevice(d)})
	if err != nil {
		s.log.ErrorContext(ctx, "encode device announcement", "err", err)
		return
	}
	except := ""
	if change == wire.DeviceDeleted {
		except = d.ID
	}
	if err := s.sockets.SendUser(ctx, userID, except, hub.Envelope{Type: wire.TypeDevice, Data: data}); err != nil {
		s.log.WarnContext(ctx, "announce device change", "device_id", d.ID, "err", err)
	}
}
