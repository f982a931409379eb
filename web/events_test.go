package web_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/securecam/securecam/signaling"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/blobs"
	"github.com/securecam/securecam/store/blobs/blobstest"
	"github.com/securecam/securecam/web"
)

// withEvents serves events through a real signaling service and hub, and recordings
// from st (new clips) and others.
func withEvents(t *testing.T, st blobs.Storage, others ...blobs.Storage) envOpt {
	return func(s *setup) {
		svc := newSignaling(t, s, signaling.Config{})
		set, err := blobs.NewSet(st, others...)
		if err != nil {
			t.Fatal(err)
		}
		s.deps.Events, s.deps.Recordings = svc, set
	}
}

// newDisk returns a data-directory storage in a temporary directory.
func newDisk(t *testing.T) blobs.Storage {
	t.Helper()
	d, err := blobs.NewDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// storages are the recordings storages the recording tests run on.
var storages = []struct {
	name string
	new  func(t *testing.T) blobs.Storage
}{
	{"disk", newDisk},
	{"s3", func(t *testing.T) blobs.Storage { return blobstest.NewS3(t) }},
}

// household is a user with a linked camera and viewer.
type household struct {
	tok         string
	cam, viewer deviceJSON
	user        wire.User
}

func (e *env) household() household {
	e.t.Helper()
	a := e.signUp()
	h := household{tok: a.Session.Token, user: a.User}
	h.cam, h.viewer = e.createDevice(h.tok, "camera"), e.createDevice(h.tok, "viewer")
	e.do("POST", "/api/v1/device-links", map[string]string{
		"camera_device_id": h.cam.Device.ID, "client_device_id": h.viewer.Device.ID,
	}, bearer(h.tok)).want(e.t, http.StatusCreated, nil)
	return h
}

func TestEventsAPI(t *testing.T) {
	e := newEnv(t, withEvents(t, newDisk(t)))
	h := e.household()
	intruder := e.household()

	var ev wire.Event
	started := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	e.do("POST", "/api/v1/events", map[string]any{"device_id": h.cam.Device.ID, "title": " Motion at the door ",
		"triggered_by": "motion", "started_at": started}, bearer(h.cam.DeviceToken)).want(t, http.StatusCreated, &ev)
	if ev.DeviceID != h.cam.Device.ID || ev.UserID != h.user.ID || ev.Title != "Motion at the door" || ev.Status != store.EventActive ||
		!ev.StartedAt.Equal(started) || ev.NotifiedAt == nil {
		t.Fatalf("created event %+v", ev)
	}
	var byOwner wire.Event
	e.do("POST", "/api/v1/events", map[string]any{"device_id": h.cam.Device.ID, "title": "Sound",
		"triggered_by": "sound"}, bearer(h.tok)).want(t, http.StatusCreated, &byOwner)

	var got wire.Event
	e.do("GET", "/api/v1/events/"+ev.ID, nil, bearer(h.tok)).want(t, http.StatusOK, &got)
	if got.ID != ev.ID || got.Title != ev.Title {
		t.Errorf("GET = %+v", got)
	}
	var l struct {
		Items      []wire.Event
		NextCursor *string `json:"next_cursor"`
	}
	e.do("GET", "/api/v1/events", nil, bearer(h.tok)).want(t, http.StatusOK, &l)
	if len(l.Items) != 2 || l.Items[0].ID != byOwner.ID || l.NextCursor != nil {
		t.Errorf("list = %+v, want both events newest first", l.Items)
	}
	since := url.QueryEscape(started.Add(time.Second).Format(time.RFC3339))
	e.do("GET", "/api/v1/events?device_id="+h.cam.Device.ID+"&since="+since, nil, bearer(h.tok)).want(t, http.StatusOK, &l)
	if len(l.Items) != 1 || l.Items[0].ID != byOwner.ID {
		t.Errorf("list since = %+v, want only the later event", l.Items)
	}
	e.do("GET", "/api/v1/events?triggered_by=sound", nil, bearer(h.tok)).want(t, http.StatusOK, &l)
	if len(l.Items) != 1 || l.Items[0].ID != byOwner.ID {
		t.Errorf("list by trigger = %+v, want only the sound", l.Items)
	}
	day := url.QueryEscape(started.Add(-time.Hour).Format(time.RFC3339))
	until := url.QueryEscape(started.Add(time.Second).Format(time.RFC3339))
	e.do("GET", "/api/v1/events?since="+day+"&until="+until, nil, bearer(h.tok)).want(t, http.StatusOK, &l)
	if len(l.Items) != 1 || l.Items[0].ID != ev.ID {
		t.Errorf("list in [since, until) = %+v, want only the earlier event", l.Items)
	}

	// Ending: the camera's token or the owner.
	var ended wire.Event
	e.do("PATCH", "/api/v1/events/"+ev.ID, map[string]string{"status": "ended"}, bearer(h.cam.DeviceToken)).want(t, http.StatusOK, &ended)
	if ended.Status != store.EventEnded || ended.EndedAt == nil {
		t.Errorf("ended = %+v", ended)
	}
	endAt := time.Now().UTC().Add(2 * time.Second).Truncate(time.Second)
	e.do("PATCH", "/api/v1/events/"+byOwner.ID, map[string]any{"status": "ended", "ended_at": endAt}, bearer(h.tok)).want(t, http.StatusOK, &ended)
	if ended.EndedAt == nil || !ended.EndedAt.Equal(endAt) {
		t.Errorf("ended_at = %v, want %v", ended.EndedAt, endAt)
	}

	// The owner was notified once per event; reading clears it.
	var notes struct{ Items []wire.Notification }
	e.do("GET", "/api/v1/notifications?unread=true", nil, bearer(h.tok)).want(t, http.StatusOK, &notes)
	if len(notes.Items) != 2 {
		t.Fatalf("unread notifications %+v, want 2", notes.Items)
	}
	e.do("POST", "/api/v1/notifications/"+notes.Items[0].ID+"/read", nil, bearer(h.tok)).want(t, http.StatusNoContent, nil)
	e.do("POST", "/api/v1/notifications/"+notes.Items[0].ID+"/read", nil, bearer(h.tok)).want(t, http.StatusNoContent, nil)
	e.do("GET", "/api/v1/notifications?unread=true", nil, bearer(h.tok)).want(t, http.StatusOK, &notes)
	if len(notes.Items) != 1 {
		t.Errorf("unread after one read: %d, want 1", len(notes.Items))
	}
	e.do("GET", "/api/v1/notifications", nil, bearer(h.tok)).want(t, http.StatusOK, &notes)
	if len(notes.Items) != 2 {
		t.Errorf("all notifications: %d, want 2", len(notes.Items))
	}

	other := e.createDevice(h.tok, "camera")
	tests := []struct {
		name, method, path string
		body               any
		tok                string
		status             int
		code               string
	}{
		{"another user's camera", "POST", "/api/v1/events", map[string]string{"device_id": h.cam.Device.ID, "title": "x", "triggered_by": "motion"},
			intruder.tok, http.StatusNotFound, wire.CodeNotFound},
		{"a token for another device", "POST", "/api/v1/events", map[string]string{"device_id": other.Device.ID, "title": "x", "triggered_by": "motion"},
			h.cam.DeviceToken, http.StatusForbidden, wire.CodeForbidden},
		{"a viewer", "POST", "/api/v1/events", map[string]string{"device_id": h.viewer.Device.ID, "title": "x", "triggered_by": "motion"},
			h.tok, http.StatusBadRequest, wire.CodeBadRequest},
		{"no title", "POST", "/api/v1/events", map[string]string{"device_id": h.cam.Device.ID, "triggered_by": "motion"},
			h.tok, http.StatusBadRequest, wire.CodeBadRequest},
		{"hub-only trigger", "POST", "/api/v1/events", map[string]string{"device_id": h.cam.Device.ID, "title": "x", "triggered_by": "camera_offline"},
			h.tok, http.StatusBadRequest, wire.CodeBadRequest},
		{"started in the future", "POST", "/api/v1/events", map[string]any{"device_id": h.cam.Device.ID, "title": "x", "triggered_by": "motion",
			"started_at": time.Now().Add(time.Hour)}, h.tok, http.StatusBadRequest, wire.CodeBadRequest},
		{"another user's event", "GET", "/api/v1/events/" + ev.ID, nil, intruder.tok, http.StatusNotFound, wire.CodeNotFound},
		{"a device token reading", "GET", "/api/v1/events/" + ev.ID, nil, h.cam.DeviceToken, http.StatusForbidden, wire.CodeForbidden},
		{"ending another user's event", "PATCH", "/api/v1/events/" + ev.ID, map[string]string{"status": "ended"},
			intruder.tok, http.StatusNotFound, wire.CodeNotFound},
		{"ending with another camera's token", "PATCH", "/api/v1/events/" + ev.ID, map[string]string{"status": "ended"},
			intruder.cam.DeviceToken, http.StatusNotFound, wire.CodeNotFound},
		{"a status other than ended", "PATCH", "/api/v1/events/" + ev.ID, map[string]string{"status": "active"},
			h.tok, http.StatusBadRequest, wire.CodeBadRequest},
		{"a bad since", "GET", "/api/v1/events?since=yesterday", nil, h.tok, http.StatusBadRequest, wire.CodeBadRequest},
		{"a bad until", "GET", "/api/v1/events?until=tomorrow", nil, h.tok, http.StatusBadRequest, wire.CodeBadRequest},
		{"until before since", "GET", "/api/v1/events?since=2025-02-01T00:00:00Z&until=2025-01-01T00:00:00Z", nil, h.tok, http.StatusBadRequest, wire.CodeBadRequest},
		{"a bad trigger", "GET", "/api/v1/events?triggered_by=Motion!", nil, h.tok, http.StatusBadRequest, wire.CodeBadRequest},
		{"reading another user's notification", "POST", "/api/v1/notifications/" + notes.Items[0].ID + "/read", nil,
			intruder.tok, http.StatusNotFound, wire.CodeNotFound},
		{"a bad unread", "GET", "/api/v1/notifications?unread=maybe", nil, h.tok, http.StatusBadRequest, wire.CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.do(tt.method, tt.path, tt.body, bearer(tt.tok)).wantProblem(t, tt.status, tt.code)
		})
	}
	e.do("GET", "/api/v1/events", nil, bearer(intruder.tok)).want(t, http.StatusOK, &l)
	if len(l.Items) != 0 {
		t.Errorf("another user lists %d events", len(l.Items))
	}
}

