package signaling

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/storetest"
)

// firstBatchGate holds the first WriteStreams until release is closed and counts
// the creations of every batch.
type firstBatchGate struct {
	store.Store
	release chan struct{}
	calls   atomic.Int32

	mu        sync.Mutex
	creations []int // per batch
}

func (g *firstBatchGate) WriteStreams(ctx context.Context, ws []store.StreamWrite) ([]store.StreamWriteResult, error) {
	if g.calls.Add(1) == 1 {
		<-g.release
	}
	n := 0
	for _, w := range ws {
		if w.Create != nil {
			n++
		}
	}
	g.mu.Lock()
	g.creations = append(g.creations, n)
	g.mu.Unlock()
	return g.Store.WriteStreams(ctx, ws)
}

// The sessions requested while a batch of session writes is being written are
// created together, in the next batch (one commit), and the viewer limit holds in it.
func TestStreamCreationsShareACommit(t *testing.T) {
	const limit, requests = 4, 6
	st := storetest.NewSQLite(t)
	ctx := t.Context()
	u := store.User{Email: "batch@example.com", Name: "Test", PasswordHash: "x:y"}
	if err := st.CreateUser(ctx, &u); err != nil {
		t.Fatal(err)
	}
	device := func(role, token string) store.Device {
		d := store.Device{UserID: u.ID, Name: role, Role: role, Platform: "android", Status: store.DeviceOffline, IsCamera: role == store.RoleCamera}
		if err := st.CreateDevice(ctx, &d, token); err != nil {
			t.Fatal(err)
		}
		return d
	}
	camera, viewer := device(store.RoleCamera, "cam-token"), device(store.RoleViewer, "viewer-token")
	link := store.DeviceLink{OwnerUserID: u.ID, CameraDeviceID: camera.ID, ClientDeviceID: viewer.ID, Status: store.LinkActive}
	if err := st.CreateLink(ctx, &link); err != nil {
		t.Fatal(err)
	}
	gate := &firstBatchGate{Store: st, release: make(chan struct{})}
	s, err := New(Config{Store: gate, Streams: StreamConfig{MaxViewersPerCamera: limit}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	var created, busy atomic.Int32
	var wg sync.WaitGroup
	request := func() {
		sess, _, err := s.openStream(context.Background(), u.ID, wire.StreamRequest{CameraDeviceID: camera.ID, RequesterDeviceID: viewer.ID})
		var refused *wire.Error
		switch {
		case err == nil && sess.ID != "" && sess.Status == store.StreamRequested:
			created.Add(1)
		case errors.As(err, &refused) && refused.Code == wire.CodeBusy:
			busy.Add(1)
		default:
			t.Errorf("request: %+v, %v", sess, err)
		}
	}
	wg.Go(request) // the first batch, held in the store
	waitFor(t, "the first batch", func() bool { return gate.calls.Load() == 1 })
	for range requests - 1 {
		wg.Go(request)
	}
	waitFor(t, "the requests to queue", func() bool { return s.streamWrites.queued() == requests-1 })
	close(gate.release)
	wg.Wait()

	gate.mu.Lock()
	defer gate.mu.Unlock()
	if len(gate.creations) != 2 || gate.creations[1] != requests-1 {
		t.Errorf("creations per batch %v, want [1 %d]", gate.creations, requests-1)
	}
	if created.Load() != limit || busy.Load() != requests-limit {
		t.Errorf("%d created, %d busy; want %d and %d", created.Load(), busy.Load(), limit, requests-limit)
	}
}
