package main

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling/client"
	"github.com/securecam/securecam/signaling/client/media"
	"github.com/securecam/securecam/signaling/wire"
)

// The server-side recording tests: a pion camera publishing its test pattern (VP8,
// 320x240 at 30 fps, a keyframe a second) by WHIP to a real hub (embedded mode, a
// child process), recorded as the camera's recording_mode says; every file is played
// back through the hub and checked with ffprobe and ffmpeg.

// recordingEnv gives the settings of an embedded hub that knows its own address (the
// WHIP URL of relay.publish), with its own data directory, and extra ones.
func recordingEnv(t *testing.T, extra map[string]string) func(addr string) map[string]string {
	t.Helper()
	for _, tool := range []string{"ffmpeg", "ffprobe"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: the recording tests need it (apt-get install ffmpeg): %v", tool, err)
		}
	}
	dir := t.TempDir()
	return func(addr string) map[string]string {
		env := map[string]string{"SECURECAM_HTTP_ADDR": addr, "SECURECAM_PUBLIC_URL": "http://" + addr,
			"SECURECAM_DATA_DIR": dir}
		maps.Copy(env, extra)
		return env
	}
}

// recordingHub starts a hub with recordingEnv.
func recordingHub(t *testing.T, extra map[string]string) *proc {
	t.Helper()
	p, _ := startProcAt(t, recordingEnv(t, extra))
	return p
}

// askedToPublish waits for relay.publish on the camera's socket (past presence
// messages) and checks its WHIP URL.
func askedToPublish(t *testing.T, p *proc, conn *client.Conn) {
	t.Helper()
	checkRelayPublish(t, p, next(t, conn, wire.TypeRelayPublish))
}

// checkRelayPublish checks that env, a relay.publish, names p's WHIP endpoint.
func checkRelayPublish(t *testing.T, p *proc, env hub.Envelope) {
	t.Helper()
	var msg wire.RelayPublish
	if err := json.Unmarshal(env.Data, &msg); err != nil {
		t.Fatal(err)
	}
	if want := p.URL + "/api/v1/whip"; msg.WHIPURL != want {
		t.Fatalf("relay.publish whip_url %q, want %q", msg.WHIPURL, want)
	}
}

