package reconcile_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/blobs"
	"github.com/securecam/securecam/store/blobs/blobstest"
	"github.com/securecam/securecam/store/reconcile"
	"github.com/securecam/securecam/store/storetest"
)

func camera(t *testing.T, st store.Store) store.Device {
	t.Helper()
	u := store.User{Email: time.Now().Format("150405.000000000") + "@example.com", Name: "R", PasswordHash: "x:y"}
	if err := st.CreateUser(t.Context(), &u); err != nil {
		t.Fatal(err)
	}
	d := store.Device{UserID: u.ID, Name: "cam", Role: store.RoleCamera, Platform: "android"}
	if err := st.CreateDevice(t.Context(), &d, ""); err != nil {
		t.Fatal(err)
	}
	return d
}

// recording makes a recording of cam in status (available or failed as missing) naming
// key in bucket, available since availableAt.
func recording(t *testing.T, db store.Store, cam store.Device, bucket, key, status string, availableAt time.Time) store.Recording {
	t.Helper()
	ctx := t.Context()
	r := store.Recording{OwnerUserID: cam.UserID, CameraDeviceID: cam.ID, ContentType: "video/mp4"}
	if status == store.RecordingPending {
		r.ObjectKey, r.Bucket = &key, &bucket
	}
	if err := db.CreateRecording(ctx, &r); err != nil {
		t.Fatal(err)
	}
	if status == store.RecordingPending {
		return r
	}
	r, err := db.FinishRecordingUpload(ctx, r.ID, store.RecordingUpload{Status: store.RecordingAvailable,
		ObjectKey: key, Bucket: bucket, SizeBytes: 4, At: availableAt})
	if err != nil {
		t.Fatal(err)
	}
	if status == store.RecordingFailed {
		if ok, err := db.SetRecordingMissing(ctx, r.ID, key, true, availableAt); err != nil || !ok {
			t.Fatalf("SetRecordingMissing = %v, %v", ok, err)
		}
	}
	return r
}

func put(t *testing.T, st blobs.Storage, key string) {
	t.Helper()
	if _, err := st.Put(t.Context(), key, strings.NewReader("clip"), blobs.PutOptions{Limit: 10}); err != nil {
		t.Fatal(err)
	}
}

type storages struct {
	set     *blobs.Set
	abandon func(t *testing.T, key string)
}