// recordingJSON is the answer of POST /recordings.
type recordingJSON struct {
	Recording wire.Recording `json:"recording"`
	UploadURL string         `json:"upload_url"`
}

func (e *env) createRecording(tok string, body map[string]any) recordingJSON {
	e.t.Helper()
	var r recordingJSON
	e.do("POST", "/api/v1/recordings", body, bearer(tok)).want(e.t, http.StatusCreated, &r)
	return r
}

// uploadPath is the path of an upload URL on the test server (the URL names the
// configured public URL).
func uploadPath(t *testing.T, uploadURL string) string {
	t.Helper()
	u, err := url.Parse(uploadURL)
	if err != nil || u.Scheme+"://"+u.Host != "http://localhost:8080" {
		t.Fatalf("upload_url %q is not on the public URL", uploadURL)
	}
	return u.Path
}

func TestRecordingUploadAndPlayback(t *testing.T) {
	for _, s := range storages {
		t.Run(s.name, func(t *testing.T) { testRecordingUploadAndPlayback(t, s.new(t)) })
	}
}

func testRecordingUploadAndPlayback(t *testing.T, st blobs.Storage) {
	e := newEnv(t, withEvents(t, st))
	h := e.household()
	var ev wire.Event
	e.do("POST", "/api/v1/events", map[string]string{"device_id": h.cam.Device.ID, "title": "Motion", "triggered_by": "motion"},
		bearer(h.cam.DeviceToken)).want(t, http.StatusCreated, &ev)

	r := e.createRecording(h.cam.DeviceToken, map[string]any{"camera_device_id": h.cam.Device.ID, "event_id": ev.ID,
		"content_type": "video/mp4", "duration_seconds": 7})
	if r.Recording.Status != store.RecordingPending || r.Recording.EventID == nil || *r.Recording.EventID != ev.ID ||
		r.Recording.RequesterDeviceID == nil || *r.Recording.RequesterDeviceID != h.cam.Device.ID || r.Recording.ContentType != "video/mp4" {
		t.Fatalf("created %+v", r.Recording)
	}
	path := uploadPath(t, r.UploadURL)
	e.do("GET", path, nil, bearer(h.tok)).wantProblem(t, http.StatusConflict, wire.CodeConflict) // not uploaded yet

	clip := bytes.Repeat([]byte("0123456789"), 1000)
	var up wire.Recording
	e.do("PUT", path, string(clip), bearer(h.cam.DeviceToken), header("Content-Type", "video/mp4")).want(t, http.StatusOK, &up)
	if up.Status != store.RecordingAvailable || up.SizeBytes == nil || *up.SizeBytes != int64(len(clip)) || up.AvailableAt == nil {
		t.Fatalf("uploaded %+v", up)
	}
	e.do("PUT", path, string(clip), bearer(h.cam.DeviceToken), header("Content-Type", "video/mp4")).wantProblem(t, http.StatusConflict, wire.CodeConflict)

	// The event's video_url plays the clip back to its owner.
	e.do("GET", "/api/v1/events/"+ev.ID, nil, bearer(h.tok)).want(t, http.StatusOK, &ev)
	if ev.VideoURL == nil || uploadPath(t, *ev.VideoURL) != path {
		t.Fatalf("video_url = %v, want the recording's content URL", ev.VideoURL)
	}
	full := e.do("GET", path, nil, bearer(h.tok))
	if full.status != http.StatusOK || !bytes.Equal(full.body, clip) || full.header.Get("Content-Type") != "video/mp4" ||
		full.header.Get("Accept-Ranges") != "bytes" {
		t.Fatalf("GET content: %d %v (%d bytes)", full.status, full.header, len(full.body))
	}
	for _, tt := range []struct {
		rng, contentRange string
		want              []byte
	}{
		{"bytes=10-19", fmt.Sprintf("bytes 10-19/%d", len(clip)), clip[10:20]},
		{"bytes=-5", fmt.Sprintf("bytes %d-%d/%d", len(clip)-5, len(clip)-1, len(clip)), clip[len(clip)-5:]},
		{"bytes=9990-", fmt.Sprintf("bytes 9990-9999/%d", len(clip)), clip[9990:]},
	} {
		res := e.do("GET", path, nil, bearer(h.tok), header("Range", tt.rng))
		if res.status != http.StatusPartialContent || res.header.Get("Content-Range") != tt.contentRange || !bytes.Equal(res.body, tt.want) {
			t.Errorf("Range %s: %d %q %q, want 206 %q %q", tt.rng, res.status, res.header.Get("Content-Range"), res.body, tt.contentRange, tt.want)
		}
	}
	if res := e.do("GET", path, nil, bearer(h.tok), header("Range", "bytes=20000-")); res.status != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("unsatisfiable range: %d, want 416", res.status)
	}

	var rec wire.Recording
	e.do("GET", "/api/v1/recordings/"+r.Recording.ID, nil, bearer(h.tok)).want(t, http.StatusOK, &rec)
	if rec.Status != store.RecordingAvailable {
		t.Errorf("GET recording %+v", rec)
	}
	var l struct{ Items []wire.Recording }
	e.do("GET", "/api/v1/recordings?event_id="+ev.ID, nil, bearer(h.tok)).want(t, http.StatusOK, &l)
	if len(l.Items) != 1 || l.Items[0].ID != r.Recording.ID {
		t.Errorf("list by event %+v", l.Items)
	}

	// Created by the owner: no requester device. Only the clip is in the storage.
	owner := e.createRecording(h.tok, map[string]any{"camera_device_id": h.cam.Device.ID, "content_type": "image/jpeg"})
	if owner.Recording.RequesterDeviceID != nil {
		t.Errorf("a recording created by the owner names a requester: %v", *owner.Recording.RequesterDeviceID)
	}
	if got := blobstest.Keys(t, st); len(got) != 1 || got[0] != *rec.ObjectKey || *rec.Bucket != st.Bucket() {
		t.Errorf("objects %v in the storage, want the one clip %s in %s", got, *rec.ObjectKey, *rec.Bucket)
	}
}

