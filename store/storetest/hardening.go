package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/securecam/securecam/store"
)

// testPasswordChangeVoidsResets: SetPassword deletes every reset token of that user,
// the hub's and Better Auth's, and only those.
func testPasswordChangeVoidsResets(t *testing.T, s store.Store) {
	ctx := t.Context()
	u, other := mkUser(t, s), mkUser(t, s)
	now := time.Now()
	mk := func(identifier, hash string) {
		v := store.Verification{Identifier: identifier, ValueHash: hash, ExpiresAt: now.Add(time.Hour)}
		noErr(t, "CreateVerification "+hash, s.CreateVerification(ctx, &v))
	}
	reset := store.VerificationPasswordReset + ":"
	mk(reset+u.ID, "first")
	mk(reset+u.ID, "second")
	mk(reset+other.ID, "other user's")
	mk("email-verification:"+u.ID, "email")
	ba := store.BetterAuthPasswordReset + ":"
	mk(ba+"Zq8wX4vB2nM6kL0pR3tY7uI1", u.ID)
	mk(ba+"Other0B2nM6kL0pR3tY7uI1x", other.ID)

	noErr(t, "SetPassword", s.SetPassword(ctx, u.ID, "salt:new"))
	for _, h := range []string{"first", "second"} {
		wantErr(t, "reset token "+h+" after a new password", second(s.ConsumeVerification(ctx, reset+u.ID, h, now)), store.ErrNotFound)
	}
	wantErr(t, "Better Auth reset token after a new password",
		second(s.ConsumeVerification(ctx, ba+"Zq8wX4vB2nM6kL0pR3tY7uI1", u.ID, now)), store.ErrNotFound)
	noErr(t, "another user's reset token", second(s.ConsumeVerification(ctx, reset+other.ID, "other user's", now)))
	noErr(t, "another user's Better Auth reset token", second(s.ConsumeVerification(ctx, ba+"Other0B2nM6kL0pR3tY7uI1x", other.ID, now)))
	noErr(t, "the user's e-mail token", second(s.ConsumeVerification(ctx, "email-verification:"+u.ID, "email", now)))
	if pw, err := s.CredentialPassword(ctx, u.ID); err != nil || pw != "salt:new" {
		t.Errorf("CredentialPassword = %q, %v; want the new hash", pw, err)
	}
}

// testPruneVerifications: expired verification rows go, unexpired ones stay.
func testPruneVerifications(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := time.Now().UTC()
	mk := func(id string, expires time.Time) {
		v := store.Verification{Identifier: "ws-ticket:" + id, ValueHash: id, ExpiresAt: expires}
		noErr(t, "CreateVerification", s.CreateVerification(ctx, &v))
	}
	for i := range 5 {
		mk(unique("expired"), now.Add(-time.Duration(i+1)*time.Minute))
	}
	live := unique("live")
	mk(live, now.Add(time.Minute))

	res, err := s.Prune(ctx, store.PruneCutoffs{Verifications: now}, 2)
	noErr(t, "Prune", err)
	if res.Verifications != 5 {
		t.Errorf("pruned %d verifications, want 5", res.Verifications)
	}
	noErr(t, "consume the unexpired row", second(s.ConsumeVerification(ctx, "ws-ticket:"+live, live, now)))
	res, err = s.Prune(ctx, store.PruneCutoffs{Verifications: now}, 0)
	noErr(t, "Prune again", err)
	if res.Verifications != 0 {
		t.Errorf("a second prune deleted %d verifications, want 0", res.Verifications)
	}
}

// testFailedCommandNotAcknowledged: a failed command has no acknowledged_at.
func testFailedCommandNotAcknowledged(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := mkFixture(t, s)
	at := time.Now().UTC().Truncate(time.Microsecond)
	c := mkCommand(t, s, f.user.ID, f.viewer.ID, f.cam.ID, time.Hour)
	_, err := s.MarkCommandDispatched(ctx, c.ID, at)
	noErr(t, "MarkCommandDispatched", err)
	failed, err := s.CompleteCommand(ctx, c.ID, f.cam.ID, store.CommandFailed, strp("no torch"), at.Add(time.Second))
	noErr(t, "CompleteCommand failed", err)
	got, err := s.Command(ctx, c.ID)
	noErr(t, "Command", err)
	for name, x := range map[string]store.Command{"returned": failed, "stored": got} {
		if x.Status != store.CommandFailed || x.AcknowledgedAt != nil {
			t.Errorf("%s failed command: status %q acknowledged_at %v, want failed and nil", name, x.Status, x.AcknowledgedAt)
		}
		checkTime(t, name+" UpdatedAt", x.UpdatedAt, at.Add(time.Second))
	}
	ack := mkCommand(t, s, f.user.ID, f.viewer.ID, f.cam.ID, time.Hour)
	done, err := s.CompleteCommand(ctx, ack.ID, f.cam.ID, store.CommandAcknowledged, nil, at)
	noErr(t, "CompleteCommand acknowledged", err)
	if done.AcknowledgedAt == nil {
		t.Fatal("an acknowledged command has no acknowledged_at")
	}
	checkTime(t, "AcknowledgedAt", *done.AcknowledgedAt, at)
}

