package signaling

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/store"
)

// DirectoryStore is the part of the store a [Directory] uses.
type DirectoryStore interface {
	Device(ctx context.Context, id string) (store.Device, error)
	LinkedDeviceIDs(ctx context.Context, deviceID string) ([]string, error)
	SetDevicePresence(ctx context.Context, id, status string, lastSeen time.Time) error
}

// Directory is the hub's view of durable state (hub.Directory): who is linked with a
// device, and the presence record in devices.status and last_seen_at.
type Directory struct {
	Store DirectoryStore
}

// LinkedDevices returns the devices linked with deviceID by an active link.
func (d Directory) LinkedDevices(ctx context.Context, deviceID string) ([]hub.LinkedDevice, error) {
	ids, err := d.Store.LinkedDeviceIDs(ctx, deviceID)
	if err != nil {
		return nil, fmt.Errorf("linked devices: %w", err)
	}
	out := make([]hub.LinkedDevice, 0, len(ids))
	for _, id := range ids {
		dev, err := d.Store.Device(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("linked device %s: %w", id, err)
		}
		ld := hub.LinkedDevice{DeviceID: id}
		if dev.LastSeenAt != nil {
			ld.LastSeenAt = *dev.LastSeenAt
		}
		out = append(out, ld)
	}
	return out, nil
}

// RecordPresence writes each update to the store. A device deleted meanwhile is
// skipped.
func (d Directory) RecordPresence(ctx context.Context, updates []hub.PresenceUpdate) error {
	for _, u := range updates {
		status := store.DeviceOffline
		if u.Online {
			status = store.DeviceOnline
		}
		err := d.Store.SetDevicePresence(ctx, u.DeviceID, status, u.LastSeenAt)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("record presence of %s: %w", u.DeviceID, err)
		}
	}
	return nil
}
