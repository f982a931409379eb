// Package blobstest is the conformance suite every blobs.Storage passes, and the test
// helpers for S3: the test service (SECURECAM_TEST_S3_*), a bucket per test, and a TCP
// proxy that cuts the service off on demand.
//
// Concurrency: the suite's subtests run one after another; a Proxy is safe for
// concurrent use and owns its goroutines until the test ends.
package blobstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/securecam/securecam/store/blobs"
)

// Harness runs the suite on one implementation.
type Harness struct {
	// New returns an empty storage for one test.
	New func(t *testing.T) blobs.Storage
	// Abandon leaves in st what a process that crashed while storing key would leave (a
	// temporary file, an incomplete multipart upload).
	Abandon func(t *testing.T, st blobs.Storage, key string)
	// Large is the size of the large object stored; for S3 make it span several parts.
	Large int
}

// Run runs the conformance suite.
func Run(t *testing.T, h Harness) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h Harness)
	}{
		{"RoundTrip", testRoundTrip},
		{"PutFailures", testPutFailures},
		{"Large", testLarge},
		{"Keys", testKeys},
		{"List", testList},
		{"Sweep", testSweep},
		{"ConcurrentPuts", testConcurrentPuts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, h) })
	}
}

// Keys lists the keys of every object in st.
func Keys(t *testing.T, st blobs.Storage) []string {
	t.Helper()
	var keys []string
	for info, err := range st.List(t.Context(), "") {
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		keys = append(keys, info.Key)
	}
	return keys
}

// Content reads the whole object.
func Content(t *testing.T, st blobs.Storage, key string) []byte {
	t.Helper()
	o, err := st.Open(t.Context(), key)
	if err != nil {
		t.Fatalf("Open %s: %v", key, err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return b
}

// Pattern is n bytes that differ from one offset to the next, so a misplaced range
// shows.
func Pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func testRoundTrip(t *testing.T, h Harness) {
	st := h.New(t)
	ctx := t.Context()
	if st.Bucket() == "" {
		t.Error("Bucket is empty")
	}
	data := bytes.Repeat([]byte("securecam"), 1000)
	before := time.Now().Add(-time.Minute)
	n, err := st.Put(ctx, "recordings/owner-1/rec_2", bytes.NewReader(data), blobs.PutOptions{Limit: int64(len(data)), ContentType: "video/mp4"})
	if err != nil || n != int64(len(data)) {
		t.Fatalf("Put = %d, %v", n, err)
	}
	if got := Keys(t, st); !slices.Equal(got, []string{"recordings/owner-1/rec_2"}) {
		t.Fatalf("objects %v, want only the one stored", got)
	}
	info, err := st.Stat(ctx, "recordings/owner-1/rec_2")
	if err != nil || info.Size != int64(len(data)) || info.Key != "recordings/owner-1/rec_2" || info.ModTime.Before(before) {
		t.Errorf("Stat = %+v, %v", info, err)
	}
	if info.ContentType != "" && info.ContentType != "video/mp4" {
		t.Errorf("Stat content type %q, want video/mp4 (or none kept)", info.ContentType)
	}
	o, err := st.Open(ctx, "recordings/owner-1/rec_2")
	if err != nil {
		t.Fatal(err)
	}
	if o.Size() != int64(len(data)) || o.ModTime().Before(before) {
		t.Errorf("Size %d ModTime %v", o.Size(), o.ModTime())
	}
	for _, at := range []int64{9, 8991, 0} {
		if _, err := o.Seek(at, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 9)
		if _, err := io.ReadFull(o, buf); err != nil || string(buf) != "securecam" {
			t.Errorf("read at %d = %q, %v", at, buf, err)
		}
	}
	if end, err := o.Seek(0, io.SeekEnd); err != nil || end != int64(len(data)) {
		t.Errorf("Seek end = %d, %v", end, err)
	}
	if n, err := o.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("read at the end = %d, %v, want EOF", n, err)
	}
	_ = o.Close()

	// Replacing keeps one whole object.
	if _, err := st.Put(ctx, "recordings/owner-1/rec_2", strings.NewReader("new"), blobs.PutOptions{Limit: 10}); err != nil {
		t.Fatal(err)
	}
	if b := Content(t, st, "recordings/owner-1/rec_2"); string(b) != "new" {
		t.Errorf("after replace %q", b)
	}

	if err := st.Delete(ctx, "recordings/owner-1/rec_2"); err != nil {
		t.Fatal(err)
	}
	if err := st.Delete(ctx, "recordings/owner-1/rec_2"); err != nil {
		t.Errorf("second Delete: %v", err)
	}
	if _, err := st.Open(ctx, "recordings/owner-1/rec_2"); !errors.Is(err, blobs.ErrNotFound) {
		t.Errorf("Open deleted = %v, want ErrNotFound", err)
	}
	if _, err := st.Stat(ctx, "recordings/owner-1/rec_2"); !errors.Is(err, blobs.ErrNotFound) {
		t.Errorf("Stat deleted = %v, want ErrNotFound", err)
	}
	if got := Keys(t, st); len(got) != 0 {
		t.Errorf("objects after delete: %v", got)
	}
}

// A failed upload stores nothing and leaves nothing for Sweep.
func testPutFailures(t *testing.T, h Harness) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	big := Pattern(h.Large)
	tests := []struct {
		name  string
		ctx   context.Context
		r     io.Reader
		limit int64
		want  error
	}{
		{"over the limit", context.Background(), strings.NewReader("0123456789"), 9, blobs.ErrTooLarge},
		{"over the limit after parts", context.Background(), bytes.NewReader(big), int64(len(big) - 1), blobs.ErrTooLarge},
		{"read error", context.Background(), iotest.TimeoutReader(strings.NewReader(strings.Repeat("x", 1<<20))), 2 << 20, iotest.ErrTimeout},
		{"read error after parts", context.Background(), io.MultiReader(bytes.NewReader(big), iotest.ErrReader(iotest.ErrTimeout)), int64(2 * len(big)), iotest.ErrTimeout},
		{"context ended", cancelled, strings.NewReader("abc"), 10, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := h.New(t)
			_, err := st.Put(tt.ctx, "a/b", tt.r, blobs.PutOptions{Limit: tt.limit})
			if !errors.Is(err, tt.want) {
				t.Fatalf("Put = %v, want %v", err, tt.want)
			}
			if got := Keys(t, st); len(got) != 0 {
				t.Errorf("objects left behind: %v", got)
			}
			if n, err := st.Sweep(t.Context(), time.Now().Add(time.Hour)); err != nil || n != 0 {
				t.Errorf("Sweep after the failed Put = %d, %v; want nothing left to sweep", n, err)
			}
		})
	}
	st := h.New(t)
	if n, err := st.Put(t.Context(), "a/exact", strings.NewReader("0123456789"), blobs.PutOptions{Limit: 10}); err != nil || n != 10 {
		t.Errorf("Put at exactly the limit = %d, %v", n, err)
	}
}

