package main

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling/record"
	"github.com/securecam/securecam/signaling/relay"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/blobs"
)

const (
	// recorderSync is how often a recorder reads its camera's recording mode and
	// events from the store again: what another replica changed (an event.end or a
	// PATCH that reached it) reaches the recorder within it. Changes made on this
	// replica reach it at once.
	recorderSync = 5 * time.Second
	// recorderQueue is the feed's queue, in packets: room for the store reads of a
	// sync (about 10 s of a 1 Mbit/s camera).
	recorderQueue = 2048
	// recorderReady bounds the wait for a new publication's media.
	recorderReady = 30 * time.Second
)

// recorders records the relayed publications of this replica on the server
// (signaling/record), as each camera's recording_mode says, and asks cameras to
// publish when a recording needs it: at event.start in events mode, while online and
// armed in continuous mode. A continuous camera that is not armed (its household's
// mode is not one of its arm_modes) records as in events mode.
//
// Concurrency: one goroutine per publication owns its feed and recorder (created
// when the publication's row is recorded, closed when the publication ends); the
// hooks (published, event, modeChanged, armingChanged, connected) only nudge it or ask the camera
// to publish, and are safe for concurrent use.
type recorders struct {
	rec     record.Config
	store   store.Store
	log     *slog.Logger
	whipURL string // this replica's WHIP endpoint, where cameras are asked to publish
	// relay, publish and online are set before the node serves.
	relay   *relay.Relay
	publish interface {
		RequestPublish(ctx context.Context, camera, whipURL string) error
	}
	online func(ctx context.Context, deviceID string) (bool, error)

	mu     sync.Mutex
	closed bool
	live   map[string]*recording // by camera device id: the newest publication
	wg     sync.WaitGroup
}

// recording is the state of one publication's goroutine that its hooks share.
type recording struct {
	session string
	nudge   chan struct{} // capacity 1: read the store again now
	stop    chan struct{} // closed by recorders.close
}

// newRecorders records into storage (the primary recordings storage), files of
// SECURECAM_SEGMENT_SECONDS in continuous mode, spooled under the data directory.
func newRecorders(cfg Config, st store.Store, storage blobs.Storage, log *slog.Logger) *recorders {
	public := strings.TrimSuffix(cfg.PublicURL, "/")
	c := record.Config{Rows: st, Storage: storage, SpoolDir: spoolDir(cfg),
		Segment: time.Duration(cfg.SegmentSeconds) * time.Second, Logger: log,
		RecordingURL: func(id string) string { return public + "/api/v1/recordings/" + id + "/content" }}
	return &recorders{rec: c, store: st, log: log, whipURL: strings.TrimSuffix(cfg.NodeURL, "/") + "/api/v1/whip",
		live: map[string]*recording{}}
}

// spoolDir holds the recordings being written.
func spoolDir(cfg Config) string { return filepath.Join(cfg.DataDir, "recording-spool") }

// recover stores what recorders of a previous run left (see record.Recover).
func (m *recorders) recover(ctx context.Context) error {
	done, err := record.Recover(ctx, m.rec, time.Now())
	if err != nil {
		return err
	}
	if done.Available+done.Failed > 0 {
		m.log.Info("recordings of the previous run", "available", done.Available, "failed", done.Failed)
	}
	return nil
}

// published starts recording a camera's publication (a WHIP session just recorded
// as row).
func (m *recorders) published(row store.StreamSession) {
	r := &recording{session: row.ID, nudge: make(chan struct{}, 1), stop: make(chan struct{})}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.live[row.CameraDeviceID] = r
	m.wg.Add(1)
	go m.run(row, r)
}

// local returns camera's recording here, or nil.
func (m *recorders) local(camera string) *recording {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.live[camera]
}

func (r *recording) poke() {
	select {
	case r.nudge <- struct{}{}:
	default:
	}
}

// event follows an event raised or ended on this replica: the camera's recording
// here reads it at once; an event starting for a camera in events mode that
// publishes nowhere makes it publish here.
func (m *recorders) event(ctx context.Context, e store.Event) {
	if e.DeviceID == "" || e.TriggeredBy == store.TriggerCameraOffline {
		return
	}
	if r := m.local(e.DeviceID); r != nil {
		r.poke()
		return
	}
	if e.Status != store.EventActive {
		return
	}
	cam, err := m.store.Device(ctx, e.DeviceID)
	if err != nil {
		m.log.Warn("recording: load the camera of an event", "event_id", e.ID, "err", err)
		return
	}
	if cam.RecordingMode == store.RecordingModeEvents {
		m.ensurePublishing(ctx, cam.ID)
	}
}

