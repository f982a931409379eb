package record_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/at-wat/ebml-go"
	"github.com/at-wat/ebml-go/webm"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4/pkg/media/ivfreader"

	"github.com/securecam/securecam/signaling/record"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/blobs"
	"github.com/securecam/securecam/store/blobs/blobstest"
	"github.com/securecam/securecam/store/storetest"
)

// The test video: 10 s of ffmpeg's test pattern (sent over and over), 320x240 at 30 fps, VP8 with a keyframe
// every 30 frames (each second).
const (
	fps      = 30
	gop      = 30
	clipSecs = 10
)

// frameAt is the stream time of frame i.
func frameAt(i int) time.Duration { return time.Duration(i) * time.Second / fps }

var clip struct {
	once   sync.Once
	frames [][]byte
	err    error
}

// needFFmpeg fails the test when ffmpeg or ffprobe is missing: the recording tests never
// skip (scripts/test.sh installs them).
func needFFmpeg(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: the recording tests need it (apt-get install ffmpeg; scripts/test.sh installs it): %v", tool, err)
		}
	}
}

// testFrames returns the test video's frames, made with ffmpeg once per test binary.
func testFrames(t *testing.T) [][]byte {
	t.Helper()
	needFFmpeg(t)
	frames, err := loadClip()
	if err != nil {
		t.Fatalf("make the test video: %v", err)
	}
	if len(frames) != fps*clipSecs {
		t.Fatalf("the test video has %d frames, want %d", len(frames), fps*clipSecs)
	}
	return frames
}

func loadClip() ([][]byte, error) {
	clip.once.Do(func() { clip.frames, clip.err = makeClip(clipSecs) })
	return clip.frames, clip.err
}

func makeClip(secs int) ([][]byte, error) {
	dir, err := os.MkdirTemp("", "record-test")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "clip.ivf")
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i",
		fmt.Sprintf("testsrc=size=320x240:rate=%d", fps), "-t", strconv.Itoa(secs),
		"-c:v", "libvpx", "-b:v", "500k", "-g", strconv.Itoa(gop), "-keyint_min", strconv.Itoa(gop),
		"-deadline", "realtime", "-cpu-used", "8", path).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("ffmpeg: %v: %s", err, out)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r, _, err := ivfreader.NewWith(f)
	if err != nil {
		return nil, err
	}
	var frames [][]byte
	for {
		frame, _, err := r.ParseNextFrame()
		if err == io.EOF {
			return frames, nil
		}
		if err != nil {
			return nil, err
		}
		frames = append(frames, frame)
	}
}

// camera sends the test video (over and over) as RTP with pion's VP8 payloader, and
// silent Opus frames when audio.
type camera struct {
	frames    [][]byte
	next      int
	video     rtp.Packetizer
	audio     rtp.Packetizer
	withAudio bool
	audioAt   time.Duration
	// drop, when set, says whether to lose a packet of frame i.
	drop func(i, packet int) bool
}

func newCamera(t *testing.T, withAudio bool) *camera {
	return cameraOf(testFrames(t), withAudio)
}

func cameraOf(frames [][]byte, withAudio bool) *camera {
	return &camera{
		frames:    frames,
		video:     rtp.NewPacketizer(1200, 96, 0x1234, &codecs.VP8Payloader{EnablePictureID: true}, rtp.NewRandomSequencer(), 90000),
		audio:     rtp.NewPacketizer(1200, 111, 0x5678, &codecs.OpusPayloader{}, rtp.NewRandomSequencer(), 48000),
		withAudio: withAudio,
	}
}

// opusSilence is a 20 ms Opus frame of silence.
var opusSilence = []byte{0xf8, 0xff, 0xfe}

// send sends the next n frames to r.
func (c *camera) send(r *record.Recorder, n int) {
	for range n {
		i := c.next
		for j, p := range c.video.Packetize(c.frames[i%len(c.frames)], 90000/fps) {
			if c.drop != nil && c.drop(i, j) {
				continue
			}
			r.WriteRTP(record.Video, p)
		}
		c.next++
		for c.withAudio && c.audioAt < frameAt(c.next) {
			for _, p := range c.audio.Packetize(opusSilence, 960) {
				r.WriteRTP(record.Audio, p)
			}
			c.audioAt += 20 * time.Millisecond
		}
	}
}

// fixture is an account with a camera, a stream session and the recordings storage.
type fixture struct {
	db      store.Store
	storage blobs.Storage
	owner   string
	camera  string
	session string
	spool   string
}

