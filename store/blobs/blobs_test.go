package blobs_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/blobs"
	"github.com/securecam/securecam/store/blobs/blobstest"
)

func TestDisk(t *testing.T) {
	var mu sync.Mutex
	dirs := make(map[blobs.Storage]string)
	blobstest.Run(t, blobstest.Harness{
		New: func(t *testing.T) blobs.Storage {
			dir := filepath.Join(t.TempDir(), "recordings")
			d, err := blobs.NewDisk(dir)
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			dirs[d] = dir
			mu.Unlock()
			return d
		},
		Abandon: func(t *testing.T, st blobs.Storage, key string) {
			// What a crash in Put leaves: the temporary file beside the object's place.
			mu.Lock()
			p := filepath.Join(dirs[st], filepath.FromSlash(key))
			mu.Unlock()
			if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(filepath.Dir(p), ".upload-123456"), []byte("half a clip"), 0o600); err != nil {
				t.Fatal(err)
			}
		},
		Large: 2*blobs.MinPartSize + 12345,
	})
}

func TestS3(t *testing.T) {
	blobstest.Run(t, blobstest.Harness{
		New:     func(t *testing.T) blobs.Storage { return blobstest.NewS3(t) },
		Abandon: blobstest.AbandonS3,
		Large:   2*blobs.MinPartSize + 12345,
	})
}

