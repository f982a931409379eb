package signaling

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// queued reports how many calls wait in b's queue.
func (b *batcher[In, Out]) queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

// waitFor waits up to 20 s for cond.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// What arrives while a batch is written goes in the next batch, all of it at once, and
// every caller gets its own result.
func TestBatcherGroupsWhatArrivesDuringAWrite(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var sizes []int
	b := &batcher[int, int]{run: func(_ context.Context, ins []int) ([]int, error) {
		mu.Lock()
		sizes = append(sizes, len(ins))
		first := len(sizes) == 1
		mu.Unlock()
		if first {
			close(started)
			<-release
		}
		outs := make([]int, len(ins))
		for i, in := range ins {
			outs[i] = in * 10
		}
		return outs, nil
	}}
	const n = 50
	got := make([]int, n)
	var wg sync.WaitGroup
	wg.Go(func() { got[0], _ = b.do(t.Context(), 0) })
	<-started
	for i := 1; i < n; i++ {
		wg.Go(func() { got[i], _ = b.do(t.Context(), i) })
	}
	waitFor(t, "the callers to queue", func() bool { return b.queued() == n-1 })
	close(release)
	wg.Wait()
	for i, v := range got {
		if v != i*10 {
			t.Fatalf("caller %d got %d, want %d", i, v, i*10)
		}
	}
	if len(sizes) != 2 || sizes[0] != 1 || sizes[1] != n-1 {
		t.Fatalf("batch sizes %v, want [1 %d]", sizes, n-1)
	}
	if b.busy || b.queued() != 0 {
		t.Fatal("the batcher is not idle after the last batch")
	}
}

// A failed batch fails each of its callers; a batch that panics fails too, and the
// queue keeps moving.
func TestBatcherFailuresReachEveryCaller(t *testing.T) {
	boom := errors.New("boom")
	for name, run := range map[string]func(context.Context, []int) ([]int, error){
		"error": func(context.Context, []int) ([]int, error) { return nil, boom },
		"panic": func(context.Context, []int) ([]int, error) { panic("boom") },
		"short": func(context.Context, []int) ([]int, error) { return nil, nil },
	} {
		t.Run(name, func(t *testing.T) {
			b := &batcher[int, int]{run: run}
			for range 2 {
				if _, err := b.do(t.Context(), 1); err == nil {
					t.Fatal("no error from a failed batch")
				}
			}
		})
	}
}

// A caller whose context ends does not cancel the batch it shares with others.
func TestBatcherOutlivesTheLeadersContext(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	b := &batcher[int, int]{run: func(ctx context.Context, ins []int) ([]int, error) {
		return make([]int, len(ins)), ctx.Err()
	}}
	if _, err := b.do(ctx, 1); err != nil {
		t.Fatalf("batch of a cancelled caller: %v", err)
	}
}
