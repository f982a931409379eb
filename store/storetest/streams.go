package storetest

import (
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/securecam/securecam/store"
)

func mkStream(t *testing.T, s store.Store, f fixture, created time.Time) store.StreamSession {
	t.Helper()
	ss := store.StreamSession{OwnerUserID: f.user.ID, CameraDeviceID: f.cam.ID, RequesterDeviceID: f.viewer.ID, CreatedAt: created}
	if err := s.CreateStreamSession(t.Context(), &ss, 0); err != nil {
		t.Fatalf("CreateStreamSession: %v", err)
	}
	return ss
}

func streamIDs(ss []store.StreamSession) []string {
	return ids(ss, func(s store.StreamSession) string { return s.ID })
}

func testStreamSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := mkFixture(t, s)
	ss := store.StreamSession{OwnerUserID: f.user.ID, CameraDeviceID: f.cam.ID, RequesterDeviceID: f.viewer.ID,
		Metadata: json.RawMessage(`{"note": "x"}`)}
	noErr(t, "CreateStreamSession", s.CreateStreamSession(ctx, &ss, 0))
	checkV7(t, ss.ID)
	if ss.Status != store.StreamRequested || ss.MediaProvider != store.MediaP2P {
		t.Errorf("new session status %q provider %q, want requested p2p", ss.Status, ss.MediaProvider)
	}
	checkRecent(t, "CreatedAt", ss.CreatedAt)
	checkTime(t, "UpdatedAt", ss.UpdatedAt, ss.CreatedAt)

	got, err := s.StreamSession(ctx, ss.ID)
	noErr(t, "StreamSession", err)
	if got.OwnerUserID != f.user.ID || got.CameraDeviceID != f.cam.ID || got.RequesterDeviceID != f.viewer.ID ||
		got.Status != store.StreamRequested || got.Reason != nil || got.MediaProvider != store.MediaP2P ||
		got.MediaSessionID != nil || got.PublishEndpoint != nil || got.SubscribeEndpoint != nil || got.StreamKey != nil ||
		got.StartedAt != nil || got.EndedAt != nil || !jsonEqual(got.Metadata, ss.Metadata) {
		t.Errorf("StreamSession = %+v, want %+v", got, ss)
	}
	checkTime(t, "read CreatedAt", got.CreatedAt, ss.CreatedAt)

	other := mkFixture(t, s)
	deleted := mkDevice(t, s, f.user.ID, store.RoleViewer)
	if _, err := s.DeleteDevice(ctx, deleted.ID); err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string]store.StreamSession{
		"camera of another user":    {OwnerUserID: f.user.ID, CameraDeviceID: other.cam.ID, RequesterDeviceID: f.viewer.ID},
		"requester of another user": {OwnerUserID: f.user.ID, CameraDeviceID: f.cam.ID, RequesterDeviceID: other.viewer.ID},
		"missing camera":            {OwnerUserID: f.user.ID, CameraDeviceID: missing, RequesterDeviceID: f.viewer.ID},
		"deleted requester":         {OwnerUserID: f.user.ID, CameraDeviceID: f.cam.ID, RequesterDeviceID: deleted.ID},
		"not a uuid":                {OwnerUserID: f.user.ID, CameraDeviceID: "nope", RequesterDeviceID: f.viewer.ID},
	} {
		wantErr(t, name, s.CreateStreamSession(ctx, &bad, 3), store.ErrNotFound)
	}
	wantErr(t, "StreamSession missing", second(s.StreamSession(ctx, missing)), store.ErrNotFound)
	wantErr(t, "StreamSession not a uuid", second(s.StreamSession(ctx, "nope")), store.ErrNotFound)

	// Lists: the owner's sessions, newest first, filtered by camera.
	cam2 := mkDevice(t, s, f.user.ID, store.RoleCamera)
	s2 := store.StreamSession{OwnerUserID: f.user.ID, CameraDeviceID: cam2.ID, RequesterDeviceID: f.viewer.ID}
	noErr(t, "CreateStreamSession second camera", s.CreateStreamSession(ctx, &s2, 0))
	mkStream(t, s, other, time.Time{})
	for _, tt := range []struct {
		name string
		f    store.StreamFilter
		want []string
	}{
		{"all", store.StreamFilter{}, []string{s2.ID, ss.ID}},
		{"camera", store.StreamFilter{CameraDeviceID: f.cam.ID}, []string{ss.ID}},
		{"another user's camera", store.StreamFilter{CameraDeviceID: other.cam.ID}, []string{}},
		{"camera not a uuid", store.StreamFilter{CameraDeviceID: "nope"}, []string{}},
	} {
		list, next, err := s.ListStreamSessions(ctx, f.user.ID, tt.f, store.Page{})
		noErr(t, "ListStreamSessions "+tt.name, err)
		if !slices.Equal(streamIDs(list), tt.want) || next != "" {
			t.Errorf("ListStreamSessions %s = %v (next %q), want %v", tt.name, streamIDs(list), next, tt.want)
		}
	}
	list, next, err := s.ListStreamSessions(ctx, f.user.ID, store.StreamFilter{}, store.Page{Limit: 1})
	noErr(t, "ListStreamSessions page 1", err)
	rest, last, err := s.ListStreamSessions(ctx, f.user.ID, store.StreamFilter{}, store.Page{Limit: 1, Cursor: next})
	noErr(t, "ListStreamSessions page 2", err)
	if !slices.Equal(streamIDs(list), []string{s2.ID}) || !slices.Equal(streamIDs(rest), []string{ss.ID}) || last != "" {
		t.Errorf("pages %v then %v (next %q)", streamIDs(list), streamIDs(rest), last)
	}
	wantErr(t, "foreign cursor", third(s.ListStreamSessions(ctx, f.user.ID, store.StreamFilter{}, store.Page{Cursor: "bm90LWEtdXVpZA"})),
		store.ErrInvalidCursor)
}

func third[A, B any](_ A, _ B, err error) error { return err }