func testLarge(t *testing.T, h Harness) {
	st := h.New(t)
	data := Pattern(h.Large)
	// A reader that hands out odd-sized pieces, like a network body.
	n, err := st.Put(t.Context(), "recordings/u/large", iotest.HalfReader(bytes.NewReader(data)), blobs.PutOptions{Limit: int64(len(data)), ContentType: "video/webm"})
	if err != nil || n != int64(len(data)) {
		t.Fatalf("Put = %d, %v", n, err)
	}
	if !bytes.Equal(Content(t, st, "recordings/u/large"), data) {
		t.Fatal("the large object reads back different")
	}
	o, err := st.Open(t.Context(), "recordings/u/large")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	for _, at := range []int{len(data) / 2, blobs.MinPartSize - 3, 1, len(data) - 10} {
		if _, err := o.Seek(int64(at), io.SeekStart); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, min(1000, len(data)-at))
		if _, err := io.ReadFull(o, buf); err != nil || !bytes.Equal(buf, data[at:at+len(buf)]) {
			t.Errorf("read at %d: %v or wrong bytes", at, err)
		}
	}
}

func testKeys(t *testing.T, h Harness) {
	st := h.New(t)
	ctx := t.Context()
	for _, key := range []string{"", "../x", "a/../../x", "/abs", "a//b", "A/b", "a/b/", "a\\b", ".hidden", "a/.b", "a b", "a/" + strings.Repeat("x", 129)} {
		if blobs.ValidKey(key) {
			t.Errorf("ValidKey(%q) = true", key)
		}
		if _, err := st.Put(ctx, key, strings.NewReader("x"), blobs.PutOptions{Limit: 10}); !errors.Is(err, blobs.ErrInvalidKey) {
			t.Errorf("Put(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, err := st.Open(ctx, key); !errors.Is(err, blobs.ErrInvalidKey) {
			t.Errorf("Open(%q) = %v, want ErrInvalidKey", key, err)
		}
		if _, err := st.Stat(ctx, key); !errors.Is(err, blobs.ErrInvalidKey) {
			t.Errorf("Stat(%q) = %v, want ErrInvalidKey", key, err)
		}
		if err := st.Delete(ctx, key); !errors.Is(err, blobs.ErrInvalidKey) {
			t.Errorf("Delete(%q) = %v, want ErrInvalidKey", key, err)
		}
	}
	if got := Keys(t, st); len(got) != 0 {
		t.Errorf("objects stored under invalid keys: %v", got)
	}
}

func testList(t *testing.T, h Harness) {
	st := h.New(t)
	ctx := t.Context()
	keys := []string{"recordings/a/b", "recordings/a-b", "recordings/a0", "recordings/a/a/z", "other/x", "recordings-x"}
	for i, k := range keys {
		if _, err := st.Put(ctx, k, strings.NewReader(strings.Repeat("x", i+1)), blobs.PutOptions{Limit: 100}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for info, err := range st.List(ctx, "recordings/") {
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(slices.Index(keys, info.Key) + 1); info.Size != want || info.ModTime.IsZero() {
			t.Errorf("List %s: size %d, modtime %v; want size %d", info.Key, info.Size, info.ModTime, want)
		}
		got = append(got, info.Key)
	}
	// Byte order: '-' (0x2d) < '/' (0x2f) < '0' (0x30).
	if want := []string{"recordings/a-b", "recordings/a/a/z", "recordings/a/b", "recordings/a0"}; !slices.Equal(got, want) {
		t.Errorf("List(recordings/) = %v, want %v", got, want)
	}
	if all := Keys(t, st); !slices.IsSorted(all) || len(all) != len(keys) {
		t.Errorf("List() = %v, want all %d keys sorted", all, len(keys))
	}
	seen := 0
	for range st.List(ctx, "") {
		seen++
		break
	}
	if seen != 1 {
		t.Errorf("List went on after the loop stopped: %d", seen)
	}
}

func testSweep(t *testing.T, h Harness) {
	st := h.New(t)
	ctx := t.Context()
	if _, err := st.Put(ctx, "recordings/u/kept", strings.NewReader("kept"), blobs.PutOptions{Limit: 10}); err != nil {
		t.Fatal(err)
	}
	h.Abandon(t, st, "recordings/u/crashed")
	if got := Keys(t, st); !slices.Equal(got, []string{"recordings/u/kept"}) {
		t.Errorf("objects %v: an abandoned upload is not an object", got)
	}
	if n, err := st.Sweep(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Errorf("Sweep of uploads begun an hour ago = %d, %v; want 0 (the abandoned one is younger)", n, err)
	}
	if n, err := st.Sweep(ctx, time.Now().Add(time.Hour)); err != nil || n != 1 {
		t.Errorf("Sweep = %d, %v; want the abandoned upload removed", n, err)
	}
	if n, err := st.Sweep(ctx, time.Now().Add(time.Hour)); err != nil || n != 0 {
		t.Errorf("second Sweep = %d, %v; want nothing left", n, err)
	}
	if string(Content(t, st, "recordings/u/kept")) != "kept" {
		t.Error("Sweep touched a stored object")
	}
}

func testConcurrentPuts(t *testing.T, h Harness) {
	st := h.New(t)
	a, b := bytes.Repeat([]byte("a"), 4096), bytes.Repeat([]byte("b"), 4096)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, data := range [][]byte{a, b} {
		wg.Go(func() {
			_, errs[i] = st.Put(t.Context(), "recordings/u/same", bytes.NewReader(data), blobs.PutOptions{Limit: 8192})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	got := Content(t, st, "recordings/u/same")
	if !bytes.Equal(got, a) && !bytes.Equal(got, b) {
		t.Errorf("after two concurrent Puts the object is neither whole: %s", fmt.Sprintf("%.20q…", got))
	}
}
