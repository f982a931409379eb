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

// batcher is a pipelined group commit. A request that arrives while fewer than
// inFlight batches are being written is written at once, alone: nothing waits for a
// window or a timer. Requests that arrive while inFlight batches are being written
// queue up, and the first batch to finish hands the queue's head (up to maxBatch of
// it, in arrival order) to its first caller, which writes it as the next batch. So at
// low load a batch is one request written at once, and under load batches are what
// arrived while the others were written, with at most inFlight of them (each on a
// connection of its own) in the store at a time. Batches may commit in any order;
// each caller is answered after the commit of its own batch, and a failed batch fails
// its own callers only. A batch runs on the goroutine of its first caller (no
// goroutine of its own).
type batcher[In, Out any] struct {
	// run writes a batch and returns a result per input, in order.
	run func(ctx context.Context, ins []In) ([]Out, error)
	// inFlight bounds the batches being written at once; 0 means 1.
	inFlight int

	mu      sync.Mutex
	running int // batches being written
	queue   []*batchCall[In, Out]
}

type batchCall[In, Out any] struct {
	in  In
	out Out
	err error
	// batch is set, before done receives, on the first caller of a batch: the
	// batch it is to write (itself first).
	batch []*batchCall[In, Out]
	done  chan struct{} // receives once: the result is in, or batch is set
}

// do queues in, waits for the batch that carries it and returns its result.
func (b *batcher[In, Out]) do(ctx context.Context, in In) (Out, error) {
	c := &batchCall[In, Out]{in: in, done: make(chan struct{}, 1)}
	b.mu.Lock()
	if b.running < max(b.inFlight, 1) { // then the queue is empty: write c at once
		b.running++
		b.mu.Unlock()
		b.write(ctx, []*batchCall[In, Out]{c})
		return c.out, c.err
	}
	b.queue = append(b.queue, c)
	b.mu.Unlock()
	<-c.done
	if c.batch != nil {
		b.write(ctx, c.batch)
	}
	return c.out, c.err
}

// write writes calls as one batch, answers its callers and hands the batch's slot to
// the head of the queue, or frees it.
func (b *batcher[In, Out]) write(ctx context.Context, calls []*batchCall[In, Out]) {
	ins := make([]In, len(calls))
	for i, c := range calls {
		ins[i] = c.in
	}
	outs, err := b.runSafe(ctx, ins)
	if err != nil {
		err = fmt.Errorf("group commit of %d: %w", len(calls), err)
	}
	for i, c := range calls {
		if err != nil {
			c.err = err
		} else {
			c.out = outs[i]
		}
		if i > 0 {
			c.done <- struct{}{}
		}
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.queue) == 0 {
		b.running--
		b.queue = nil
		return
	}
	n := min(len(b.queue), maxBatch)
	next := b.queue[:n:n]
	b.queue = b.queue[n:]
	next[0].batch = next
	next[0].done <- struct{}{}
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
