package web

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Limiter counts requests per key in fixed windows. Allow counts one request on key
// and reports whether it is within limit requests per window; when it is not,
// retryAfter says when the window ends.
type Limiter interface {
	Allow(ctx context.Context, key string, limit int, window time.Duration) (ok bool, retryAfter time.Duration, err error)
}

// MemoryLimiter is a [Limiter] for one replica. Expired windows are swept as time
// passes, so memory stays proportional to the keys active in the last window.
type MemoryLimiter struct {
	now func() time.Time

	mu        sync.Mutex
	windows   map[string]*fixedWindow
	nextSweep time.Time
}

type fixedWindow struct {
	count int
	end   time.Time
}

// NewMemoryLimiter returns an empty limiter reading the time from now (nil: time.Now).
func NewMemoryLimiter(now func() time.Time) *MemoryLimiter {
	if now == nil {
		now = time.Now
	}
	return &MemoryLimiter{now: now, windows: make(map[string]*fixedWindow)}
}

// Allow implements [Limiter]. It never fails.
func (m *MemoryLimiter) Allow(_ context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if !now.Before(m.nextSweep) {
		for k, w := range m.windows {
			if !now.Before(w.end) {
				delete(m.windows, k)
			}
		}
		m.nextSweep = now.Add(time.Minute)
	}
	w := m.windows[key]
	if w == nil || !now.Before(w.end) {
		w = &fixedWindow{end: now.Add(window)}
		m.windows[key] = w
	}
	w.count++
	if w.count > limit {
		return false, w.end.Sub(now), nil
	}
	return true, 0, nil
}

// RedisLimiter is a [Limiter] whose counts every replica sharing the Redis shares.
// Each key is one Redis string under the prefix, counted with INCR and given its
// window as a PEXPIRE on the first hit, atomically in a Lua script.
type RedisLimiter struct {
	client redis.UniversalClient
	prefix string
}

// NewRedisLimiter returns a limiter storing its counters under prefix (for example
// "securecam:ratelimit:").
func NewRedisLimiter(client redis.UniversalClient, prefix string) *RedisLimiter {
	return &RedisLimiter{client: client, prefix: prefix}
}

var fixedWindowScript = redis.NewScript(`
local n = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}
`)

// Allow implements [Limiter].
func (l *RedisLimiter) Allow(ctx context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	ms := max(window.Milliseconds(), 1)
	res, err := fixedWindowScript.Run(ctx, l.client, []string{l.prefix + key}, ms).Int64Slice()
	if err != nil {
		return false, 0, fmt.Errorf("redis limiter: %w", err)
	}
	if len(res) != 2 {
		return false, 0, fmt.Errorf("redis limiter: unexpected reply %v", res)
	}
	if res[0] > int64(limit) {
		return false, time.Duration(res[1]) * time.Millisecond, nil
	}
	return true, 0, nil
}
