package signaling

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling/access"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
)

// EventStore is the part of the store events and telemetry use.
type EventStore interface {
	LinkedDeviceIDs(ctx context.Context, deviceID string) ([]string, error)
	ListDevices(ctx context.Context, userID string, p store.Page) ([]store.Device, string, error)
	CreateEvent(ctx context.Context, e *store.Event) error
	Event(ctx context.Context, id string) (store.Event, error)
	ListEvents(ctx context.Context, userID string, f store.EventFilter, p store.Page) ([]store.Event, string, error)
	EndEvent(ctx context.Context, id string, endedAt time.Time) (store.Event, error)
	ClaimEventNotification(ctx context.Context, id string, at time.Time, cooldown time.Duration) (bool, error)
	CreateNotification(ctx context.Context, n *store.Notification) error
	ScheduleCameraOffline(ctx context.Context, c store.CameraOfflineCheck) error
	ClaimCameraOffline(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.CameraOfflineCheck, error)
	FinishCameraOffline(ctx context.Context, deviceID string, droppedAt time.Time) error
	ArmingStore
}

// Alerter queues an alert push about event e for the offline viewer deviceID, with
// body as its text; it does nothing for a device that cannot receive a push. The push
// package implements it.
type Alerter interface {
	Alert(ctx context.Context, deviceID string, e store.Event, body string) error
}

// EventConfig configures events.
type EventConfig struct {
	// Cooldown: once an event of a camera alerted its owner, the camera's further
	// events with the same trigger within Cooldown are recorded and reach online
	// viewers as event messages, but raise no notification and no push (a flapping
	// motion sensor alerts once). A camera's own event cooldown setting overrides it.
	// Default 1 min.
	Cooldown time.Duration
	// CameraOfflineAfter: a camera that dropped off without a clean close and stays
	// away this long raises a camera_offline event. The countdown is kept in the store
	// and swept by every replica, so it survives the replica that saw the drop.
	// Default 2 min.
	CameraOfflineAfter time.Duration
}

func (c *EventConfig) setDefaults() {
	if c.Cooldown <= 0 {
		c.Cooldown = time.Minute
	}
	if c.CameraOfflineAfter <= 0 {
		c.CameraOfflineAfter = 2 * time.Minute
	}
}

// Titles of the events the hub raises itself.
const cameraOfflineTitle = "Camera offline"

func (s *Service) attachEvents(h *hub.Hub) {
	h.Handle(wire.TypeEventStart, s.handleEventStart)
	h.Handle(wire.TypeEventEnd, s.handleEventEnd)
	h.Handle(wire.TypeTelemetry, s.handleTelemetry)
}

// sender loads the device of a connection and requires it to be a camera.
func (s *Service) sender(ctx context.Context, c *hub.Client, what string) (store.Device, error) {
	d, err := s.store.Device(ctx, c.Identity().DeviceID)
	if err != nil {
		return d, err
	}
	if d.Role != store.RoleCamera {
		return d, wire.Errorf(wire.CodeForbidden, "only a camera sends %s", what)
	}
	return d, nil
}

func (s *Service) handleEventStart(ctx context.Context, c *hub.Client, env hub.Envelope) {
	var req wire.EventRequest
	err := wire.DecodeData(env.Data, &req)
	if err == nil {
		req.DeviceID = ""
		var cam store.Device
		if cam, err = s.sender(ctx, c, "events"); err == nil {
			var e store.Event
			if e, err = s.RaiseEvent(ctx, cam, req); err == nil {
				s.reply(c, env, wire.EventAck{EventID: e.ID}, nil)
				return
			}
		}
	}
	s.reply(c, env, nil, err)
}

func (s *Service) handleEventEnd(ctx context.Context, c *hub.Client, env hub.Envelope) {
	var req wire.EventEnd
	err := wire.DecodeData(env.Data, &req)
	if err == nil {
		err = req.Validate()
	}
	if err == nil {
		var e store.Event
		e, err = s.store.Event(ctx, req.EventID)
		if err == nil && e.DeviceID != c.Identity().DeviceID {
			err = wire.Errorf(wire.CodeNotFound, "event %s not found", req.EventID)
		}
		if err == nil {
			if e, err = s.EndEvent(ctx, e, nil); err == nil {
				s.reply(c, env, wire.EventAck{EventID: e.ID, Status: e.Status}, nil)
				return
			}
		}
	}
	s.reply(c, env, nil, err)
}

