package hub_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/hub/bustest"
	"github.com/securecam/securecam/hub/redisbus"
)

// revocable is fakeAuth whose sessions can be revoked and whose Revalidate can fail;
// it counts the passes that asked about a device.
type revocable struct {
	fakeAuth
	mu      sync.Mutex
	revoked map[string]bool // session ids
	failing bool
	asked   map[string]int // device id → passes that named it
	changed chan struct{}
}

func newRevocable() *revocable {
	return &revocable{revoked: map[string]bool{}, asked: map[string]int{}, changed: make(chan struct{}, 1)}
}

func (a *revocable) Revalidate(_ context.Context, ids []hub.Identity) ([]bool, error) {
	a.mu.Lock()
	defer func() {
		a.mu.Unlock()
		select {
		case a.changed <- struct{}{}:
		default:
		}
	}()
	for _, id := range ids {
		a.asked[id.DeviceID]++
	}
	if a.failing {
		return nil, errors.New("store down")
	}
	ok := make([]bool, len(ids))
	for i, id := range ids {
		ok[i] = !a.revoked[id.SessionID]
	}
	return ok, nil
}

func (a *revocable) revoke(session string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.revoked[session] = true
}

func (a *revocable) fail(on bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failing = on
}

// waitPasses waits until n more passes asked about dev than when it was called.
func (a *revocable) waitPasses(t *testing.T, dev string, n int) {
	t.Helper()
	a.mu.Lock()
	target := a.asked[dev] + n
	a.mu.Unlock()
	timeout := time.After(wait)
	for {
		a.mu.Lock()
		done := a.asked[dev] >= target
		a.mu.Unlock()
		if done {
			return
		}
		select {
		case <-a.changed:
		case <-timeout:
			t.Fatalf("no %d re-validation passes asked about %s", n, dev)
		}
	}
}

// A socket whose session was revoked without a close message reaching this replica is
// closed with 4003 at the next periodic pass; the others stay open, and a pass that
// cannot tell (the store is down) closes nothing.
func TestRevalidateClosesRevokedSockets(t *testing.T) {
	t.Parallel()
	auth := newRevocable()
	th := newHub(t, hub.Config{Authenticator: auth, RevalidateInterval: 20 * time.Millisecond})
	revoked, _ := dial(t, th, "d1", "X-Session", "s1")
	kept, _ := dial(t, th, "d2", "X-Session", "s2")
	token, _ := dial(t, th, "d3") // device token: no session
	kept.pump()
	token.pump()

	auth.fail(true)
	auth.revoke("s1")
	auth.waitPasses(t, "d1", 3)
	revoked.send(hub.Envelope{Type: "ping", ID: "p1"})
	if env := revoked.read(); env.Type != "pong" {
		t.Fatalf("while Revalidate fails the socket got %s, want to stay open (pong)", env.Type)
	}
	auth.fail(false)
	if code := revoked.closeStatus(); code != hub.StatusForbidden {
		t.Fatalf("revoked socket closed with %d, want 4003", code)
	}
	auth.waitPasses(t, "d2", 2)
	for _, c := range []*client{kept, token} {
		c.send(hub.Envelope{Type: "ping", ID: "p2"})
		if env := c.until("pong"); env.Ref != "p2" {
			t.Fatalf("valid socket answered %s", env.Ref)
		}
	}
}

// After Redis comes back, each replica refreshes its presence entries at once (they
// were lost with Redis), runs OnBusResume with its sockets, and re-validates them: the
// close broadcast of a sign-out made while Redis was down never arrived.
func TestClusterBusResumeRefreshesRevalidatesAndResumes(t *testing.T) {
	t.Parallel()
	url, stop, restart := bustest.StartRedis(t)
	prefix := bustest.Prefix(t)
	auth := newRevocable()
	var mu sync.Mutex
	type resumeCall struct {
		ids   []string
		since time.Time
	}
	var resumed []resumeCall
	resumedCh := make(chan struct{}, 8)
	replica := func(node string) *testHub {
		rdb := bustest.Client(t, url, prefix)
		th := newHub(t, hub.Config{
			NodeID:        node,
			Authenticator: auth,
			Bus:           redisbus.New(rdb, redisbus.Config{Prefix: prefix, PingInterval: 100 * time.Millisecond}),
			Presence:      redisbus.NewPresence(rdb, redisbus.PresenceConfig{Prefix: prefix, TTL: time.Hour}),
			// Neither the periodic refresh nor the periodic pass may be what recovers.
			PresenceRefreshInterval: time.Hour,
			RevalidateInterval:      time.Hour,
			OnBusResume: func(_ context.Context, cs []*hub.Client, since time.Time) {
				if since.After(time.Now()) {
					t.Errorf("OnBusResume with since %v in the future", since)
				}
				var ids []string
				for _, c := range cs {
					ids = append(ids, c.Identity().DeviceID)
				}
				slices.Sort(ids)
				mu.Lock()
				resumed = append(resumed, resumeCall{ids, since})
				mu.Unlock()
				resumedCh <- struct{}{}
			},
		})
		waitReady(t, th.Hub)
		return th
	}
	a, b := replica("node-a"), replica("node-b")
	user, _ := dial(t, b, "phone", "X-Session", "s1")
	cam, _ := dial(t, b, "cam")
	cam.pump()
	waitCond(t, "cam online", func() bool { on, err := a.Online(bg(t), "cam"); return err == nil && on })

	stop()
	waitCond(t, "not ready while Redis is down", func() bool { return a.Ready(bg(t)) != nil })
	// Sign-out on node-a: its close broadcast cannot reach node-b.
	auth.revoke("s1")
	if err := a.CloseSession(bg(t), "s1", hub.StatusForbidden, "signed out"); err == nil {
		t.Fatal("CloseSession with Redis down reported success")
	}
	restart()

	if code := user.closeStatus(); code != hub.StatusForbidden {
		t.Fatalf("signed-out socket on node-b closed with %d after Redis came back, want 4003", code)
	}
	waitCond(t, "presence recreated by the resume", func() bool { on, err := a.Online(bg(t), "cam"); return err == nil && on })
	timeout := time.After(wait)
	for {
		mu.Lock()
		// After the restart, with the moment from which messages may be lost.
		ok := slices.ContainsFunc(resumed, func(c resumeCall) bool { return slices.Contains(c.ids, "cam") && !c.since.IsZero() })
		mu.Unlock()
		if ok {
			break
		}
		select {
		case <-resumedCh:
		case <-timeout:
			t.Fatalf("OnBusResume never ran with cam's socket after the restart (calls: %v)", resumed)
		}
	}
}
