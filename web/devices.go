package web

import (
	"context"
	"fmt"
	"net/http"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling/access"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
)

// Device platforms accepted at registration.
var platforms = map[string]bool{"ios": true, "android": true, "web": true, "other": true}

// ownedDevice returns the device if it belongs to the user (access.Manage); another
// user's device and a missing one are both 404, a camera shared with the user 403.
func (s *Server) ownedDevice(ctx context.Context, userID, id string) (store.Device, error) {
	g, err := s.access.User(ctx, userID, id, access.Manage)
	if err != nil {
		return store.Device{}, err
	}
	return g.Camera, nil
}

// POST /devices {name, role, platform, app_version?, push_token?}
func (s *Server) handleCreateDevice(w http.ResponseWriter, r *http.Request) error {
	var in createDeviceRequest
	if err := s.decodeJSON(w, r, &in); err != nil {
		return err
	}
	if err := in.check(); err != nil {
		return err
	}
	tok, err := newSecret()
	if err != nil {
		return err
	}
	p := principalFrom(r.Context())
	d := store.Device{
		UserID:     p.userID,
		Name:       in.Name,
		Role:       in.Role,
		Platform:   in.Platform,
		AppVersion: in.AppVersion,
		PushToken:  in.PushToken,
		Status:     store.DeviceOffline,
		IsCamera:   in.Role == store.RoleCamera,
	}
	if err := s.store.CreateDevice(r.Context(), &d, hashToken(tok)); err != nil {
		return fmt.Errorf("create device: %w", err)
	}
	s.audit(r, p.userID, AuditDeviceCreated, "device", d.ID, map[string]any{"role": d.Role, "platform": d.Platform})
	s.announceDevice(r.Context(), p.userID, wire.DeviceCreated, d)
	writeJSON(w, http.StatusCreated, struct {
		Device      wire.Device `json:"device"`
		DeviceToken string      `json:"device_token"`
	}{wire.FromDevice(d), tok})
	return nil
}

