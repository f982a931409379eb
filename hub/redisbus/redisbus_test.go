package redisbus_test

import (
	"testing"
	"time"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/hub/bustest"
	"github.com/securecam/securecam/hub/redisbus"
)

func TestBus(t *testing.T) {
	url := bustest.RedisURL(t)
	bustest.Run(t, func(t testing.TB) func() hub.Bus {
		prefix := bustest.Prefix(t)
		return func() hub.Bus {
			b := redisbus.New(bustest.Client(t, url, prefix), redisbus.Config{Prefix: prefix, PingInterval: 100 * time.Millisecond})
			t.Cleanup(func() { _ = b.Close() })
			return b
		}
	})
}

func TestPresence(t *testing.T) {
	url := bustest.RedisURL(t)
	bustest.RunPresence(t, func(t testing.TB, ttl time.Duration) func() hub.Presence {
		prefix := bustest.Prefix(t)
		return func() hub.Presence {
			return redisbus.NewPresence(bustest.Client(t, url, prefix), redisbus.PresenceConfig{Prefix: prefix, TTL: ttl})
		}
	})
}
