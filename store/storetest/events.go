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

func mkEvent(t *testing.T, s store.Store, f fixture, trigger string, created time.Time) store.Event {
	t.Helper()
	e := store.Event{UserID: f.user.ID, DeviceID: f.cam.ID, Title: "Motion", TriggeredBy: trigger, CreatedAt: created}
	if err := s.CreateEvent(t.Context(), &e); err != nil {
		t.Fatalf("CreateEvent: %v", err)
	}
	return e
}

func mkDelivery(t *testing.T, s store.Store, f fixture, typ string, created time.Time) store.Delivery {
	t.Helper()
	d := store.Delivery{OwnerUserID: f.user.ID, RecipientDeviceID: f.viewer.ID, Type: typ,
		Payload: json.RawMessage(`{"securecam":{"type":"wake","reason":"command"}}`), CreatedAt: created,
		ExpiresAt: created.Add(time.Hour)}
	ok, err := s.EnqueueDelivery(t.Context(), &d, 0)
	if err != nil || !ok {
		t.Fatalf("EnqueueDelivery: inserted=%v err=%v", ok, err)
	}
	return d
}

func eventIDs(es []store.Event) []string {
	return ids(es, func(e store.Event) string { return e.ID })
}
func notificationIDs(ns []store.Notification) []string {
	return ids(ns, func(n store.Notification) string { return n.ID })
}
func deliveryIDs(ds []store.Delivery) []string {
	return ids(ds, func(d store.Delivery) string { return d.ID })
}
func recordingIDs(rs []store.Recording) []string {
	return ids(rs, func(r store.Recording) string { return r.ID })
}

func testEvents(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := mkFixture(t, s)
	started := time.Date(2025, 3, 1, 10, 0, 0, 123456789, time.UTC)
	e := store.Event{UserID: f.user.ID, DeviceID: f.cam.ID, Title: "Motion at the door", TriggeredBy: "motion",
		StartedAt: started, Status: ""}
	noErr(t, "CreateEvent", s.CreateEvent(ctx, &e))
	checkV7(t, e.ID)
	if e.Status != store.EventActive || e.EndedAt != nil || e.NotifiedAt != nil || e.VideoURL != nil {
		t.Errorf("new event %+v, want active with no end, notification or video", e)
	}
	checkTime(t, "StartedAt", e.StartedAt, started.Truncate(time.Microsecond))
	checkRecent(t, "CreatedAt", e.CreatedAt)

	got, err := s.Event(ctx, e.ID)
	noErr(t, "Event", err)
	if got.UserID != f.user.ID || got.DeviceID != f.cam.ID || got.Title != e.Title || got.TriggeredBy != "motion" ||
		got.Status != store.EventActive {
		t.Errorf("Event = %+v, want %+v", got, e)
	}
	checkTime(t, "read StartedAt", got.StartedAt, e.StartedAt)

	// No StartedAt: the creation time.
	now := mkEvent(t, s, f, "sound", time.Time{})
	checkTime(t, "default StartedAt", now.StartedAt, now.CreatedAt)

	other := mkFixture(t, s)
	for name, ev := range map[string]store.Event{
		"another user's camera": {UserID: f.user.ID, DeviceID: other.cam.ID},
		"missing device":        {UserID: f.user.ID, DeviceID: missing},
		"missing user":          {UserID: missing, DeviceID: f.cam.ID},
		"device not a uuid":     {UserID: f.user.ID, DeviceID: "cam"},
	} {
		ev.Title, ev.TriggeredBy = "x", "motion"
		wantErr(t, name, s.CreateEvent(ctx, &ev), store.ErrNotFound)
	}
	wantErr(t, "Event missing", second(s.Event(ctx, missing)), store.ErrNotFound)

	// Lists: newest first, by device and since, scoped to the user.
	cam2 := mkDevice(t, s, f.user.ID, store.RoleCamera)
	e2 := store.Event{UserID: f.user.ID, DeviceID: cam2.ID, Title: "Other camera", TriggeredBy: "motion"}
	noErr(t, "CreateEvent cam2", s.CreateEvent(ctx, &e2))
	mkEvent(t, s, other, "motion", time.Time{})
	items, next, err := s.ListEvents(ctx, f.user.ID, store.EventFilter{}, store.Page{})
	noErr(t, "ListEvents", err)
	if want := []string{e2.ID, now.ID, e.ID}; !slices.Equal(eventIDs(items), want) || next != "" {
		t.Errorf("ListEvents = %v next %q, want %v", eventIDs(items), next, want)
	}
	items, _, err = s.ListEvents(ctx, f.user.ID, store.EventFilter{DeviceID: f.cam.ID}, store.Page{})
	noErr(t, "ListEvents by device", err)
	if want := []string{now.ID, e.ID}; !slices.Equal(eventIDs(items), want) {
		t.Errorf("ListEvents by device = %v, want %v", eventIDs(items), want)
	}
	items, _, err = s.ListEvents(ctx, f.user.ID, store.EventFilter{DeviceID: f.cam.ID, Since: started.Add(time.Second)}, store.Page{})
	noErr(t, "ListEvents since", err)
	if want := []string{now.ID}; !slices.Equal(eventIDs(items), want) {
		t.Errorf("ListEvents since = %v, want %v", eventIDs(items), want)
	}
	items, _, err = s.ListEvents(ctx, f.user.ID, store.EventFilter{TriggeredBy: "sound"}, store.Page{})
	noErr(t, "ListEvents by trigger", err)
	if want := []string{now.ID}; !slices.Equal(eventIDs(items), want) {
		t.Errorf("ListEvents by trigger = %v, want %v", eventIDs(items), want)
	}
	items, _, err = s.ListEvents(ctx, f.user.ID, store.EventFilter{Since: started.Add(-time.Hour), Until: started.Add(time.Second)}, store.Page{})
	noErr(t, "ListEvents since and until", err)
	if want := []string{e.ID}; !slices.Equal(eventIDs(items), want) {
		t.Errorf("ListEvents in [since, until) = %v, want %v", eventIDs(items), want)
	}
	items, next, err = s.ListEvents(ctx, f.user.ID, store.EventFilter{}, store.Page{Limit: 2})
	noErr(t, "ListEvents page 1", err)
	page2, _, err := s.ListEvents(ctx, f.user.ID, store.EventFilter{}, store.Page{Limit: 2, Cursor: next})
	noErr(t, "ListEvents page 2", err)
	if len(items) != 2 || next == "" || !slices.Equal(eventIDs(page2), []string{e.ID}) {
		t.Errorf("pages %v / %v, want 2 then [%s]", eventIDs(items), eventIDs(page2), e.ID)
	}

	// End: once, then unchanged.
	end := started.Add(30 * time.Second)
	ended, err := s.EndEvent(ctx, e.ID, end)
	noErr(t, "EndEvent", err)
	if ended.Status != store.EventEnded || ended.EndedAt == nil {
		t.Fatalf("EndEvent = %+v, want ended", ended)
	}
	checkTime(t, "EndedAt", *ended.EndedAt, end.Truncate(time.Microsecond))
	again, err := s.EndEvent(ctx, e.ID, end.Add(time.Minute))
	noErr(t, "EndEvent again", err)
	checkTime(t, "EndedAt after a second end", *again.EndedAt, end.Truncate(time.Microsecond))
	wantErr(t, "EndEvent missing", second(s.EndEvent(ctx, missing, end)), store.ErrNotFound)

	// Video URL: unique across events.
	noErr(t, "SetEventVideoURL", s.SetEventVideoURL(ctx, e.ID, "https://hub.example/v/"+e.ID))
	got, err = s.Event(ctx, e.ID)
	noErr(t, "Event after video", err)
	if got.VideoURL == nil || *got.VideoURL != "https://hub.example/v/"+e.ID {
		t.Errorf("VideoURL = %v", got.VideoURL)
	}
	wantErr(t, "duplicate video url", s.SetEventVideoURL(ctx, now.ID, "https://hub.example/v/"+e.ID), store.ErrConflict)
	wantErr(t, "SetEventVideoURL missing", s.SetEventVideoURL(ctx, missing, "x"), store.ErrNotFound)
}

