package signaling

import (
	"context"
	"errors"
	"slices"
	"strings"
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

// inFlightNow reports how many batches b is writing.
func (b *batcher[In, Out]) inFlightNow() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.running
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
	if b.inFlightNow() != 0 || b.queued() != 0 {
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

// gatedRun is a batch writer that holds each batch until it takes a token from
// release (or release is closed), and records what it wrote: batches, how many were
// written at once at most, and which inputs were committed (their batch returned). A
// batch carrying the input fail waits for releaseFail instead, and fails.
type gatedRun struct {
	release, releaseFail chan struct{}
	fail                 int // -1: no batch fails

	mu        sync.Mutex
	writing   int
	most      int
	batches   [][]int
	committed map[int]bool
}

func newGatedRun() *gatedRun {
	return &gatedRun{release: make(chan struct{}), releaseFail: make(chan struct{}), fail: -1, committed: map[int]bool{}}
}

var errPoison = errors.New("poisoned batch")

func (g *gatedRun) run(_ context.Context, ins []int) ([]int, error) {
	g.mu.Lock()
	g.writing++
	g.most = max(g.most, g.writing)
	g.batches = append(g.batches, slices.Clone(ins))
	g.mu.Unlock()
	poisoned := slices.Contains(ins, g.fail)
	if poisoned {
		<-g.releaseFail
	} else {
		<-g.release
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.writing--
	if poisoned {
		return nil, errPoison
	}
	for _, in := range ins {
		g.committed[in] = true
	}
	return slices.Clone(ins), nil
}

func (g *gatedRun) started() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.batches)
}

// queuedIns lists the inputs waiting in b's queue, in order.
func (b *batcher[In, Out]) queuedIns() []In {
	b.mu.Lock()
	defer b.mu.Unlock()
	ins := make([]In, len(b.queue))
	for i, c := range b.queue {
		ins[i] = c.in
	}
	return ins
}

// openBatches starts n batches of g (the batcher idle), held, with one request written at
// once and each further one with the openAt requests that open it, calling call with
// the inputs from 0 on. It returns the next input.
func openBatches(t *testing.T, wg *sync.WaitGroup, g *gatedRun, n int, call func(int)) int {
	t.Helper()
	base := g.started()
	wg.Go(func() { call(0) })
	waitFor(t, "a batch to start at once", func() bool { return g.started() == base+1 })
	next := 1
	for k := 1; k < n; k++ {
		for range openAt {
			in := next
			wg.Go(func() { call(in) })
			next++
		}
		waitFor(t, "a batch to open beside the others", func() bool { return g.started() == base+k+1 })
	}
	return next
}

// Requests queue behind a batch being written; a further batch opens beside it once
// the queue holds openAt requests, up to inFlight of them, and each batch that
// finishes takes the next part of the queue, in arrival order, up to maxBatch. Never
// more than inFlight batches are written at once, and no caller is answered before its
// own batch committed.
func TestPipelinedBatchesAreBoundedAndKeepArrivalOrder(t *testing.T) {
	const inFlight, queued = 3, 2*maxBatch + 88
	g := newGatedRun()
	b := &batcher[int, int]{run: g.run, inFlight: inFlight}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var early []int // callers answered before their batch committed
	call := func(in int) {
		out, err := b.do(t.Context(), in)
		mu.Lock()
		defer mu.Unlock()
		g.mu.Lock()
		defer g.mu.Unlock()
		if err != nil || out != in {
			t.Errorf("caller %d got %d, %v", in, out, err)
		}
		if !g.committed[in] {
			early = append(early, in)
		}
	}
	first := openBatches(t, &wg, g, inFlight, call)
	for i := range queued {
		wg.Go(func() { call(first + i) })
	}
	waitFor(t, "the callers to queue", func() bool { return b.queued() == queued })
	order := b.queuedIns()
	// One batch finishes at a time: the next batch to start is the next part of the
	// queue.
	for k, from := 0, 0; from < queued; k, from = k+1, from+maxBatch {
		g.release <- struct{}{}
		waitFor(t, "the next batch to start", func() bool { return g.started() == inFlight+k+1 })
		g.mu.Lock()
		got := g.batches[inFlight+k]
		g.mu.Unlock()
		if want := order[from:min(from+maxBatch, queued)]; !slices.Equal(got, want) {
			t.Errorf("batch %d wrote %v, want the next part of the queue in arrival order %v", inFlight+k, got, want)
		}
	}
	close(g.release)
	wg.Wait()

	if len(early) > 0 {
		t.Errorf("callers %v were answered before their batch committed", early)
	}
	if g.most > inFlight {
		t.Errorf("%d batches were written at once, want at most %d", g.most, inFlight)
	}
	for i, batch := range g.batches[:inFlight] {
		if want := min(i, 1)*(openAt-1) + 1; len(batch) != want {
			t.Errorf("batch %d carries %v, want %d requests", i, batch, want)
		}
	}
	if b.inFlightNow() != 0 || b.queued() != 0 {
		t.Fatal("the batcher is not idle after the last batch")
	}
}

// A batch that fails fails its own callers, with an error that says so and wraps the
// store's, and no one else: the batches beside it and after it commit.
func TestPipelinedBatchFailureStaysInItsBatch(t *testing.T) {
	g := newGatedRun()
	g.fail = 0
	b := &batcher[int, int]{run: g.run, inFlight: 2}
	errs := make([]error, 2*openAt+2) // a queue of openAt+1 behind the two batches
	var wg sync.WaitGroup
	// 0 (poisoned) alone, and 1 to openAt in the batch they open beside it
	first := openBatches(t, &wg, g, 2, func(i int) { _, errs[i] = b.do(t.Context(), i) })
	for i := first; i < len(errs); i++ {
		wg.Go(func() { _, errs[i] = b.do(t.Context(), i) })
	}
	waitFor(t, "the callers to queue", func() bool { return b.queued() == len(errs)-first })
	close(g.releaseFail) // the poisoned batch fails first, while the others wait
	waitFor(t, "the failed batch to hand its slot on", func() bool { return g.started() == 3 })
	close(g.release)
	wg.Wait()
	if err := errs[0]; !errors.Is(err, errPoison) || !strings.Contains(err.Error(), "group commit of 1") {
		t.Errorf("the failed batch's caller got %v, want the group commit's error wrapping the store's", err)
	}
	for i, err := range errs[1:] {
		if err != nil {
			t.Errorf("caller %d, not in the failed batch, got %v", i+1, err)
		}
	}
}

// At a moderate rate requests that queue behind a batch being written wait for it and
// go in the next batch together, though slots are free; a backlog of openAt opens a
// further batch, up to inFlight at once, and past that requests queue.
func TestPipelinedBatchesOpenOnlyUnderBacklog(t *testing.T) {
	const inFlight = 3
	g := newGatedRun()
	b := &batcher[int, int]{run: g.run, inFlight: inFlight}
	var wg sync.WaitGroup
	call := func(in int) {
		if out, err := b.do(t.Context(), in); err != nil || out != in {
			t.Errorf("caller %d got %d, %v", in, out, err)
		}
	}
	wg.Go(func() { call(0) })
	waitFor(t, "a batch to start at once", func() bool { return g.started() == 1 })
	for i := 1; i < openAt; i++ {
		wg.Go(func() { call(i) })
	}
	waitFor(t, "the callers to queue", func() bool { return b.queued() == openAt-1 })
	if n := b.inFlightNow(); n != 1 {
		t.Fatalf("%d batches being written for a queue of %d, want 1", n, openAt-1)
	}
	g.release <- struct{}{}
	waitFor(t, "the next batch to start", func() bool { return g.started() == 2 })
	g.release <- struct{}{}
	waitFor(t, "the batcher to go idle", func() bool { return b.inFlightNow() == 0 })
	g.mu.Lock()
	if got := g.batches[1]; len(got) != openAt-1 {
		t.Errorf("second batch %v, want the %d queued requests together", got, openAt-1)
	}
	g.mu.Unlock()

	// A backlog: every openAt queued requests open a batch until inFlight are written.
	next := openBatches(t, &wg, g, inFlight, func(in int) { call(100 + in) })
	for i := range openAt {
		wg.Go(func() { call(100 + next + i) })
	}
	waitFor(t, "the callers to queue", func() bool { return b.queued() == openAt })
	if n := b.inFlightNow(); n != inFlight {
		t.Fatalf("%d batches being written, want %d", n, inFlight)
	}
	close(g.release)
	wg.Wait()
	if g.most != inFlight {
		t.Errorf("at most %d batches were written at once, want %d", g.most, inFlight)
	}
}
