package record_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/securecam/securecam/signaling/record"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/blobs"
	"github.com/securecam/securecam/store/blobs/blobstest"
	"github.com/securecam/securecam/store/postgres"
	"github.com/securecam/securecam/store/storetest"
)

// The crash test runs the recorder in a child process (this test binary again) and
// kills it with SIGKILL in the middle of a file.
const crashEnv = "SECURECAM_RECORD_CRASH_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(crashEnv) != "" {
		if err := crashChild(); err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashChild records 3 s of video in continuous mode, says "sent" and waits to be
// killed.
func crashChild() error {
	ctx := context.Background()
	db, err := postgres.Open(ctx, postgres.Config{URL: os.Getenv("CRASH_DB"), MaxConns: 2})
	if err != nil {
		return err
	}
	disk, err := blobs.NewDisk(os.Getenv("CRASH_BLOBS"))
	if err != nil {
		return err
	}
	frames, err := makeClip(3)
	if err != nil {
		return err
	}
	session := os.Getenv("CRASH_SESSION")
	r := record.New(record.Config{Rows: db, Storage: disk, SpoolDir: os.Getenv("CRASH_SPOOL")},
		record.Stream{OwnerUserID: os.Getenv("CRASH_OWNER"), CameraDeviceID: os.Getenv("CRASH_CAMERA"),
			StreamSessionID: &session, Mode: store.RecordingModeContinuous})
	cameraOf(frames, false).send(r, 3*fps)
	// Until the spool file holds 40 KB of clusters past the header and the room for
	// the Cues (64 KiB): about half of the 3 s sent (80 KB).
	deadline := time.Now().Add(30 * time.Second)
	for {
		entries, err := os.ReadDir(os.Getenv("CRASH_SPOOL"))
		if err != nil {
			return err
		}
		if len(entries) == 1 {
			if info, err := entries[0].Info(); err == nil && info.Size() > 64<<10+40_000 {
				break
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the spool file did not grow past 40 KB of clusters in 30 s")
		}
		time.Sleep(10 * time.Millisecond) // polling the file: its size is the condition
	}
	fmt.Println("sent")
	select {}
}

// A hub killed while recording: the row says pending (no clip, not available) while the
// file is written; after the crash, Recover stores what the spool file held up to its
// last whole block, playable, makes the recording available and removes the spool file.
// A recording is never a row pointing at nothing.
func TestRecordCrash(t *testing.T) {
	needFFmpeg(t)
	url := storetest.PostgresURL(t)
	db, err := postgres.Open(t.Context(), postgres.Config{URL: url, MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	f := newFixture(t, db, storages()["disk"](t))
	blobDir := t.TempDir()
	disk, err := blobs.NewDisk(blobDir)
	if err != nil {
		t.Fatal(err)
	}
	f.storage = disk

	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), crashEnv+"=1", "CRASH_DB="+url, "CRASH_BLOBS="+blobDir, "CRASH_SPOOL="+f.spool,
		"CRASH_OWNER="+f.owner, "CRASH_CAMERA="+f.camera, "CRASH_SESSION="+f.session)
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = child.Process.Kill()
			_ = child.Wait()
		}
	})
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		if s != "sent\n" {
			t.Fatalf("the child said %q", s)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the child did not record within 60 s")
	}

	// While recording: one pending row of the stream session, naming no clip.
	recs := f.waitRecordings(t, 1)
	if len(recs) != 1 {
		t.Fatalf("%d recordings while recording, want 1", len(recs))
	}
	rec := recs[0]
	if rec.Status != store.RecordingPending || rec.ObjectKey != nil || rec.AvailableAt != nil || rec.StreamSessionID == nil {
		t.Errorf("recording while recording: %+v, want pending with no object and not available", rec)
	}

	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	killed = true

	// The same file cut short anywhere (mid-block, mid-cluster) is salvaged too.
	spooled, err := os.ReadFile(filepath.Join(f.spool, rec.ID+".webm.part"))
	if err != nil {
		t.Fatal(err)
	}
	cutDir := t.TempDir()
	cutCfg := f.config()
	cutCfg.SpoolDir = cutDir
	var cut []string
	clusters := len(spooled) - 64<<10 // past the header and the room for the Cues
	for _, n := range []int{len(spooled) - 1, len(spooled) - clusters/3, len(spooled) - clusters/2} {
		r := store.Recording{OwnerUserID: f.owner, CameraDeviceID: f.camera, StreamSessionID: &f.session, ContentType: "video/webm"}
		if err := db.CreateRecording(t.Context(), &r); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cutDir, r.ID+".webm.part"), spooled[:n], 0o600); err != nil {
			t.Fatal(err)
		}
		cut = append(cut, r.ID)
	}
	if done, err := record.Recover(t.Context(), cutCfg, time.Now()); err != nil || done != (record.Recovered{Available: 3}) {
		t.Fatalf("Recover of the cut files = %+v, %v; want 3 available", done, err)
	}
	for _, id := range cut {
		got, err := db.Recording(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		f.checkClip(t, got, false)
	}
	// A file with no whole block: the recording fails.
	empty := store.Recording{OwnerUserID: f.owner, CameraDeviceID: f.camera, ContentType: "video/webm"}
	if err := db.CreateRecording(t.Context(), &empty); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cutDir, empty.ID+".webm.part"), spooled[:100], 0o600); err != nil {
		t.Fatal(err)
	}
	if done, err := record.Recover(t.Context(), cutCfg, time.Now()); err != nil || done != (record.Recovered{Failed: 1}) {
		t.Fatalf("Recover of a file without a block = %+v, %v; want 1 failed", done, err)
	}
	if got, err := db.Recording(t.Context(), empty.ID); err != nil || got.Status != store.RecordingFailed ||
		got.Error == nil || *got.Error != record.Crashed || got.ObjectKey != nil {
		t.Errorf("recording of a file without a block: %+v, %v; want failed (%q) without an object", got, err, record.Crashed)
	}

	// A live recorder's spool file is left alone.
	live := record.New(f.config(), f.stream(store.RecordingModeContinuous, false))
	defer closeRecorder(t, live)
	newCamera(t, false).send(live, 1)
	f.waitRecordings(t, 2) // its row is made after its spool file

	done, err := record.Recover(t.Context(), f.config(), time.Now())
	if err != nil || done != (record.Recovered{Available: 1}) {
		t.Fatalf("Recover = %+v, %v; want the crashed recording made available", done, err)
	}
	got, err := db.Recording(t.Context(), rec.ID)
	if err != nil {
		t.Fatal(err)
	}
	// What the child had written before it died: half a second to 3 s (frames ebml-go held
	// in memory are lost), from the first keyframe, and it plays.
	d := f.checkClip(t, got, false)
	if d < time.Second/2 || d > 3*time.Second {
		t.Errorf("salvaged %v of the 3 s the child recorded", d)
	}
	if keys := blobstest.Keys(t, disk); len(keys) != 4 || !slices.Contains(keys, *got.ObjectKey) {
		t.Errorf("clips stored: %v, want the salvaged ones", keys)
	}

	if left, _ := os.ReadDir(f.spool); len(left) != 1 {
		t.Errorf("spool files after Recover: %v, want only the live recorder's", left)
	}
	if done, err := record.Recover(t.Context(), f.config(), time.Now()); err != nil || done != (record.Recovered{}) {
		t.Errorf("second Recover = %+v, %v; want nothing to do", done, err)
	}
}