func testEventCooldown(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := mkFixture(t, s)
	at := time.Now().UTC()
	cooldown := time.Minute

	first := mkEvent(t, s, f, "motion", time.Time{})
	ok, err := s.ClaimEventNotification(ctx, first.ID, at, cooldown)
	noErr(t, "claim first", err)
	if !ok {
		t.Fatal("first event of a camera not claimed")
	}
	got, err := s.Event(ctx, first.ID)
	noErr(t, "Event", err)
	if got.NotifiedAt == nil {
		t.Fatal("NotifiedAt not set by a claim")
	}
	checkTime(t, "NotifiedAt", *got.NotifiedAt, at.Truncate(time.Microsecond))
	if ok, _ := s.ClaimEventNotification(ctx, first.ID, at.Add(time.Hour), cooldown); ok {
		t.Error("an event was claimed twice")
	}

	tests := []struct {
		name    string
		fix     fixture
		trigger string
		at      time.Time
		want    bool
	}{
		{"same camera and trigger within the cooldown", f, "motion", at.Add(30 * time.Second), false},
		{"other trigger", f, "sound", at.Add(30 * time.Second), true},
		{"other camera", mkFixture(t, s), "motion", at.Add(30 * time.Second), true},
		{"after the cooldown", f, "motion", at.Add(cooldown + time.Second), true},
		{"within the cooldown of the last claim", f, "motion", at.Add(cooldown + 30*time.Second), false},
	}
	for _, tt := range tests {
		e := mkEvent(t, s, tt.fix, tt.trigger, time.Time{})
		ok, err := s.ClaimEventNotification(ctx, e.ID, tt.at, cooldown)
		noErr(t, tt.name, err)
		if ok != tt.want {
			t.Errorf("%s: claimed %v, want %v", tt.name, ok, tt.want)
		}
	}
	_, err = s.ClaimEventNotification(ctx, missing, at, cooldown)
	wantErr(t, "claim missing", err, store.ErrNotFound)

	// A burst from one camera: exactly one claim wins.
	g := mkFixture(t, s)
	var events []store.Event
	for range 8 {
		events = append(events, mkEvent(t, s, g, "motion", time.Time{}))
	}
	var wins atomic.Int32
	var wg sync.WaitGroup
	for _, e := range events {
		wg.Go(func() {
			ok, err := s.ClaimEventNotification(ctx, e.ID, time.Now(), cooldown)
			if err != nil {
				t.Errorf("concurrent claim: %v", err)
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d concurrent claims won, want 1", wins.Load())
	}
}

func testNotifications(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := mkFixture(t, s)
	e := mkEvent(t, s, f, "motion", time.Time{})
	sent := time.Now()
	n1 := store.Notification{EventID: &e.ID, UserID: f.user.ID, SentAt: &sent, Channel: strp(store.ChannelInApp),
		Status: strp(store.NotificationSent)}
	noErr(t, "CreateNotification", s.CreateNotification(ctx, &n1))
	checkV7(t, n1.ID)
	n2 := store.Notification{EventID: &e.ID, UserID: f.user.ID}
	noErr(t, "CreateNotification 2", s.CreateNotification(ctx, &n2))
	other := mkFixture(t, s)
	n3 := store.Notification{UserID: other.user.ID}
	noErr(t, "CreateNotification other user", s.CreateNotification(ctx, &n3))
	wantErr(t, "CreateNotification missing user", s.CreateNotification(ctx, &store.Notification{UserID: missing}), store.ErrNotFound)
	wantErr(t, "CreateNotification missing event", s.CreateNotification(ctx, &store.Notification{UserID: f.user.ID, EventID: strp(missing)}), store.ErrNotFound)

	items, next, err := s.ListNotifications(ctx, f.user.ID, false, store.Page{})
	noErr(t, "ListNotifications", err)
	if want := []string{n2.ID, n1.ID}; !slices.Equal(notificationIDs(items), want) || next != "" {
		t.Fatalf("ListNotifications = %v, want %v", notificationIDs(items), want)
	}
	got := items[1]
	if got.EventID == nil || *got.EventID != e.ID || got.UserID != f.user.ID || got.IsRead ||
		got.Channel == nil || *got.Channel != store.ChannelInApp || got.Status == nil || *got.Status != store.NotificationSent || got.SentAt == nil {
		t.Errorf("notification = %+v, want %+v", got, n1)
	}
	checkTime(t, "SentAt", *got.SentAt, sent.UTC().Truncate(time.Microsecond))

	noErr(t, "MarkNotificationRead", s.MarkNotificationRead(ctx, n1.ID, f.user.ID))
	noErr(t, "MarkNotificationRead again", s.MarkNotificationRead(ctx, n1.ID, f.user.ID))
	wantErr(t, "MarkNotificationRead by another user", s.MarkNotificationRead(ctx, n3.ID, f.user.ID), store.ErrNotFound)
	wantErr(t, "MarkNotificationRead missing", s.MarkNotificationRead(ctx, missing, f.user.ID), store.ErrNotFound)
	unread, _, err := s.ListNotifications(ctx, f.user.ID, true, store.Page{})
	noErr(t, "ListNotifications unread", err)
	if want := []string{n2.ID}; !slices.Equal(notificationIDs(unread), want) {
		t.Errorf("unread = %v, want %v", notificationIDs(unread), want)
	}
	all, _, err := s.ListNotifications(ctx, f.user.ID, false, store.Page{})
	noErr(t, "ListNotifications after read", err)
	if len(all) != 2 || !all[1].IsRead {
		t.Errorf("after read: %+v, want 2 with the older read", all)
	}
}

func testDeliveries(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := mkFixture(t, s)
	base := time.Now().UTC().Truncate(time.Microsecond)
	payload := json.RawMessage(`{"securecam": {"type": "wake", "reason": "command", "device_id": "` + f.viewer.ID + `"}}`)
	d := store.Delivery{OwnerUserID: f.user.ID, RecipientDeviceID: f.viewer.ID, Type: store.DeliveryWake,
		Payload: payload, CreatedAt: base, ExpiresAt: base.Add(time.Minute), Status: "bogus", Attempts: 9}
	ok, err := s.EnqueueDelivery(ctx, &d, 30*time.Second)
	noErr(t, "EnqueueDelivery", err)
	if !ok {
		t.Fatal("first wake not inserted")
	}
	checkV7(t, d.ID)
	if d.Status != store.DeliveryPending || d.Attempts != 0 {
		t.Errorf("new job status %q attempts %d, want pending 0", d.Status, d.Attempts)
	}
	checkTime(t, "NextAttemptAt", d.NextAttemptAt, base)

	got, err := s.Delivery(ctx, d.ID)
	noErr(t, "Delivery", err)
	if got.OwnerUserID != f.user.ID || got.RecipientDeviceID != f.viewer.ID || got.Type != store.DeliveryWake ||
		!jsonEqual(got.Payload, payload) || got.Status != store.DeliveryPending || got.SentAt != nil || got.LastError != nil {
		t.Errorf("Delivery = %+v, want %+v", got, d)
	}
	checkTime(t, "read ExpiresAt", got.ExpiresAt, base.Add(time.Minute))

	// The dedupe window: per recipient and type.
	tests := []struct {
		name    string
		typ     string
		created time.Time
		want    bool
	}{
		{"same type within the window", store.DeliveryWake, base.Add(10 * time.Second), false},
		{"other type", store.DeliveryEvent, base.Add(10 * time.Second), true},
		{"after the window", store.DeliveryWake, base.Add(31 * time.Second), true},
	}
	for _, tt := range tests {
		x := store.Delivery{OwnerUserID: f.user.ID, RecipientDeviceID: f.viewer.ID, Type: tt.typ, Payload: payload,
			CreatedAt: tt.created, ExpiresAt: tt.created.Add(time.Minute)}
		ok, err := s.EnqueueDelivery(ctx, &x, 30*time.Second)
		noErr(t, tt.name, err)
		if ok != tt.want {
			t.Errorf("%s: inserted %v, want %v", tt.name, ok, tt.want)
		}
	}
	other := mkFixture(t, s)
	for name, x := range map[string]store.Delivery{
		"another user's device": {OwnerUserID: f.user.ID, RecipientDeviceID: other.viewer.ID},
		"missing device":        {OwnerUserID: f.user.ID, RecipientDeviceID: missing},
	} {
		x.Type, x.Payload, x.ExpiresAt = store.DeliveryWake, payload, base.Add(time.Minute)
		_, err := s.EnqueueDelivery(ctx, &x, 0)
		wantErr(t, name, err, store.ErrNotFound)
	}
	if _, err := s.EnqueueDelivery(ctx, &store.Delivery{OwnerUserID: f.user.ID, RecipientDeviceID: f.viewer.ID,
		Type: store.DeliveryWake, Payload: payload}, 0); err == nil {
		t.Error("EnqueueDelivery without ExpiresAt succeeded")
	}

	// Concurrent wakes for one device within the window: one job.
	g := mkFixture(t, s)
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			x := store.Delivery{OwnerUserID: g.user.ID, RecipientDeviceID: g.viewer.ID, Type: store.DeliveryWake,
				Payload: payload, ExpiresAt: time.Now().Add(time.Minute)}
			ok, err := s.EnqueueDelivery(ctx, &x, 30*time.Second)
			if err != nil {
				t.Errorf("concurrent enqueue: %v", err)
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d concurrent wakes inserted, want 1", wins.Load())
	}

	items, _, err := s.ListDeliveries(ctx, f.viewer.ID, store.Page{})
	noErr(t, "ListDeliveries", err)
	if len(items) != 3 || items[2].ID != d.ID {
		t.Errorf("ListDeliveries = %v, want 3 ending with %s", deliveryIDs(items), d.ID)
	}
}

func testDeliveryClaims(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := mkFixture(t, s)
	base := time.Now().UTC().Truncate(time.Microsecond)
	due := mkDelivery(t, s, f, store.DeliveryEvent, base)
	later := store.Delivery{OwnerUserID: f.user.ID, RecipientDeviceID: f.viewer.ID, Type: store.DeliveryEvent,
		Payload: json.RawMessage(`{}`), CreatedAt: base, NextAttemptAt: base.Add(time.Hour), ExpiresAt: base.Add(2 * time.Hour)}
	if _, err := s.EnqueueDelivery(ctx, &later, 0); err != nil {
		t.Fatal(err)
	}
	lease := time.Minute

	claimed, err := s.ClaimDeliveries(ctx, "w1", base, lease, 10)
	noErr(t, "ClaimDeliveries", err)
	if !slices.Equal(deliveryIDs(claimed), []string{due.ID}) {
		t.Fatalf("claimed %v, want only the due job %s", deliveryIDs(claimed), due.ID)
	}
	c := claimed[0]
	if c.Status != store.DeliverySending || c.Attempts != 1 || c.ClaimedBy == nil || *c.ClaimedBy != "w1" {
		t.Errorf("claimed job %+v, want sending, attempt 1, claimed by w1", c)
	}
	checkTime(t, "leased NextAttemptAt", c.NextAttemptAt, base.Add(lease))

	// Leased: nobody else gets it until the lease lapses; then another worker does.
	again, err := s.ClaimDeliveries(ctx, "w2", base.Add(lease-time.Second), lease, 10)
	noErr(t, "ClaimDeliveries within the lease", err)
	if len(again) != 0 {
		t.Fatalf("claimed %v within the lease", deliveryIDs(again))
	}
	again, err = s.ClaimDeliveries(ctx, "w2", base.Add(lease), lease, 10)
	noErr(t, "ClaimDeliveries after the lease", err)
	if !slices.Equal(deliveryIDs(again), []string{due.ID}) || again[0].Attempts != 2 {
		t.Fatalf("after the lease claimed %+v, want %s at attempt 2", again, due.ID)
	}

	// The first claim is stale now.
	_, err = s.FinishDelivery(ctx, due.ID, "w1", 1, store.DeliveryOutcome{Status: store.DeliverySent, At: base})
	wantErr(t, "finish a stale claim", err, store.ErrConflict)
	wantErr(t, "finish missing", second(s.FinishDelivery(ctx, missing, "w1", 1, store.DeliveryOutcome{Status: store.DeliverySent})), store.ErrNotFound)

	// Retry later.
	retryAt := base.Add(lease + 10*time.Second)
	msg := "apns: 503 ServiceUnavailable"
	d, err := s.FinishDelivery(ctx, due.ID, "w2", 2, store.DeliveryOutcome{Status: store.DeliveryPending, RetryAt: retryAt,
		Error: &msg, At: base.Add(lease)})
	noErr(t, "FinishDelivery retry", err)
	if d.Status != store.DeliveryPending || d.LastError == nil || *d.LastError != msg || d.SentAt != nil || d.ClaimedBy != nil {
		t.Errorf("after retry %+v", d)
	}
	checkTime(t, "retry NextAttemptAt", d.NextAttemptAt, retryAt)
	wantErr(t, "finish twice", second(s.FinishDelivery(ctx, due.ID, "w2", 2, store.DeliveryOutcome{Status: store.DeliverySent})), store.ErrConflict)
	if early, _ := s.ClaimDeliveries(ctx, "w3", retryAt.Add(-time.Second), lease, 10); len(early) != 0 {
		t.Errorf("claimed %v before its retry time", deliveryIDs(early))
	}

	// Sent.
	third, err := s.ClaimDeliveries(ctx, "w3", retryAt, lease, 10)
	noErr(t, "ClaimDeliveries at the retry time", err)
	if len(third) != 1 || third[0].Attempts != 3 {
		t.Fatalf("claimed %+v at the retry time, want the job at attempt 3", third)
	}
	sentAt := retryAt.Add(time.Second)
	d, err = s.FinishDelivery(ctx, due.ID, "w3", 3, store.DeliveryOutcome{Status: store.DeliverySent, At: sentAt})
	noErr(t, "FinishDelivery sent", err)
	if d.Status != store.DeliverySent || d.SentAt == nil || d.LastError != nil || d.Attempts != 3 {
		t.Errorf("sent job %+v", d)
	}
	checkTime(t, "SentAt", *d.SentAt, sentAt)
	if done, _ := s.ClaimDeliveries(ctx, "w4", base.Add(24*time.Hour), lease, 10); !slices.Equal(deliveryIDs(done), []string{later.ID}) {
		t.Errorf("a day later claimed %v, want only %s", deliveryIDs(done), later.ID)
	}

	// Failed and expired are outcomes too; other statuses are not.
	for _, status := range []string{store.DeliveryFailed, store.DeliveryExpired} {
		x := mkDelivery(t, s, f, store.DeliveryWake, base)
		cl, err := s.ClaimDeliveries(ctx, "w5", base, lease, 1)
		if err != nil || len(cl) != 1 || cl[0].ID != x.ID {
			t.Fatalf("claim for %s: %v %v", status, deliveryIDs(cl), err)
		}
		d, err := s.FinishDelivery(ctx, x.ID, "w5", 1, store.DeliveryOutcome{Status: status, Error: strp("why"), At: base})
		noErr(t, "FinishDelivery "+status, err)
		if d.Status != status || d.LastError == nil || d.SentAt != nil {
			t.Errorf("%s job %+v", status, d)
		}
	}
	if _, err := s.FinishDelivery(ctx, due.ID, "w3", 3, store.DeliveryOutcome{Status: store.DeliverySending}); err == nil || errors.Is(err, store.ErrConflict) {
		t.Errorf("FinishDelivery with status sending: %v, want a usage error", err)
	}
}

// testDeliveryClaimRace: claimers racing over one queue take every job exactly once.
func testDeliveryClaimRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := mkFixture(t, s)
	base := time.Now().UTC()
	const jobs, claimers = 60, 6
	for range jobs {
		mkDelivery(t, s, f, store.DeliveryEvent, base)
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for i := range claimers {
		worker := unique("worker")
		wg.Go(func() {
			for {
				cl, err := s.ClaimDeliveries(ctx, worker, base, time.Hour, 1+i%4)
				if err != nil {
					t.Errorf("ClaimDeliveries: %v", err)
					return
				}
				if len(cl) == 0 {
					return
				}
				mu.Lock()
				for _, d := range cl {
					seen[d.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != jobs {
		t.Errorf("%d distinct jobs claimed, want %d", len(seen), jobs)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("job %s claimed %d times", id, n)
		}
	}
}

func testRecordings(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := mkFixture(t, s)
	e := mkEvent(t, s, f, "motion", time.Time{})
	dur := 12
	r := store.Recording{OwnerUserID: f.user.ID, CameraDeviceID: f.cam.ID, RequesterDeviceID: &f.cam.ID, EventID: &e.ID,
		ContentType: "video/mp4", DurationSeconds: &dur, Status: "bogus"}
	noErr(t, "CreateRecording", s.CreateRecording(ctx, &r))
	checkV7(t, r.ID)
	if r.Status != store.RecordingPending || r.ObjectKey != nil || r.SizeBytes != nil || r.AvailableAt != nil {
		t.Errorf("new recording %+v, want pending without object", r)
	}
	got, err := s.Recording(ctx, r.ID)
	noErr(t, "Recording", err)
	if got.OwnerUserID != f.user.ID || got.CameraDeviceID != f.cam.ID || got.EventID == nil || *got.EventID != e.ID ||
		got.RequesterDeviceID == nil || *got.RequesterDeviceID != f.cam.ID || got.ContentType != "video/mp4" ||
		got.DurationSeconds == nil || *got.DurationSeconds != 12 || got.StreamSessionID != nil || got.Status != store.RecordingPending {
		t.Errorf("Recording = %+v, want %+v", got, r)
	}

	other := mkFixture(t, s)
	otherEvent := mkEvent(t, s, other, "motion", time.Time{})
	cam2 := mkDevice(t, s, f.user.ID, store.RoleCamera)
	cam2Event := store.Event{UserID: f.user.ID, DeviceID: cam2.ID, Title: "x", TriggeredBy: "motion"}
	noErr(t, "CreateEvent cam2", s.CreateEvent(ctx, &cam2Event))
	for name, x := range map[string]store.Recording{
		"another user's camera":      {OwnerUserID: f.user.ID, CameraDeviceID: other.cam.ID},
		"another user's event":       {OwnerUserID: f.user.ID, CameraDeviceID: f.cam.ID, EventID: &otherEvent.ID},
		"an event of another camera": {OwnerUserID: f.user.ID, CameraDeviceID: f.cam.ID, EventID: &cam2Event.ID},
		"another user's requester":   {OwnerUserID: f.user.ID, CameraDeviceID: f.cam.ID, RequesterDeviceID: &other.viewer.ID},
		"missing stream session":     {OwnerUserID: f.user.ID, CameraDeviceID: f.cam.ID, StreamSessionID: strp(missing)},
		"stream session not a uuid":  {OwnerUserID: f.user.ID, CameraDeviceID: f.cam.ID, StreamSessionID: strp("s")},
		"missing camera":             {OwnerUserID: f.user.ID, CameraDeviceID: missing},
	} {
		x.ContentType = "video/mp4"
		wantErr(t, name, s.CreateRecording(ctx, &x), store.ErrNotFound)
	}

	r2 := store.Recording{OwnerUserID: f.user.ID, CameraDeviceID: cam2.ID, ContentType: "image/jpeg"}
	noErr(t, "CreateRecording 2", s.CreateRecording(ctx, &r2))
	x := store.Recording{OwnerUserID: other.user.ID, CameraDeviceID: other.cam.ID, ContentType: "video/webm"}
	noErr(t, "CreateRecording other user", s.CreateRecording(ctx, &x))
	for _, tt := range []struct {
		name string
		f    store.RecordingFilter
		want []string
	}{
		{"all", store.RecordingFilter{}, []string{r2.ID, r.ID}},
		{"by camera", store.RecordingFilter{CameraDeviceID: cam2.ID}, []string{r2.ID}},
		{"by event", store.RecordingFilter{EventID: e.ID}, []string{r.ID}},
		{"bad id", store.RecordingFilter{EventID: "e"}, nil},
	} {
		items, _, err := s.ListRecordings(ctx, f.user.ID, tt.f, store.Page{})
		noErr(t, "ListRecordings "+tt.name, err)
		if !slices.Equal(recordingIDs(items), tt.want) {
			t.Errorf("ListRecordings %s = %v, want %v", tt.name, recordingIDs(items), tt.want)
		}
	}

	at := time.Now().UTC().Truncate(time.Microsecond)
	done, err := s.FinishRecordingUpload(ctx, r.ID, store.RecordingUpload{Status: store.RecordingAvailable,
		ObjectKey: "recordings/x/y", Bucket: "local", SizeBytes: 3 << 30, At: at})
	noErr(t, "FinishRecordingUpload", err)
	if done.Status != store.RecordingAvailable || done.ObjectKey == nil || *done.ObjectKey != "recordings/x/y" ||
		done.Bucket == nil || *done.Bucket != "local" || done.SizeBytes == nil || *done.SizeBytes != 3<<30 ||
		done.AvailableAt == nil || done.Error != nil {
		t.Errorf("available recording %+v", done)
	}
	checkTime(t, "AvailableAt", *done.AvailableAt, at)
	if done.DurationSeconds == nil || *done.DurationSeconds != 12 {
		t.Errorf("an upload without a duration changed duration_seconds: %v", done.DurationSeconds)
	}
	// A clip the hub recorded gets its duration when it is finished.
	hub := store.Recording{OwnerUserID: f.user.ID, CameraDeviceID: f.cam.ID, ContentType: "video/webm"}
	noErr(t, "CreateRecording hub", s.CreateRecording(ctx, &hub))
	recorded := 61
	hubDone, err := s.FinishRecordingUpload(ctx, hub.ID, store.RecordingUpload{Status: store.RecordingAvailable,
		ObjectKey: "recordings/x/hub", SizeBytes: 10, DurationSeconds: &recorded, At: at})
	noErr(t, "FinishRecordingUpload with duration", err)
	if hubDone.DurationSeconds == nil || *hubDone.DurationSeconds != 61 {
		t.Errorf("finished with a duration: duration_seconds %v, want 61", hubDone.DurationSeconds)
	}
	_, err = s.FinishRecordingUpload(ctx, r.ID, store.RecordingUpload{Status: store.RecordingFailed, Error: "late"})
	wantErr(t, "finish twice", err, store.ErrConflict)
	failed, err := s.FinishRecordingUpload(ctx, r2.ID, store.RecordingUpload{Status: store.RecordingFailed, Error: "client went away"})
	noErr(t, "FinishRecordingUpload failed", err)
	if failed.Status != store.RecordingFailed || failed.Error == nil || *failed.Error != "client went away" || failed.ObjectKey != nil {
		t.Errorf("failed recording %+v", failed)
	}
	wantErr(t, "finish missing", second(s.FinishRecordingUpload(ctx, missing, store.RecordingUpload{Status: store.RecordingFailed})), store.ErrNotFound)
	if _, err := s.FinishRecordingUpload(ctx, x.ID, store.RecordingUpload{Status: store.RecordingAvailable}); err == nil {
		t.Error("an available recording without an object key was accepted")
	}
}

// The object side of recordings: listing a bucket's in key order (the byte order S3
// lists in), marking missing clips, moving clips between storages, and a recording
// created with its object named (an upload straight to the bucket).
func testRecordingObjects(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := mkFixture(t, s)
	size := int64(42)
	direct := store.Recording{OwnerUserID: f.user.ID, CameraDeviceID: f.cam.ID, ContentType: "video/mp4",
		ObjectKey: strp("recordings/d/direct"), Bucket: strp("clips"), SizeBytes: &size}
	noErr(t, "CreateRecording with its object", s.CreateRecording(ctx, &direct))
	got, err := s.Recording(ctx, direct.ID)
	noErr(t, "Recording", err)
	if got.Status != store.RecordingPending || got.ObjectKey == nil || *got.ObjectKey != "recordings/d/direct" ||
		got.Bucket == nil || *got.Bucket != "clips" || got.SizeBytes == nil || *got.SizeBytes != 42 {
		t.Errorf("recording created with its object: %+v", got)
	}

	// Keys whose byte order differs from a natural-language collation's.
	keys := []string{"recordings/a_b", "recordings/a/b", "recordings/a-b", "recordings/ab", "recordings/a0", "recordings/b"}
	byKey := map[string]string{}
	for _, k := range keys {
		r := store.Recording{OwnerUserID: f.user.ID, CameraDeviceID: f.cam.ID, ContentType: "video/mp4"}
		noErr(t, "CreateRecording", s.CreateRecording(ctx, &r))
		_, err := s.FinishRecordingUpload(ctx, r.ID, store.RecordingUpload{Status: store.RecordingAvailable,
			ObjectKey: k, Bucket: "clips", SizeBytes: 1})
		noErr(t, "FinishRecordingUpload", err)
		byKey[k] = r.ID
	}
	local := store.Recording{OwnerUserID: f.user.ID, CameraDeviceID: f.cam.ID, ContentType: "video/mp4"}
	noErr(t, "CreateRecording local", s.CreateRecording(ctx, &local))
	_, err = s.FinishRecordingUpload(ctx, local.ID, store.RecordingUpload{Status: store.RecordingAvailable,
		ObjectKey: "recordings/a/b", Bucket: store.LocalBucket, SizeBytes: 1})
	noErr(t, "FinishRecordingUpload local", err)
	// A recording without a bucket counts as in the data directory.
	noBucket := store.Recording{OwnerUserID: f.user.ID, CameraDeviceID: f.cam.ID, ContentType: "video/mp4"}
	noErr(t, "CreateRecording without bucket", s.CreateRecording(ctx, &noBucket))
	nb, err := s.FinishRecordingUpload(ctx, noBucket.ID, store.RecordingUpload{Status: store.RecordingAvailable,
		ObjectKey: "recordings/a/c", SizeBytes: 1})
	noErr(t, "FinishRecordingUpload without bucket", err)
	if nb.Bucket != nil {
		t.Fatalf("bucket %q, want none", *nb.Bucket)
	}

	var listed []string
	for after := ""; ; {
		page, err := s.ListRecordingObjects(ctx, "clips", after, 2)
		noErr(t, "ListRecordingObjects", err)
		for _, r := range page {
			listed = append(listed, *r.ObjectKey)
		}
		if len(page) < 2 {
			break
		}
		after = *page[len(page)-1].ObjectKey
	}
	want := append(slices.Clone(keys), "recordings/d/direct")
	slices.Sort(want) // Go compares strings as bytes
	if !slices.Equal(listed, want) {
		t.Errorf("ListRecordingObjects(clips) = %v, want %v", listed, want)
	}
	if l, err := s.ListRecordingObjects(ctx, store.LocalBucket, "", 10); err != nil || !slices.Equal(recordingIDs(l), []string{local.ID, noBucket.ID}) {
		t.Errorf("ListRecordingObjects(local) = %v, %v; want %v", recordingIDs(l), err, []string{local.ID, noBucket.ID})
	}

	// Missing, and found again.
	id := byKey["recordings/b"]
	at := time.Now().UTC()
	for _, tt := range []struct {
		name    string
		id, key string
		missing bool
		changed bool
		status  string
	}{
		{"another key", id, "recordings/a0", true, false, store.RecordingAvailable},
		{"found while available", id, "recordings/b", false, false, store.RecordingAvailable},
		{"missing", id, "recordings/b", true, true, store.RecordingFailed},
		{"missing again", id, "recordings/b", true, false, store.RecordingFailed},
		{"found", id, "recordings/b", false, true, store.RecordingAvailable},
		{"a pending recording", direct.ID, "recordings/d/direct", true, false, store.RecordingPending},
		{"not an id", "x", "recordings/b", true, false, ""},
	} {
		changed, err := s.SetRecordingMissing(ctx, tt.id, tt.key, tt.missing, at)
		noErr(t, "SetRecordingMissing "+tt.name, err)
		if changed != tt.changed {
			t.Errorf("SetRecordingMissing %s changed = %v, want %v", tt.name, changed, tt.changed)
		}
		if tt.status == "" {
			continue
		}
		r, err := s.Recording(ctx, tt.id)
		noErr(t, "Recording", err)
		if r.Status != tt.status || r.ObjectKey == nil {
			t.Errorf("after %s: %s %v, want %s with its key", tt.name, r.Status, r.ObjectKey, tt.status)
		}
		if r.Status == store.RecordingFailed && (r.Error == nil || *r.Error != store.RecordingMissing) {
			t.Errorf("after %s: error %v, want %q", tt.name, r.Error, store.RecordingMissing)
		}
	}
	failed := store.Recording{OwnerUserID: f.user.ID, CameraDeviceID: f.cam.ID, ContentType: "video/mp4"}
	noErr(t, "CreateRecording", s.CreateRecording(ctx, &failed))
	_, err = s.FinishRecordingUpload(ctx, failed.ID, store.RecordingUpload{Status: store.RecordingFailed, Error: "too large"})
	noErr(t, "FinishRecordingUpload failed", err)
	if changed, err := s.SetRecordingMissing(ctx, failed.ID, "recordings/b", false, at); err != nil || changed {
		t.Errorf("a recording that failed for another reason was made available: %v, %v", changed, err)
	}

	// Moving from the data directory to a bucket, once.
	from, to := store.ObjectRef{Bucket: "local", Key: "recordings/a/b"}, store.ObjectRef{Bucket: "clips2", Key: "recordings/a/b"}
	noErr(t, "MoveRecordingObject", s.MoveRecordingObject(ctx, local.ID, from, to, at))
	moved, err := s.Recording(ctx, local.ID)
	noErr(t, "Recording", err)
	if *moved.Bucket != "clips2" || *moved.ObjectKey != "recordings/a/b" || moved.Status != store.RecordingAvailable {
		t.Errorf("moved recording %+v", moved)
	}
	wantErr(t, "move again", s.MoveRecordingObject(ctx, local.ID, from, to, at), store.ErrConflict)
	wantErr(t, "move a missing recording", s.MoveRecordingObject(ctx, missing, from, to, at), store.ErrNotFound)
	noErr(t, "MoveRecordingObject without bucket", s.MoveRecordingObject(ctx, noBucket.ID,
		store.ObjectRef{Bucket: store.LocalBucket, Key: "recordings/a/c"}, store.ObjectRef{Bucket: "clips2", Key: "recordings/a/c"}, at))
	if l, err := s.ListRecordingObjects(ctx, store.LocalBucket, "", 10); err != nil || len(l) != 0 {
		t.Errorf("ListRecordingObjects(local) after the moves = %v, %v", recordingIDs(l), err)
	}
}

func testPrune(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := mkFixture(t, s)
	now := time.Now().UTC()
	old, recent := now.Add(-40*24*time.Hour), now.Add(-time.Hour)
	cutoff := now.Add(-30 * 24 * time.Hour)

	oldEvent := mkEvent(t, s, f, "motion", old)
	newEvent := mkEvent(t, s, f, "motion", recent)
	oldNote := store.Notification{EventID: &oldEvent.ID, UserID: f.user.ID}
	noErr(t, "CreateNotification", s.CreateNotification(ctx, &oldNote))

	var oldRecs []string
	for range 3 {
		r := store.Recording{OwnerUserID: f.user.ID, CameraDeviceID: f.cam.ID, ContentType: "video/mp4", CreatedAt: old}
		noErr(t, "CreateRecording old", s.CreateRecording(ctx, &r))
		_, err := s.FinishRecordingUpload(ctx, r.ID, store.RecordingUpload{Status: store.RecordingAvailable,
			ObjectKey: "recordings/" + r.ID, SizeBytes: 1})
		noErr(t, "FinishRecordingUpload", err)
		oldRecs = append(oldRecs, r.ID)
	}
	keep := store.Recording{OwnerUserID: f.user.ID, CameraDeviceID: f.cam.ID, EventID: &oldEvent.ID, ContentType: "video/mp4", CreatedAt: recent}
	noErr(t, "CreateRecording recent", s.CreateRecording(ctx, &keep))

	oldCmd := mkCommand(t, s, f.user.ID, f.viewer.ID, f.cam.ID, time.Hour)
	_, err := s.CompleteCommand(ctx, oldCmd.ID, f.cam.ID, store.CommandAcknowledged, nil, old)
	noErr(t, "CompleteCommand", err)
	openCmd := store.Command{OwnerUserID: f.user.ID, SourceDeviceID: f.viewer.ID, TargetDeviceID: f.cam.ID,
		CommandType: "ping", ExpiresAt: now.Add(time.Hour), CreatedAt: old}
	if _, err := s.CreateCommand(ctx, &openCmd, time.Hour); err != nil {
		t.Fatal(err)
	}

	oldSent := mkDelivery(t, s, f, store.DeliveryEvent, old)
	if _, err := s.ClaimDeliveries(ctx, "w", old, time.Minute, 1); err != nil {
		t.Fatal(err)
	}
	_, err = s.FinishDelivery(ctx, oldSent.ID, "w", 1, store.DeliveryOutcome{Status: store.DeliverySent, At: old})
	noErr(t, "FinishDelivery", err)
	oldPending := mkDelivery(t, s, f, store.DeliveryEvent, old.Add(time.Second))

	oldStream := mkStream(t, s, f, old)
	_, err = s.TransitionStream(ctx, oldStream.ID, store.OpenStreamStatuses, store.StreamFailed, "timeout", old)
	noErr(t, "TransitionStream", err)
	openStream := mkStream(t, s, f, old)

	oldAudit := store.AuditLog{OwnerUserID: &f.user.ID, Action: "test.old", CreatedAt: old}
	noErr(t, "AddAuditLog", s.AddAuditLog(ctx, &oldAudit))
	newAudit := store.AuditLog{OwnerUserID: &f.user.ID, Action: "test.new"}
	noErr(t, "AddAuditLog", s.AddAuditLog(ctx, &newAudit))

	res, err := s.Prune(ctx, store.PruneCutoffs{Recordings: cutoff, Events: cutoff, Commands: cutoff,
		StreamSessions: cutoff, Deliveries: cutoff, AuditLogs: cutoff}, 2)
	noErr(t, "Prune", err)
	if got := sorted(recordingIDs(res.Recordings)); !slices.Equal(got, sorted(oldRecs)) {
		t.Errorf("pruned recordings %v, want %v", got, sorted(oldRecs))
	}
	for _, r := range res.Recordings {
		if r.ObjectKey == nil || *r.ObjectKey != "recordings/"+r.ID {
			t.Errorf("pruned recording %s without its object key: %v", r.ID, r.ObjectKey)
		}
	}
	if res.Events != 1 || res.Commands != 1 || res.StreamSessions != 1 || res.Deliveries != 1 || res.AuditLogs != 1 {
		t.Errorf("Prune = events %d commands %d streams %d deliveries %d audit %d, want 1 each",
			res.Events, res.Commands, res.StreamSessions, res.Deliveries, res.AuditLogs)
	}
	for name, err := range map[string]error{
		"old recording":     second(s.Recording(ctx, oldRecs[0])),
		"old event":         second(s.Event(ctx, oldEvent.ID)),
		"old command":       second(s.Command(ctx, oldCmd.ID)),
		"old sent job":      second(s.Delivery(ctx, oldSent.ID)),
		"old failed stream": second(s.StreamSession(ctx, oldStream.ID)),
	} {
		wantErr(t, name+" after prune", err, store.ErrNotFound)
	}
	for name, err := range map[string]error{
		"recent recording": second(s.Recording(ctx, keep.ID)),
		"recent event":     second(s.Event(ctx, newEvent.ID)),
		"open old command": second(s.Command(ctx, openCmd.ID)),
		"pending old job":  second(s.Delivery(ctx, oldPending.ID)),
		"open old stream":  second(s.StreamSession(ctx, openStream.ID)),
	} {
		noErr(t, name+" after prune", err)
	}
	if r, _ := s.Recording(ctx, keep.ID); r.EventID != nil {
		t.Errorf("recording of a pruned event still names it: %v", *r.EventID)
	}
	if ns, _, _ := s.ListNotifications(ctx, f.user.ID, false, store.Page{}); len(ns) != 0 {
		t.Errorf("notifications of a pruned event remain: %v", notificationIDs(ns))
	}
	audits, _, err := s.ListAuditLogs(ctx, f.user.ID, store.Page{})
	noErr(t, "ListAuditLogs", err)
	if !slices.Equal(auditIDs(audits), []string{newAudit.ID}) {
		t.Errorf("audit logs after prune %v, want [%s]", auditIDs(audits), newAudit.ID)
	}

	// Zero cutoffs prune nothing.
	res, err = s.Prune(ctx, store.PruneCutoffs{}, 0)
	noErr(t, "Prune nothing", err)
	if len(res.Recordings) != 0 || res.Events+res.Commands+res.StreamSessions+res.Deliveries+res.AuditLogs != 0 {
		t.Errorf("Prune with no cutoffs deleted %+v", res)
	}
}

func testLeases(t *testing.T, s store.Store) {
	ctx := t.Context()
	name := unique("lease")
	now := time.Now().UTC()
	ttl := time.Minute
	steps := []struct {
		holder string
		at     time.Time
		want   bool
	}{
		{"a", now, true},
		{"b", now.Add(time.Second), false},
		{"a", now.Add(30 * time.Second), true}, // renewal: now held until now+90 s
		{"b", now.Add(80 * time.Second), false},
		{"b", now.Add(90 * time.Second), true},
		{"a", now.Add(100 * time.Second), false},
	}
	for i, st := range steps {
		ok, err := s.AcquireLease(ctx, name, st.holder, st.at, ttl)
		noErr(t, "AcquireLease", err)
		if ok != st.want {
			t.Errorf("step %d: %s acquired %v, want %v", i, st.holder, ok, st.want)
		}
	}
	if ok, err := s.AcquireLease(ctx, unique("lease"), "b", now, ttl); err != nil || !ok {
		t.Errorf("another lease: %v %v, want acquired", ok, err)
	}

	// Racing holders: one wins.
	race := unique("lease")
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			ok, err := s.AcquireLease(ctx, race, unique("holder")+string(rune('a'+i)), now, ttl)
			if err != nil {
				t.Errorf("racing AcquireLease: %v", err)
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d racing holders acquired the lease, want 1", wins.Load())
	}
}