func newFixture(t *testing.T, db store.Store, storage blobs.Storage) *fixture {
	t.Helper()
	ctx := t.Context()
	u := store.User{Email: fmt.Sprintf("rec-%d@example.com", time.Now().UnixNano()), Name: "Rec"}
	if err := db.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	cam := store.Device{UserID: u.ID, Name: "Door", Role: store.RoleCamera, Platform: "ios"}
	viewer := store.Device{UserID: u.ID, Name: "Phone", Role: store.RoleViewer, Platform: "ios"}
	for _, d := range []*store.Device{&cam, &viewer} {
		if err := db.CreateDevice(ctx, d, ""); err != nil {
			t.Fatal(err)
		}
	}
	ss := store.StreamSession{OwnerUserID: u.ID, CameraDeviceID: cam.ID, RequesterDeviceID: viewer.ID, MediaProvider: "relay"}
	if err := db.CreateStreamSession(ctx, &ss, 10); err != nil {
		t.Fatal(err)
	}
	spool := filepath.Join(t.TempDir(), "spool")
	if err := os.Mkdir(spool, 0o700); err != nil {
		t.Fatal(err)
	}
	return &fixture{db: db, storage: storage, owner: u.ID, camera: cam.ID, session: ss.ID, spool: spool}
}

func (f *fixture) config() record.Config {
	return record.Config{Rows: f.db, Storage: f.storage, SpoolDir: f.spool, RecordingURL: recordingURL}
}

func recordingURL(id string) string {
	return "https://hub.example/api/v1/recordings/" + id + "/content"
}

func (f *fixture) stream(mode string, audio bool) record.Stream {
	return record.Stream{OwnerUserID: f.owner, CameraDeviceID: f.camera, StreamSessionID: &f.session, Audio: audio, Mode: mode}
}

func (f *fixture) event(t *testing.T) string {
	t.Helper()
	e := store.Event{UserID: f.owner, DeviceID: f.camera, Title: "Motion", TriggeredBy: "motion"}
	if err := f.db.CreateEvent(t.Context(), &e); err != nil {
		t.Fatal(err)
	}
	return e.ID
}

// recordings lists the camera's recordings, oldest first.
func (f *fixture) recordings(t *testing.T) []store.Recording {
	t.Helper()
	items, _, err := f.db.ListRecordings(t.Context(), f.owner, store.RecordingFilter{CameraDeviceID: f.camera}, store.Page{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	slices.Reverse(items)
	return items
}

func closeRecorder(t *testing.T, r *record.Recorder) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// clip checks that rec is an available WebM recording of the camera's stream session,
// playable (ffmpeg decodes it without a word) with a seek index, and returns its
// duration as ffprobe reads it.
func (f *fixture) clip(t *testing.T, rec store.Recording) time.Duration {
	t.Helper()
	return f.checkClip(t, rec, true)
}

// checkClip is clip, without looking for the seek index unless cues.
func (f *fixture) checkClip(t *testing.T, rec store.Recording, cues bool) time.Duration {
	t.Helper()
	if rec.Status != store.RecordingAvailable || rec.ObjectKey == nil || rec.AvailableAt == nil || rec.SizeBytes == nil ||
		rec.DurationSeconds == nil || rec.ContentType != "video/webm" || rec.Bucket == nil || *rec.Bucket != f.storage.Bucket() ||
		rec.StreamSessionID == nil || *rec.StreamSessionID != f.session {
		t.Fatalf("recording %+v: want available video/webm of the stream session with key, size and duration", rec)
	}
	data := blobstest.Content(t, f.storage, *rec.ObjectKey)
	if int64(len(data)) != *rec.SizeBytes {
		t.Errorf("the file is %d bytes, the row says %d", len(data), *rec.SizeBytes)
	}
	path := filepath.Join(t.TempDir(), "clip.webm")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-f", "null", "-").CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("ffmpeg -v error -i clip.webm -f null - = %v, printed %q; want nothing", err, out)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatalf("ffprobe: %v", err)
	}
	secs, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		t.Fatalf("ffprobe duration %q: %v", out, err)
	}
	if math.Abs(secs-float64(*rec.DurationSeconds)) > 1 {
		t.Errorf("ffprobe says %.3f s, the row %d s", secs, *rec.DurationSeconds)
	}
	// Seekable: Cues (a cue point per cluster) and the Duration are in the file.
	var doc struct {
		Header  webm.EBMLHeader `ebml:"EBML"`
		Segment webm.Segment    `ebml:"Segment"`
	}
	if err := ebml.Unmarshal(bytes.NewReader(data), &doc); err != nil {
		t.Fatalf("parse the webm: %v", err)
	}
	if !cues {
		// Salvaged after a crash: Duration only.
	} else if doc.Segment.Cues == nil || len(doc.Segment.Cues.CuePoint) == 0 || doc.Segment.SeekHead == nil {
		t.Errorf("no Cues or SeekHead: the file is not seekable")
	} else if n := len(doc.Segment.Cues.CuePoint); n < len(doc.Segment.Cluster)-1 {
		t.Errorf("%d cue points for %d clusters", n, len(doc.Segment.Cluster))
	}
	if doc.Header.DocType != "webm" || math.Abs(doc.Segment.Info.Duration/1000-secs) > 0.1 {
		t.Errorf("doc type %q, Duration %.0f ms, ffprobe %.3f s", doc.Header.DocType, doc.Segment.Info.Duration, secs)
	}
	return time.Duration(secs * float64(time.Second))
}