// A clip longer than a part is stored by a multipart upload (an ETag ending in "-<parts>");
// one no longer than a part by one PUT.
func TestS3Multipart(t *testing.T) {
	st := blobstest.NewS3(t)
	ctx := t.Context()
	for _, tt := range []struct {
		size int
		etag string // the suffix of the ETag
	}{
		{blobs.MinPartSize, ""},
		{blobs.MinPartSize + 1, "-2"},
		{2*blobs.MinPartSize + 12345, "-3"},
	} {
		key := "recordings/u/m" + strconv.Itoa(tt.size)
		data := blobstest.Pattern(tt.size)
		if _, err := st.Put(ctx, key, bytes.NewReader(data), blobs.PutOptions{Limit: 1 << 30, ContentType: "video/mp4"}); err != nil {
			t.Fatal(err)
		}
		info, err := st.Stat(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if info.Size != int64(tt.size) || info.ContentType != "video/mp4" {
			t.Errorf("%d bytes: Stat = %+v", tt.size, info)
		}
		_, parts, multi := strings.Cut(info.ETag, "-")
		if (tt.etag != "") != multi || multi && "-"+parts != tt.etag {
			t.Errorf("%d bytes: ETag %q, want suffix %q", tt.size, info.ETag, tt.etag)
		}
		if !bytes.Equal(blobstest.Content(t, st, key), data) {
			t.Errorf("%d bytes read back different", tt.size)
		}
	}
}

// A presigned PUT accepts exactly the signed size and type; a presigned GET reads the
// object, with Range.
func TestS3Presign(t *testing.T) {
	st := blobstest.NewS3(t)
	ctx := t.Context()
	data := []byte("a clip straight from the phone")
	put := func(u string, h http.Header, body []byte) int {
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = h.Clone()
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	u, h, err := st.PresignPut(ctx, "recordings/u/direct", int64(len(data)), "video/mp4", 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	q, _ := url.Parse(u)
	if got := q.Query().Get("X-Amz-Expires"); got != "300" {
		t.Errorf("X-Amz-Expires = %q, want 300", got)
	}
	if h.Get("Content-Type") != "video/mp4" {
		t.Errorf("headers to send %v, want the content type", h)
	}
	if s := put(u, h, append(data, "more"...)); s < 400 {
		t.Errorf("PUT of another size = %d, want refused", s)
	}
	wrongType := h.Clone()
	wrongType.Set("Content-Type", "video/webm")
	if s := put(u, wrongType, data); s < 400 {
		t.Errorf("PUT of another type = %d, want refused", s)
	}
	if _, err := st.Stat(ctx, "recordings/u/direct"); !errors.Is(err, blobs.ErrNotFound) {
		t.Fatalf("after refused PUTs Stat = %v, want ErrNotFound", err)
	}
	if s := put(u, h, data); s != http.StatusOK {
		t.Fatalf("PUT = %d", s)
	}
	info, err := st.Stat(ctx, "recordings/u/direct")
	if err != nil || info.Size != int64(len(data)) || info.ContentType != "video/mp4" {
		t.Fatalf("Stat = %+v, %v", info, err)
	}

	g, err := st.PresignGet(ctx, "recordings/u/direct", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, g, nil)
	req.Header.Set("Range", "bytes=2-5")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusPartialContent || string(body) != "clip" {
		t.Errorf("ranged GET of the presigned URL = %d %q", res.StatusCode, body)
	}
}

// Probe says what is wrong in words a person can act on.
func TestS3Probe(t *testing.T) {
	env := blobstest.TestS3(t)
	bucket := env.NewBucket(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	tests := []struct {
		name string
		cfg  blobs.S3Config
		want string // "" for success
	}{
		{"ok", env.Config(bucket, ""), ""},
		{"nothing listening", env.Config(bucket, closed), "nothing answers at " + closed},
		{"no such bucket", env.Config("securecam-no-such-bucket", ""), `bucket "securecam-no-such-bucket" does not exist`},
		{"wrong secret", func() blobs.S3Config {
			c := env.Config(bucket, "")
			c.SecretAccessKey += "x"
			return c
		}(), "SECURECAM_S3_SECRET_ACCESS_KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := blobs.NewS3(t.Context(), tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			err = st.Probe(ctx)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Probe = %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Probe = %v, want an error saying %q", err, tt.want)
			}
		})
	}
	// The probe leaves nothing behind.
	st, _ := blobs.NewS3(t.Context(), env.Config(bucket, ""))
	if keys := blobstest.Keys(t, st); len(keys) != 0 {
		t.Errorf("objects after probes: %v", keys)
	}
	for _, cfg := range []blobs.S3Config{{}, {Bucket: "local"}, {Bucket: "b", PartSize: 1 << 20}, {Bucket: "b", AccessKeyID: "x"}} {
		if _, err := blobs.NewS3(t.Context(), cfg); err == nil {
			t.Errorf("NewS3(%+v) accepted", cfg)
		}
	}
}

// With the service gone, calls fail with ErrUnavailable (the web layer's 503), and a Put
// leaves no object.
func TestS3Unavailable(t *testing.T) {
	env := blobstest.TestS3(t)
	bucket := env.NewBucket(t)
	proxy := blobstest.NewProxy(t, env.Endpoint)
	cfg := env.Config(bucket, proxy.URL())
	cfg.PartSize = blobs.MinPartSize
	st, err := blobs.NewS3(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := st.Put(ctx, "recordings/u/a", strings.NewReader("clip"), blobs.PutOptions{Limit: 10}); err != nil {
		t.Fatal(err)
	}
	obj, err := st.Open(ctx, "recordings/u/a")
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	proxy.Cut()
	if _, err := st.Put(ctx, "recordings/u/b", strings.NewReader("clip"), blobs.PutOptions{Limit: 10}); !errors.Is(err, blobs.ErrUnavailable) {
		t.Errorf("Put = %v, want ErrUnavailable", err)
	}
	if _, err := st.Stat(ctx, "recordings/u/a"); !errors.Is(err, blobs.ErrUnavailable) {
		t.Errorf("Stat = %v, want ErrUnavailable", err)
	}
	if _, err := io.ReadAll(obj); !errors.Is(err, blobs.ErrUnavailable) {
		t.Errorf("read = %v, want ErrUnavailable", err)
	}
	for _, err := range st.List(ctx, "") {
		if !errors.Is(err, blobs.ErrUnavailable) {
			t.Errorf("List = %v, want ErrUnavailable", err)
		}
	}
	proxy.Restore()
	if keys := blobstest.Keys(t, st); len(keys) != 1 || keys[0] != "recordings/u/a" {
		t.Errorf("objects %v, want only the one stored before the cut", keys)
	}
}

func TestDiskBucketIsTheStoresLocalBucket(t *testing.T) {
	if blobs.DiskBucket != store.LocalBucket {
		t.Errorf("blobs.DiskBucket %q, store.LocalBucket %q: rows of the data directory would not be found", blobs.DiskBucket, store.LocalBucket)
	}
}

func TestSet(t *testing.T) {
	a, err := blobs.NewDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	set, err := blobs.NewSet(a)
	if err != nil {
		t.Fatal(err)
	}
	if set.Primary() != a || len(set.All()) != 1 {
		t.Errorf("Set = %v %v", set.Primary(), set.All())
	}
	if st, ok := set.Get(blobs.DiskBucket); !ok || st != a {
		t.Errorf("Get(local) = %v, %v", st, ok)
	}
	if _, ok := set.Get("elsewhere"); ok {
		t.Error("Get of an unknown bucket found one")
	}
	if _, err := blobs.NewSet(a, a); err == nil {
		t.Error("two storages named local accepted")
	}
}
