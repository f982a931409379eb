package web_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/blobs"
	"github.com/securecam/securecam/store/blobs/blobstest"
	"github.com/securecam/securecam/web"

	"github.com/securecam/securecam/signaling/wire"
)

// directJSON is the answer of POST /recordings with direct_upload.
type directJSON struct {
	Recording       wire.Recording    `json:"recording"`
	UploadURL       string            `json:"upload_url"`
	UploadHeaders   map[string]string `json:"upload_headers"`
	UploadExpiresAt *time.Time        `json:"upload_expires_at"`
	CompleteURL     string            `json:"complete_url"`
}

// putTo PUTs body to a presigned URL with the headers the hub handed out.
func putTo(t *testing.T, u string, headers map[string]string, body []byte) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// A phone uploads straight to the bucket with a presigned PUT; the hub checks the clip
// (HEAD) before the recording becomes available.
func TestRecordingDirectUpload(t *testing.T) {
	st := blobstest.NewS3(t)
	e := newEnv(t, withEvents(t, st), config(func(c *web.Config) { c.MaxUploadBytes = 1000 }))
	h := e.household()
	var ev wire.Event
	e.do("POST", "/api/v1/events", map[string]string{"device_id": h.cam.Device.ID, "title": "Motion", "triggered_by": "motion"},
		bearer(h.cam.DeviceToken)).want(t, http.StatusCreated, &ev)
	create := func(size int64, ct string) directJSON {
		t.Helper()
		var d directJSON
		e.do("POST", "/api/v1/recordings", map[string]any{"camera_device_id": h.cam.Device.ID, "event_id": ev.ID,
			"content_type": ct, "size_bytes": size, "direct_upload": true}, bearer(h.cam.DeviceToken)).want(t, http.StatusCreated, &d)
		return d
	}
	clip := blobstest.Pattern(700)
	d := create(int64(len(clip)), "video/mp4")
	if d.Recording.Status != store.RecordingPending || d.Recording.ObjectKey == nil || *d.Recording.Bucket != st.Bucket() {
		t.Fatalf("created %+v", d.Recording)
	}
	u, err := url.Parse(d.UploadURL)
	if err != nil || u.Query().Get("X-Amz-Expires") != "900" || !strings.Contains(u.Path, *d.Recording.ObjectKey) {
		t.Fatalf("upload_url %q: want a presigned URL of the clip's object valid 15 minutes", d.UploadURL)
	}
	if d.UploadHeaders["Content-Type"] != "video/mp4" || d.UploadExpiresAt == nil || d.CompleteURL == "" {
		t.Fatalf("answer %+v: want the headers to send, the expiry and complete_url", d)
	}
	complete := uploadPath(t, d.CompleteURL)

	t.Log("completing before the clip is there: 409, still pending")
	e.do("POST", complete, nil, bearer(h.cam.DeviceToken)).wantProblem(t, http.StatusConflict, wire.CodeConflict)
	t.Log("the hub's own upload URL is not for this recording")
	e.do("PUT", "/api/v1/recordings/"+d.Recording.ID+"/content", string(clip), bearer(h.cam.DeviceToken),
		header("Content-Type", "video/mp4")).wantProblem(t, http.StatusConflict, wire.CodeConflict)
	t.Log("the bucket refuses another size than the one signed")
	if s := putTo(t, d.UploadURL, d.UploadHeaders, append(clip, 'x')); s < 400 {
		t.Fatalf("PUT of another size = %d, want refused", s)
	}
	if s := putTo(t, d.UploadURL, d.UploadHeaders, clip); s != http.StatusOK {
		t.Fatalf("PUT to the bucket = %d", s)
	}
	var rec wire.Recording
	e.do("POST", complete, nil, bearer(h.cam.DeviceToken)).want(t, http.StatusOK, &rec)
	if rec.Status != store.RecordingAvailable || *rec.SizeBytes != int64(len(clip)) || *rec.ObjectKey != *d.Recording.ObjectKey {
		t.Fatalf("completed %+v", rec)
	}
	e.do("POST", complete, nil, bearer(h.cam.DeviceToken)).wantProblem(t, http.StatusConflict, wire.CodeConflict)
	e.do("GET", "/api/v1/events/"+ev.ID, nil, bearer(h.tok)).want(t, http.StatusOK, &ev)
	if ev.VideoURL == nil || uploadPath(t, *ev.VideoURL) != "/api/v1/recordings/"+rec.ID+"/content" {
		t.Errorf("video_url = %v", ev.VideoURL)
	}
	res := e.do("GET", "/api/v1/recordings/"+rec.ID+"/content", nil, bearer(h.tok), header("Range", "bytes=100-199"))
	if res.status != http.StatusPartialContent || !bytes.Equal(res.body, clip[100:200]) {
		t.Errorf("ranged playback: %d, %d bytes", res.status, len(res.body))
	}

	t.Log("what the HEAD finds wrong is deleted and the recording fails")
	for _, tt := range []struct {
		name     string
		declared int64
		stored   []byte
		ct       string
		status   int
		code     string
	}{
		{"another size", 500, blobstest.Pattern(400), "video/mp4", http.StatusBadRequest, wire.CodeBadRequest},
		{"another type", 500, blobstest.Pattern(500), "video/webm", http.StatusBadRequest, wire.CodeBadRequest},
		{"too large", 1000, blobstest.Pattern(1001), "video/mp4", http.StatusRequestEntityTooLarge, wire.CodeTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := create(tt.declared, "video/mp4")
			// Written around the presigned URL, as a misbehaving client could.
			if _, err := st.Put(t.Context(), *d.Recording.ObjectKey, bytes.NewReader(tt.stored), blobs.PutOptions{Limit: 1 << 20, ContentType: tt.ct}); err != nil {
				t.Fatal(err)
			}
			e.do("POST", uploadPath(t, d.CompleteURL), nil, bearer(h.cam.DeviceToken)).wantProblem(t, tt.status, tt.code)
			var got wire.Recording
			e.do("GET", "/api/v1/recordings/"+d.Recording.ID, nil, bearer(h.tok)).want(t, http.StatusOK, &got)
			if got.Status != store.RecordingFailed || got.Error == nil {
				t.Errorf("recording %+v, want failed", got)
			}
			if _, err := st.Stat(t.Context(), *d.Recording.ObjectKey); !errors.Is(err, blobs.ErrNotFound) {
				t.Errorf("the refused clip: %v, want deleted", err)
			}
		})
	}

	t.Log("refused at creation")
	for _, body := range []map[string]any{
		{"camera_device_id": h.cam.Device.ID, "content_type": "video/mp4", "direct_upload": true},
		{"camera_device_id": h.cam.Device.ID, "content_type": "video/mp4", "direct_upload": true, "size_bytes": 0},
	} {
		e.do("POST", "/api/v1/recordings", body, bearer(h.tok)).wantProblem(t, http.StatusBadRequest, wire.CodeBadRequest)
	}
	e.do("POST", "/api/v1/recordings", map[string]any{"camera_device_id": h.cam.Device.ID, "content_type": "video/mp4",
		"direct_upload": true, "size_bytes": 1001}, bearer(h.tok)).wantProblem(t, http.StatusRequestEntityTooLarge, wire.CodeTooLarge)
	var l struct{ Items []wire.Recording }
	e.do("GET", "/api/v1/recordings", nil, bearer(h.tok)).want(t, http.StatusOK, &l)
	if len(l.Items) != 4 {
		t.Errorf("%d recordings, want the 4 created (none for the refused requests)", len(l.Items))
	}
	if keys := blobstest.Keys(t, st); len(keys) != 1 {
		t.Errorf("objects in the bucket: %v, want the one completed clip", keys)
	}
}