// RaiseEvent records an event of camera and tells the owner: the camera's linked
// viewers that are online get an event message at once; then, unless the camera is in
// its cooldown for this trigger, the owner gets a notification (a notifications row and
// a notification message to the owner's online devices) and every linked viewer that
// is offline gets an alert push, and the event's notified_at is set. Cameras get no
// notification messages. It returns the
// event as recorded.
func (s *Service) RaiseEvent(ctx context.Context, camera store.Device, req wire.EventRequest) (store.Event, error) {
	now := s.cfg.Now().UTC()
	if err := req.Validate(now); err != nil {
		return store.Event{}, err
	}
	if camera.Role != store.RoleCamera {
		return store.Event{}, wire.Errorf(wire.CodeForbidden, "only a camera raises events")
	}
	e := store.Event{UserID: camera.UserID, DeviceID: camera.ID, Title: req.Title, TriggeredBy: req.TriggeredBy,
		Status: store.EventActive, CreatedAt: now}
	if req.StartedAt != nil {
		e.StartedAt = *req.StartedAt
	}
	return s.raise(ctx, camera, e)
}

// raise records e and announces it (see RaiseEvent). A camera that is not armed has
// its motion recorded with Disarmed set, sent to its online viewers, and nothing more;
// camera_offline is about the system, not motion, and alerts whatever the mode.
func (s *Service) raise(ctx context.Context, camera store.Device, e store.Event) (store.Event, error) {
	armed, cooldown := s.alertPolicy(ctx, camera)
	e.Disarmed = !armed && e.TriggeredBy != store.TriggerCameraOffline
	if err := s.store.CreateEvent(ctx, &e); err != nil {
		return store.Event{}, err
	}
	if s.cfg.OnEvent != nil {
		s.cfg.OnEvent(ctx, e)
	}
	log := s.log.With("event_id", e.ID, "device_id", camera.ID, "triggered_by", e.TriggeredBy)
	if e.Disarmed {
		s.sendEvent(ctx, camera.ID, e)
		log.DebugContext(ctx, "event of a camera not armed: no alerts")
		return e, nil
	}
	at := s.cfg.Now().UTC()
	alert, err := s.store.ClaimEventNotification(ctx, e.ID, at, cooldown)
	if err != nil {
		log.WarnContext(ctx, "claim event notification: no alerts for this event", "event_id", e.ID, "err", err)
	}
	if alert {
		t := at.Truncate(time.Microsecond)
		e.NotifiedAt = &t
	}
	offline := s.sendEvent(ctx, camera.ID, e)
	if !alert {
		log.DebugContext(ctx, "event within the camera's cooldown: no alerts")
		return e, nil
	}
	prefs := s.recipientPrefs(camera.ID, at)
	for _, u := range append([]string{e.UserID}, s.sharedWith(ctx, camera.ID, access.ReadEvents)...) {
		if prefs.of(ctx, u).muted {
			log.DebugContext(ctx, "camera muted by the user: no notification", "user_id", u)
			continue
		}
		s.notifyUser(ctx, e, u, at)
	}
	if len(offline) == 0 {
		return e, nil
	}
	users, err := s.store.DeviceUsers(ctx, offline)
	if err != nil {
		log.WarnContext(ctx, "alert pushes: load the viewers' users", "err", err)
		return e, nil
	}
	for _, id := range offline {
		if p := prefs.of(ctx, users[id]); p.muted || p.quiet {
			log.DebugContext(ctx, "no alert push: the viewer's user muted the camera or is in quiet hours", "viewer_id", id,
				"muted", p.muted, "quiet", p.quiet)
			continue
		}
		if s.cfg.Alerter == nil {
			log.InfoContext(ctx, "alert push for an offline viewer not sent: no push configured", "viewer_id", id)
			continue
		}
		if err := s.cfg.Alerter.Alert(ctx, id, e, camera.Name); err != nil {
			log.WarnContext(ctx, "queue alert push", "viewer_id", id, "err", err)
		}
	}
	return e, nil
}

// EndEvent ends the active event e (its camera's or owner's request: the caller checked
// who may) at endedAt (nil: now), and sends the updated event to the camera's online
// viewers. Ending an ended event changes nothing.
func (s *Service) EndEvent(ctx context.Context, e store.Event, endedAt *time.Time) (store.Event, error) {
	if e.Status == store.EventEnded {
		return e, nil
	}
	at := s.cfg.Now().UTC()
	if endedAt != nil {
		if endedAt.After(at.Add(wire.MaxEventClockSkew)) {
			return store.Event{}, wire.Errorf(wire.CodeBadRequest, "ended_at is in the future")
		}
		if endedAt.Before(e.StartedAt) {
			return store.Event{}, wire.Errorf(wire.CodeBadRequest, "ended_at is before started_at")
		}
		at = endedAt.UTC()
	}
	ended, err := s.store.EndEvent(ctx, e.ID, at)
	if err != nil {
		return store.Event{}, err
	}
	if s.cfg.OnEvent != nil {
		s.cfg.OnEvent(ctx, ended)
	}
	if ended.DeviceID != "" {
		s.sendEvent(ctx, ended.DeviceID, ended)
	}
	return ended, nil
}