// near fails unless got is within tolerance of want.
func near(t *testing.T, what string, got, want, tolerance time.Duration) {
	t.Helper()
	if got < want-tolerance || got > want+tolerance {
		t.Errorf("%s: %v, want %v ± %v", what, got, want, tolerance)
	}
}

func storages() map[string]func(t *testing.T) blobs.Storage {
	return map[string]func(t *testing.T) blobs.Storage{
		"disk": func(t *testing.T) blobs.Storage {
			st, err := blobs.NewDisk(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
		"s3": func(t *testing.T) blobs.Storage { return blobstest.NewS3(t) },
	}
}

// Five seconds in continuous mode, with audio: one available file of 5 s (±1) with a
// VP8 and an Opus track, that ffmpeg decodes cleanly, in either storage.
func TestRecordContinuous(t *testing.T) {
	for name, newStorage := range storages() {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, storetest.NewSQLite(t), newStorage(t))
			r := record.New(f.config(), f.stream(store.RecordingModeContinuous, true))
			newCamera(t, true).send(r, 5*fps)
			closeRecorder(t, r)
			recs := f.recordings(t)
			if len(recs) != 1 {
				t.Fatalf("%d recordings, want 1", len(recs))
			}
			near(t, "duration", f.clip(t, recs[0]), 5*time.Second, time.Second)
			if recs[0].EventID != nil {
				t.Errorf("continuous recording has event %s", *recs[0].EventID)
			}
			path := filepath.Join(t.TempDir(), "a.webm")
			if err := os.WriteFile(path, blobstest.Content(t, f.storage, *recs[0].ObjectKey), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", path).Output()
			if got := strings.Fields(string(out)); err != nil || !slices.Equal(got, []string{"vp8", "opus"}) {
				t.Errorf("streams %v (%v), want vp8 and opus", got, err)
			}
			if left, _ := os.ReadDir(f.spool); len(left) != 0 {
				t.Errorf("spool files left: %v", left)
			}
		})
	}
}

// Continuous mode cuts a file at the first keyframe once Segment has passed.
func TestRecordSegments(t *testing.T) {
	f := newFixture(t, storetest.NewPostgres(t), storages()["disk"](t))
	cfg := f.config()
	cfg.Segment = 2 * time.Second
	r := record.New(cfg, f.stream(store.RecordingModeContinuous, false))
	newCamera(t, false).send(r, 7*fps)
	closeRecorder(t, r)
	recs := f.recordings(t)
	if len(recs) != 4 {
		t.Fatalf("%d recordings, want 4 (2 s, 2 s, 2 s and the last second)", len(recs))
	}
	for i, rec := range recs {
		want := 2 * time.Second
		if i == 3 {
			want = time.Second
		}
		// Each file ends with the frame before the next file's first keyframe.
		near(t, fmt.Sprintf("segment %d", i), f.clip(t, rec), want-frameAt(1), 100*time.Millisecond)
	}
}

// Events mode: nothing is recorded without an event; an event's file starts with the
// group of pictures before it (the stream was already published) and ends 10 s
// (PostRoll) after the event ended.
func TestRecordEventPreRollPostRoll(t *testing.T) {
	f := newFixture(t, storetest.NewSQLite(t), storages()["disk"](t))
	r := record.New(f.config(), f.stream(store.RecordingModeEvents, false))
	cam := newCamera(t, false)
	cam.send(r, 3*fps-1) // frames 0..88: the last keyframe is frame 60
	ev := f.event(t)
	r.EventStart(ev)
	cam.send(r, 2*fps) // to frame 148
	r.EventEnd(ev)     // at frame 148, 4.933 s: the file ends at 14.933 s
	cam.send(r, 15*fps)
	closeRecorder(t, r)
	recs := f.recordings(t)
	if len(recs) != 1 {
		t.Fatalf("%d recordings, want 1", len(recs))
	}
	if recs[0].EventID == nil || *recs[0].EventID != ev {
		t.Errorf("event_id %v, want %s", recs[0].EventID, ev)
	}
	if e, err := f.db.Event(t.Context(), ev); err != nil || e.VideoURL == nil || *e.VideoURL != recordingURL(recs[0].ID) {
		t.Errorf("the event's video_url: %+v, %v; want the recording's", e.VideoURL, err)
	}
	// From frame 60 (pre-roll) to the last frame before 14.933 s.
	near(t, "duration", f.clip(t, recs[0]), frameAt(148)+record.DefaultPostRoll-frameAt(1)-frameAt(60), 100*time.Millisecond)
}

