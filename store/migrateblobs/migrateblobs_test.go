package migrateblobs_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/blobs"
	"github.com/securecam/securecam/store/blobs/blobstest"
	"github.com/securecam/securecam/store/migrateblobs"
	"github.com/securecam/securecam/store/storetest"
)

// failingOpen is a storage whose Open runs hook first, for one key.
type failingOpen struct {
	blobs.Storage
	key  string
	hook func() error
}

func (f failingOpen) Open(ctx context.Context, key string) (blobs.Object, error) {
	if key == f.key {
		if err := f.hook(); err != nil {
			return nil, err
		}
	}
	return f.Storage.Open(ctx, key)
}

func TestMigrate(t *testing.T) {
	db := storetest.NewSQLite(t)
	ctx := t.Context()
	disk, err := blobs.NewDisk(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	bucket := blobstest.NewS3(t)
	u := store.User{Email: "m@example.com", Name: "M", PasswordHash: "x:y"}
	if err := db.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	cam := store.Device{UserID: u.ID, Name: "cam", Role: store.RoleCamera, Platform: "android"}
	if err := db.CreateDevice(ctx, &cam, ""); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	mk := func(key string, created time.Time) store.Recording {
		t.Helper()
		r := store.Recording{OwnerUserID: u.ID, CameraDeviceID: cam.ID, ContentType: "video/webm", CreatedAt: created}
		if err := db.CreateRecording(ctx, &r); err != nil {
			t.Fatal(err)
		}
		if _, err := disk.Put(ctx, key, strings.NewReader("clip "+key), blobs.PutOptions{Limit: 100}); err != nil {
			t.Fatal(err)
		}
		r, err := db.FinishRecordingUpload(ctx, r.ID, store.RecordingUpload{Status: store.RecordingAvailable,
			ObjectKey: key, Bucket: disk.Bucket(), SizeBytes: int64(len("clip " + key))})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	keys := []string{"recordings/u/a", "recordings/u/b", "recordings/u/c", "recordings/u/d", "recordings/u/e"}
	recs := map[string]store.Recording{}
	for _, k := range keys {
		created := now
		if k == "recordings/u/d" {
			created = now.Add(-48 * time.Hour)
		}
		recs[k] = mk(k, created)
	}
	// An earlier run copied b but stopped before switching its row.
	if _, err := bucket.Put(ctx, "recordings/u/b", strings.NewReader("clip recordings/u/b"), blobs.PutOptions{Limit: 100}); err != nil {
		t.Fatal(err)
	}

	t.Log("the run stops at c: the storage fails")
	broken := errors.New("disk read error")
	res, err := migrateblobs.Run(ctx, migrateblobs.Config{Store: db, To: bucket,
		From: failingOpen{disk, "recordings/u/c", func() error { return broken }}})
	if !errors.Is(err, broken) || res.Total != 5 || res.Moved != 2 {
		t.Fatalf("interrupted run = %+v, %v; want 2 of 5 moved and the error", res, err)
	}

	t.Log("run again: d's recording is deleted meanwhile (retention), the rest moves")
	res, err = migrateblobs.Run(ctx, migrateblobs.Config{Store: db, To: bucket,
		From: failingOpen{disk, "recordings/u/d", func() error {
			_, err := db.Prune(ctx, store.PruneCutoffs{Recordings: now.Add(-24 * time.Hour)}, 0)
			return err
		}}})
	if err != nil || res != (migrateblobs.Result{Total: 3, Moved: 2, Gone: 1, Bytes: 2 * int64(len("clip recordings/u/c"))}) {
		t.Fatalf("second run = %+v, %v", res, err)
	}
	for _, k := range keys {
		if k == "recordings/u/d" {
			continue
		}
		got, err := db.Recording(ctx, recs[k].ID)
		if err != nil || *got.Bucket != bucket.Bucket() || *got.ObjectKey != k || got.Status != store.RecordingAvailable {
			t.Errorf("recording of %s: %+v, %v; want it in the bucket", k, got, err)
		}
		if string(blobstest.Content(t, bucket, k)) != "clip "+k {
			t.Errorf("%s in the bucket reads back different", k)
		}
	}
	if got := blobstest.Keys(t, bucket); !slices.Equal(got, []string{"recordings/u/a", "recordings/u/b", "recordings/u/c", "recordings/u/e"}) {
		t.Errorf("objects in the bucket: %v (the deleted recording's copy must go)", got)
	}
	if got := blobstest.Keys(t, disk); !slices.Equal(got, []string{"recordings/u/d"}) {
		t.Errorf("left in the data directory: %v, want only the deleted recording's clip (the reconcile pass's)", got)
	}
	if res, err := migrateblobs.Run(ctx, migrateblobs.Config{Store: db, From: disk, To: bucket}); err != nil || res != (migrateblobs.Result{}) {
		t.Errorf("third run = %+v, %v; want nothing to do", res, err)
	}
}
