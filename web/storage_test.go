package web_test

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/blobs"
	"github.com/securecam/securecam/store/blobs/blobstest"
	"github.com/securecam/securecam/web"

	"github.com/securecam/securecam/signaling/wire"
)

// objects counts the objects in st.
func objects(t *testing.T, st blobs.Storage) int {
	t.Helper()
	n := 0
	for _, err := range st.List(t.Context(), "") {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

// putChunked uploads body without a Content-Length.
func (e *env) putChunked(path, tok, body string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), "PUT", e.http.URL+path, io.MultiReader(strings.NewReader(body)))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "video/webm")
	res, err := e.http.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if req.ContentLength != 0 {
		e.t.Fatalf("the upload had a Content-Length %d", req.ContentLength)
	}
	return res
}

func (e *env) recordingStatus(tok, path string) string {
	e.t.Helper()
	var rec wire.Recording
	e.do("GET", strings.TrimSuffix(path, "/content"), nil, bearer(tok)).want(e.t, http.StatusOK, &rec)
	return rec.Status
}

func TestStorageQuota(t *testing.T) {
	for _, sto := range storages {
		t.Run(sto.name, func(t *testing.T) {
			st := sto.new(t)
			e := newEnv(t, withEvents(t, st), config(func(c *web.Config) {
				c.StorageQuotaBytes = 1000
				c.MaxUploadBytes = 5000
			}))
			h, other := e.household(), e.household()
			mk := func(tok, cam string) string {
				return uploadPath(t, e.createRecording(tok, map[string]any{"camera_device_id": cam, "content_type": "video/webm"}).UploadURL)
			}
			put := func(path, tok string, n int) response {
				return e.do("PUT", path, strings.Repeat("x", n), bearer(tok), header("Content-Type", "video/webm"))
			}

			first := mk(h.tok, h.cam.Device.ID)
			put(first, h.tok, 600).want(t, http.StatusOK, nil)

			// Known length over the quota: refused before reading; the recording stays pending.
			second := mk(h.tok, h.cam.Device.ID)
			p := put(second, h.cam.DeviceToken, 600).wantProblem(t, http.StatusInsufficientStorage, wire.CodeInsufficientStorage)
			if !strings.Contains(p.Detail, "quota") {
				t.Errorf("507 detail %q does not name the quota", p.Detail)
			}
			// Unknown length: cut off when it passes the quota.
			if res := e.putChunked(second, h.tok, strings.Repeat("y", 600)); res.StatusCode != http.StatusInsufficientStorage ||
				res.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("chunked upload over the quota: %d %s, want 507 problem", res.StatusCode, res.Header.Get("Content-Type"))
			}
			if got := e.recordingStatus(h.tok, second); got != store.RecordingPending {
				t.Errorf("after 507 the recording is %s, want pending", got)
			}
			if got := objects(t, st); got != 1 {
				t.Errorf("%d files stored, want only the first clip", got)
			}
			// Another account has its own quota.
			put(mk(other.tok, other.cam.Device.ID), other.tok, 900).want(t, http.StatusOK, nil)

			// Deleting a clip frees its room.
			e.do("DELETE", strings.TrimSuffix(first, "/content"), nil, bearer(h.tok)).want(t, http.StatusNoContent, nil)
			put(second, h.tok, 600).want(t, http.StatusOK, nil)
			third := mk(h.tok, h.cam.Device.ID)
			put(third, h.tok, 400).want(t, http.StatusOK, nil) // exactly the quota
			put(mk(h.tok, h.cam.Device.ID), h.tok, 1).wantProblem(t, http.StatusInsufficientStorage, wire.CodeInsufficientStorage)
		})
	}
}

