package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/securecam/securecam/cmd/securecam/internal/child"
	"github.com/securecam/securecam/cmd/securecam/internal/child/childtest"
	"github.com/securecam/securecam/hub/bustest"
	"github.com/securecam/securecam/store/blobs"
	"github.com/securecam/securecam/store/blobs/blobstest"
	"github.com/securecam/securecam/store/sqlite"
	"github.com/securecam/securecam/store/storetest"

	"github.com/securecam/securecam/signaling/wire"
)

// httpAnswer is a response read whole.
type httpAnswer struct {
	status int
	header http.Header
	body   []byte
}

// call sends a request with a bearer token (when set) and extra headers.
func call(t *testing.T, method, url, token string, body []byte, headers ...string) httpAnswer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == nil {
		req.Body, req.ContentLength = nil, 0
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := noRedirects.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return httpAnswer{res.StatusCode, res.Header, raw}
}

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func (a httpAnswer) decode(t *testing.T, status int, v any) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d: %s", a.status, status, a.body)
	}
	if v != nil {
		if err := json.Unmarshal(a.body, v); err != nil {
			t.Fatalf("decode %s: %v", a.body, err)
		}
	}
}

type createdRecording struct {
	Recording     wire.Recording    `json:"recording"`
	UploadURL     string            `json:"upload_url"`
	UploadHeaders map[string]string `json:"upload_headers"`
	CompleteURL   string            `json:"complete_url"`
}

func createRecording(t *testing.T, p *proc, token, camera string, extra map[string]any) createdRecording {
	t.Helper()
	in := map[string]any{"camera_device_id": camera, "content_type": "video/mp4"}
	for k, v := range extra {
		in[k] = v
	}
	body, _ := json.Marshal(in)
	var r createdRecording
	call(t, "POST", p.URL+"/api/v1/recordings", token, body, "Content-Type", "application/json").decode(t, http.StatusCreated, &r)
	// The hub's URLs name its public URL, the default: this process is elsewhere.
	r.UploadURL = strings.Replace(r.UploadURL, "http://localhost:8080", p.URL, 1)
	r.CompleteURL = strings.Replace(r.CompleteURL, "http://localhost:8080", p.URL, 1)
	return r
}

// s3Env returns the SECURECAM_S3_* of a replica using bucket of the test service.
func s3Env(env blobstest.S3Env, bucket string) map[string]string {
	return map[string]string{
		"SECURECAM_S3_ENDPOINT": env.Endpoint, "SECURECAM_S3_BUCKET": bucket, "SECURECAM_S3_REGION": env.Region,
		"SECURECAM_S3_ACCESS_KEY_ID": env.AccessKeyID, "SECURECAM_S3_SECRET_ACCESS_KEY": env.SecretAccessKey,
	}
}

