package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/securecam/securecam/store"
)

// testConcurrency: writers and readers at once, as a busy hub does; nothing fails
// (no SQLITE_BUSY, no lost update) and every command ends acknowledged.
func testConcurrency(t *testing.T, s store.Store) {
	ctx := t.Context()
	const workers, perWorker = 8, 15
	var fixtures [workers]fixture
	for i := range fixtures {
		fixtures[i] = mkFixture(t, s)
	}
	errs := make(chan error, workers*2)
	var wg sync.WaitGroup
	for i := range workers {
		f := fixtures[i]
		wg.Go(func() {
			for range perWorker {
				c := store.Command{OwnerUserID: f.user.ID, SourceDeviceID: f.viewer.ID, TargetDeviceID: f.cam.ID,
					CommandType: "ping", RequestID: strp(unique("req")), ExpiresAt: time.Now().Add(time.Hour)}
				if _, err := s.CreateCommand(ctx, &c, time.Hour); err != nil {
					errs <- err
					return
				}
				if _, err := s.MarkCommandDispatched(ctx, c.ID, time.Now()); err != nil {
					errs <- err
					return
				}
				if _, err := s.CompleteCommand(ctx, c.ID, f.cam.ID, store.CommandAcknowledged, nil, time.Now()); err != nil {
					errs <- err
					return
				}
			}
		})
		wg.Go(func() {
			for range perWorker {
				if _, _, err := s.ListCommands(ctx, f.user.ID, store.CommandFilter{}, store.Page{}); err != nil {
					errs <- err
					return
				}
				if _, err := s.DeliverableCommands(ctx, f.cam.ID, time.Now()); err != nil {
					errs <- err
					return
				}
				if err := s.SetDevicePresence(ctx, f.cam.ID, store.DeviceOnline, time.Now()); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	if err := errors.Join(all...); err != nil {
		t.Fatal(err)
	}
	for _, f := range fixtures {
		list, _, err := s.ListCommands(ctx, f.user.ID, store.CommandFilter{Status: store.CommandAcknowledged}, store.Page{})
		noErr(t, "ListCommands", err)
		if len(list) != perWorker {
			t.Errorf("user %s has %d acknowledged commands, want %d", f.user.ID, len(list), perWorker)
		}
	}
}
