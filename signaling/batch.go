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

// openAt is the queue that opens a further batch beside those being written. Below
// it the queue waits for a batch to finish and goes in the next one, together: a
// further batch would carry only a few requests and cost a commit of its own, and at
// a moderate rate those commits (more WAL flushes, more store round trips) slow every
// batch down. At or past it the queue is a backlog that one batch at a time does not
// keep up with, and batches in flight at once pay.
const openAt = 8

// batcher is a pipelined group commit. A request that arrives while no batch is being
// written is written at once, alone: nothing waits for a window or a timer. Requests
// that arrive while a batch is being written queue up, and a batch starts with the
// queue's head (up to maxBatch of it, in arrival order), written by its first caller,
// whenever fewer than inFlight batches are being written and either none is or the
// queue holds openAt requests or more. So at low load a batch is one request written
// at once; at a moderate rate one batch at a time carries what arrived while the
// previous one was written; and under a backlog up to inFlight batches (each on a
// connection of its own) are in the store at a time. Batches may commit in any order;
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
	if b.running == 0 { // then the queue is empty: write c at once
		b.running++
		b.mu.Unlock()
		b.write(ctx, []*batchCall[In, Out]{c})
		return c.out, c.err
	}
	b.queue = append(b.queue, c)
	b.startLocked()
	b.mu.Unlock()
	<-c.done
	if c.batch != nil {
		b.write(ctx, c.batch)
	}
	return c.out, c.err
}

// startLocked starts the batches the queue calls for: it hands the queue's head to
// its first caller, to write, while a slot is free and either no batch is being
// written or the queue holds openAt requests or more.
func (b *batcher[In, Out]) startLocked() {
	for len(b.queue) > 0 && b.running < max(b.inFlight, 1) && (b.running == 0 || len(b.queue) >= openAt) {
		n := min(len(b.queue), maxBatch)
		next := b.queue[:n:n]
		b.queue = b.queue[n:]
		b.running++
		next[0].batch = next
		next[0].done <- struct{}{}
	}
	if len(b.queue) == 0 {
		b.queue = nil
	}
}

// write writes calls as one batch, answers its callers and frees the batch's slot
// for what the queue calls for.
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
	b.running--
	b.startLocked()
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