// GET /devices
func (s *Server) handleListDevices(w http.ResponseWriter, r *http.Request) error {
	page, err := pageParams(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	me := principalFrom(ctx).userID
	items, next, err := s.store.ListDevices(ctx, me, page)
	if err != nil {
		return fmt.Errorf("list devices: %w", err)
	}
	var shared []store.Device
	var shares []store.Share
	if page.Cursor == "" {
		if shared, shares, err = s.sharedCameras(ctx, me); err != nil {
			return err
		}
	}
	all := append(items, shared...)
	s.livePresence(ctx, all)
	out := newList(all, next, wire.FromDevice)
	for i, sh := range shares {
		j := len(items) + i
		out.Items[j] = wire.FromSharedDevice(all[j], sh, s.userName(ctx, sh.OwnerUserID))
	}
	if err := s.cameraAlerts(ctx, me, out.Items); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// GET /devices/{id}
func (s *Server) handleGetDevice(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	g, err := s.may(ctx, id, access.View)
	if err != nil {
		return err
	}
	one := []store.Device{g.Camera}
	s.livePresence(ctx, one)
	out := []wire.Device{wire.FromDevice(one[0])}
	if g.Share != nil {
		out[0] = wire.FromSharedDevice(one[0], *g.Share, s.userName(ctx, g.Share.OwnerUserID))
	}
	if err := s.cameraAlerts(ctx, principalFrom(ctx).userID, out); err != nil {
		return err
	}
	if g.Camera.IsCamera {
		n, err := s.watchers(ctx, g.Camera.ID)
		if err != nil {
			return err
		}
		out[0].Watchers = &n
	}
	writeJSON(w, http.StatusOK, out[0])
	return nil
}

// watchers counts who watches camera now: its live peer-to-peer sessions (the
// stored rows, cluster-wide) and the viewers of its publication on this replica's
// relay (socket-relayed sessions and WHEP players alike; a relay's viewers live
// on the replica that holds the publication).
func (s *Server) watchers(ctx context.Context, camera string) (int, error) {
	open, err := s.store.OpenStreamSessions(ctx, camera)
	if err != nil {
		return 0, fmt.Errorf("count watchers: %w", err)
	}
	n := 0
	for _, o := range open {
		if o.CameraDeviceID == camera && o.MediaProvider == store.MediaP2P && o.Status == store.StreamLive {
			n++
		}
	}
	if s.media != nil {
		n += s.media.Viewers(camera)
	}
	return n, nil
}

// livePresence sets each device's status from the cluster-wide presence registry,
// which is ahead of the stored status (written in batches). If the registry cannot
// answer, the stored status stands.
func (s *Server) livePresence(ctx context.Context, devices []store.Device) {
	if s.presence == nil || len(devices) == 0 {
		return
	}
	ids := make([]string, len(devices))
	for i, d := range devices {
		ids[i] = d.ID
	}
	online, err := s.presence.OnlineDevices(ctx, ids)
	if err != nil {
		s.log.WarnContext(ctx, "live presence unavailable: using the stored status", "err", err)
		return
	}
	for i := range devices {
		devices[i].Status = store.DeviceOffline
		if online[i] {
			devices[i].Status = store.DeviceOnline
		}
	}
}

// PATCH /devices/{id} {name?, push_token?, app_version?, recording_mode?, live_mode?, arm_modes?,
// event_cooldown_seconds?, muted_until?}; a device token may change only its own
// push_token and app_version. The last four are a camera's settings.
func (s *Server) handleUpdateDevice(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	var in updateDeviceRequest
	if err := s.decodeJSON(w, r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	p := principalFrom(ctx)
	var cur store.Device
	if p.device != nil {
		if p.device.ID != id {
			return errForbidden("a device token may only change its own device")
		}
		if in.Name != nil || in.RecordingMode != nil || in.LiveMode != nil || !in.cameraAlertsUpdate.empty() {
			return errForbidden("a device token may only change push_token and app_version")
		}
		cur = *p.device
	}
	var owned store.Device
	if p.device == nil {
		// Muting is the caller's own setting: reading the camera's events is enough.
		action := access.Configure
		if in.onlyMutes() {
			action = access.ReadEvents
		}
		g, err := s.may(ctx, id, action)
		if err != nil {
			return err
		}
		owned = g.Camera
		if g.Share != nil && (in.PushToken != nil || in.AppVersion != nil) {
			return errForbidden("only the device's owner changes push_token and app_version")
		}
		if in.RecordingMode != nil && !owned.IsCamera {
			return errBadRequest("recording_mode is a camera's setting; this device is a viewer")
		}
		if in.LiveMode != nil && !owned.IsCamera {
			return errBadRequest("live_mode is a camera's setting; this device is a viewer")
		}
		cur = owned
	}
	if err := in.check(); err != nil {
		return err
	}
	if in.PushToken != nil && *in.PushToken != "" && cur.Platform == platformWeb {
		if err := checkWebPushSubscription(*in.PushToken); err != nil {
			return err
		}
	}
	if !in.cameraAlertsUpdate.empty() {
		if err := s.updateCameraAlerts(r, p.userID, owned, in.cameraAlertsUpdate); err != nil {
			return err
		}
	}
	u := store.DeviceUpdate{Name: in.Name, PushToken: in.PushToken, AppVersion: in.AppVersion, RecordingMode: in.RecordingMode,
		LiveMode: in.LiveMode}
	var d store.Device
	if u == (store.DeviceUpdate{}) {
		d, err = s.store.Device(ctx, id)
	} else {
		d, err = s.store.UpdateDevice(ctx, id, u)
	}
	if err != nil {
		return fmt.Errorf("update device: %w", err)
	}
	if u.Name != nil || u.RecordingMode != nil || u.LiveMode != nil {
		s.announceDevice(ctx, d.UserID, wire.DeviceUpdated, d)
	}
	if u.RecordingMode != nil && s.onMode != nil {
		s.onMode(ctx, d)
	}
	out := []wire.Device{wire.FromDevice(d)}
	if err := s.cameraAlerts(ctx, p.userID, out); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out[0])
	return nil
}

// DELETE /devices/{id}: soft-deletes, revokes its links, closes its socket (4003).
func (s *Server) handleDeleteDevice(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	p := principalFrom(ctx)
	gone, err := s.ownedDevice(ctx, p.userID, id)
	if err != nil {
		return err
	}
	revoked, err := s.store.DeleteDevice(ctx, id)
	if err != nil {
		return fmt.Errorf("delete device: %w", err)
	}
	if s.sockets != nil {
		if err := s.sockets.CloseDevice(ctx, id, hub.StatusForbidden, "device deleted"); err != nil {
			s.log.WarnContext(ctx, "closing the device's sockets failed", "device_id", id, "err", err)
		}
	}
	for _, l := range revoked {
		s.linkRevoked(ctx, l)
	}
	s.audit(r, p.userID, AuditDeviceDeleted, "device", id, map[string]any{"revoked_links": len(revoked)})
	s.announceDevice(ctx, p.userID, wire.DeviceDeleted, gone)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