func testStreamTransitions(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := mkFixture(t, s)
	ss := mkStream(t, s, f, time.Time{})
	at := time.Now().Add(time.Second).UTC()

	got, err := s.TransitionStream(ctx, ss.ID, []string{store.StreamRequested, store.StreamWaking}, store.StreamAccepted, "", at)
	noErr(t, "requested → accepted", err)
	if got.Status != store.StreamAccepted || got.Reason != nil || got.StartedAt != nil || got.EndedAt != nil {
		t.Errorf("accepted = %+v", got)
	}
	checkTime(t, "accepted UpdatedAt", got.UpdatedAt, at.Truncate(time.Microsecond))

	// A status not in from changes nothing and returns the session as it is.
	cur, err := s.TransitionStream(ctx, ss.ID, []string{store.StreamRequested}, store.StreamFailed, "declined", at.Add(time.Second))
	wantErr(t, "requested → failed from accepted", err, store.ErrConflict)
	if cur.ID != ss.ID || cur.Status != store.StreamAccepted || cur.Reason != nil {
		t.Errorf("conflict returned %+v, want the accepted session", cur)
	}

	live := at.Add(2 * time.Second)
	got, err = s.TransitionStream(ctx, ss.ID, []string{store.StreamAccepted, store.StreamConnecting}, store.StreamLive, "", live)
	noErr(t, "accepted → live", err)
	if got.Status != store.StreamLive || got.StartedAt == nil {
		t.Fatalf("live = %+v", got)
	}
	checkTime(t, "StartedAt", *got.StartedAt, live.Truncate(time.Microsecond))
	// Live again keeps the first start.
	got, err = s.TransitionStream(ctx, ss.ID, []string{store.StreamLive}, store.StreamLive, "", live.Add(time.Second))
	noErr(t, "live → live", err)
	checkTime(t, "StartedAt after live again", *got.StartedAt, live.Truncate(time.Microsecond))

	end := live.Add(time.Minute)
	got, err = s.TransitionStream(ctx, ss.ID, store.OpenStreamStatuses, store.StreamEnded, "hangup", end)
	noErr(t, "live → ended", err)
	if got.Status != store.StreamEnded || got.Reason == nil || *got.Reason != "hangup" || got.EndedAt == nil || got.Open() {
		t.Fatalf("ended = %+v", got)
	}
	checkTime(t, "EndedAt", *got.EndedAt, end.Truncate(time.Microsecond))
	read, err := s.StreamSession(ctx, ss.ID)
	noErr(t, "StreamSession after end", err)
	if read.Status != store.StreamEnded || *read.Reason != "hangup" || !read.StartedAt.Equal(*got.StartedAt) || !read.EndedAt.Equal(*got.EndedAt) {
		t.Errorf("read back %+v, want %+v", read, got)
	}
	_, err = s.TransitionStream(ctx, ss.ID, store.OpenStreamStatuses, store.StreamFailed, "timeout", end)
	wantErr(t, "end an ended session", err, store.ErrConflict)

	failed := mkStream(t, s, f, time.Time{})
	got, err = s.TransitionStream(ctx, failed.ID, store.OpenStreamStatuses, store.StreamFailed, "declined", end)
	noErr(t, "requested → failed", err)
	if got.Status != store.StreamFailed || got.StartedAt != nil || got.EndedAt == nil || *got.Reason != "declined" {
		t.Errorf("failed = %+v", got)
	}

	wantErr(t, "missing", second(s.TransitionStream(ctx, missing, store.OpenStreamStatuses, store.StreamEnded, "", end)), store.ErrNotFound)
	wantErr(t, "not a uuid", second(s.TransitionStream(ctx, "nope", store.OpenStreamStatuses, store.StreamEnded, "", end)), store.ErrNotFound)

	// Concurrent compare-and-set: exactly one wins.
	race := mkStream(t, s, f, time.Time{})
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_, err := s.TransitionStream(ctx, race.ID, []string{store.StreamRequested}, store.StreamAccepted, "", time.Now())
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, store.ErrConflict):
				t.Errorf("concurrent transition: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d concurrent transitions won, want 1", wins.Load())
	}
}

func testStreamTransitionBatch(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := mkFixture(t, s)
	a, b, c := mkStream(t, s, f, time.Time{}), mkStream(t, s, f, time.Time{}), mkStream(t, s, f, time.Time{})
	at := time.Now().Add(time.Second).UTC()
	accepted := []string{store.StreamRequested}
	setup := []string{store.StreamAccepted, store.StreamConnecting}
	got, err := s.WriteStreams(ctx, transitions(
		store.StreamTransition{ID: a.ID, From: accepted, To: store.StreamAccepted, At: at},
		// In order: a is accepted by the transition before.
		store.StreamTransition{ID: a.ID, From: []string{store.StreamAccepted}, To: store.StreamConnecting, At: at.Add(time.Millisecond)},
		store.StreamTransition{ID: a.ID, From: setup, To: store.StreamLive, At: at.Add(2 * time.Millisecond)},
		// Does not apply, and fails nothing else.
		store.StreamTransition{ID: b.ID, From: []string{store.StreamAccepted}, To: store.StreamConnecting, At: at},
		store.StreamTransition{ID: c.ID, From: store.OpenStreamStatuses, To: store.StreamFailed, Reason: "declined", At: at},
		store.StreamTransition{ID: missing, From: store.OpenStreamStatuses, To: store.StreamFailed, At: at},
		store.StreamTransition{ID: "nope", From: store.OpenStreamStatuses, To: store.StreamFailed, At: at},
	))
	noErr(t, "WriteStreams", err)
	want := []struct {
		id, status string
		applied    bool
	}{
		{a.ID, store.StreamAccepted, true},
		{a.ID, store.StreamConnecting, true},
		{a.ID, store.StreamLive, true},
		{b.ID, store.StreamRequested, false},
		{c.ID, store.StreamFailed, true},
		{"", "", false},
		{"", "", false},
	}
	if len(got) != len(want) {
		t.Fatalf("%d results for %d transitions", len(got), len(want))
	}
	for i, w := range want {
		if got[i].Session.ID != w.id || got[i].Session.Status != w.status || got[i].Applied != w.applied {
			t.Errorf("result %d: %s %s applied %v, want %s %s applied %v", i, got[i].Session.ID, got[i].Session.Status,
				got[i].Applied, w.id, w.status, w.applied)
		}
	}
	if got[2].Session.StartedAt == nil {
		t.Fatal("live without started_at")
	}
	checkTime(t, "StartedAt", *got[2].Session.StartedAt, at.Add(2*time.Millisecond).Truncate(time.Microsecond))
	if r := got[4].Session; r.EndedAt == nil || r.Reason == nil || *r.Reason != "declined" {
		t.Errorf("failed in a batch = %+v", r)
	}
	for _, id := range []string{a.ID, b.ID, c.ID} {
		read, err := s.StreamSession(ctx, id)
		noErr(t, "read back", err)
		if want := map[string]string{a.ID: store.StreamLive, b.ID: store.StreamRequested, c.ID: store.StreamFailed}[id]; read.Status != want {
			t.Errorf("session %s is %s after the batch, want %s", id, read.Status, want)
		}
	}
	empty, err := s.WriteStreams(ctx, nil)
	noErr(t, "empty batch", err)
	if len(empty) != 0 {
		t.Errorf("empty batch answered %d results", len(empty))
	}
	_, err = s.WriteStreams(ctx, transitions(store.StreamTransition{ID: b.ID, To: store.StreamFailed, At: at}))
	if err == nil {
		t.Error("a transition from no status was taken")
	}
}

