package bustest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/securecam/securecam/hub"
)

// NewPresenceCluster makes the endpoints of one test's presence registry, whose
// entries expire ttl after their last refresh: every call of the returned function is
// another replica's endpoint on the same registry (an in-memory registry may return
// itself). The factory closes what it made when the test ends.
type NewPresenceCluster func(t testing.TB, ttl time.Duration) (newEndpoint func() hub.Presence)

// presenceTTL is short so expiry tests are quick.
const presenceTTL = 300 * time.Millisecond

// RunPresence runs the Presence conformance suite.
func RunPresence(t *testing.T, newCluster NewPresenceCluster) {
	tests := []struct {
		name string
		fn   func(t *testing.T, newEndpoint func() hub.Presence)
	}{
		{"AddMakesOnline", testPresenceAdd},
		{"RemoveOnlyByOwner", testPresenceRemove},
		{"RefreshKeepsAliveAndNeverSteals", testPresenceRefresh},
		{"ExpiredEntriesAreSweptOnce", testPresenceSweep},
		{"Ready", testPresenceReady},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, newCluster(t, presenceTTL))
		})
	}
}

func online(t *testing.T, p hub.Presence, ids ...string) []bool {
	t.Helper()
	on, err := p.Online(ctx(t), ids)
	if err != nil {
		t.Fatalf("Online: %v", err)
	}
	if len(on) != len(ids) {
		t.Fatalf("Online returned %d answers for %d ids", len(on), len(ids))
	}
	return on
}

func testPresenceAdd(t *testing.T, newEndpoint func() hub.Presence) {
	a, b := newEndpoint(), newEndpoint()
	if err := a.Add(ctx(t), "d1", "node-a"); err != nil {
		t.Fatalf("Add: %v", err)
	}
	if got := online(t, b, "d1", "d2"); !slices.Equal(got, []bool{true, false}) {
		t.Fatalf("Online(d1, d2) = %v, want [true false]", got)
	}
	if got := online(t, b); len(got) != 0 {
		t.Fatalf("Online() = %v, want empty", got)
	}
}

func testPresenceRemove(t *testing.T, newEndpoint func() hub.Presence) {
	a, b := newEndpoint(), newEndpoint()
	c := ctx(t)
	if err := a.Add(c, "d1", "node-a"); err != nil {
		t.Fatalf("Add: %v", err)
	}
	if err := b.Add(c, "d1", "node-b"); err != nil { // the device moved to node-b
		t.Fatalf("Add: %v", err)
	}
	if removed, err := a.Remove(c, "d1", "node-a"); err != nil || removed {
		t.Fatalf("Remove by the former node = %v, %v; want false, nil", removed, err)
	}
	if got := online(t, a, "d1"); !got[0] {
		t.Fatal("device offline after its former node's Remove")
	}
	if removed, err := b.Remove(c, "d1", "node-b"); err != nil || !removed {
		t.Fatalf("Remove by the owner = %v, %v; want true, nil", removed, err)
	}
	if got := online(t, a, "d1"); got[0] {
		t.Fatal("device online after its owner's Remove")
	}
	if removed, err := b.Remove(c, "d1", "node-b"); err != nil || removed {
		t.Fatalf("second Remove = %v, %v; want false, nil", removed, err)
	}
}

func testPresenceRefresh(t *testing.T, newEndpoint func() hub.Presence) {
	a, b := newEndpoint(), newEndpoint()
	c := ctx(t)
	if err := a.Add(c, "d1", "node-a"); err != nil {
		t.Fatalf("Add: %v", err)
	}
	if err := b.Add(c, "d2", "node-b"); err != nil {
		t.Fatalf("Add: %v", err)
	}
	// node-a refreshes d1, d2 (not its own) and d3 (lost by the registry) for 3 TTLs.
	tick := time.NewTicker(presenceTTL / 5)
	defer tick.Stop()
	end := time.Now().Add(3 * presenceTTL)
	for time.Now().Before(end) {
		if err := a.Refresh(c, "node-a", []string{"d1", "d2", "d3"}); err != nil {
			t.Fatalf("Refresh: %v", err)
		}
		if got := online(t, b, "d1", "d3"); !slices.Equal(got, []bool{true, true}) {
			t.Fatalf("refreshed devices: Online(d1, d3) = %v, want [true true]", got)
		}
		<-tick.C
	}
	if got := online(t, b, "d2"); got[0] {
		t.Fatal("d2, whose node stopped refreshing, is still online: another node's Refresh kept it")
	}
	if removed, err := a.Remove(c, "d2", "node-a"); err != nil || removed {
		t.Fatalf("Remove(d2, node-a) = %v, %v: Refresh by node-a took over node-b's entry", removed, err)
	}
}

func testPresenceSweep(t *testing.T, newEndpoint func() hub.Presence) {
	a, b := newEndpoint(), newEndpoint()
	c := ctx(t)
	before := time.Now().Add(-time.Second) // clocks of Redis and the test may differ a little
	for _, id := range []string{"d1", "d2"} {
		if err := a.Add(c, id, "node-a"); err != nil {
			t.Fatalf("Add: %v", err)
		}
	}
	if err := b.Add(c, "d3", "node-b"); err != nil {
		t.Fatalf("Add: %v", err)
	}
	// Both nodes sweep while node-b keeps refreshing d3 and node-a has "crashed".
	seen := map[string]int{}
	tick := time.NewTicker(presenceTTL / 10)
	defer tick.Stop()
	deadline := time.Now().Add(wait)
	for len(seen) < 2 || seen["d1"]+seen["d2"] < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("swept %v within %s, want d1 and d2", seen, wait)
		}
		if err := b.Refresh(c, "node-b", []string{"d3"}); err != nil {
			t.Fatalf("Refresh: %v", err)
		}
		for _, p := range []hub.Presence{a, b} {
			for _, node := range []string{"node-a", "node-b"} {
				exp, err := p.Sweep(c, node)
				if err != nil {
					t.Fatalf("Sweep: %v", err)
				}
				for _, e := range exp {
					seen[e.DeviceID]++
					if e.LastSeen.Before(before) || e.LastSeen.After(time.Now().Add(time.Second)) {
						t.Errorf("LastSeen of %s = %v, not around the Add", e.DeviceID, e.LastSeen)
					}
				}
			}
		}
		<-tick.C
	}
	// One more round: nothing is reported twice, the refreshed entry stays.
	for _, p := range []hub.Presence{a, b} {
		for _, node := range []string{"node-a", "node-b"} {
			exp, err := p.Sweep(c, node)
			if err != nil {
				t.Fatalf("Sweep: %v", err)
			}
			for _, e := range exp {
				seen[e.DeviceID]++
			}
		}
	}
	if seen["d1"] != 1 || seen["d2"] != 1 || seen["d3"] != 0 {
		t.Fatalf("swept %v, want d1 and d2 once, d3 never", seen)
	}
	if got := online(t, a, "d1", "d2", "d3"); !slices.Equal(got, []bool{false, false, true}) {
		t.Fatalf("Online(d1, d2, d3) after sweep = %v, want [false false true]", got)
	}
}

func testPresenceReady(t *testing.T, newEndpoint func() hub.Presence) {
	if err := newEndpoint().Ready(context.Background()); err != nil {
		t.Fatalf("Ready: %v", err)
	}
}
