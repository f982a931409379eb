package hub_test

import (
	"testing"
	"time"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/hub/bustest"
)

func TestMemoryBus(t *testing.T) {
	bustest.Run(t, func(t testing.TB) func() hub.Bus {
		root := hub.NewMemoryBus()
		return func() hub.Bus {
			b := root.Peer()
			t.Cleanup(func() { _ = b.Close() })
			return b
		}
	})
}

func TestMemoryPresence(t *testing.T) {
	bustest.RunPresence(t, func(t testing.TB, ttl time.Duration) func() hub.Presence {
		p := hub.NewMemoryPresence(ttl)
		return func() hub.Presence { return p }
	})
}
