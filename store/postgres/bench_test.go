package postgres_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/storetest"
)

// BenchmarkCommandLifecycle measures the durable path of one command: create (with a
// request id, as command.send does), dispatch, acknowledge; parallel like a busy hub.
func BenchmarkCommandLifecycle(b *testing.B) {
	s := storetest.NewPostgres(b)
	ctx := b.Context()
	u := store.User{Email: "bench@example.com", Name: "B", PasswordHash: "a:b"}
	if err := s.CreateUser(ctx, &u); err != nil {
		b.Fatal(err)
	}
	cam := store.Device{UserID: u.ID, Name: "cam", Role: store.RoleCamera, Platform: "ios"}
	viewer := store.Device{UserID: u.ID, Name: "viewer", Role: store.RoleViewer, Platform: "ios"}
	if err := s.CreateDevice(ctx, &cam, "bench-cam"); err != nil {
		b.Fatal(err)
	}
	if err := s.CreateDevice(ctx, &viewer, "bench-viewer"); err != nil {
		b.Fatal(err)
	}
	var seq atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c := store.Command{OwnerUserID: u.ID, SourceDeviceID: viewer.ID, TargetDeviceID: cam.ID, CommandType: "ping",
				RequestID: new(fmt.Sprintf("m-%d", seq.Add(1))), ExpiresAt: time.Now().Add(time.Minute)}
			if _, err := s.CreateCommand(ctx, &c, 24*time.Hour); err != nil {
				b.Fatal(err)
			}
			if _, err := s.MarkCommandDispatched(ctx, c.ID, time.Now()); err != nil {
				b.Fatal(err)
			}
			if _, err := s.CompleteCommand(ctx, c.ID, cam.ID, store.CommandAcknowledged, nil, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
