package web_test

import (
	"context"
	"net"
	"os"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/securecam/securecam/web"
)

func testRedis(t *testing.T) *redis.Client {
	t.Helper()
	u := os.Getenv("SECURECAM_TEST_REDIS_URL")
	if u == "" {
		u = "redis://127.0.0.1:6379"
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("SECURECAM_TEST_REDIS_URL %q: %v", u, err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("redis at %s unreachable (%v): run scripts/test.sh, which starts the services the tests need", u, err)
	}
	return c
}

// limiterContract is what every Limiter does, with any clock.
func limiterContract(t *testing.T, l web.Limiter) {
	ctx := context.Background()
	for i := range 3 {
		ok, after, err := l.Allow(ctx, "a", 3, time.Minute)
		if err != nil || !ok || after != 0 {
			t.Fatalf("hit %d: Allow = %v, %v, %v; want true, 0, nil", i+1, ok, after, err)
		}
	}
	ok, after, err := l.Allow(ctx, "a", 3, time.Minute)
	if err != nil || ok {
		t.Fatalf("hit 4: Allow = %v, %v; want refused", ok, err)
	}
	if after <= 0 || after > time.Minute {
		t.Fatalf("hit 4: retryAfter %v, want in (0, 1m]", after)
	}
	// Keys are independent.
	if ok, _, err := l.Allow(ctx, "b", 3, time.Minute); err != nil || !ok {
		t.Fatalf("other key: Allow = %v, %v", ok, err)
	}
	// Concurrent hits are all counted.
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 20 {
		wg.Go(func() {
			ok, _, err := l.Allow(ctx, "c", 10, time.Minute)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if allowed != 10 {
		t.Fatalf("20 concurrent hits with limit 10: %d allowed", allowed)
	}
}

func TestMemoryLimiter(t *testing.T) {
	t.Parallel()
	t.Run("contract", func(t *testing.T) {
		limiterContract(t, web.NewMemoryLimiter(nil))
	})
	// In a synctest bubble time.Now is the bubble's clock, which Sleep moves.
	t.Run("window ends", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			l := web.NewMemoryLimiter(nil)
			ctx := context.Background()
			_, _, _ = l.Allow(ctx, "k", 1, time.Minute)
			time.Sleep(40 * time.Second)
			if ok, after, _ := l.Allow(ctx, "k", 1, time.Minute); ok || after != 20*time.Second {
				t.Fatalf("within the window: %v, retry %v; want refused, 20s", ok, after)
			}
			time.Sleep(20 * time.Second)
			if ok, _, _ := l.Allow(ctx, "k", 1, time.Minute); !ok {
				t.Fatal("after the window: refused")
			}
			// Sweeping old windows forgets nothing current.
			time.Sleep(2 * time.Minute)
			_, _, _ = l.Allow(ctx, "other", 1, time.Minute)
			if ok, _, _ := l.Allow(ctx, "other", 1, time.Minute); ok {
				t.Fatal("sweep dropped a live window")
			}
		})
	})
}

func TestRedisLimiter(t *testing.T) {
	t.Parallel()
	c := testRedis(t)
	t.Run("contract", func(t *testing.T) {
		limiterContract(t, web.NewRedisLimiter(c, "test:web:"+uuid.NewString()+":"))
	})
	t.Run("replicas share counts and keys expire", func(t *testing.T) {
		prefix := "test:web:" + uuid.NewString() + ":"
		a, b := web.NewRedisLimiter(c, prefix), web.NewRedisLimiter(c, prefix)
		ctx := context.Background()
		if ok, _, err := a.Allow(ctx, "k", 2, time.Minute); !ok || err != nil {
			t.Fatalf("a: %v %v", ok, err)
		}
		if ok, _, err := b.Allow(ctx, "k", 2, time.Minute); !ok || err != nil {
			t.Fatalf("b: %v %v", ok, err)
		}
		if ok, _, err := a.Allow(ctx, "k", 2, time.Minute); ok || err != nil {
			t.Fatalf("third hit across replicas: %v %v; want refused", ok, err)
		}
		ttl, err := c.PTTL(ctx, prefix+"k").Result()
		if err != nil || ttl <= 0 || ttl > time.Minute {
			t.Fatalf("PTTL = %v, %v; want a TTL within the window", ttl, err)
		}
	})
	t.Run("redis down is an error", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		dead := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
		defer dead.Close()
		if _, _, err := web.NewRedisLimiter(dead, "x:").Allow(context.Background(), "k", 1, time.Minute); err == nil {
			t.Fatal("Allow on an unreachable Redis returned no error")
		}
	})
}