// sendEvent sends e as an event message from the camera to each of its linked devices
// and returns those connected nowhere.
func (s *Service) sendEvent(ctx context.Context, cameraID string, e store.Event) (offline []string) {
	data, _ := json.Marshal(wire.FromEvent(e))
	env := hub.Envelope{Type: wire.TypeEvent, From: cameraID, Data: data}
	linked, err := s.store.LinkedDeviceIDs(ctx, cameraID)
	if err != nil {
		s.log.WarnContext(ctx, "event: load linked viewers", "event_id", e.ID, "err", err)
		return nil
	}
	for _, id := range linked {
		err := s.router.Send(ctx, id, env)
		switch {
		case errors.Is(err, hub.ErrOffline):
			offline = append(offline, id)
		case err != nil:
			s.log.WarnContext(ctx, "send event", "event_id", e.ID, "viewer_id", id, "err", err)
		}
	}
	return offline
}

// sharedWith lists the users whose active share of the camera allows a.
func (s *Service) sharedWith(ctx context.Context, cameraID string, a access.Action) []string {
	var users []string
	p := store.Page{Limit: 200}
	for {
		shares, next, err := s.store.ListShares(ctx, store.ShareFilter{CameraDeviceIDs: []string{cameraID},
			Statuses: []string{store.ShareActive}}, p)
		if err != nil {
			s.log.WarnContext(ctx, "load the camera's shares", "device_id", cameraID, "err", err)
			return users
		}
		for _, sh := range shares {
			if sh.UserID != nil && access.Allows(access.Role(sh.Role), a) {
				users = append(users, *sh.UserID)
			}
		}
		if next == "" {
			return users
		}
		p.Cursor = next
	}
}

// notifyUser records userID's notification of e (the camera's owner, or a user it is
// shared with) and sends it to the user's online devices that are not cameras
// (unattended camera phones show no notifications).
func (s *Service) notifyUser(ctx context.Context, e store.Event, userID string, at time.Time) {
	channel, status := store.ChannelInApp, store.NotificationSent
	n := store.Notification{EventID: &e.ID, UserID: userID, SentAt: &at, Channel: &channel, Status: &status}
	if err := s.store.CreateNotification(ctx, &n); err != nil {
		s.log.WarnContext(ctx, "record notification", "event_id", e.ID, "err", err)
		return
	}
	data, _ := json.Marshal(wire.FromNotification(n))
	env := hub.Envelope{Type: wire.TypeNotification, Data: data}
	p := store.Page{Limit: 200}
	for {
		devices, next, err := s.store.ListDevices(ctx, userID, p)
		if err != nil {
			s.log.WarnContext(ctx, "notification: load the user's devices", "event_id", e.ID, "err", err)
			return
		}
		for _, d := range devices {
			if d.Role == store.RoleCamera {
				continue
			}
			if err := s.router.Send(ctx, d.ID, env); err != nil && !errors.Is(err, hub.ErrOffline) {
				s.log.WarnContext(ctx, "send notification", "event_id", e.ID, "device_id", d.ID, "err", err)
			}
		}
		if next == "" {
			return
		}
		p.Cursor = next
	}
}

func (s *Service) handleTelemetry(ctx context.Context, c *hub.Client, env hub.Envelope) {
	var t wire.Telemetry
	err := wire.DecodeData(env.Data, &t)
	if err == nil {
		err = t.Validate()
	}
	if err == nil {
		_, err = s.sender(ctx, c, "telemetry")
	}
	if err != nil {
		s.reply(c, env, nil, err)
		return
	}
	cameraID := c.Identity().DeviceID
	linked, err := s.store.LinkedDeviceIDs(ctx, cameraID)
	if err != nil {
		s.reply(c, env, nil, err)
		return
	}
	out := hub.Envelope{Type: wire.TypeTelemetry, From: cameraID, Data: t.Encode()}
	for _, id := range linked {
		if err := s.router.Send(ctx, id, out); err != nil && !errors.Is(err, hub.ErrOffline) {
			s.log.DebugContext(ctx, "forward telemetry", "device_id", cameraID, "viewer_id", id, "err", err)
		}
	}
	s.reply(c, env, nil, nil)
}