func transitions(ts ...store.StreamTransition) []store.StreamWrite {
	ws := make([]store.StreamWrite, len(ts))
	for i, t := range ts {
		ws[i].Transition = t
	}
	return ws
}

// testStreamWriteBatch: creations in a batch of WriteStreams, beside transitions, in
// order: the viewer limit counts what the batch created and closed before.
func testStreamWriteBatch(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := mkFixture(t, s)
	cam2 := mkDevice(t, s, f.user.ID, store.RoleCamera)
	open := mkStream(t, s, f, time.Time{})
	mk := func(cam store.Device) *store.StreamSession {
		return &store.StreamSession{OwnerUserID: f.user.ID, CameraDeviceID: cam.ID, RequesterDeviceID: f.viewer.ID}
	}
	at := time.Now().UTC()
	first, cam2s := mk(f.cam), mk(cam2)
	got, err := s.WriteStreams(ctx, []store.StreamWrite{
		{Create: first, MaxOpen: 2},     // the second of f.cam's
		{Create: mk(f.cam), MaxOpen: 2}, // over the limit
		{Create: cam2s, MaxOpen: 2},     // another camera counts apart
		{Transition: store.StreamTransition{ID: open.ID, From: store.OpenStreamStatuses, To: store.StreamFailed, At: at}},
		{Create: mk(f.cam), MaxOpen: 2}, // in the place the transition freed
		{Create: &store.StreamSession{OwnerUserID: f.user.ID, CameraDeviceID: missing, RequesterDeviceID: f.viewer.ID}},
		{Create: &store.StreamSession{OwnerUserID: "nope", CameraDeviceID: f.cam.ID, RequesterDeviceID: f.viewer.ID}},
		{Create: mk(f.cam), MaxOpen: 2}, // over the limit again
	})
	noErr(t, "WriteStreams", err)
	wantErrs := []error{nil, store.ErrLimitReached, nil, nil, nil, store.ErrNotFound, store.ErrNotFound, store.ErrLimitReached}
	if len(got) != len(wantErrs) {
		t.Fatalf("%d results for %d writes", len(got), len(wantErrs))
	}
	for i, want := range wantErrs {
		switch {
		case want == nil && (got[i].Err != nil || !got[i].Applied):
			t.Errorf("write %d: applied %v, %v; want applied", i, got[i].Applied, got[i].Err)
		case want != nil && (!errors.Is(got[i].Err, want) || got[i].Applied):
			t.Errorf("write %d: applied %v, %v; want %v", i, got[i].Applied, got[i].Err, want)
		}
	}
	if first.ID != "" {
		t.Errorf("WriteStreams modified the session it created: id %q", first.ID)
	}
	for _, i := range []int{0, 2, 4} {
		c := got[i].Session
		read, err := s.StreamSession(ctx, c.ID)
		noErr(t, "read back a created session", err)
		if read.Status != store.StreamRequested || c.Status != store.StreamRequested || c.MediaProvider != store.MediaP2P ||
			read.CameraDeviceID != c.CameraDeviceID || c.CreatedAt.IsZero() {
			t.Errorf("created %+v, read back %+v", c, read)
		}
	}
	open2, err := s.OpenStreamSessions(ctx, f.cam.ID)
	noErr(t, "OpenStreamSessions", err)
	if len(open2) != 2 {
		t.Errorf("f.cam has %d open sessions after the batch, want 2", len(open2))
	}

	// Concurrent batches, each creating for two cameras in either order, neither
	// exceed a limit nor deadlock.
	camA, camB := mkDevice(t, s, f.user.ID, store.RoleCamera), mkDevice(t, s, f.user.ID, store.RoleCamera)
	var created [2]atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			cams := []store.Device{camA, camB}
			if i%2 == 1 {
				cams[0], cams[1] = camB, camA
			}
			got, err := s.WriteStreams(ctx, []store.StreamWrite{{Create: mk(cams[0]), MaxOpen: 3}, {Create: mk(cams[1]), MaxOpen: 3}})
			if err != nil {
				t.Errorf("concurrent batch: %v", err)
				return
			}
			for j, r := range got {
				switch {
				case r.Applied && cams[j].ID == camA.ID:
					created[0].Add(1)
				case r.Applied:
					created[1].Add(1)
				case !errors.Is(r.Err, store.ErrLimitReached):
					t.Errorf("concurrent batch: %v", r.Err)
				}
			}
		})
	}
	wg.Wait()
	if created[0].Load() != 3 || created[1].Load() != 3 {
		t.Errorf("concurrent batches created %d and %d, want 3 for each camera", created[0].Load(), created[1].Load())
	}
}