func TestRecordingRefusals(t *testing.T) {
	for _, s := range storages {
		t.Run(s.name, func(t *testing.T) { testRecordingRefusals(t, s.new(t)) })
	}
}

func testRecordingRefusals(t *testing.T, st blobs.Storage) {
	e := newEnv(t, withEvents(t, st), config(func(c *web.Config) { c.MaxUploadBytes = 1000 }))
	h := e.household()
	intruder := e.household()
	var ev wire.Event
	e.do("POST", "/api/v1/events", map[string]string{"device_id": h.cam.Device.ID, "title": "Motion", "triggered_by": "motion"},
		bearer(h.tok)).want(t, http.StatusCreated, &ev)
	mk := func() string {
		return uploadPath(t, e.createRecording(h.tok, map[string]any{"camera_device_id": h.cam.Device.ID, "content_type": "video/webm"}).UploadURL)
	}
	idOf := func(path string) string {
		return strings.TrimSuffix(strings.TrimPrefix(path, "/api/v1/recordings/"), "/content")
	}
	status := func(path string) wire.Recording {
		t.Helper()
		var rec wire.Recording
		e.do("GET", "/api/v1/recordings/"+idOf(path), nil, bearer(h.tok)).want(t, http.StatusOK, &rec)
		return rec
	}

	create := []struct {
		name   string
		tok    string
		body   map[string]any
		status int
		code   string
	}{
		{"bad content type", h.tok, map[string]any{"camera_device_id": h.cam.Device.ID, "content_type": "video/avi"}, http.StatusBadRequest, wire.CodeBadRequest},
		{"another user's camera", intruder.tok, map[string]any{"camera_device_id": h.cam.Device.ID, "content_type": "video/mp4"}, http.StatusNotFound, wire.CodeNotFound},
		{"another user's event", intruder.tok, map[string]any{"camera_device_id": intruder.cam.Device.ID, "event_id": ev.ID, "content_type": "video/mp4"},
			http.StatusNotFound, wire.CodeNotFound},
		{"a missing stream session", h.tok, map[string]any{"camera_device_id": h.cam.Device.ID, "stream_session_id": "01960000-0000-7000-8000-000000000000",
			"content_type": "video/mp4"}, http.StatusNotFound, wire.CodeNotFound},
		{"a viewer", h.tok, map[string]any{"camera_device_id": h.viewer.Device.ID, "content_type": "video/mp4"}, http.StatusBadRequest, wire.CodeBadRequest},
		{"a viewer's token", h.viewer.DeviceToken, map[string]any{"camera_device_id": h.cam.Device.ID, "content_type": "video/mp4"},
			http.StatusForbidden, wire.CodeForbidden},
		{"a negative duration", h.tok, map[string]any{"camera_device_id": h.cam.Device.ID, "content_type": "video/mp4", "duration_seconds": -1},
			http.StatusBadRequest, wire.CodeBadRequest},
	}
	for _, tt := range create {
		t.Run("create "+tt.name, func(t *testing.T) {
			e.do("POST", "/api/v1/recordings", tt.body, bearer(tt.tok)).wantProblem(t, tt.status, tt.code)
		})
	}

	path := mk()
	upload := []struct {
		name, tok, contentType string
		status                 int
		code                   string
	}{
		{"another user", intruder.tok, "video/webm", http.StatusNotFound, wire.CodeNotFound},
		{"another camera's token", intruder.cam.DeviceToken, "video/webm", http.StatusNotFound, wire.CodeNotFound},
		{"an unsupported type", h.tok, "text/plain", http.StatusBadRequest, wire.CodeBadRequest},
		{"another type than declared", h.tok, "video/mp4", http.StatusBadRequest, wire.CodeBadRequest},
		{"no type", h.tok, "", http.StatusBadRequest, wire.CodeBadRequest},
	}
	for _, tt := range upload {
		t.Run("upload "+tt.name, func(t *testing.T) {
			e.do("PUT", path, "clip", bearer(tt.tok), header("Content-Type", tt.contentType)).wantProblem(t, tt.status, tt.code)
		})
	}
	if rec := status(path); rec.Status != store.RecordingPending {
		t.Errorf("after refused uploads the recording is %s, want still pending", rec.Status)
	}
	e.do("PUT", path, "", bearer(h.tok), header("Content-Type", "video/webm")).wantProblem(t, http.StatusBadRequest, wire.CodeBadRequest)

	// Too large, known from Content-Length: refused before reading.
	e.do("PUT", path, strings.Repeat("x", 1001), bearer(h.tok), header("Content-Type", "video/webm")).
		wantProblem(t, http.StatusRequestEntityTooLarge, wire.CodeTooLarge)
	if rec := status(path); rec.Status != store.RecordingFailed || rec.Error == nil {
		t.Errorf("after a too large upload: %+v, want failed with an error", rec)
	}

	// Too large, of unknown length: cut off while streaming.
	chunked := mk()
	req, err := http.NewRequestWithContext(t.Context(), "PUT", e.http.URL+chunked, io.MultiReader(strings.NewReader(strings.Repeat("y", 600)), strings.NewReader(strings.Repeat("z", 600))))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+h.tok)
	req.Header.Set("Content-Type", "video/webm")
	res, err := e.http.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if req.ContentLength != 0 || res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked upload over the limit: %d (length %d), want 413", res.StatusCode, req.ContentLength)
	}
	if rec := status(chunked); rec.Status != store.RecordingFailed {
		t.Errorf("after a too large chunked upload: %s, want failed", rec.Status)
	}

	// The content is never served outside the owner's scope.
	ok := mk()
	e.do("PUT", ok, "small clip", bearer(h.tok), header("Content-Type", "video/webm")).want(t, http.StatusOK, nil)
	e.do("GET", ok, nil, bearer(intruder.tok)).wantProblem(t, http.StatusNotFound, wire.CodeNotFound)
	e.do("GET", "/api/v1/recordings/"+idOf(ok), nil, bearer(intruder.tok)).wantProblem(t, http.StatusNotFound, wire.CodeNotFound)
	e.do("GET", ok, nil, bearer(h.cam.DeviceToken)).wantProblem(t, http.StatusForbidden, wire.CodeForbidden)
	var l struct{ Items []wire.Recording }
	e.do("GET", "/api/v1/recordings", nil, bearer(intruder.tok)).want(t, http.StatusOK, &l)
	if len(l.Items) != 0 {
		t.Errorf("another user lists %d recordings", len(l.Items))
	}
	if got := blobstest.Keys(t, st); len(got) != 1 {
		t.Errorf("objects in the storage: %v, want the one uploaded clip", got)
	}
	if n, err := st.Sweep(t.Context(), time.Now().Add(time.Hour)); err != nil || n != 0 {
		t.Errorf("Sweep = %d, %v: the refused uploads left temporary files or parts", n, err)
	}
}
