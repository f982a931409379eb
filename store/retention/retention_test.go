package retention_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/blobs"
	"github.com/securecam/securecam/store/blobs/blobstest"
	"github.com/securecam/securecam/store/retention"
	"github.com/securecam/securecam/store/storetest"
)

// clip stores a recording of cam created at created, with its clip in st.
func clip(t *testing.T, db store.Store, st blobs.Storage, cam store.Device, created time.Time) store.Recording {
	t.Helper()
	ctx := t.Context()
	r := store.Recording{OwnerUserID: cam.UserID, CameraDeviceID: cam.ID, ContentType: "video/mp4", CreatedAt: created}
	if err := db.CreateRecording(ctx, &r); err != nil {
		t.Fatal(err)
	}
	key := "recordings/" + r.OwnerUserID + "/" + r.ID
	if _, err := st.Put(ctx, key, strings.NewReader("clip"), blobs.PutOptions{Limit: 10}); err != nil {
		t.Fatal(err)
	}
	r, err := db.FinishRecordingUpload(ctx, r.ID, store.RecordingUpload{Status: store.RecordingAvailable,
		ObjectKey: key, Bucket: st.Bucket(), SizeBytes: 4})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

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

// Old recordings go with their clips, from whichever storage their rows name: the
// data directory, or a bucket (with the data directory still holding clips from before
// the switch).
func TestRetentionDeletesOldRecordingsAndTheirFiles(t *testing.T) {
	for _, name := range []string{"disk", "s3"} {
		t.Run(name, func(t *testing.T) {
			disk, err := blobs.NewDisk(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			set, err := blobs.NewSet(disk)
			if err != nil {
				t.Fatal(err)
			}
			if name == "s3" {
				if set, err = blobs.NewSet(blobstest.NewS3(t), disk); err != nil {
					t.Fatal(err)
				}
			}
			testRetention(t, set)
		})
	}
}

func testRetention(t *testing.T, set *blobs.Set) {
	st := storetest.NewSQLite(t)
	cam := camera(t, st)
	now := time.Now().UTC()
	old := clip(t, st, set.Primary(), cam, now.Add(-31*24*time.Hour))
	recent := clip(t, st, set.Primary(), cam, now.Add(-29*24*time.Hour))
	var oldElsewhere []store.Recording
	for _, other := range set.All()[1:] {
		oldElsewhere = append(oldElsewhere, clip(t, st, other, cam, now.Add(-31*24*time.Hour)))
	}
	oldEvent := store.Event{UserID: cam.UserID, DeviceID: cam.ID, Title: "Motion", TriggeredBy: "motion", CreatedAt: now.Add(-40 * 24 * time.Hour)}
	if err := st.CreateEvent(t.Context(), &oldEvent); err != nil {
		t.Fatal(err)
	}
	audit := store.AuditLog{OwnerUserID: &cam.UserID, Action: "test", CreatedAt: now.Add(-100 * 24 * time.Hour)}
	if err := st.AddAuditLog(t.Context(), &audit); err != nil {
		t.Fatal(err)
	}

	job, err := retention.New(retention.Config{Store: st, Blobs: set, Holder: "a", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ran, err := job.RunOnce(t.Context())
	if err != nil || !ran {
		t.Fatalf("RunOnce = %v, %v; want a pass", ran, err)
	}
	if _, err := st.Recording(t.Context(), old.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("old recording: %v, want deleted", err)
	}
	if _, err := set.Primary().Stat(t.Context(), *old.ObjectKey); !errors.Is(err, blobs.ErrNotFound) {
		t.Errorf("old recording's clip: %v, want deleted", err)
	}
	for i, r := range oldElsewhere {
		if _, err := set.All()[i+1].Stat(t.Context(), *r.ObjectKey); !errors.Is(err, blobs.ErrNotFound) {
			t.Errorf("old recording's clip in %s: %v, want deleted", *r.Bucket, err)
		}
	}
	if _, err := st.Event(t.Context(), oldEvent.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("old event: %v, want deleted", err)
	}
	if logs, _, _ := st.ListAuditLogs(t.Context(), cam.UserID, store.Page{}); len(logs) != 0 {
		t.Errorf("audit rows older than 90 days kept: %d", len(logs))
	}
	if _, err := st.Recording(t.Context(), recent.ID); err != nil {
		t.Errorf("recent recording: %v", err)
	}
	if _, err := set.Primary().Stat(t.Context(), *recent.ObjectKey); err != nil {
		t.Errorf("recent recording's clip: %v", err)
	}

	// Within the interval another replica does not run a pass.
	other, err := retention.New(retention.Config{Store: st, Blobs: set, Holder: "b", Now: func() time.Time { return now.Add(59 * time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	if ran, err := other.RunOnce(t.Context()); err != nil || ran {
		t.Errorf("second replica within the interval: ran %v, %v", ran, err)
	}
	later, err := retention.New(retention.Config{Store: st, Blobs: set, Holder: "b", Now: func() time.Time { return now.Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	if ran, err := later.RunOnce(t.Context()); err != nil || !ran {
		t.Errorf("second replica after the interval: ran %v, %v", ran, err)
	}
}

// Replicas sharing one PostgreSQL database: one pass between them.
func TestRetentionOneReplicaAtATime(t *testing.T) {
	st := storetest.NewPostgres(t)
	now := time.Now()
	var ran atomic.Int32
	var wg sync.WaitGroup
	for i := range 6 {
		job, err := retention.New(retention.Config{Store: st, Holder: "replica-" + string(rune('a'+i)), Now: func() time.Time { return now }})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			ok, err := job.RunOnce(t.Context())
			if err != nil {
				t.Errorf("RunOnce: %v", err)
			}
			if ok {
				ran.Add(1)
			}
		})
	}
	wg.Wait()
	if ran.Load() != 1 {
		t.Errorf("%d replicas ran a pass, want 1", ran.Load())
	}
}

func TestRunStopsWithItsContext(t *testing.T) {
	st := storetest.NewSQLite(t)
	job, err := retention.New(retention.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- job.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