// dataFiles lists the files under a replica's data directory's recordings.
func dataFiles(t *testing.T, dataDir string) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir(filepath.Join(dataDir, "recordings"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// Two replicas on PostgreSQL, Redis and one bucket, each with its own data directory:
// a clip uploaded through one plays with Range through the other; a clip over the part
// size goes up in parts; a phone's direct upload is verified on one replica and played
// by redirect from the other; a clip over the limit is refused before it is read.
func TestRecordingsAcrossReplicas(t *testing.T) {
	t.Parallel()
	pg := storetest.PostgresURL(t)
	redisURL, _, _ := bustest.StartRedis(t)
	s3env := blobstest.TestS3(t)
	bucket := s3env.NewBucket(t)
	dirs := []string{t.TempDir(), t.TempDir()}
	replica := func(node, dir string) *proc {
		env := s3Env(s3env, bucket)
		env["SECURECAM_DATABASE_URL"], env["SECURECAM_REDIS_URL"] = pg, redisURL
		env["SECURECAM_NODE_ID"], env["SECURECAM_DATA_DIR"] = node, dir
		env["SECURECAM_MAX_UPLOAD_BYTES"] = strconv.Itoa(16 << 20)
		return startProc(t, env)
	}
	r1, r2 := replica("r1", dirs[0]), replica("r2", dirs[1])
	acct := newAccount(t, r1)
	cam := acct.camera.DeviceToken

	t.Log("a 9 MiB clip uploaded through r1, over the 8 MiB part size")
	clip := blobstest.Pattern(9 << 20)
	r := createRecording(t, r1, cam, acct.camera.Device.ID, nil)
	var rec wire.Recording
	call(t, "PUT", r.UploadURL, cam, clip, "Content-Type", "video/mp4").decode(t, http.StatusOK, &rec)
	if rec.Status != "available" || rec.Bucket == nil || *rec.Bucket != bucket || rec.ObjectKey == nil {
		t.Fatalf("uploaded %+v", rec)
	}
	head, err := s3env.Client("").HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: &bucket, Key: rec.ObjectKey})
	if err != nil {
		t.Fatal(err)
	}
	if etag := strings.Trim(aws.ToString(head.ETag), `"`); !strings.HasSuffix(etag, "-2") || aws.ToInt64(head.ContentLength) != 9<<20 {
		t.Errorf("stored object: ETag %s, %d bytes; want a 2-part upload of 9 MiB", etag, aws.ToInt64(head.ContentLength))
	}

	t.Log("played with Range through r2")
	content := r2.URL + "/api/v1/recordings/" + rec.ID + "/content"
	for _, tt := range []struct {
		rng        string
		start, end int
	}{
		{"bytes=0-99", 0, 100},
		{"bytes=8388600-8388700", 8388600, 8388701}, // across the part boundary
		{"bytes=-1000", len(clip) - 1000, len(clip)},
	} {
		a := call(t, "GET", content, acct.token, nil, "Range", tt.rng)
		if a.status != http.StatusPartialContent || !bytes.Equal(a.body, clip[tt.start:tt.end]) || a.header.Get("Content-Type") != "video/mp4" {
			t.Errorf("Range %s through r2: %d, %d bytes", tt.rng, a.status, len(a.body))
		}
	}
	if a := call(t, "GET", content, acct.token, nil); a.status != http.StatusOK || !bytes.Equal(a.body, clip) {
		t.Errorf("whole clip through r2: %d, %d bytes", a.status, len(a.body))
	}

	t.Log("a phone uploads straight to the bucket; r1 verifies, r2 redirects")
	small := blobstest.Pattern(50000)
	d := createRecording(t, r2, cam, acct.camera.Device.ID, map[string]any{"direct_upload": true, "size_bytes": len(small)})
	if d.CompleteURL == "" {
		t.Fatalf("no complete_url: %+v", d)
	}
	hdrs := []string{}
	for k, v := range d.UploadHeaders {
		hdrs = append(hdrs, k, v)
	}
	if a := call(t, "PUT", d.UploadURL, "", small, hdrs...); a.status != http.StatusOK {
		t.Fatalf("PUT to the bucket: %d %s", a.status, a.body)
	}
	completeOnR1 := strings.Replace(d.CompleteURL, r2.URL, r1.URL, 1)
	call(t, "POST", completeOnR1, cam, nil).decode(t, http.StatusOK, &rec)
	if rec.Status != "available" {
		t.Fatalf("completed %+v", rec)
	}
	a := call(t, "GET", r2.URL+"/api/v1/recordings/"+rec.ID+"/content?redirect=true", acct.token, nil)
	if a.status != http.StatusFound {
		t.Fatalf("redirect=true: %d %s", a.status, a.body)
	}
	if b := call(t, "GET", a.header.Get("Location"), "", nil, "Range", "bytes=10-19"); b.status != http.StatusPartialContent || !bytes.Equal(b.body, small[10:20]) {
		t.Errorf("the presigned URL: %d %q", b.status, b.body)
	}

	t.Log("a clip over SECURECAM_MAX_UPLOAD_BYTES is refused from its Content-Length")
	big := createRecording(t, r2, cam, acct.camera.Device.ID, nil)
	req, _ := http.NewRequestWithContext(t.Context(), "PUT", big.UploadURL, io.LimitReader(neverEnding{}, 17<<20))
	req.ContentLength = 17 << 20
	req.Header.Set("Authorization", "Bearer "+cam)
	req.Header.Set("Content-Type", "video/mp4")
	res, err := http.DefaultClient.Do(req)
	if err != nil && !errors.Is(err, io.ErrClosedPipe) && !strings.Contains(err.Error(), "connection reset") && !strings.Contains(err.Error(), "broken pipe") {
		t.Fatal(err)
	}
	if res != nil {
		res.Body.Close()
		if res.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("17 MiB upload: %d, want 413", res.StatusCode)
		}
	}
	call(t, "GET", r1.URL+"/api/v1/recordings/"+big.Recording.ID, acct.token, nil).decode(t, http.StatusOK, &rec)
	if rec.Status != "failed" {
		t.Errorf("the refused recording is %s, want failed", rec.Status)
	}
	if d := call(t, "POST", r1.URL+"/api/v1/recordings", cam,
		[]byte(`{"camera_device_id":"`+acct.camera.Device.ID+`","content_type":"video/mp4","direct_upload":true,"size_bytes":16777217}`),
		"Content-Type", "application/json"); d.status != http.StatusRequestEntityTooLarge {
		t.Errorf("direct upload declared over the limit: %d, want 413", d.status)
	}

	objects := 0
	p := s3.NewListObjectsV2Paginator(s3env.Client(""), &s3.ListObjectsV2Input{Bucket: &bucket})
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		objects += len(page.Contents)
	}
	if objects != 2 {
		t.Errorf("%d objects in the bucket, want the 2 clips", objects)
	}
	for _, dir := range dirs {
		if files := dataFiles(t, dir); len(files) != 0 {
			t.Errorf("clip files in a replica's data directory: %v", files)
		}
	}
}