// testDeleteRecordings: DeleteRecording, RecordingBytes and DeleteOldestRecordings.
func testDeleteRecordings(t *testing.T, s store.Store) {
	ctx := t.Context()
	f, other := mkFixture(t, s), mkFixture(t, s)
	base := time.Now().UTC().Add(-time.Hour)
	mkClip := func(fx fixture, created time.Time, size int64, bucket string, event *string) store.Recording {
		t.Helper()
		r := store.Recording{OwnerUserID: fx.user.ID, CameraDeviceID: fx.cam.ID, EventID: event, ContentType: "video/mp4", CreatedAt: created}
		noErr(t, "CreateRecording", s.CreateRecording(ctx, &r))
		if size == 0 {
			return r // pending: no clip
		}
		r, err := s.FinishRecordingUpload(ctx, r.ID, store.RecordingUpload{Status: store.RecordingAvailable,
			ObjectKey: "recordings/" + r.ID, Bucket: bucket, SizeBytes: size})
		noErr(t, "FinishRecordingUpload", err)
		return r
	}

	if n, err := s.RecordingBytes(ctx, f.user.ID); err != nil || n != 0 {
		t.Errorf("RecordingBytes with none = %d, %v; want 0", n, err)
	}
	e := mkEvent(t, s, f, "motion", time.Time{})
	oldest := mkClip(f, base, 100, "local", &e.ID)
	noErr(t, "SetEventVideoURL", s.SetEventVideoURL(ctx, e.ID, "http://hub/api/v1/recordings/"+oldest.ID+"/content"))
	s3 := mkClip(f, base.Add(time.Second), 1000, "s3", nil)
	otherClip := mkClip(other, base.Add(2*time.Second), 10, "local", nil)
	pending := mkClip(f, base.Add(3*time.Second), 0, "", nil)
	third := mkClip(f, base.Add(4*time.Second), 3<<30, "local", nil)

	if n, err := s.RecordingBytes(ctx, f.user.ID); err != nil || n != 100+1000+3<<30 {
		t.Errorf("RecordingBytes = %d, %v; want %d", n, err, 100+1000+3<<30)
	}
	if n, err := s.RecordingBytes(ctx, "not-a-uuid"); err != nil || n != 0 {
		t.Errorf("RecordingBytes of a malformed id = %d, %v; want 0", n, err)
	}

	// Oldest first, only clips stored in the bucket, across owners.
	rs, err := s.DeleteOldestRecordings(ctx, "local", 2)
	noErr(t, "DeleteOldestRecordings", err)
	if got := sorted(recordingIDs(rs)); !slices.Equal(got, sorted([]string{oldest.ID, otherClip.ID})) {
		t.Errorf("DeleteOldestRecordings = %v, want the oldest local clips %v", got, []string{oldest.ID, otherClip.ID})
	}
	for _, r := range rs {
		if r.ObjectKey == nil || *r.ObjectKey != "recordings/"+r.ID {
			t.Errorf("deleted recording %s without its object key", r.ID)
		}
	}
	wantErr(t, "deleted oldest", second(s.Recording(ctx, oldest.ID)), store.ErrNotFound)
	if ev, err := s.Event(ctx, e.ID); err != nil || ev.VideoURL != nil {
		t.Errorf("event of a deleted recording: video_url %v, err %v; want cleared", ev.VideoURL, err)
	}
	rs, err = s.DeleteOldestRecordings(ctx, "local", 10)
	noErr(t, "DeleteOldestRecordings rest", err)
	if got := recordingIDs(rs); !slices.Equal(got, []string{third.ID}) {
		t.Errorf("second DeleteOldestRecordings = %v, want [%s] (pending and s3 stay)", got, third.ID)
	}
	if rs, err := s.DeleteOldestRecordings(ctx, "local", 10); err != nil || len(rs) != 0 {
		t.Errorf("DeleteOldestRecordings with none left = %v, %v", recordingIDs(rs), err)
	}

	// DeleteRecording: any status; its event's video_url only when it names it.
	e2 := mkEvent(t, s, f, "motion", time.Time{})
	keepURL := "http://hub/elsewhere.mp4"
	noErr(t, "SetEventVideoURL", s.SetEventVideoURL(ctx, e2.ID, keepURL))
	withEvent := mkClip(f, base, 5, "local", &e2.ID)
	got, err := s.DeleteRecording(ctx, withEvent.ID)
	noErr(t, "DeleteRecording", err)
	if got.ID != withEvent.ID || got.ObjectKey == nil || *got.ObjectKey != "recordings/"+withEvent.ID {
		t.Errorf("DeleteRecording = %+v", got)
	}
	if ev, _ := s.Event(ctx, e2.ID); ev.VideoURL == nil || *ev.VideoURL != keepURL {
		t.Errorf("video_url naming another clip was changed: %v", ev.VideoURL)
	}
	_, err = s.DeleteRecording(ctx, pending.ID)
	noErr(t, "DeleteRecording pending", err)
	wantErr(t, "delete twice", second(s.DeleteRecording(ctx, withEvent.ID)), store.ErrNotFound)
	wantErr(t, "delete missing", second(s.DeleteRecording(ctx, missing)), store.ErrNotFound)
	wantErr(t, "delete malformed", second(s.DeleteRecording(ctx, "x")), store.ErrNotFound)
	noErr(t, "the s3 clip stays", second(s.Recording(ctx, s3.ID)))
	if n, err := s.RecordingBytes(ctx, f.user.ID); err != nil || n != 1000 {
		t.Errorf("RecordingBytes after deletions = %d, %v; want 1000", n, err)
	}
}