// modeChanged follows a PATCH of camera's recording_mode made on this replica.
func (m *recorders) modeChanged(ctx context.Context, cam store.Device) {
	if r := m.local(cam.ID); r != nil {
		r.poke()
		return
	}
	if m.mode(ctx, cam) == store.RecordingModeContinuous {
		m.ensurePublishing(ctx, cam.ID)
	}
}

// armingChanged follows a change of a household's mode made on this replica: each of
// its cameras' recordings here reads it at once; a continuous camera now armed that
// publishes nowhere is asked to publish. (Recordings on other replicas read it within
// recorderSync.)
func (m *recorders) armingChanged(ctx context.Context, a store.ArmingState) {
	p := store.Page{Limit: 200}
	for {
		devices, next, err := m.store.ListDevices(ctx, a.UserID, p)
		if err != nil {
			m.log.Warn("recording: load the household's cameras", "user_id", a.UserID, "err", err)
			return
		}
		for _, d := range devices {
			if d.Role != store.RoleCamera {
				continue
			}
			if r := m.local(d.ID); r != nil {
				r.poke()
			} else if m.mode(ctx, d) == store.RecordingModeContinuous {
				m.ensurePublishing(ctx, d.ID)
			}
		}
		if next == "" {
			return
		}
		p.Cursor = next
	}
}

// mode is how cam records now: its recording_mode, but events for a continuous camera
// that is not armed. When the store cannot tell, the camera counts as armed (a
// security system errs on the side of recording).
func (m *recorders) mode(ctx context.Context, cam store.Device) string {
	if cam.RecordingMode != store.RecordingModeContinuous {
		return cam.RecordingMode
	}
	settings, err := m.store.CameraSettings(ctx, []string{cam.ID})
	if err != nil {
		m.log.Warn("recording: camera settings unavailable: recording as armed", "camera_device_id", cam.ID, "err", err)
		return cam.RecordingMode
	}
	a, err := m.store.Arming(ctx, cam.UserID)
	if err != nil {
		m.log.Warn("recording: arming unavailable: recording as armed", "camera_device_id", cam.ID, "err", err)
		return cam.RecordingMode
	}
	if !settings[cam.ID].AlertsIn(a.Mode) {
		return store.RecordingModeEvents
	}
	return cam.RecordingMode
}

// connected asks a camera in continuous mode that connected here to publish.
func (m *recorders) connected(c *hub.Client) {
	id := c.Identity().DeviceID
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return
	}
	m.wg.Go(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d, err := m.store.Device(ctx, id)
		if err != nil {
			m.log.Warn("recording: load a device that connected", "device_id", id, "err", err)
			return
		}
		if d.Role == store.RoleCamera && m.mode(ctx, d) == store.RecordingModeContinuous {
			m.ensurePublishing(ctx, id)
		}
	})
}

// ensurePublishing asks an online camera that publishes nowhere to publish to this
// replica's relay (relay.publish). An offline camera is not woken for a recording.
func (m *recorders) ensurePublishing(ctx context.Context, camera string) {
	if m.relay.Publishing(camera) {
		return
	}
	if _, err := m.store.OpenMediaSession(ctx, camera); err == nil {
		return // it publishes (to another replica)
	} else if !errors.Is(err, store.ErrNotFound) {
		m.log.Warn("recording: find the camera's publication", "camera_device_id", camera, "err", err)
		return
	}
	if online, err := m.online(ctx, camera); err != nil || !online {
		return
	}
	if err := m.publish.RequestPublish(ctx, camera, m.whipURL); err != nil && !errors.Is(err, hub.ErrOffline) {
		m.log.Warn("recording: ask the camera to publish", "camera_device_id", camera, "err", err)
		return
	}
	m.log.Info("recording: asked the camera to publish", "camera_device_id", camera)
}

// close ends every recording (the files being written are finished and stored, for
// shutdownTimeout at most) and waits for them.
func (m *recorders) close() {
	m.mu.Lock()
	m.closed = true
	for _, r := range m.live {
		close(r.stop)
	}
	m.live = map[string]*recording{}
	m.mu.Unlock()
	m.wg.Wait()
}

// forget removes r, if it is still camera's recording.
func (m *recorders) forget(camera string, r *recording) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.live[camera] == r {
		delete(m.live, camera)
	}
}