// waitRecordings waits until the camera has n recordings, and returns them.
func (f *fixture) waitRecordings(t *testing.T, n int) []store.Recording {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		recs := f.recordings(t)
		if len(recs) >= n || time.Now().After(deadline) {
			return recs
		}
		time.Sleep(20 * time.Millisecond) // polling the database: the rows are the condition
	}
}

// A file the storage could not take: the recording is failed, not left pending and
// not pointing at a clip.
func TestRecordUploadFails(t *testing.T) {
	env := blobstest.TestS3(t)
	proxy := blobstest.NewProxy(t, env.Endpoint)
	cfg := env.Config(env.NewBucket(t), proxy.URL())
	cfg.PartSize = blobs.MinPartSize
	st, err := blobs.NewS3(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, storetest.NewSQLite(t), st)
	r := record.New(f.config(), f.stream(store.RecordingModeContinuous, false))
	newCamera(t, false).send(r, 2*fps)
	proxy.Cut()
	closeRecorder(t, r)
	recs := f.recordings(t)
	if len(recs) != 1 || recs[0].Status != store.RecordingFailed || recs[0].ObjectKey != nil || recs[0].AvailableAt != nil {
		t.Fatalf("recordings %+v, want one failed without an object", recs)
	}
	proxy.Restore()
	if keys := blobstest.Keys(t, st); len(keys) != 0 {
		t.Errorf("objects after the failed upload: %v", keys)
	}
	if left, _ := os.ReadDir(f.spool); len(left) != 0 {
		t.Errorf("spool files left: %v", left)
	}
}

// slowStorage is a storage whose Puts never finish before their context ends.
type slowStorage struct{ blobs.Storage }

func (s slowStorage) Put(ctx context.Context, key string, r io.Reader, o blobs.PutOptions) (int64, error) {
	<-ctx.Done()
	return 0, ctx.Err()
}

// A hub that stops before a file is uploaded (Close's deadline passes) leaves it, its
// recording pending, for Recover at the next start, which stores it whole.
func TestRecordCloseDeadline(t *testing.T) {
	f := newFixture(t, storetest.NewSQLite(t), storages()["disk"](t))
	cfg := f.config()
	cfg.Storage = slowStorage{f.storage}
	r := record.New(cfg, f.stream(store.RecordingModeContinuous, false))
	newCamera(t, false).send(r, 2*fps)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := r.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close past its deadline = %v, want context.Canceled", err)
	}
	recs := f.recordings(t)
	if len(recs) != 1 || recs[0].Status != store.RecordingPending || recs[0].ObjectKey != nil {
		t.Fatalf("recordings %+v, want one pending without an object", recs)
	}
	if left, _ := os.ReadDir(f.spool); len(left) != 1 {
		t.Fatalf("spool files %v, want the unfinished upload's", left)
	}
	done, err := record.Recover(t.Context(), f.config(), time.Now())
	if err != nil || done != (record.Recovered{Available: 1}) {
		t.Fatalf("Recover = %+v, %v; want the recording made available", done, err)
	}
	got, err := f.db.Recording(t.Context(), recs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	near(t, "duration", f.clip(t, got), frameAt(2*fps-1), 100*time.Millisecond)
}