// The data directory hands out no presigned URL: direct_upload falls back to the hub's
// upload URL, and redirect=true plays through the hub.
func TestRecordingDirectUploadOnDisk(t *testing.T) {
	e := newEnv(t, withEvents(t, newDisk(t)))
	h := e.household()
	var d directJSON
	e.do("POST", "/api/v1/recordings", map[string]any{"camera_device_id": h.cam.Device.ID, "content_type": "video/mp4",
		"size_bytes": 4, "direct_upload": true}, bearer(h.tok)).want(t, http.StatusCreated, &d)
	if d.CompleteURL != "" || d.Recording.ObjectKey != nil {
		t.Fatalf("answer %+v: want the hub's upload", d)
	}
	path := uploadPath(t, d.UploadURL)
	e.do("PUT", path, "clip", bearer(h.tok), header("Content-Type", "video/mp4")).want(t, http.StatusOK, nil)
	if res := e.do("GET", path+"?redirect=true", nil, bearer(h.tok)); res.status != http.StatusOK || string(res.body) != "clip" {
		t.Errorf("redirect=true on the data directory: %d %q, want the clip", res.status, res.body)
	}
}

// Playback: through the hub by default (ranged GETs of the bucket), or a 302 to a
// presigned URL valid for a few minutes when the client asks.
func TestRecordingRedirect(t *testing.T) {
	st := blobstest.NewS3(t)
	e := newEnv(t, withEvents(t, st))
	h := e.household()
	r := e.createRecording(h.cam.DeviceToken, map[string]any{"camera_device_id": h.cam.Device.ID, "content_type": "video/webm"})
	clip := blobstest.Pattern(3000)
	path := uploadPath(t, r.UploadURL)
	e.do("PUT", path, string(clip), bearer(h.cam.DeviceToken), header("Content-Type", "video/webm")).want(t, http.StatusOK, nil)

	noFollow := e.http.Client()
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, _ := http.NewRequestWithContext(t.Context(), "GET", e.http.URL+path+"?redirect=true", nil)
	req.Header.Set("Authorization", "Bearer "+h.tok)
	res, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || err != nil || loc.Query().Get("X-Amz-Expires") != "300" || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("redirect=true: %d Location %q Cache-Control %q; want 302 to a URL valid 5 minutes, not cached",
			res.StatusCode, res.Header.Get("Location"), res.Header.Get("Cache-Control"))
	}
	get, _ := http.NewRequestWithContext(t.Context(), "GET", loc.String(), nil)
	get.Header.Set("Range", "bytes=1000-1099")
	direct, err := http.DefaultClient.Do(get)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(direct.Body)
	direct.Body.Close()
	if direct.StatusCode != http.StatusPartialContent || !bytes.Equal(body, clip[1000:1100]) {
		t.Errorf("ranged GET of the presigned URL: %d, %d bytes", direct.StatusCode, len(body))
	}
	if res := e.do("GET", path, nil, bearer(h.tok), header("Range", "bytes=2990-")); res.status != http.StatusPartialContent || !bytes.Equal(res.body, clip[2990:]) {
		t.Errorf("through the hub: %d %q", res.status, res.body)
	}
	e.do("GET", path+"?redirect=perhaps", nil, bearer(h.tok)).wantProblem(t, http.StatusBadRequest, wire.CodeBadRequest)
	// Another user gets no URL either.
	intruder := e.household()
	e.do("GET", path+"?redirect=true", nil, bearer(intruder.tok)).wantProblem(t, http.StatusNotFound, wire.CodeNotFound)
}