// publish makes a pion camera publish its test pattern by WHIP; it returns the
// camera and its WHIP session.
func publish(ctx context.Context, t *testing.T, p *proc, acct account) (*media.Camera, *client.MediaSession) {
	t.Helper()
	whip := p.client(acct.camera.DeviceToken).WHIP()
	cam, err := media.NewCamera(media.CameraConfig{Config: media.Config{Signaler: whip, SettingEngine: hostSettingEngine()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cam.Close() })
	if err := cam.Offer(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cam.HandleAnswer(whip.Answer()); err != nil {
		t.Fatal(err)
	}
	return cam, whip
}

// framesSent waits until the camera sent n more frames than from (a wait in stream
// time, whatever the machine's load) and returns how many it sent then.
func framesSent(t *testing.T, cam *media.Camera, from, n uint64) uint64 {
	t.Helper()
	var got uint64
	waitFor(t, strconv.FormatUint(n, 10)+" frames from the camera", time.Minute, func() bool {
		got = cam.Stats().FramesSent
		return got >= from+n
	})
	return got
}

// serverRecordings lists the camera's recordings, oldest first.
func serverRecordings(t *testing.T, p *proc, acct account) []wire.Recording {
	t.Helper()
	var page struct {
		Items []wire.Recording `json:"items"`
	}
	call(t, "GET", p.URL+"/api/v1/recordings?camera_device_id="+acct.camera.Device.ID, acct.token, nil).decode(t, http.StatusOK, &page)
	slices.SortFunc(page.Items, func(a, b wire.Recording) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return page.Items
}

func countStatus(rs []wire.Recording, status string) int {
	n := 0
	for _, r := range rs {
		if r.Status == status {
			n++
		}
	}
	return n
}

// playClip downloads a recording through the hub (whole, and a Range of it), checks
// that ffmpeg decodes it without a word and returns its duration as ffprobe reads it.
func playClip(t *testing.T, p *proc, acct account, rec wire.Recording) time.Duration {
	t.Helper()
	content := p.URL + "/api/v1/recordings/" + rec.ID + "/content"
	whole := call(t, "GET", content, acct.token, nil)
	if whole.status != http.StatusOK || whole.header.Get("Content-Type") != "video/webm" {
		t.Fatalf("GET %s = %d %q", content, whole.status, whole.header.Get("Content-Type"))
	}
	if rec.SizeBytes == nil || int64(len(whole.body)) != *rec.SizeBytes {
		t.Fatalf("clip of %d bytes, size_bytes %v", len(whole.body), rec.SizeBytes)
	}
	part := call(t, "GET", content, acct.token, nil, "Range", "bytes=100-1099")
	if part.status != http.StatusPartialContent || !bytes.Equal(part.body, whole.body[100:1100]) {
		t.Fatalf("Range bytes=100-1099: %d, %d bytes (want 206 and the clip's bytes)", part.status, len(part.body))
	}
	file := filepath.Join(t.TempDir(), rec.ID+".webm")
	if err := os.WriteFile(file, whole.body, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ffmpeg", "-v", "error", "-i", file, "-f", "null", "-").CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("ffmpeg -v error -i %s -f null - = %v, printed %q; want nothing", rec.ID, err, out)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_name",
		"-of", "default=noprint_wrappers=1", file).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe: %v: %s", err, out)
	}
	var secs float64
	codecs := ""
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "duration":
			if secs, err = strconv.ParseFloat(v, 64); err != nil {
				t.Fatalf("ffprobe duration %q", v)
			}
		case "codec_name":
			codecs += v + " "
		}
	}
	if codecs != "vp8 " {
		t.Errorf("ffprobe codecs %q, want one vp8 stream", codecs)
	}
	d := time.Duration(secs * float64(time.Second))
	if rec.DurationSeconds == nil || absDuration(d-time.Duration(*rec.DurationSeconds)*time.Second) > time.Second {
		t.Errorf("ffprobe duration %v, row's duration_seconds %v: want them within 1 s", d, rec.DurationSeconds)
	}
	return d
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func request(ctx context.Context, t *testing.T, conn *client.Conn, typ string, data any) wire.EventAck {
	t.Helper()
	raw, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	env, err := conn.Request(ctx, hub.Envelope{Type: typ, Data: raw})
	if err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
	var ack wire.EventAck
	if err := json.Unmarshal(env.Data, &ack); err != nil {
		t.Fatal(err)
	}
	return ack
}

// TestServerRecordingEvent: a camera in events mode (the default) that is not
// publishing raises event.start on its socket; the hub asks it to publish to its
// relay (relay.publish), records the publication from its first keyframe until 10 s
// after event.end, and the recording becomes available with the event and the
// stream session, as the event's video_url, played back with Range; ffmpeg decodes it
// cleanly and ffprobe finds the duration recorded (±1 s).
func TestServerRecordingEvent(t *testing.T) {
	t.Parallel()
	p := recordingHub(t, nil)
	acct := newAccount(t, p)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	conn := dialDevice(t, p, acct.camera)

	event := request(ctx, t, conn, wire.TypeEventStart, wire.EventRequest{Title: "Motion", TriggeredBy: "motion"}).EventID
	askedToPublish(t, p, conn)
	cam, whip := publish(ctx, t, p, acct)
	session := path.Base(whip.Location())

	var started uint64
	waitFor(t, "the recording to start", time.Minute, func() bool {
		started = cam.Stats().FramesSent
		return len(serverRecordings(t, p, acct)) > 0
	})
	ended := framesSent(t, cam, started, 3*30)
	request(ctx, t, conn, wire.TypeEventEnd, wire.EventEnd{EventID: event})
	// The recording goes on for 10 s of the stream after the event ended.
	want := time.Duration(ended-started)*time.Second/30 + 10*time.Second

	var recs []wire.Recording
	waitFor(t, "the recording to become available", 2*time.Minute, func() bool {
		recs = serverRecordings(t, p, acct)
		return len(recs) > 0 && recs[0].Status != "pending"
	})
	if len(recs) != 1 {
		t.Fatalf("recordings %+v, want one", recs)
	}
	rec := recs[0]
	if rec.Status != "available" || rec.ContentType != "video/webm" || rec.EventID == nil || *rec.EventID != event ||
		rec.StreamSessionID == nil || *rec.StreamSessionID != session || rec.RequesterDeviceID != nil || rec.AvailableAt == nil {
		t.Fatalf("recording %+v, want available video/webm of event %s and stream session %s", rec, event, session)
	}
	got := playClip(t, p, acct, rec)
	if absDuration(got-want) > time.Second {
		t.Errorf("clip of %v, want %v (the event and 10 s after it) ±1 s", got, want)
	}
	var e wire.Event
	call(t, "GET", p.URL+"/api/v1/events/"+event, acct.token, nil).decode(t, http.StatusOK, &e)
	if e.VideoURL == nil || !strings.HasSuffix(*e.VideoURL, "/api/v1/recordings/"+rec.ID+"/content") {
		t.Errorf("event video_url %v, want the recording's", e.VideoURL)
	}
	if err := whip.Delete(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestServerRecordingContinuous: a camera set to continuous is asked to publish when
// it connects and is recorded in files of SECURECAM_SEGMENT_SECONDS, each playable and
// of that length (±1 s); setting the mode to off ends the file being written (the
// camera still publishing) and nothing more is recorded.
func TestServerRecordingContinuous(t *testing.T) {
	t.Parallel()
	p := recordingHub(t, map[string]string{"SECURECAM_SEGMENT_SECONDS": "2"})
	acct := newAccount(t, p)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	setMode := func(mode string) {
		t.Helper()
		var d wire.Device
		call(t, "PATCH", p.URL+"/api/v1/devices/"+acct.camera.Device.ID, acct.token,
			[]byte(`{"recording_mode":"`+mode+`"}`), "Content-Type", "application/json").decode(t, http.StatusOK, &d)
		if d.RecordingMode != mode {
			t.Fatalf("recording_mode %q after PATCH, want %q", d.RecordingMode, mode)
		}
	}
	setMode("continuous")
	conn := dialDevice(t, p, acct.camera)
	askedToPublish(t, p, conn)
	cam, whip := publish(ctx, t, p, acct)

	waitFor(t, "two finished segments", 2*time.Minute, func() bool {
		return countStatus(serverRecordings(t, p, acct), "available") >= 2
	})
	setMode("off")
	var recs []wire.Recording
	waitFor(t, "the file being written to end", time.Minute, func() bool {
		recs = serverRecordings(t, p, acct)
		return countStatus(recs, "pending") == 0
	})
	// More than a segment of the stream: nothing is recorded any more.
	framesSent(t, cam, cam.Stats().FramesSent, 4*30)
	if after := serverRecordings(t, p, acct); len(after) != len(recs) {
		t.Fatalf("%d recordings after the mode was set to off, %d before", len(after), len(recs))
	}
	for i, rec := range recs {
		if rec.Status != "available" || rec.EventID != nil || rec.StreamSessionID == nil {
			t.Fatalf("recording %d: %+v, want available, without an event, of the stream session", i, rec)
		}
		got := playClip(t, p, acct, rec)
		if i < len(recs)-1 && absDuration(got-2*time.Second) > time.Second {
			t.Errorf("segment %d of %v, want 2 s ±1 s", i, got)
		}
	}
	if err := whip.Delete(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestServerRecordingContinuousFollowsArming: a continuous camera records only while
// armed. Set to continuous while its household is disarmed, it is not asked to
// publish; arming the household asks it (relay.publish) and it is recorded;
// disarming ends the file being written and nothing more is recorded, the camera
// still publishing.
func TestServerRecordingContinuousFollowsArming(t *testing.T) {
	t.Parallel()
	p := recordingHub(t, map[string]string{"SECURECAM_SEGMENT_SECONDS": "2"})
	acct := newAccount(t, p)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	arm := func(mode string) {
		t.Helper()
		call(t, "PUT", p.URL+"/api/v1/arming", acct.token, []byte(`{"mode":"`+mode+`"}`),
			"Content-Type", "application/json").decode(t, http.StatusOK, nil)
	}
	conn := dialDevice(t, p, acct.camera)
	arm("disarmed")
	call(t, "PATCH", p.URL+"/api/v1/devices/"+acct.camera.Device.ID, acct.token,
		[]byte(`{"recording_mode":"continuous"}`), "Content-Type", "application/json").decode(t, http.StatusOK, nil)
	// The PATCH asks at once when it asks: what came before this pong is all there is.
	if ans, err := conn.Request(ctx, hub.Envelope{Type: "ping", ID: "p-1"}); err != nil || ans.Type != "pong" {
		t.Fatalf("ping: %v %v", ans.Type, err)
	}
	for drained := false; !drained; {
		select {
		case env := <-conn.Messages():
			if env.Type == wire.TypeRelayPublish {
				t.Fatal("a continuous camera of a disarmed household was asked to publish")
			}
		default:
			drained = true
		}
	}

	arm("away")
	askedToPublishSkipping(t, p, conn)
	cam, whip := publish(ctx, t, p, acct)
	waitFor(t, "a finished segment while armed", 2*time.Minute, func() bool {
		return countStatus(serverRecordings(t, p, acct), "available") >= 1
	})
	arm("disarmed")
	var recs []wire.Recording
	waitFor(t, "the file being written to end once disarmed", time.Minute, func() bool {
		recs = serverRecordings(t, p, acct)
		return countStatus(recs, "pending") == 0
	})
	framesSent(t, cam, cam.Stats().FramesSent, 4*30)
	if after := serverRecordings(t, p, acct); len(after) != len(recs) {
		t.Fatalf("%d recordings after disarming, %d before", len(after), len(recs))
	}
	if err := whip.Delete(ctx); err != nil {
		t.Fatal(err)
	}
}

// askedToPublishSkipping is askedToPublish past the camera's other messages (arming,
// device, presence).
func askedToPublishSkipping(t *testing.T, p *proc, conn *client.Conn) {
	t.Helper()
	checkRelayPublish(t, p, nextPast(t, conn, wire.TypeRelayPublish, func(string) bool { return true }))
}

// TestServerRecordingCrash: a hub killed (SIGKILL) while recording leaves its spool
// file; started again on the same data directory, it stores what the file held before
// it serves: the first listing shows the recording available, and it plays.
func TestServerRecordingCrash(t *testing.T) {
	t.Parallel()
	p, env := startProcAt(t, recordingEnv(t, nil))
	acct := newAccount(t, p)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	call(t, "PATCH", p.URL+"/api/v1/devices/"+acct.camera.Device.ID, acct.token,
		[]byte(`{"recording_mode":"continuous"}`), "Content-Type", "application/json").decode(t, http.StatusOK, nil)
	conn := dialDevice(t, p, acct.camera)
	askedToPublish(t, p, conn)
	cam, _ := publish(ctx, t, p, acct)

	var started uint64
	waitFor(t, "the recording to start", time.Minute, func() bool {
		started = cam.Stats().FramesSent
		return len(serverRecordings(t, p, acct)) > 0
	})
	framesSent(t, cam, started, 3*30)
	spool := filepath.Join(env["SECURECAM_DATA_DIR"], "recording-spool")
	waitFor(t, "the spool file to hold clusters", time.Minute, func() bool {
		files, _ := filepath.Glob(filepath.Join(spool, "*.webm.part"))
		if len(files) != 1 {
			return false
		}
		fi, err := os.Stat(files[0])
		return err == nil && fi.Size() > 64<<10
	})
	if recs := serverRecordings(t, p, acct); len(recs) != 1 || recs[0].Status != "pending" || recs[0].ObjectKey != nil {
		t.Fatalf("recordings while recording: %+v, want one pending without a clip", recs)
	}
	p.Kill()
	_ = conn.CloseNow()

	again := startProc(t, env)
	recs := serverRecordings(t, again, acct)
	if len(recs) != 1 || recs[0].Status != "available" {
		t.Fatalf("recordings after the restart: %+v, want the one recording available", recs)
	}
	if got := playClip(t, again, acct, recs[0]); got < 2*time.Second {
		t.Errorf("salvaged clip of %v, want the 3 s and more recorded before the kill, less at most its last second", got)
	}
	if files, _ := filepath.Glob(filepath.Join(spool, "*")); len(files) != 0 {
		t.Errorf("spool directory after the restart holds %v, want nothing", files)
	}
}