// neverEnding is an endless body.
type neverEnding struct{}

func (neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

// runProc runs securecam with args and env to its end and returns its exit code and
// output.
func runProc(t *testing.T, env map[string]string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	code, out, err := child.Run(ctx, child.Config{Binary: childtest.Binary(t), Args: args, Env: env})
	if err != nil {
		t.Fatalf("securecam %v: %v", args, err)
	}
	return code, out
}

// The hub does not start on a bucket it cannot use, and says what to fix.
func TestS3UnusableAtStart(t *testing.T) {
	t.Parallel()
	s3env := blobstest.TestS3(t)
	bucket := s3env.NewBucket(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"nothing listening", map[string]string{"SECURECAM_S3_ENDPOINT": closed}, []string{"SECURECAM_S3_ENDPOINT", "nothing answers at " + closed}},
		{"no such bucket", map[string]string{"SECURECAM_S3_BUCKET": "securecam-absent"}, []string{`bucket "securecam-absent" does not exist`, "SECURECAM_S3_BUCKET"}},
		{"wrong secret", map[string]string{"SECURECAM_S3_SECRET_ACCESS_KEY": "wrong-secret"}, []string{"SECURECAM_S3_SECRET_ACCESS_KEY"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := s3Env(s3env, bucket)
			env["SECURECAM_DATA_DIR"] = t.TempDir()
			for k, v := range tt.env {
				env[k] = v
			}
			code, out := runProc(t, env)
			if code != 1 {
				t.Fatalf("exit code %d, want 1:\n%s", code, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output does not say %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, `"listening"`) {
				t.Errorf("the hub listened with an unusable bucket:\n%s", out)
			}
		})
	}
}

// An embedded hub's clips move to a bucket with `securecam migrate-blobs`, which reports
// its progress; the hub then serves them from the bucket.
func TestMigrateBlobs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startProc(t, map[string]string{"SECURECAM_DATA_DIR": dir})
	acct := newAccount(t, p)
	cam := acct.camera.DeviceToken
	var recs []wire.Recording
	for i := range 3 {
		r := createRecording(t, p, cam, acct.camera.Device.ID, nil)
		var rec wire.Recording
		call(t, "PUT", r.UploadURL, cam, []byte("clip number "+strconv.Itoa(i)), "Content-Type", "video/mp4").decode(t, http.StatusOK, &rec)
		recs = append(recs, rec)
	}
	p.stop()
	if files := dataFiles(t, dir); len(files) != 3 {
		t.Fatalf("files before the migration: %v", files)
	}
	// One clip is lost before the migration: its recording stays as it is.
	if err := os.Remove(filepath.Join(dir, "recordings", filepath.FromSlash(*recs[2].ObjectKey))); err != nil {
		t.Fatal(err)
	}

	s3env := blobstest.TestS3(t)
	bucket := s3env.NewBucket(t)
	env := s3Env(s3env, bucket)
	env["SECURECAM_DATA_DIR"] = dir
	code, out := runProc(t, env, "migrate-blobs")
	if code != 0 {
		t.Fatalf("migrate-blobs exited %d:\n%s", code, out)
	}
	for _, w := range []string{`"of":3`, `"n":1`, `"n":2`, `"moved":2`, `"missing":1`} {
		if !strings.Contains(out, w) {
			t.Errorf("migrate-blobs output does not show %s:\n%s", w, out)
		}
	}
	if files := dataFiles(t, dir); len(files) != 0 {
		t.Errorf("files left in the data directory: %v", files)
	}
	if code, out := runProc(t, env, "migrate-blobs"); code != 0 || !strings.Contains(out, `"moved":0`) {
		t.Errorf("a second run: exit %d, want nothing to move:\n%s", code, out)
	}

	st, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(dir, "securecam.db")})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		got, err := st.Recording(t.Context(), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := bucket
		if i == 2 {
			want = blobs.DiskBucket
		}
		if *got.Bucket != want || *got.ObjectKey != *r.ObjectKey {
			t.Errorf("recording %d names %s/%s, want %s/%s", i, *got.Bucket, *got.ObjectKey, want, *r.ObjectKey)
		}
	}
	_ = st.Close()

	p = startProc(t, env)
	for i, r := range recs[:2] {
		a := call(t, "GET", p.URL+"/api/v1/recordings/"+r.ID+"/content", acct.token, nil)
		if a.status != http.StatusOK || string(a.body) != "clip number "+strconv.Itoa(i) {
			t.Errorf("moved clip %d: %d %q", i, a.status, a.body)
		}
	}
	if a := call(t, "GET", p.URL+"/api/v1/recordings/"+recs[2].ID+"/content", acct.token, nil); a.status != http.StatusNotFound {
		t.Errorf("the lost clip: %d, want 404", a.status)
	}
}