// An event of a camera that was not publishing yet is recorded from the first
// keyframe; a second event that starts before the first one's post-roll ran out
// extends the same file.
func TestRecordEventWithoutPreRoll(t *testing.T) {
	f := newFixture(t, storetest.NewSQLite(t), storages()["disk"](t))
	cfg := f.config()
	cfg.PostRoll = 2 * time.Second
	var keyframes atomic.Int32
	s := f.stream(store.RecordingModeEvents, false)
	s.RequestKeyframe = func() { keyframes.Add(1) }
	r := record.New(cfg, s)
	cam := newCamera(t, false)
	first, second := f.event(t), f.event(t)
	r.EventStart(first)
	cam.send(r, fps)  // frames 0..29
	r.EventEnd(first) // at 0.967 s: would end at 2.967 s
	cam.send(r, fps)  // frames 30..59
	r.EventStart(second)
	cam.send(r, fps)   // frames 60..89
	r.EventEnd(second) // at 2.967 s: ends at 4.967 s
	cam.send(r, 5*fps)
	closeRecorder(t, r)
	recs := f.recordings(t)
	if len(recs) != 1 {
		t.Fatalf("%d recordings, want 1", len(recs))
	}
	if n := keyframes.Load(); n != 1 {
		t.Errorf("%d keyframe requests, want 1 (for the first event, which had no pre-roll)", n)
	}
	if recs[0].EventID == nil || *recs[0].EventID != first {
		t.Errorf("event_id %v, want the first event %s", recs[0].EventID, first)
	}
	near(t, "duration", f.clip(t, recs[0]), frameAt(89)+2*time.Second-frameAt(1), 100*time.Millisecond)
}

// Off records nothing, and switching to off ends the file being written.
func TestRecordOff(t *testing.T) {
	f := newFixture(t, storetest.NewSQLite(t), storages()["disk"](t))
	r := record.New(f.config(), f.stream(store.RecordingModeContinuous, false))
	cam := newCamera(t, false)
	cam.send(r, 2*fps)
	r.SetMode(store.RecordingModeOff)
	r.EventStart(f.event(t))
	cam.send(r, 3*fps)
	closeRecorder(t, r)
	recs := f.recordings(t)
	if len(recs) != 1 {
		t.Fatalf("%d recordings, want the one before the switch to off", len(recs))
	}
	near(t, "duration", f.clip(t, recs[0]), frameAt(2*fps-1), 100*time.Millisecond)
}

// A file that ends after its first frame holds nothing to play (its Duration would be 0,
// which players read as unknown): it leaves no row and no file behind.
func TestRecordOneFrameLeavesNothing(t *testing.T) {
	f := newFixture(t, storetest.NewSQLite(t), storages()["disk"](t))
	r := record.New(f.config(), f.stream(store.RecordingModeContinuous, false))
	cam := newCamera(t, false)
	cam.send(r, 1)
	r.SetMode(store.RecordingModeOff)
	cam.send(r, fps)
	closeRecorder(t, r)
	if recs := f.recordings(t); len(recs) != 0 {
		t.Fatalf("recordings %+v, want none", recs)
	}
	if left, _ := os.ReadDir(f.spool); len(left) != 0 {
		t.Errorf("spool files left: %v", left)
	}
}

// A lost packet costs the frames up to the next keyframe, never a broken file.
func TestRecordPacketLoss(t *testing.T) {
	f := newFixture(t, storetest.NewSQLite(t), storages()["disk"](t))
	var keyframes atomic.Int32
	s := f.stream(store.RecordingModeContinuous, false)
	s.RequestKeyframe = func() { keyframes.Add(1) }
	r := record.New(f.config(), s)
	cam := newCamera(t, false)
	cam.drop = func(i, packet int) bool { return i == 40 && packet == 0 }
	cam.send(r, 3*fps)
	closeRecorder(t, r)
	if n := keyframes.Load(); n != 1 {
		t.Errorf("%d keyframe requests after one loss, want 1", n)
	}
	recs := f.recordings(t)
	if len(recs) != 1 {
		t.Fatalf("%d recordings, want 1", len(recs))
	}
	near(t, "duration", f.clip(t, recs[0]), frameAt(3*fps-1), 100*time.Millisecond)
}