func testStreamLimit(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := mkFixture(t, s)
	newSession := func(viewer store.Device) store.StreamSession {
		return store.StreamSession{OwnerUserID: f.user.ID, CameraDeviceID: f.cam.ID, RequesterDeviceID: viewer.ID}
	}
	a, b, c := newSession(f.viewer), newSession(f.viewer), newSession(f.viewer)
	noErr(t, "first", s.CreateStreamSession(ctx, &a, 2))
	noErr(t, "second", s.CreateStreamSession(ctx, &b, 2))
	wantErr(t, "third over the limit", s.CreateStreamSession(ctx, &c, 2), store.ErrLimitReached)
	if c.ID != "" {
		t.Errorf("refused session got id %q", c.ID)
	}
	// Another camera has its own count; no limit means none.
	cam2 := mkDevice(t, s, f.user.ID, store.RoleCamera)
	d := store.StreamSession{OwnerUserID: f.user.ID, CameraDeviceID: cam2.ID, RequesterDeviceID: f.viewer.ID}
	noErr(t, "other camera", s.CreateStreamSession(ctx, &d, 2))
	noErr(t, "no limit", s.CreateStreamSession(ctx, &c, 0))
	c = newSession(f.viewer)
	// Closed sessions do not count.
	for _, id := range []string{a.ID, b.ID} {
		if _, err := s.TransitionStream(ctx, id, store.OpenStreamStatuses, store.StreamFailed, "timeout", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	noErr(t, "after two closed", s.CreateStreamSession(ctx, &c, 2))

	// Concurrent requests cannot exceed the limit.
	cam3 := mkDevice(t, s, f.user.ID, store.RoleCamera)
	var created, refused atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			x := store.StreamSession{OwnerUserID: f.user.ID, CameraDeviceID: cam3.ID, RequesterDeviceID: f.viewer.ID}
			err := s.CreateStreamSession(ctx, &x, 3)
			switch {
			case err == nil:
				created.Add(1)
			case errors.Is(err, store.ErrLimitReached):
				refused.Add(1)
			default:
				t.Errorf("concurrent create: %v", err)
			}
		})
	}
	wg.Wait()
	if created.Load() != 3 || refused.Load() != 5 {
		t.Errorf("concurrent creates: %d created, %d refused, want 3 and 5", created.Load(), refused.Load())
	}
}

// testStreamProvider: relayed sessions do not count against the camera's limit of
// uploads, and SwitchStreamProvider moves an open session between providers (a
// switch to p2p under that limit).
func testStreamProvider(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := mkFixture(t, s)
	mk := func(provider string, limit int) (store.StreamSession, error) {
		ss := store.StreamSession{OwnerUserID: f.user.ID, CameraDeviceID: f.cam.ID, RequesterDeviceID: f.viewer.ID, MediaProvider: provider}
		return ss, s.CreateStreamSession(ctx, &ss, limit)
	}
	p2p, err := mk(store.MediaP2P, 1)
	noErr(t, "p2p", err)
	relayed, err := mk(store.MediaRelay, 1)
	noErr(t, "relayed beside a full p2p limit", err)
	if relayed.MediaProvider != store.MediaRelay {
		t.Fatalf("created relayed session: provider %q", relayed.MediaProvider)
	}
	wantErr(t, "second p2p", second(mk(store.MediaP2P, 1)), store.ErrLimitReached)

	// Back to p2p: refused while the camera uploads its maximum, allowed after.
	at := time.Now()
	cur, err := s.SwitchStreamProvider(ctx, relayed.ID, store.MediaRelay, store.MediaP2P, 1, at)
	wantErr(t, "switch to p2p over the limit", err, store.ErrLimitReached)
	if cur.MediaProvider != store.MediaRelay {
		t.Errorf("refused switch left provider %q", cur.MediaProvider)
	}
	wantErr(t, "switch from the wrong provider", second(s.SwitchStreamProvider(ctx, relayed.ID, store.MediaP2P, store.MediaRelay, 0, at)), store.ErrConflict)
	_, err = s.TransitionStream(ctx, p2p.ID, store.OpenStreamStatuses, store.StreamFailed, "timeout", at)
	noErr(t, "close p2p", err)
	cur, err = s.SwitchStreamProvider(ctx, relayed.ID, store.MediaRelay, store.MediaP2P, 1, at)
	noErr(t, "switch to p2p", err)
	got, err := s.StreamSession(ctx, relayed.ID)
	noErr(t, "StreamSession", err)
	if cur.MediaProvider != store.MediaP2P || got.MediaProvider != store.MediaP2P || got.Status != store.StreamRequested {
		t.Errorf("after the switch: returned %+v, stored %+v", cur, got)
	}
	// Now it counts.
	wantErr(t, "p2p after the switch", second(mk(store.MediaP2P, 1)), store.ErrLimitReached)

	// A closed session, a media session and a missing one are not switched.
	_, err = s.TransitionStream(ctx, relayed.ID, store.OpenStreamStatuses, store.StreamFailed, "timeout", at)
	noErr(t, "close", err)
	wantErr(t, "switch closed", second(s.SwitchStreamProvider(ctx, relayed.ID, store.MediaP2P, store.MediaRelay, 0, at)), store.ErrConflict)
	id := "0190b6a0-0000-7000-8000-0000000000aa"
	media := store.StreamSession{ID: id, OwnerUserID: f.user.ID, CameraDeviceID: f.cam.ID, RequesterDeviceID: f.cam.ID,
		Status: store.StreamLive, MediaProvider: store.MediaRelay, MediaSessionID: &id}
	noErr(t, "media session", s.CreateStreamSession(ctx, &media, 0))
	wantErr(t, "switch a media session", second(s.SwitchStreamProvider(ctx, media.ID, store.MediaRelay, store.MediaP2P, 0, at)), store.ErrConflict)
	wantErr(t, "switch missing", second(s.SwitchStreamProvider(ctx, "0190b6a0-0000-7000-8000-0000000000ab", store.MediaRelay, store.MediaP2P, 0, at)), store.ErrNotFound)
}

func testOpenStreamSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := mkFixture(t, s)
	v2 := mkDevice(t, s, f.user.ID, store.RoleViewer)
	cam2 := mkDevice(t, s, f.user.ID, store.RoleCamera)
	a := mkStream(t, s, f, time.Time{})
	ended := mkStream(t, s, f, time.Time{})
	if _, err := s.TransitionStream(ctx, ended.ID, store.OpenStreamStatuses, store.StreamFailed, "declined", time.Now()); err != nil {
		t.Fatal(err)
	}
	b := mkStream(t, s, fixture{user: f.user, cam: f.cam, viewer: v2}, time.Time{})
	c := mkStream(t, s, fixture{user: f.user, cam: cam2, viewer: f.viewer}, time.Time{})
	for _, tt := range []struct {
		name, device string
		want         []string
	}{
		{"camera", f.cam.ID, []string{a.ID, b.ID}},
		{"viewer", f.viewer.ID, []string{a.ID, c.ID}},
		{"second viewer", v2.ID, []string{b.ID}},
		{"unknown", missing, nil},
		{"not a uuid", "nope", nil},
	} {
		got, err := s.OpenStreamSessions(ctx, tt.device)
		noErr(t, "OpenStreamSessions "+tt.name, err)
		if !slices.Equal(streamIDs(got), tt.want) {
			t.Errorf("OpenStreamSessions %s = %v, want %v", tt.name, streamIDs(got), tt.want)
		}
	}
}

func testExpireStreamSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := mkFixture(t, s)
	now := time.Now().UTC()
	old := mkStream(t, s, f, now.Add(-time.Minute))
	fresh := mkStream(t, s, f, now)
	oldAccepted := mkStream(t, s, f, now.Add(-time.Minute))
	if _, err := s.TransitionStream(ctx, oldAccepted.ID, []string{store.StreamRequested}, store.StreamAccepted, "", now.Add(-30*time.Second)); err != nil {
		t.Fatal(err)
	}
	oldWaking := mkStream(t, s, f, now.Add(-time.Minute))
	if _, err := s.TransitionStream(ctx, oldWaking.ID, []string{store.StreamRequested}, store.StreamWaking, "", now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}

	deadlines := []store.StreamDeadline{
		{Status: store.StreamRequested, Before: now.Add(-10 * time.Second), Reason: "timeout"},
		{Status: store.StreamWaking, Before: now.Add(-10 * time.Second), Reason: "camera_unreachable"},
		// The accepted one changed 30 s ago: within this deadline.
		{Status: store.StreamAccepted, Before: now.Add(-40 * time.Second), Reason: "timeout"},
	}
	got, err := s.ExpireStreamSessions(ctx, deadlines, now)
	noErr(t, "ExpireStreamSessions", err)
	if !slices.Equal(sorted(streamIDs(got)), sorted([]string{old.ID, oldWaking.ID})) {
		t.Fatalf("expired %v, want %v", streamIDs(got), []string{old.ID, oldWaking.ID})
	}
	for _, ss := range got {
		want := "timeout"
		if ss.ID == oldWaking.ID {
			want = "camera_unreachable"
		}
		if ss.Status != store.StreamFailed || ss.Reason == nil || *ss.Reason != want || ss.EndedAt == nil {
			t.Errorf("expired %+v, want failed with %s", ss, want)
		}
		checkTime(t, "EndedAt", *ss.EndedAt, now.Truncate(time.Microsecond))
	}
	for _, id := range []string{fresh.ID, oldAccepted.ID} {
		ss, err := s.StreamSession(ctx, id)
		noErr(t, "StreamSession", err)
		if !ss.Open() {
			t.Errorf("session %s within its deadline is %s", id, ss.Status)
		}
	}
	again, err := s.ExpireStreamSessions(ctx, deadlines, now)
	noErr(t, "ExpireStreamSessions again", err)
	if len(again) != 0 {
		t.Errorf("second sweep expired %v again", streamIDs(again))
	}

	// Concurrent sweeps: each session is returned once.
	var wantIDs []string
	for range 5 {
		wantIDs = append(wantIDs, mkStream(t, s, f, now.Add(-time.Minute)).ID)
	}
	all := concurrently(t, "concurrent expire", func() ([]store.StreamSession, error) {
		return s.ExpireStreamSessions(ctx, deadlines[:1], now)
	})
	if !slices.Equal(sorted(all), sorted(wantIDs)) {
		t.Errorf("concurrent sweeps returned %v, want each of %v once", all, wantIDs)
	}
}

func testOrphanStreamSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mkUser(t, s)
	now := time.Now().UTC()
	before := now.Add(-10 * time.Second)
	dev := func(role string, online bool) store.Device {
		d := mkDevice(t, s, u.ID, role)
		status := store.DeviceOffline
		if online {
			status = store.DeviceOnline
		}
		noErr(t, "SetDevicePresence", s.SetDevicePresence(ctx, d.ID, status, now))
		return d
	}
	provider := store.MediaP2P
	session := func(cam, viewer store.Device, status string, changed time.Time) store.StreamSession {
		ss := store.StreamSession{OwnerUserID: u.ID, CameraDeviceID: cam.ID, RequesterDeviceID: viewer.ID,
			Status: status, CreatedAt: changed, MediaProvider: provider}
		noErr(t, "CreateStreamSession", s.CreateStreamSession(ctx, &ss, 0))
		return ss
	}
	camOn, camOff := dev(store.RoleCamera, true), dev(store.RoleCamera, false)
	viewOn, viewOff := dev(store.RoleViewer, true), dev(store.RoleViewer, false)
	old := now.Add(-time.Minute)

	keep := []store.StreamSession{
		session(camOn, viewOn, store.StreamLive, old),    // both online
		session(camOff, viewOn, store.StreamWaking, old), // a waking camera is offline by design
		session(camOn, viewOff, store.StreamLive, now),   // changed after the cut-off
		session(camOff, viewOff, store.StreamEnded, old), // already over
		session(camOn, viewOn, store.StreamRequested, now.Add(-5*time.Second)),
	}
	provider = store.MediaRelay
	keep = append(keep, session(camOff, viewOn, store.StreamLive, old)) // a relayed session's camera is no party
	relayedOrphan := session(camOn, viewOff, store.StreamLive, old)
	provider = store.MediaP2P
	liveOrphan := session(camOn, viewOff, store.StreamLive, old)
	acceptedOrphan := session(camOff, viewOn, store.StreamAccepted, old)
	gone := dev(store.RoleViewer, true)
	goneOrphan := session(camOn, gone, store.StreamConnecting, old)
	if _, err := s.DeleteDevice(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}

	got, err := s.EndOrphanStreamSessions(ctx, before, "disconnected", now)
	noErr(t, "EndOrphanStreamSessions", err)
	want := []string{liveOrphan.ID, acceptedOrphan.ID, goneOrphan.ID, relayedOrphan.ID}
	if !slices.Equal(sorted(streamIDs(got)), sorted(want)) {
		t.Fatalf("orphans %v, want %v", streamIDs(got), want)
	}
	for _, ss := range got {
		status := store.StreamFailed
		if ss.ID == liveOrphan.ID || ss.ID == relayedOrphan.ID {
			status = store.StreamEnded
		}
		if ss.Status != status || ss.Reason == nil || *ss.Reason != "disconnected" || ss.EndedAt == nil {
			t.Errorf("orphan %+v, want %s disconnected", ss, status)
		}
	}
	for _, k := range keep {
		ss, err := s.StreamSession(ctx, k.ID)
		noErr(t, "StreamSession", err)
		if ss.Status != k.Status {
			t.Errorf("session %s (%s) became %s", k.ID, k.Status, ss.Status)
		}
	}
	again, err := s.EndOrphanStreamSessions(ctx, before, "disconnected", now)
	noErr(t, "EndOrphanStreamSessions again", err)
	if len(again) != 0 {
		t.Errorf("second sweep ended %v again", streamIDs(again))
	}
}