// eventsDisconnected starts the camera_offline countdown of a camera that dropped off
// without a clean close: a check due after CameraOfflineAfter, kept in the store.
func (s *Service) eventsDisconnected(ctx context.Context, id hub.Identity, clean bool) {
	if clean {
		return
	}
	d, err := s.store.Device(ctx, id.DeviceID)
	if err != nil || d.Role != store.RoleCamera {
		return
	}
	// The hub records last_seen_at when the connection ends, just before this hook, on
	// the clock the Service reads too: a later last_seen_at means the camera came back
	// meanwhile.
	dropped := s.cfg.Now()
	check := store.CameraOfflineCheck{DeviceID: id.DeviceID, DroppedAt: dropped, DueAt: dropped.Add(s.cfg.Events.CameraOfflineAfter)}
	if err := s.store.ScheduleCameraOffline(ctx, check); err != nil {
		s.log.WarnContext(ctx, "camera dropped: camera_offline not scheduled", "device_id", id.DeviceID, "err", err)
		return
	}
	s.log.InfoContext(ctx, "camera dropped: camera_offline scheduled", "device_id", id.DeviceID, "due_at", check.DueAt.UTC().Format(time.RFC3339))
}

// cameraOfflineLease is how long a claimed camera_offline check is this replica's: if
// it dies before finishing, another replica raises the alert once the lease lapsed.
const cameraOfflineLease = 30 * time.Second

// sweepCameraOffline raises camera_offline for the due checks this replica claims.
func (s *Service) sweepCameraOffline(ctx context.Context) {
	checks, err := s.store.ClaimCameraOffline(ctx, s.cfg.Now().UTC(), cameraOfflineLease, 100)
	if err != nil {
		s.log.WarnContext(ctx, "claim camera_offline checks", "err", err)
		return
	}
	for _, c := range checks {
		if !s.raiseCameraOffline(ctx, c.DeviceID, c.DroppedAt) {
			continue // claimed again after the lease
		}
		if err := s.store.FinishCameraOffline(ctx, c.DeviceID, c.DroppedAt); err != nil {
			s.log.WarnContext(ctx, "finish camera_offline check", "device_id", c.DeviceID, "err", err)
		}
	}
}

// cameraBackDelay is how long after a device connected its open camera_offline event
// is looked for: off the connection's path and after the burst of work a connect
// brings (pending commands, stream requests), which matters when many reconnect at once.
const cameraBackDelay = 2 * time.Second

// eventsConnected soon ends the camera_offline event a device that came back raised,
// if any (wherever it was raised). Its countdown, if one runs, finds it back.
func (s *Service) eventsConnected(_ context.Context, c *hub.Client) {
	id := c.Identity()
	s.after("camera_back:"+id.DeviceID, cameraBackDelay, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s.endCameraOffline(ctx, id)
	})
}

// endCameraOffline ends the active camera_offline events among the device's latest.
func (s *Service) endCameraOffline(ctx context.Context, id hub.Identity) {
	recent, _, err := s.store.ListEvents(ctx, id.UserID, store.EventFilter{DeviceID: id.DeviceID}, store.Page{Limit: 10})
	if err != nil {
		s.log.WarnContext(ctx, "load recent events", "device_id", id.DeviceID, "err", err)
		return
	}
	for _, e := range recent {
		if e.TriggeredBy == store.TriggerCameraOffline && e.Status == store.EventActive {
			if _, err := s.EndEvent(ctx, e, nil); err != nil {
				s.log.WarnContext(ctx, "end camera_offline event", "event_id", e.ID, "err", err)
			}
		}
	}
}

// raiseCameraOffline raises camera_offline for a camera that dropped off at dropped,
// unless it is connected anywhere now or was seen since (it came back and left again).
// It reports whether the check is done: false when it could not tell (presence or the
// store unavailable) or the raise failed, to be tried again.
func (s *Service) raiseCameraOffline(ctx context.Context, deviceID string, dropped time.Time) bool {
	online, err := s.router.Online(ctx, deviceID)
	if err != nil {
		s.log.WarnContext(ctx, "camera_offline: presence unknown, retrying", "device_id", deviceID, "err", err)
		return false
	}
	if online {
		return true
	}
	cam, err := s.store.Device(ctx, deviceID)
	if errors.Is(err, store.ErrNotFound) {
		return true
	}
	if err != nil {
		s.log.WarnContext(ctx, "camera_offline: load camera, retrying", "device_id", deviceID, "err", err)
		return false
	}
	if cam.LastSeenAt != nil && cam.LastSeenAt.After(dropped) {
		return true
	}
	e := store.Event{UserID: cam.UserID, DeviceID: cam.ID, Title: cameraOfflineTitle,
		TriggeredBy: store.TriggerCameraOffline, Status: store.EventActive, StartedAt: dropped.UTC(),
		CreatedAt: s.cfg.Now().UTC()}
	if _, err := s.raise(ctx, cam, e); err != nil {
		s.log.WarnContext(ctx, "raise camera_offline, retrying", "device_id", deviceID, "err", err)
		return false
	}
	s.log.InfoContext(ctx, "camera offline", "device_id", deviceID, "since", dropped.UTC().Format(time.RFC3339))
	return true
}
