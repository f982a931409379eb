package signaling

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// maxBatch bounds the requests one group commit carries.
const maxBatch = 256

// batchTimeout bounds one group commit: it runs on behalf of several senders, so no
// single sender's context may cancel it.
const batchTimeout = 10 * time.Second

// batcher is a group commit: callers of do that arrive while a batch is being written
// queue up, and the next batch carries all of them (up to maxBatch) in one call of
// run. There is no timer: at low load a batch is one request and waits for nothing;
// under load a batch is what arrived during the previous write. One batch runs at a
// time; the caller whose request heads the queue runs it (no goroutine of its own), and
// hands the turn to the head of what queued meanwhile.
type batcher[In, Out any] struct {
	// run writes a batch and returns a result per input, in order.
	run func(ctx context.Context, ins []In) ([]Out, error)

	mu    sync.Mutex
	busy  bool // a caller is running a batch
	queue []*batchCall[In, Out]
}

type batchCall[In, Out any] struct {
	in   In
	out  Out
	err  error
	done chan bool // receives false with the result, or true: run the next batch
}

// do queues in, waits for the batch that carries it and returns its result.
func (b *batcher[In, Out]) do(ctx context.Context, in In) (Out, error) {
	c := &batchCall[In, Out]{in: in, done: make(chan bool, 1)}
	b.mu.Lock()
	b.queue = append(b.queue, c)
	lead := !b.busy
	b.busy = true
	b.mu.Unlock()
	if !lead && !<-c.done {
		return c.out, c.err
	}
	b.flush(ctx) // c heads the queue: it is in this batch
	return c.out, c.err
}

// flush runs the batch at the head of the queue, answers its callers and hands the
// turn on.
func (b *batcher[In, Out]) flush(ctx context.Context) {
	b.mu.Lock()
	n := min(len(b.queue), maxBatch)
	calls := b.queue[:n:n]
	b.queue = b.queue[n:]
	b.mu.Unlock()

	ins := make([]In, n)
	for i, c := range calls {
		ins[i] = c.in
	}
	outs, err := b.runSafe(ctx, ins)
	for i, c := range calls {
		if err != nil {
			c.err = err
		} else {
			c.out = outs[i]
		}
		if i > 0 {
			c.done <- false
		}
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.queue) == 0 {
		b.busy = false
		b.queue = nil
		return
	}
	b.queue[0].done <- true
}

// runSafe runs a batch on a context of its own; a panic fails the batch (and is
// re-raised in no caller) so that the queue keeps moving.
func (b *batcher[In, Out]) runSafe(ctx context.Context, ins []In) (outs []Out, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("batch panicked: %v", p)
		}
	}()
	outs, err = b.run(ctx, ins)
	if err == nil && len(outs) != len(ins) {
		err = fmt.Errorf("batch of %d answered %d", len(ins), len(outs))
	}
	return outs, err
}
