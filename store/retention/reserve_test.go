package retention_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/blobs"
	"github.com/securecam/securecam/store/retention"
	"github.com/securecam/securecam/store/storetest"
)

// volume is a disk of capacity bytes: its free space is what the files under dir leave.
type volume struct {
	dir      string
	capacity atomic.Int64
}

func (v *volume) free() (int64, error) {
	var used int64
	err := filepath.WalkDir(v.dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		used += info.Size()
		return err
	})
	return v.capacity.Load() - used, err
}

// sizedClip stores a recording of cam with a file of size bytes.
func sizedClip(t *testing.T, st store.Store, disk *blobs.Disk, cam store.Device, created time.Time, size int) store.Recording {
	t.Helper()
	ctx := t.Context()
	r := store.Recording{OwnerUserID: cam.UserID, CameraDeviceID: cam.ID, ContentType: "video/mp4", CreatedAt: created}
	if err := st.CreateRecording(ctx, &r); err != nil {
		t.Fatal(err)
	}
	key := "recordings/" + r.OwnerUserID + "/" + r.ID
	if _, err := disk.Put(ctx, key, strings.NewReader(strings.Repeat("x", size)), blobs.PutOptions{Limit: int64(size)}); err != nil {
		t.Fatal(err)
	}
	r, err := st.FinishRecordingUpload(ctx, r.ID, store.RecordingUpload{Status: store.RecordingAvailable,
		ObjectKey: key, Bucket: disk.Bucket(), SizeBytes: int64(size)})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// setOf is the recordings storage of a hub without S3: the data directory alone.
func setOf(t *testing.T, disk *blobs.Disk) *blobs.Set {
	t.Helper()
	set, err := blobs.NewSet(disk)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func remaining(t *testing.T, st store.Store, rs []store.Recording) []string {
	t.Helper()
	var ids []string
	for _, r := range rs {
		_, err := st.Recording(t.Context(), r.ID)
		switch {
		case err == nil:
			ids = append(ids, r.ID)
		case !errors.Is(err, store.ErrNotFound):
			t.Fatal(err)
		}
	}
	return ids
}

func ids(rs []store.Recording) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func TestReserveDeletesTheOldestClipsFirst(t *testing.T) {
	st := storetest.NewSQLite(t)
	vol := &volume{dir: t.TempDir()}
	disk, err := blobs.NewDisk(vol.dir)
	if err != nil {
		t.Fatal(err)
	}
	camA, camB := camera(t, st), camera(t, st)
	base := time.Now().UTC().Add(-time.Hour)
	// A clip stored elsewhere, older than all: deleting it would free nothing here.
	elsewhere := store.Recording{OwnerUserID: camA.UserID, CameraDeviceID: camA.ID, ContentType: "video/mp4", CreatedAt: base.Add(-time.Hour)}
	if err := st.CreateRecording(t.Context(), &elsewhere); err != nil {
		t.Fatal(err)
	}
	if _, err := st.FinishRecordingUpload(t.Context(), elsewhere.ID, store.RecordingUpload{Status: store.RecordingAvailable,
		ObjectKey: "recordings/elsewhere", Bucket: "s3", SizeBytes: 100}); err != nil {
		t.Fatal(err)
	}
	var clips []store.Recording // oldest first, the two accounts interleaved
	for i := range 10 {
		cam := camA
		if i%2 == 1 {
			cam = camB
		}
		clips = append(clips, sizedClip(t, st, disk, cam, base.Add(time.Duration(i)*time.Minute), 100))
	}
	vol.capacity.Store(1500) // 1000 used: 500 free

	newJob := func(holder string) *retention.Job {
		job, err := retention.New(retention.Config{Store: st, Blobs: setOf(t, disk), FreeSpace: vol.free, Reserve: 600, Holder: holder})
		if err != nil {
			t.Fatal(err)
		}
		return job
	}
	a := newJob("a")
	n, err := a.KeepReserve(t.Context())
	// Below 600 free: clips go, oldest first, until 750 (1.25×600) are free.
	if err != nil || n != 3 {
		t.Fatalf("KeepReserve = %d, %v; want 3 clips deleted", n, err)
	}
	if got := remaining(t, st, clips); !slices.Equal(got, ids(clips[3:])) {
		t.Errorf("clips left %v, want the 7 newest %v", got, ids(clips[3:]))
	}
	if free, _ := vol.free(); free != 800 {
		t.Errorf("free after KeepReserve = %d, want 800", free)
	}
	if _, err := st.Recording(t.Context(), elsewhere.ID); err != nil {
		t.Errorf("the clip in another storage: %v, want kept", err)
	}

	// Above the reserve: nothing goes.
	if n, err := a.KeepReserve(t.Context()); err != nil || n != 0 {
		t.Errorf("KeepReserve above the reserve = %d, %v; want 0", n, err)
	}
	// Below it again: the replica holding the reserve lease deletes, another does not.
	vol.capacity.Store(1200) // 700 used: 500 free
	if n, err := newJob("b").KeepReserve(t.Context()); err != nil || n != 0 {
		t.Errorf("another replica within the lease = %d, %v; want 0", n, err)
	}
	if n, err := a.KeepReserve(t.Context()); err != nil || n != 3 {
		t.Errorf("KeepReserve again = %d, %v; want 3", n, err)
	}
	if got := remaining(t, st, clips); !slices.Equal(got, ids(clips[6:])) {
		t.Errorf("clips left %v, want the 4 newest", got)
	}

	// Nothing left to delete: it stops.
	vol.capacity.Store(100)
	if n, err := a.KeepReserve(t.Context()); err != nil || n != 4 {
		t.Errorf("KeepReserve with too little space for any clip = %d, %v; want the last 4", n, err)
	}

	// Without a reserve configured, nothing is deleted.
	off, err := retention.New(retention.Config{Store: st, Blobs: setOf(t, disk), FreeSpace: vol.free, Holder: "a"})
	if err != nil {
		t.Fatal(err)
	}
	sizedClip(t, st, disk, camA, time.Now(), 100)
	if n, err := off.KeepReserve(t.Context()); err != nil || n != 0 {
		t.Errorf("KeepReserve without a reserve = %d, %v", n, err)
	}
}

// Run keeps the reserve from its start.
func TestRunKeepsTheReserve(t *testing.T) {
	st := storetest.NewSQLite(t)
	vol := &volume{dir: t.TempDir()}
	disk, err := blobs.NewDisk(vol.dir)
	if err != nil {
		t.Fatal(err)
	}
	cam := camera(t, st)
	old := sizedClip(t, st, disk, cam, time.Now().Add(-time.Hour), 100)
	recent := sizedClip(t, st, disk, cam, time.Now(), 100)
	vol.capacity.Store(240) // 200 used: 40 free, below the reserve of 50
	job, err := retention.New(retention.Config{Store: st, Blobs: setOf(t, disk), FreeSpace: vol.free, Reserve: 50, Holder: "a"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- job.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for len(remaining(t, st, []store.Recording{old})) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("Run did not delete the oldest clip within 30 s")
		}
		time.Sleep(10 * time.Millisecond) // polling the store, not synchronising
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if got := remaining(t, st, []store.Recording{recent}); len(got) != 1 {
		t.Error("Run deleted more than the reserve needed")
	}
}

// A pass purges expired verification rows and keeps the others.
func TestPassPurgesExpiredVerifications(t *testing.T) {
	st := storetest.NewSQLite(t)
	now := time.Now().UTC()
	expired := store.Verification{Identifier: "ws-ticket:x", ValueHash: "old", ExpiresAt: now.Add(-time.Second)}
	live := store.Verification{Identifier: "password-reset:y", ValueHash: "new", ExpiresAt: now.Add(time.Hour)}
	for _, v := range []*store.Verification{&expired, &live} {
		if err := st.CreateVerification(t.Context(), v); err != nil {
			t.Fatal(err)
		}
	}
	job, err := retention.New(retention.Config{Store: st, Holder: "a", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if ran, err := job.RunOnce(t.Context()); err != nil || !ran {
		t.Fatalf("RunOnce = %v, %v", ran, err)
	}
	// Consuming at a time when both were valid tells which rows are still there.
	if _, err := st.ConsumeVerification(t.Context(), expired.Identifier, "old", now.Add(-time.Minute)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired row: %v, want purged", err)
	}
	if _, err := st.ConsumeVerification(t.Context(), live.Identifier, "new", now); err != nil {
		t.Errorf("unexpired row: %v, want kept", err)
	}
}

// A clip whose file cannot be deleted frees nothing: the job stops instead of deleting
// every row.
func TestReserveStopsWhenAFileStays(t *testing.T) {
	st := storetest.NewSQLite(t)
	vol := &volume{dir: t.TempDir()}
	disk, err := blobs.NewDisk(vol.dir)
	if err != nil {
		t.Fatal(err)
	}
	cam := camera(t, st)
	base := time.Now().UTC().Add(-time.Hour)
	var clips []store.Recording
	for i := range 4 {
		clips = append(clips, sizedClip(t, st, disk, cam, base.Add(time.Duration(i)*time.Minute), 100))
	}
	// The oldest clip's path becomes a directory that is not empty: removing it fails,
	// whoever the test runs as.
	path := filepath.Join(vol.dir, filepath.FromSlash(*clips[0].ObjectKey))
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(path, "stuck"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(path, "stuck", "f"), make([]byte, 100), 0o600); err != nil {
		t.Fatal(err)
	}
	vol.capacity.Store(450) // 400 used: 50 free
	job, err := retention.New(retention.Config{Store: st, Blobs: setOf(t, disk), FreeSpace: vol.free, Reserve: 100, Holder: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := job.KeepReserve(t.Context()); err != nil || n != 1 {
		t.Fatalf("KeepReserve = %d, %v; want the one clip whose file stayed", n, err)
	}
	if got := remaining(t, st, clips); !slices.Equal(got, ids(clips[1:])) {
		t.Errorf("clips left %v, want all but the oldest", got)
	}
}