func diskStorage(t *testing.T) (*blobs.Disk, func(t *testing.T, key string)) {
	dir := t.TempDir()
	d, err := blobs.NewDisk(dir)
	if err != nil {
		t.Fatal(err)
	}
	return d, func(t *testing.T, key string) {
		p := filepath.Join(dir, filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(filepath.Dir(p), ".upload-42"), []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// The pass on the data directory alone (embedded mode, and issue 12's orphan files after
// a crash), and on a bucket with the data directory still holding clips from before the
// switch.
func TestReconcile(t *testing.T) {
	for _, name := range []string{"disk", "s3"} {
		t.Run(name, func(t *testing.T) {
			disk, abandonDisk := diskStorage(t)
			var s storages
			if name == "disk" {
				set, err := blobs.NewSet(disk)
				if err != nil {
					t.Fatal(err)
				}
				s = storages{set, abandonDisk}
			} else {
				bucket := blobstest.NewS3(t)
				set, err := blobs.NewSet(bucket, disk)
				if err != nil {
					t.Fatal(err)
				}
				s = storages{set, func(t *testing.T, key string) { blobstest.AbandonS3(t, bucket, key) }}
			}
			testReconcile(t, s)
		})
	}
}

func testReconcile(t *testing.T, s storages) {
	db := storetest.NewSQLite(t)
	ctx := t.Context()
	cam := camera(t, db)
	st := s.set.Primary()
	bucket := st.Bucket()
	start := time.Now().UTC()

	whole := recording(t, db, cam, bucket, "recordings/u/whole", store.RecordingAvailable, start.Add(-72*time.Hour))
	put(t, st, "recordings/u/whole")
	lost := recording(t, db, cam, bucket, "recordings/u/lost", store.RecordingAvailable, start.Add(-time.Hour))
	back := recording(t, db, cam, bucket, "recordings/u/back", store.RecordingFailed, start.Add(-72*time.Hour))
	put(t, st, "recordings/u/back")
	recording(t, db, cam, bucket, "recordings/u/direct", store.RecordingPending, time.Time{})
	put(t, st, "recordings/u/direct")
	put(t, st, "recordings/u/orphan") // stored just before a crash, its row never finished
	put(t, st, "elsewhere/x")         // not the hub's
	s.abandon(t, "recordings/u/crashed")
	// The data directory as a second storage: its orphan goes, its rows are never marked.
	var otherLost store.Recording
	if len(s.set.All()) > 1 {
		other := s.set.All()[1]
		put(t, other, "recordings/v/orphan")
		otherLost = recording(t, db, cam, other.Bucket(), "recordings/v/lost", store.RecordingAvailable, start.Add(-72*time.Hour))
	}

	now := start
	job, err := reconcile.New(reconcile.Config{Store: db, Blobs: s.set, MarkMissing: true, Holder: "a", Interval: time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	status := func(r store.Recording) string {
		t.Helper()
		got, err := db.Recording(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.Status
	}

	t.Log("everything young: only a clip that is back is noticed")
	ran, res, err := job.RunOnce(ctx)
	if err != nil || !ran || res != (reconcile.Result{Found: 1}) {
		t.Fatalf("first pass = %v %+v %v, want only the clip that is back found", ran, res, err)
	}
	if status(back) != store.RecordingAvailable || status(lost) != store.RecordingAvailable {
		t.Errorf("after the first pass: back %s, lost %s; want both available", status(back), status(lost))
	}

	t.Log("two days later: the orphans and the crashed upload go, the lost clip is marked")
	now = start.Add(48 * time.Hour)
	ran, res, err = job.RunOnce(ctx)
	wantOrphans := len(s.set.All()) // one per storage
	if err != nil || !ran || res != (reconcile.Result{Swept: 1, Orphans: wantOrphans, Missing: 1}) {
		t.Fatalf("second pass = %v %+v %v, want 1 swept, %d orphans, 1 missing", ran, res, err, wantOrphans)
	}
	if got := blobstest.Keys(t, st); !slices.Equal(got, []string{"elsewhere/x", "recordings/u/back", "recordings/u/direct", "recordings/u/whole"}) {
		t.Errorf("objects after the pass: %v", got)
	}
	if n, err := st.Sweep(ctx, now); err != nil || n != 0 {
		t.Errorf("Sweep after the pass = %d, %v; want nothing left", n, err)
	}
	got, err := db.Recording(ctx, lost.ID)
	if err != nil || got.Status != store.RecordingFailed || got.Error == nil || *got.Error != store.RecordingMissing ||
		got.ObjectKey == nil || *got.ObjectKey != "recordings/u/lost" {
		t.Errorf("the lost clip's recording: %+v, %v; want failed as missing, its key kept", got, err)
	}
	if status(whole) != store.RecordingAvailable || status(back) != store.RecordingAvailable {
		t.Errorf("whole %s, back %s; want both available", status(whole), status(back))
	}
	if len(s.set.All()) > 1 {
		if status(otherLost) != store.RecordingAvailable {
			t.Errorf("a recording in the data directory was marked %s; only the primary storage's are", status(otherLost))
		}
		if keys := blobstest.Keys(t, s.set.All()[1]); len(keys) != 0 {
			t.Errorf("objects left in the data directory: %v", keys)
		}
	}

	t.Log("the lost clip is put back: the next pass makes it available again")
	put(t, st, "recordings/u/lost")
	now = start.Add(50 * time.Hour)
	if _, res, err := job.RunOnce(ctx); err != nil || res != (reconcile.Result{Found: 1}) {
		t.Errorf("third pass = %+v, %v; want the lost clip found", res, err)
	}
	if status(lost) != store.RecordingAvailable {
		t.Errorf("lost clip back: %s, want available", status(lost))
	}

	other, err := reconcile.New(reconcile.Config{Store: db, Blobs: s.set, Holder: "b", Interval: time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	if ran, _, err := other.RunOnce(ctx); err != nil || ran {
		t.Errorf("another replica within the interval: ran %v, %v", ran, err)
	}
}

// A listing that fails judges nothing: no recording is marked missing because the bucket
// could not be read.
func TestReconcileStorageDown(t *testing.T) {
	env := blobstest.TestS3(t)
	bucket := env.NewBucket(t)
	proxy := blobstest.NewProxy(t, env.Endpoint)
	st, err := blobs.NewS3(t.Context(), env.Config(bucket, proxy.URL()))
	if err != nil {
		t.Fatal(err)
	}
	set, err := blobs.NewSet(st)
	if err != nil {
		t.Fatal(err)
	}
	db := storetest.NewSQLite(t)
	cam := camera(t, db)
	start := time.Now().UTC()
	var rs []store.Recording
	for _, k := range []string{"recordings/u/a", "recordings/u/b"} {
		rs = append(rs, recording(t, db, cam, bucket, k, store.RecordingAvailable, start.Add(-72*time.Hour)))
		put(t, st, k)
	}
	job, err := reconcile.New(reconcile.Config{Store: db, Blobs: set, MarkMissing: true, Holder: "a", Now: func() time.Time { return start.Add(48 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	proxy.Cut()
	ran, res, err := job.RunOnce(t.Context())
	if !ran || !errors.Is(err, blobs.ErrUnavailable) || res != (reconcile.Result{}) {
		t.Fatalf("pass with the bucket down = %v %+v %v, want ErrUnavailable and nothing done", ran, res, err)
	}
	for _, r := range rs {
		if got, _ := db.Recording(t.Context(), r.ID); got.Status != store.RecordingAvailable {
			t.Errorf("recording %s is %s after a failed listing, want available", r.ID, got.Status)
		}
	}
}

// Without MarkMissing (a cluster whose replicas each have their own data directory), a
// pass never marks a recording: its clip may be on another replica's disk.
func TestReconcileWithoutMarkMissing(t *testing.T) {
	disk, _ := diskStorage(t)
	set, err := blobs.NewSet(disk)
	if err != nil {
		t.Fatal(err)
	}
	db := storetest.NewSQLite(t)
	cam := camera(t, db)
	start := time.Now().UTC()
	r := recording(t, db, cam, disk.Bucket(), "recordings/u/elsewhere", store.RecordingAvailable, start.Add(-72*time.Hour))
	put(t, disk, "recordings/u/orphan")
	job, err := reconcile.New(reconcile.Config{Store: db, Blobs: set, Now: func() time.Time { return start.Add(48 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	if _, res, err := job.RunOnce(t.Context()); err != nil || res != (reconcile.Result{Orphans: 1}) {
		t.Fatalf("pass = %+v, %v; want the orphan deleted and nothing marked", res, err)
	}
	if got, _ := db.Recording(t.Context(), r.ID); got.Status != store.RecordingAvailable {
		t.Errorf("recording is %s, want available", got.Status)
	}
}