func TestStorageReserve(t *testing.T) {
	st := newDisk(t)
	var free atomic.Int64
	var statErr atomic.Bool
	free.Store(1 << 20)
	e := newEnv(t, withEvents(t, st), config(func(c *web.Config) { c.StorageReserveBytes = 1000 }), func(s *setup) {
		s.deps.FreeSpace = func() (int64, error) {
			if statErr.Load() {
				return 0, errors.New("statfs failed")
			}
			return free.Load(), nil
		}
	})
	h := e.household()
	mk := func() string {
		return uploadPath(t, e.createRecording(h.tok, map[string]any{"camera_device_id": h.cam.Device.ID, "content_type": "video/webm"}).UploadURL)
	}
	put := func(path string, n int) response {
		return e.do("PUT", path, strings.Repeat("x", n), bearer(h.cam.DeviceToken), header("Content-Type", "video/webm"))
	}
	type readyJSON struct {
		Status  string
		Storage struct {
			FreeBytes    *int64 `json:"free_bytes"`
			ReserveBytes int64  `json:"reserve_bytes"`
			Uploads      string
		}
	}
	ready := func() readyJSON {
		t.Helper()
		var r readyJSON
		e.do("GET", "/readyz", nil).want(t, http.StatusOK, &r)
		return r
	}
	if r := ready(); r.Status != "ok" || r.Storage.FreeBytes == nil || *r.Storage.FreeBytes != 1<<20 ||
		r.Storage.ReserveBytes != 1000 || r.Storage.Uploads != "ok" {
		t.Fatalf("readyz %+v", r)
	}

	// 1500 free, 1000 reserved: a 400-byte clip fits, a 600-byte one does not.
	free.Store(1500)
	refused := mk()
	res := put(refused, 600)
	res.wantProblem(t, http.StatusInsufficientStorage, wire.CodeInsufficientStorage)
	if got := res.header.Get("Retry-After"); got != "60" {
		t.Errorf("507 for the disk reserve: Retry-After %q, want 60", got)
	}
	if res := e.putChunked(refused, h.tok, strings.Repeat("y", 600)); res.StatusCode != http.StatusInsufficientStorage {
		t.Errorf("chunked upload into the reserve: %d, want 507", res.StatusCode)
	}
	if got := e.recordingStatus(h.tok, refused); got != store.RecordingPending {
		t.Errorf("after 507 the recording is %s, want pending", got)
	}
	put(mk(), 400).want(t, http.StatusOK, nil)

	// Below the reserve: uploads are refused, the replica stays ready and the rest works.
	free.Store(10)
	put(refused, 1).wantProblem(t, http.StatusInsufficientStorage, wire.CodeInsufficientStorage)
	if r := ready(); r.Storage.Uploads != "refused" || *r.Storage.FreeBytes != 10 {
		t.Errorf("readyz below the reserve %+v", r)
	}
	metrics := string(e.do("GET", "/metrics", nil).body)
	for _, want := range []string{"securecam_storage_free_bytes 10\n", "securecam_storage_reserve_bytes 1000\n"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	a := e.signUp()
	cam := e.createDevice(a.Session.Token, "camera")
	e.do("POST", "/api/v1/events", map[string]string{"device_id": cam.Device.ID, "title": "Motion", "triggered_by": "motion"},
		bearer(cam.DeviceToken)).want(t, http.StatusCreated, nil)
	e.do("POST", "/api/v1/auth/sign-in", map[string]string{"email": a.User.Email, "password": testPassword}).want(t, http.StatusOK, nil)

	// Space back: the refused recording uploads.
	free.Store(1 << 20)
	put(refused, 600).want(t, http.StatusOK, nil)

	// Free space unknown: uploads go on, readyz says so.
	statErr.Store(true)
	if r := ready(); r.Storage.Uploads != "unknown" || r.Storage.FreeBytes != nil {
		t.Errorf("readyz with statfs failing %+v", r)
	}
	put(mk(), 10).want(t, http.StatusOK, nil)
}

func TestDeleteRecording(t *testing.T) {
	for _, sto := range storages {
		t.Run(sto.name, func(t *testing.T) {
			st := sto.new(t)
			e := newEnv(t, withEvents(t, st))
			h, intruder := e.household(), e.household()
			var ev wire.Event
			e.do("POST", "/api/v1/events", map[string]string{"device_id": h.cam.Device.ID, "title": "Motion", "triggered_by": "motion"},
				bearer(h.cam.DeviceToken)).want(t, http.StatusCreated, &ev)
			r := e.createRecording(h.cam.DeviceToken, map[string]any{"camera_device_id": h.cam.Device.ID, "event_id": ev.ID, "content_type": "video/mp4"})
			content := uploadPath(t, r.UploadURL)
			path := strings.TrimSuffix(content, "/content")
			e.do("PUT", content, "clip bytes", bearer(h.cam.DeviceToken), header("Content-Type", "video/mp4")).want(t, http.StatusOK, nil)

			e.do("DELETE", path, nil, bearer(intruder.tok)).wantProblem(t, http.StatusNotFound, wire.CodeNotFound)
			e.do("DELETE", path, nil, bearer(h.cam.DeviceToken)).wantProblem(t, http.StatusForbidden, wire.CodeForbidden)
			e.do("DELETE", "/api/v1/recordings/not-an-id", nil, bearer(h.tok)).wantProblem(t, http.StatusNotFound, wire.CodeNotFound)
			e.do("GET", content, nil, bearer(h.tok)).want(t, http.StatusOK, nil)
			if got := objects(t, st); got != 1 {
				t.Fatalf("%d files before the deletion, want 1", got)
			}

			e.do("DELETE", path, nil, bearer(h.tok)).want(t, http.StatusNoContent, nil)
			e.do("GET", path, nil, bearer(h.tok)).wantProblem(t, http.StatusNotFound, wire.CodeNotFound)
			e.do("GET", content, nil, bearer(h.tok)).wantProblem(t, http.StatusNotFound, wire.CodeNotFound)
			e.do("DELETE", path, nil, bearer(h.tok)).wantProblem(t, http.StatusNotFound, wire.CodeNotFound)
			if got := objects(t, st); got != 0 {
				t.Errorf("%d files after the deletion, want 0", got)
			}
			e.do("GET", "/api/v1/events/"+ev.ID, nil, bearer(h.tok)).want(t, http.StatusOK, &ev)
			if ev.VideoURL != nil {
				t.Errorf("the event still plays the deleted clip: %s", *ev.VideoURL)
			}
			if got := e.auditActions(h.tok); !strings.Contains(strings.Join(got, " "), web.AuditRecordingDeleted) {
				t.Errorf("audit %v lacks %s", got, web.AuditRecordingDeleted)
			}

			// A pending recording (no clip yet) goes too.
			pending := e.createRecording(h.tok, map[string]any{"camera_device_id": h.cam.Device.ID, "content_type": "video/mp4"})
			e.do("DELETE", "/api/v1/recordings/"+pending.Recording.ID, nil, bearer(h.tok)).want(t, http.StatusNoContent, nil)
			e.do("PUT", uploadPath(t, pending.UploadURL), "late", bearer(h.tok), header("Content-Type", "video/mp4")).
				wantProblem(t, http.StatusNotFound, wire.CodeNotFound)
			if got := objects(t, st); got != 0 {
				t.Errorf("%d files after an upload to a deleted recording, want 0", got)
			}
		})
	}
}

// A direct upload's declared size counts against the quota from its creation.
func TestStorageQuotaDirectUpload(t *testing.T) {
	st := blobstest.NewS3(t)
	e := newEnv(t, withEvents(t, st), config(func(c *web.Config) { c.StorageQuotaBytes = 1000 }))
	h := e.household()
	create := func(size int) response {
		return e.do("POST", "/api/v1/recordings", map[string]any{"camera_device_id": h.cam.Device.ID,
			"content_type": "video/mp4", "size_bytes": size, "direct_upload": true}, bearer(h.cam.DeviceToken))
	}
	var first directJSON
	create(600).want(t, http.StatusCreated, &first)
	p := create(600).wantProblem(t, http.StatusInsufficientStorage, wire.CodeInsufficientStorage)
	if !strings.Contains(p.Detail, "quota") {
		t.Errorf("507 detail %q does not name the quota", p.Detail)
	}
	var l struct{ Items []wire.Recording }
	e.do("GET", "/api/v1/recordings", nil, bearer(h.tok)).want(t, http.StatusOK, &l)
	if len(l.Items) != 1 {
		t.Errorf("%d recordings after a refused creation, want 1", len(l.Items))
	}
	create(400).want(t, http.StatusCreated, nil) // exactly the quota
	e.do("DELETE", "/api/v1/recordings/"+first.Recording.ID, nil, bearer(h.tok)).want(t, http.StatusNoContent, nil)
	create(600).want(t, http.StatusCreated, nil)
}