func testStreamPartyAway(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := mkFixture(t, s)
	now := time.Now().UTC()
	ss := store.StreamSession{OwnerUserID: f.user.ID, CameraDeviceID: f.cam.ID, RequesterDeviceID: f.viewer.ID,
		Status: store.StreamLive, CreatedAt: now.Add(-time.Hour)}
	noErr(t, "CreateStreamSession", s.CreateStreamSession(ctx, &ss, 0))

	// The camera goes away; again later: the first time stays.
	got, err := s.SetStreamPartyAway(ctx, ss.ID, f.cam.ID, true, now.Add(-20*time.Second))
	noErr(t, "SetStreamPartyAway camera", err)
	if got.CameraAwayAt == nil || got.RequesterAwayAt != nil || got.Status != store.StreamLive {
		t.Fatalf("after the camera went away: %+v", got)
	}
	checkTime(t, "CameraAwayAt", *got.CameraAwayAt, now.Add(-20*time.Second).Truncate(time.Microsecond))
	checkTime(t, "UpdatedAt", got.UpdatedAt, now.Add(-20*time.Second).Truncate(time.Microsecond))
	got, err = s.SetStreamPartyAway(ctx, ss.ID, f.cam.ID, true, now.Add(-10*time.Second))
	noErr(t, "SetStreamPartyAway camera again", err)
	checkTime(t, "CameraAwayAt kept", *got.CameraAwayAt, now.Add(-20*time.Second).Truncate(time.Microsecond))
	// The viewer too, then the camera comes back.
	got, err = s.SetStreamPartyAway(ctx, ss.ID, f.viewer.ID, true, now.Add(-5*time.Second))
	noErr(t, "SetStreamPartyAway viewer", err)
	if got.CameraAwayAt == nil || got.RequesterAwayAt == nil {
		t.Fatalf("after both went away: %+v", got)
	}
	got, err = s.SetStreamPartyAway(ctx, ss.ID, f.cam.ID, false, now)
	noErr(t, "SetStreamPartyAway camera back", err)
	if got.CameraAwayAt != nil || got.RequesterAwayAt == nil {
		t.Fatalf("after the camera came back: %+v", got)
	}
	checkTime(t, "UpdatedAt after coming back", got.UpdatedAt, now.Truncate(time.Microsecond))
	read, err := s.StreamSession(ctx, ss.ID)
	noErr(t, "StreamSession", err)
	if read.CameraAwayAt != nil || read.RequesterAwayAt == nil || !read.RequesterAwayAt.Equal(*got.RequesterAwayAt) {
		t.Errorf("read back %+v, want the viewer away only", read)
	}

	// Coming back leaves a setup step's deadline (updated_at) alone.
	setup := mkStream(t, s, f, now.Add(-time.Minute))
	_, err = s.SetStreamPartyAway(ctx, setup.ID, f.viewer.ID, true, now.Add(-40*time.Second))
	noErr(t, "SetStreamPartyAway setup", err)
	got, err = s.SetStreamPartyAway(ctx, setup.ID, f.viewer.ID, false, now)
	noErr(t, "SetStreamPartyAway setup back", err)
	checkTime(t, "setup UpdatedAt", got.UpdatedAt, now.Add(-40*time.Second).Truncate(time.Microsecond))

	// Not a party, no such session, a closed session.
	other := mkDevice(t, s, f.user.ID, store.RoleViewer)
	if _, err := s.SetStreamPartyAway(ctx, ss.ID, other.ID, true, now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("another device: %v, want ErrNotFound", err)
	}
	if _, err := s.SetStreamPartyAway(ctx, "0190a7a4-0000-7000-8000-000000000000", f.cam.ID, true, now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("no such session: %v, want ErrNotFound", err)
	}
	_, err = s.TransitionStream(ctx, ss.ID, []string{store.StreamLive}, store.StreamEnded, "hangup", now)
	noErr(t, "TransitionStream", err)
	closed, err := s.SetStreamPartyAway(ctx, ss.ID, f.viewer.ID, false, now)
	if !errors.Is(err, store.ErrConflict) || closed.Status != store.StreamEnded {
		t.Errorf("closed session: %v %+v, want ErrConflict with the ended session", err, closed)
	}
}

func testAbandonedStreamSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := mkFixture(t, s)
	now := time.Now().UTC()
	before := now.Add(-30 * time.Second)
	session := func(status string, camAway, viewAway time.Duration) store.StreamSession {
		ss := store.StreamSession{OwnerUserID: f.user.ID, CameraDeviceID: f.cam.ID, RequesterDeviceID: f.viewer.ID,
			Status: status, CreatedAt: now.Add(-time.Hour)}
		noErr(t, "CreateStreamSession", s.CreateStreamSession(ctx, &ss, 0))
		for dev, ago := range map[string]time.Duration{f.cam.ID: camAway, f.viewer.ID: viewAway} {
			if ago > 0 {
				_, err := s.SetStreamPartyAway(ctx, ss.ID, dev, true, now.Add(-ago))
				noErr(t, "SetStreamPartyAway", err)
			}
		}
		return ss
	}
	keep := []store.StreamSession{
		session(store.StreamLive, 0, 0),              // nobody away
		session(store.StreamLive, 10*time.Second, 0), // within the grace period
		session(store.StreamLive, 0, 29*time.Second), // within it too
		session(store.StreamConnecting, 0, 0),        // nobody away
		session(store.StreamLive, 20*time.Second, 20*time.Second),
	}
	liveCam := session(store.StreamLive, time.Minute, 0)
	liveViewer := session(store.StreamLive, 5*time.Second, 31*time.Second)
	connecting := session(store.StreamConnecting, 0, time.Minute)
	// Away too long, but back since: kept.
	back := session(store.StreamLive, time.Minute, 0)
	_, err := s.SetStreamPartyAway(ctx, back.ID, f.cam.ID, false, now)
	noErr(t, "SetStreamPartyAway back", err)
	keep = append(keep, back)

	// An abandoned session is no orphan: the orphan sweep leaves it to this one,
	// though both parties are recorded offline.
	noErr(t, "SetDevicePresence", s.SetDevicePresence(ctx, f.cam.ID, store.DeviceOffline, now))
	noErr(t, "SetDevicePresence", s.SetDevicePresence(ctx, f.viewer.ID, store.DeviceOffline, now))
	orphans, err := s.EndOrphanStreamSessions(ctx, now, "disconnected", now)
	noErr(t, "EndOrphanStreamSessions", err)
	wantOrphans := []string{keep[0].ID, keep[3].ID, back.ID} // nobody marked away
	if !slices.Equal(sorted(streamIDs(orphans)), sorted(wantOrphans)) {
		t.Fatalf("orphans %v, want only the sessions without an away mark %v", streamIDs(orphans), wantOrphans)
	}
	keep = slices.DeleteFunc(keep, func(ss store.StreamSession) bool { return slices.Contains(wantOrphans, ss.ID) })

	got, err := s.EndAbandonedStreamSessions(ctx, before, "disconnected", now)
	noErr(t, "EndAbandonedStreamSessions", err)
	want := []string{liveCam.ID, liveViewer.ID, connecting.ID}
	if !slices.Equal(sorted(streamIDs(got)), sorted(want)) {
		t.Fatalf("abandoned %v, want %v", streamIDs(got), want)
	}
	for _, ss := range got {
		status := store.StreamEnded
		if ss.ID == connecting.ID {
			status = store.StreamFailed
		}
		if ss.Status != status || ss.Reason == nil || *ss.Reason != "disconnected" || ss.EndedAt == nil {
			t.Errorf("abandoned %+v, want %s disconnected", ss, status)
		}
		checkTime(t, "EndedAt", *ss.EndedAt, now.Truncate(time.Microsecond))
	}
	for _, k := range keep {
		ss, err := s.StreamSession(ctx, k.ID)
		noErr(t, "StreamSession", err)
		if !ss.Open() {
			t.Errorf("session %s within the grace period is %s", k.ID, ss.Status)
		}
	}
	again, err := s.EndAbandonedStreamSessions(ctx, before, "disconnected", now)
	noErr(t, "EndAbandonedStreamSessions again", err)
	if len(again) != 0 {
		t.Errorf("second sweep ended %v again", streamIDs(again))
	}

	// Concurrent sweeps: each session is returned once.
	var wantIDs []string
	for range 5 {
		wantIDs = append(wantIDs, session(store.StreamLive, time.Minute, 0).ID)
	}
	all := concurrently(t, "concurrent sweep", func() ([]store.StreamSession, error) {
		return s.EndAbandonedStreamSessions(ctx, before, "disconnected", now)
	})
	if !slices.Equal(sorted(all), sorted(wantIDs)) {
		t.Errorf("concurrent sweeps returned %v, want each of %v once", all, wantIDs)
	}
}

func testMarkStreamPartiesAway(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := mkFixture(t, s)
	now := time.Now().UTC()
	session := func(status string) store.StreamSession {
		ss := store.StreamSession{OwnerUserID: f.user.ID, CameraDeviceID: f.cam.ID, RequesterDeviceID: f.viewer.ID,
			Status: status, CreatedAt: now.Add(-time.Hour)}
		noErr(t, "CreateStreamSession", s.CreateStreamSession(ctx, &ss, 0))
		return ss
	}
	live := session(store.StreamLive)
	camGone := session(store.StreamLive)
	_, err := s.SetStreamPartyAway(ctx, camGone.ID, f.cam.ID, true, now.Add(-10*time.Second))
	noErr(t, "SetStreamPartyAway", err)
	connecting := session(store.StreamConnecting)
	ended := session(store.StreamEnded)

	noErr(t, "MarkStreamPartiesAway", s.MarkStreamPartiesAway(ctx, now))
	want := map[string][2]*time.Time{ // camera, viewer away since
		live.ID:       {ptr(now), ptr(now)},
		camGone.ID:    {ptr(now.Add(-10 * time.Second)), ptr(now)},
		connecting.ID: {nil, nil},
		ended.ID:      {nil, nil},
	}
	for id, w := range want {
		ss, err := s.StreamSession(ctx, id)
		noErr(t, "StreamSession", err)
		for i, got := range []*time.Time{ss.CameraAwayAt, ss.RequesterAwayAt} {
			switch {
			case (got == nil) != (w[i] == nil):
				t.Errorf("session %s (%s) party %d away since %v, want %v", id, ss.Status, i, got, w[i])
			case got != nil:
				checkTime(t, "away since", *got, w[i].Truncate(time.Microsecond))
			}
		}
	}
	// Within the grace period they are no orphans (the parties are offline), and
	// past it they are abandoned.
	orphans, err := s.EndOrphanStreamSessions(ctx, now, "disconnected", now)
	noErr(t, "EndOrphanStreamSessions", err)
	if slices.Contains(streamIDs(orphans), live.ID) {
		t.Errorf("the marked live session was ended as an orphan")
	}
	abandoned, err := s.EndAbandonedStreamSessions(ctx, now, "disconnected", now)
	noErr(t, "EndAbandonedStreamSessions", err)
	if !slices.Equal(sorted(streamIDs(abandoned)), sorted([]string{live.ID, camGone.ID})) {
		t.Errorf("abandoned %v, want the two live sessions", streamIDs(abandoned))
	}
}

