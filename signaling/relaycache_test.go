package signaling

import (
	"testing"
	"time"

	"github.com/securecam/securecam/store"
)

func TestRelayCache(t *testing.T) {
	t0 := time.Now()
	live := store.StreamSession{ID: "s1", CameraDeviceID: "cam", RequesterDeviceID: "viewer", Status: store.StreamLive}
	for _, tt := range []struct {
		name string
		run  func(c *relayCache) (found bool)
		want bool
	}{
		{"kept within the ttl", func(c *relayCache) bool {
			_, gen, _ := c.get("s1", t0)
			c.put(live, gen, t0)
			_, _, ok := c.get("s1", t0.Add(relayCacheTTL-time.Millisecond))
			return ok
		}, true},
		{"read again after the ttl", func(c *relayCache) bool {
			_, gen, _ := c.get("s1", t0)
			c.put(live, gen, t0)
			_, _, ok := c.get("s1", t0.Add(relayCacheTTL))
			return ok
		}, false},
		{"not negotiating: not kept", func(c *relayCache) bool {
			_, gen, _ := c.get("s1", t0)
			requested := live
			requested.Status = store.StreamRequested
			c.put(requested, gen, t0)
			_, _, ok := c.get("s1", t0)
			return ok
		}, false},
		{"forgotten when closed", func(c *relayCache) bool {
			_, gen, _ := c.get("s1", t0)
			c.put(live, gen, t0)
			c.forget("s1")
			_, _, ok := c.get("s1", t0)
			return ok
		}, false},
		{"forgotten when the bus resumed", func(c *relayCache) bool {
			_, gen, _ := c.get("s1", t0)
			c.put(live, gen, t0)
			c.forgetAll()
			_, _, ok := c.get("s1", t0)
			return ok
		}, false},
		{"a read that overlapped a close is not kept", func(c *relayCache) bool {
			_, gen, _ := c.get("s1", t0)
			c.forget("s1") // closed while the store read was under way
			c.put(live, gen, t0)
			_, _, ok := c.get("s1", t0)
			return ok
		}, false},
		{"a read in another status drops the entry", func(c *relayCache) bool {
			_, gen, _ := c.get("s1", t0)
			c.put(live, gen, t0)
			ended := live
			ended.Status = store.StreamEnded
			c.put(ended, gen, t0.Add(time.Millisecond))
			_, _, ok := c.get("s1", t0.Add(time.Millisecond))
			return ok
		}, false},
		{"swept after the ttl", func(c *relayCache) bool {
			_, gen, _ := c.get("s1", t0)
			c.put(live, gen, t0)
			c.sweep(t0.Add(relayCacheTTL))
			return len(c.entries) > 0
		}, false},
		{"kept by a sweep within the ttl", func(c *relayCache) bool {
			_, gen, _ := c.get("s1", t0)
			c.put(live, gen, t0)
			c.sweep(t0.Add(relayCacheTTL / 2))
			return len(c.entries) > 0
		}, true},
		{"asked: kept for one take within the ttl", func(c *relayCache) bool {
			requested := live
			requested.Status = store.StreamRequested
			c.putAsked(requested, t0)
			c.forget("s1") // compare-and-sets correct what it holds
			_, ok := c.takeAsked("s1", t0.Add(relayCacheTTL-time.Millisecond))
			_, again := c.takeAsked("s1", t0)
			return ok && !again && len(c.entries) == 0 // the negotiation does not see it
		}, true},
		{"asked: not after the ttl", func(c *relayCache) bool {
			c.putAsked(live, t0)
			_, ok := c.takeAsked("s1", t0.Add(relayCacheTTL))
			return ok
		}, false},
		{"asked: swept after the ttl", func(c *relayCache) bool {
			c.putAsked(live, t0)
			c.sweep(t0.Add(relayCacheTTL))
			return len(c.asked) > 0
		}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.run(newRelayCache()); got != tt.want {
				t.Errorf("found %v, want %v", got, tt.want)
			}
		})
	}
}