// After a switch to S3, clips still in the data directory play from it; new ones go to
// the bucket. A row naming a storage the hub does not have is 404.
func TestRecordingsInTwoStorages(t *testing.T) {
	bucket := blobstest.NewS3(t)
	disk := newDisk(t)
	e := newEnv(t, withEvents(t, bucket, disk))
	h := e.household()
	ctx := t.Context()
	old := store.Recording{OwnerUserID: h.user.ID, CameraDeviceID: h.cam.Device.ID, ContentType: "video/mp4"}
	if err := e.store.CreateRecording(ctx, &old); err != nil {
		t.Fatal(err)
	}
	if _, err := disk.Put(ctx, "recordings/old/clip", strings.NewReader("old clip"), blobs.PutOptions{Limit: 100}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.FinishRecordingUpload(ctx, old.ID, store.RecordingUpload{Status: store.RecordingAvailable,
		ObjectKey: "recordings/old/clip", Bucket: blobs.DiskBucket, SizeBytes: 8}); err != nil {
		t.Fatal(err)
	}
	if res := e.do("GET", "/api/v1/recordings/"+old.ID+"/content", nil, bearer(h.tok)); res.status != http.StatusOK || string(res.body) != "old clip" {
		t.Errorf("clip in the data directory: %d %q", res.status, res.body)
	}
	r := e.createRecording(h.tok, map[string]any{"camera_device_id": h.cam.Device.ID, "content_type": "video/mp4"})
	var rec wire.Recording
	e.do("PUT", uploadPath(t, r.UploadURL), "new clip", bearer(h.tok), header("Content-Type", "video/mp4")).want(t, http.StatusOK, &rec)
	if *rec.Bucket != bucket.Bucket() {
		t.Errorf("new clip stored in %s, want the bucket %s", *rec.Bucket, bucket.Bucket())
	}

	gone := store.Recording{OwnerUserID: h.user.ID, CameraDeviceID: h.cam.Device.ID, ContentType: "video/mp4"}
	if err := e.store.CreateRecording(ctx, &gone); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.FinishRecordingUpload(ctx, gone.ID, store.RecordingUpload{Status: store.RecordingAvailable,
		ObjectKey: "recordings/x/y", Bucket: "another-bucket", SizeBytes: 8}); err != nil {
		t.Fatal(err)
	}
	e.do("GET", "/api/v1/recordings/"+gone.ID+"/content", nil, bearer(h.tok)).wantProblem(t, http.StatusNotFound, wire.CodeNotFound)
}

// The bucket unreachable: an upload answers 503 and the recording stays pending (the
// same PUT works once the bucket is back), nothing is left in the bucket, also when the
// bucket went away between two parts; playback answers 503.
func TestRecordingStorageOutage(t *testing.T) {
	env := blobstest.TestS3(t)
	name := env.NewBucket(t)
	proxy := blobstest.NewProxy(t, env.Endpoint)
	cfg := env.Config(name, proxy.URL())
	cfg.PartSize = blobs.MinPartSize
	st, err := blobs.NewS3(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, withEvents(t, st), config(func(c *web.Config) { c.MaxUploadBytes = 64 << 20 }))
	h := e.household()
	status := func(id string) string {
		t.Helper()
		var rec wire.Recording
		e.do("GET", "/api/v1/recordings/"+id, nil, bearer(h.tok)).want(t, http.StatusOK, &rec)
		return rec.Status
	}

	t.Log("the bucket is unreachable when the upload starts")
	r := e.createRecording(h.cam.DeviceToken, map[string]any{"camera_device_id": h.cam.Device.ID, "content_type": "video/mp4"})
	path := uploadPath(t, r.UploadURL)
	proxy.Cut()
	res := e.do("PUT", path, "a clip", bearer(h.cam.DeviceToken), header("Content-Type", "video/mp4"))
	res.wantProblem(t, http.StatusServiceUnavailable, wire.CodeUnavailable)
	if res.header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	if s := status(r.Recording.ID); s != store.RecordingPending {
		t.Errorf("after the failed upload the recording is %s, want pending", s)
	}
	proxy.Restore()
	e.do("PUT", path, "a clip", bearer(h.cam.DeviceToken), header("Content-Type", "video/mp4")).want(t, http.StatusOK, nil)

	t.Log("the bucket goes away after the first part of a multipart upload")
	r2 := e.createRecording(h.cam.DeviceToken, map[string]any{"camera_device_id": h.cam.Device.ID, "content_type": "video/mp4"})
	clip := blobstest.Pattern(2*blobs.MinPartSize + 100)
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(t.Context(), "PUT", e.http.URL+uploadPath(t, r2.UploadURL), pr)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = int64(len(clip))
	req.Header.Set("Authorization", "Bearer "+h.cam.DeviceToken)
	req.Header.Set("Content-Type", "video/mp4")
	answer := make(chan *http.Response, 1)
	go func() { // awaited through answer below
		res, err := e.http.Client().Do(req)
		if err != nil {
			t.Error(err)
			close(answer)
			return
		}
		answer <- res
	}()
	if _, err := pw.Write(clip[:blobs.MinPartSize+1]); err != nil {
		t.Fatal(err)
	}
	waitForPart(t, env.Client(""), name)
	proxy.Cut()
	go func() { // ends when the hub stops reading or the request ends
		_, _ = pw.Write(clip[blobs.MinPartSize+1:])
		_ = pw.Close()
	}()
	var up *http.Response
	select {
	case up = <-answer:
	case <-time.After(2 * time.Minute):
		t.Fatal("no answer to the cut-off upload within 2 minutes")
	}
	if up == nil {
		t.FailNow()
	}
	up.Body.Close()
	_ = pr.CloseWithError(io.ErrClosedPipe)
	if up.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("upload cut off between parts: %d, want 503", up.StatusCode)
	}
	if s := status(r2.Recording.ID); s != store.RecordingPending {
		t.Errorf("after the cut-off upload the recording is %s, want pending", s)
	}

	t.Log("playback with the bucket away")
	e.do("GET", path, nil, bearer(h.tok)).wantProblem(t, http.StatusServiceUnavailable, wire.CodeUnavailable)
	proxy.Restore()
	if keys := blobstest.Keys(t, st); len(keys) != 1 {
		t.Errorf("objects %v, want only the clip uploaded after the first outage", keys)
	}
	// The multipart upload could not be aborted while the bucket was away: Sweep (the
	// reconcile pass) removes it.
	if _, err := st.Sweep(t.Context(), time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if ups := env.MultipartUploads(t, name); len(ups) != 0 {
		t.Errorf("%d incomplete multipart uploads left after Sweep", len(ups))
	}
}

// waitForPart waits until bucket has a multipart upload with one part stored.
func waitForPart(t *testing.T, c *s3.Client, bucket string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for ctx.Err() == nil {
		ups, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &bucket})
		if err == nil && len(ups.Uploads) == 1 {
			parts, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: &bucket, Key: ups.Uploads[0].Key, UploadId: ups.Uploads[0].UploadId})
			if err == nil && len(parts.Parts) == 1 && aws.ToInt64(parts.Parts[0].Size) == blobs.MinPartSize {
				return
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatal("no part of the upload reached the bucket within a minute")
}