func ptr[T any](v T) *T { return &v }

func testWakingStreamSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b, other := mkFixture(t, s), mkFixture(t, s), mkFixture(t, s)
	base := time.Now().UTC().Add(-time.Minute)
	waking := func(f fixture, created time.Time) store.StreamSession {
		ss := mkStream(t, s, f, created)
		ss, err := s.TransitionStream(ctx, ss.ID, []string{store.StreamRequested}, store.StreamWaking, "", created)
		noErr(t, "requested → waking", err)
		return ss
	}
	b1 := waking(b, base)
	a1 := waking(a, base.Add(time.Second))
	mkStream(t, s, a, base.Add(2*time.Second)) // requested: handed over already
	waking(other, base.Add(3*time.Second))     // a camera not asked about

	got, err := s.WakingStreamSessions(ctx, []string{a.cam.ID, b.cam.ID, a.viewer.ID, missing, "x"})
	noErr(t, "WakingStreamSessions", err)
	if want := []string{b1.ID, a1.ID}; !slices.Equal(streamIDs(got), want) {
		t.Errorf("WakingStreamSessions = %v, want %v (oldest first; waking only; only the cameras asked about)", streamIDs(got), want)
	}
	none, err := s.WakingStreamSessions(ctx, nil)
	noErr(t, "WakingStreamSessions of nothing", err)
	if len(none) != 0 {
		t.Errorf("WakingStreamSessions(nil) = %v", none)
	}
}

// testMediaSessions: a camera's publication to a media server is a session the
// peer-to-peer queries and sweeps leave alone; the node holding it finds it by
// camera and ends what it held when it starts again.
func testMediaSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := mkFixture(t, s)
	if _, err := s.OpenMediaSession(ctx, f.cam.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("OpenMediaSession without one: %v, want ErrNotFound", err)
	}
	mk := func(node string) store.StreamSession {
		id, pub, sub := "9b2f6f3e-0000-4000-8000-"+node[len(node)-12:], node+"/api/v1/whip/x", node+"/api/v1/whep/"+f.cam.ID
		ss := store.StreamSession{OwnerUserID: f.user.ID, CameraDeviceID: f.cam.ID, RequesterDeviceID: f.cam.ID,
			Status: store.StreamLive, MediaProvider: store.MediaRelay, MediaSessionID: &id,
			PublishEndpoint: &pub, SubscribeEndpoint: &sub}
		if err := s.CreateStreamSession(ctx, &ss, 0); err != nil {
			t.Fatalf("CreateStreamSession media: %v", err)
		}
		return ss
	}
	a := mk("http://10.0.0.1:8080-aaaaaaaaaaaa")
	// The open-session limit of the peer-to-peer flow does not count media
	// sessions.
	p2p := store.StreamSession{OwnerUserID: f.user.ID, CameraDeviceID: f.cam.ID, RequesterDeviceID: f.viewer.ID}
	noErr(t, "CreateStreamSession p2p with limit 1", s.CreateStreamSession(ctx, &p2p, 1))
	got, err := s.OpenMediaSession(ctx, f.cam.ID)
	noErr(t, "OpenMediaSession", err)
	if got.ID != a.ID || got.MediaProvider != store.MediaRelay || got.SubscribeEndpoint == nil || *got.SubscribeEndpoint != *a.SubscribeEndpoint {
		t.Fatalf("OpenMediaSession = %+v, want %s", got, a.ID)
	}
	open, err := s.OpenStreamSessions(ctx, f.cam.ID)
	noErr(t, "OpenStreamSessions", err)
	if !slices.Equal(streamIDs(open), []string{p2p.ID}) {
		t.Fatalf("OpenStreamSessions = %v, want only the p2p session %s", streamIDs(open), p2p.ID)
	}
	later := time.Now().Add(time.Hour)
	noErr(t, "MarkStreamPartiesAway", s.MarkStreamPartiesAway(ctx, time.Now()))
	for name, sweep := range map[string]func() ([]store.StreamSession, error){
		"orphans": func() ([]store.StreamSession, error) {
			return s.EndOrphanStreamSessions(ctx, later, "disconnected", later)
		},
		"abandoned": func() ([]store.StreamSession, error) {
			return s.EndAbandonedStreamSessions(ctx, later, "disconnected", later)
		},
	} {
		ended, err := sweep()
		noErr(t, name, err)
		if slices.Contains(streamIDs(ended), a.ID) {
			t.Fatalf("sweep %s ended the media session", name)
		}
	}
	b := mk("http://10.0.0.2:8080-bbbbbbbbbbbb")
	ended, err := s.EndMediaSessions(ctx, "http://10.0.0.1:8080-aaaaaaaaaaaa", "node_restarted", time.Now())
	noErr(t, "EndMediaSessions", err)
	if !slices.Equal(streamIDs(ended), []string{a.ID}) || ended[0].Status != store.StreamEnded {
		t.Fatalf("EndMediaSessions = %v, want %s ended", streamIDs(ended), a.ID)
	}
	got, err = s.OpenMediaSession(ctx, f.cam.ID)
	noErr(t, "OpenMediaSession after", err)
	if got.ID != b.ID {
		t.Fatalf("OpenMediaSession = %s, want the other node's %s", got.ID, b.ID)
	}
}

// concurrently runs sweep from four goroutines at once, as replicas do, and returns
// the ids of every session the calls returned.
func concurrently(t *testing.T, what string, sweep func() ([]store.StreamSession, error)) []string {
	t.Helper()
	var mu sync.Mutex
	var all []string
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			got, err := sweep()
			if err != nil {
				t.Errorf("%s: %v", what, err)
				return
			}
			mu.Lock()
			all = append(all, streamIDs(got)...)
			mu.Unlock()
		})
	}
	wg.Wait()
	return all
}