// run is the goroutine of one publication: it attaches a feed once the media is
// there, records it, and finishes the recording when the publication ends.
func (m *recorders) run(row store.StreamSession, r *recording) {
	defer m.wg.Done()
	camera := row.CameraDeviceID
	defer m.forget(camera, r)
	log := m.log.With("camera_device_id", camera, "session_id", row.ID)

	ctx, cancel := context.WithTimeout(context.Background(), recorderReady)
	go func() {
		select {
		case <-r.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := m.relay.WaitReady(ctx, camera)
	cancel()
	if err != nil {
		log.Info("recording: the publication carried no media", "err", err)
		return
	}
	feed, err := m.relay.Attach(camera, recorderQueue)
	if err != nil {
		log.Info("recording: the publication ended before it was recorded", "err", err)
		return
	}
	defer feed.Close()
	if m.local(camera) != r {
		return // replaced meanwhile: the newer publication's goroutine records
	}
	var video, audio *relay.Track
	for _, t := range feed.Tracks() {
		switch {
		case t.Kind == webrtc.RTPCodecTypeVideo && video == nil:
			video = t
		case strings.EqualFold(t.Codec.MimeType, webrtc.MimeTypeOpus) && audio == nil:
			audio = t
		}
	}
	if video == nil || !strings.EqualFold(video.Codec.MimeType, webrtc.MimeTypeVP8) {
		codec := "none"
		if video != nil {
			codec = video.Codec.MimeType
		}
		log.Warn("recording: this publication is not recorded: WebM holds VP8 video only", "codec", codec)
		return
	}

	s := syncer{m: m, camera: camera, owner: row.OwnerUserID, log: log, active: map[string]bool{}}
	if !s.load() {
		s.mode, s.want = store.RecordingModeEvents, store.RecordingModeEvents
	}
	rec := record.New(m.rec, record.Stream{OwnerUserID: row.OwnerUserID, CameraDeviceID: camera,
		StreamSessionID: &row.ID, Audio: audio != nil, Mode: s.mode, RequestKeyframe: feed.RequestKeyframe})
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := rec.Close(ctx); err != nil {
			log.Warn("recording: close", "err", err)
		}
	}()
	s.rec = rec
	s.apply()
	log.Info("recording: following the publication", "mode", s.mode, "audio", audio != nil)

	tick := time.NewTicker(recorderSync)
	defer tick.Stop()
	for {
		select {
		case p, ok := <-feed.Packets():
			if !ok {
				return
			}
			switch p.Track {
			case video:
				rec.WriteRTP(record.Video, p.RTP)
			case audio:
				rec.WriteRTP(record.Audio, p.RTP)
			}
		case <-r.nudge:
			s.sync()
		case <-tick.C:
			s.sync()
		case <-r.stop:
			return
		}
	}
}

// syncer tells a recorder its camera's recording mode (as recorders.mode says: arming
// gates continuous) and events as the store has them; it belongs to the publication's goroutine.
type syncer struct {
	m      *recorders
	rec    *record.Recorder
	camera string
	owner  string
	log    *slog.Logger

	mode   string          // as the recorder was told
	want   string          // as the store says
	active map[string]bool // events the recorder was told started and not ended
	now    []string        // the store's active events
}

// recentEvents is how many of a camera's latest events a sync reads.
const recentEvents = 20

// load reads the store; false when it could not (the recorder keeps what it has).
func (s *syncer) load() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := s.m.store.Device(ctx, s.camera)
	if err != nil {
		s.log.Warn("recording: load the camera", "err", err)
		return false
	}
	events, _, err := s.m.store.ListEvents(ctx, s.owner, store.EventFilter{DeviceID: s.camera}, store.Page{Limit: recentEvents})
	if err != nil {
		s.log.Warn("recording: load the camera's events", "err", err)
		return false
	}
	s.want, s.now = s.m.mode(ctx, d), s.now[:0]
	if s.mode == "" {
		s.mode = s.want
	}
	for _, e := range slices.Backward(events) { // oldest first
		if e.Status == store.EventActive && e.TriggeredBy != store.TriggerCameraOffline {
			s.now = append(s.now, e.ID)
		}
	}
	return true
}

// sync reads the store and tells the recorder what changed.
func (s *syncer) sync() {
	if s.load() {
		s.apply()
	}
}

// apply tells the recorder what changed since it was last told.
func (s *syncer) apply() {
	if s.want != s.mode {
		s.log.Info("recording: mode changed", "mode", s.want)
		s.rec.SetMode(s.want)
		s.mode = s.want
	}
	for id := range s.active {
		if !slices.Contains(s.now, id) {
			s.rec.EventEnd(id)
			delete(s.active, id)
		}
	}
	for _, id := range s.now {
		if !s.active[id] {
			s.rec.EventStart(id)
			s.active[id] = true
		}
	}
}
