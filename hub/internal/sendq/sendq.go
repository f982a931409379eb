// Package sendq is the bounded per-connection send queue of the hub.
//
// A Queue holds encoded messages and drains them through a write function in at most
// one goroutine, which it starts when a message arrives at an empty, idle queue and
// which returns as soon as the queue is empty again: an idle connection costs no
// goroutine. Push never blocks. All methods are safe for concurrent use.
package sendq

import (
	"errors"
	"fmt"
	"sync"
)

// Errors of Push.
var (
	ErrFull   = errors.New("sendq: full")
	ErrClosed = errors.New("sendq: closed")
)

// Queue is a bounded FIFO of messages with an on-demand writer goroutine.
type Queue struct {
	write    func(msg []byte, more bool) error
	onPanic  func(v any)
	maxLen   int
	maxBytes int

	mu      sync.Mutex
	items   [][]byte
	bytes   int
	running bool // a writer goroutine exists
	held    bool // no writer starts until Release
	closed  bool // Push refuses
	aborted bool // queued items are dropped, the writer stops
	err     error
	wg      sync.WaitGroup
}

// New returns a queue of at most maxLen messages and maxBytes bytes (a single message
// larger than maxBytes is still accepted into an empty queue). write sends one message
// and is called from the writer goroutine only; after it fails the queue is aborted.
// more tells write that the writer holds further messages it will write right after
// this one: write may leave msg buffered then, and must send everything it buffered
// when called with more false (the writer always ends with such a call).
// onPanic, if not nil, is called with the value of a panic in write (the queue is then
// aborted).
func New(maxLen, maxBytes int, write func(msg []byte, more bool) error, onPanic func(v any)) *Queue {
	return &Queue{write: write, onPanic: onPanic, maxLen: maxLen, maxBytes: maxBytes}
}

// Push appends msg, starting the writer if none runs. It returns ErrFull when the
// queue is at its limits (the message is not queued) and ErrClosed after Close or
// Abort. msg must not be modified afterwards.
func (q *Queue) Push(msg []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	if len(q.items) >= q.maxLen || (len(q.items) > 0 && q.bytes+len(msg) > q.maxBytes) {
		return ErrFull
	}
	q.items = append(q.items, msg)
	q.bytes += len(msg)
	q.startLocked()
	return nil
}

func (q *Queue) startLocked() {
	if q.running || q.held || len(q.items) == 0 {
		return
	}
	q.running = true
	q.wg.Add(1)
	go q.run()
}

// Hold keeps pushed messages queued, without a writer, until Release. Call it before
// the first Push.
func (q *Queue) Hold() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.held = true
}

// Release ends Hold: the queued messages are written, in order.
func (q *Queue) Release() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.held = false
	if !q.aborted {
		q.startLocked()
	}
}

func (q *Queue) run() {
	defer q.wg.Done()
	defer func() {
		if v := recover(); v != nil {
			q.mu.Lock()
			q.abortLocked(fmt.Errorf("sendq: write panicked: %v", v))
			q.running = false
			q.mu.Unlock()
			if q.onPanic != nil {
				q.onPanic(v)
			}
		}
	}()
	for {
		q.mu.Lock()
		if q.aborted || len(q.items) == 0 {
			q.running = false
			q.mu.Unlock()
			return
		}
		batch := q.items
		q.items = nil
		q.bytes = 0
		q.mu.Unlock()
		for i, msg := range batch {
			if err := q.write(msg, i < len(batch)-1); err != nil {
				q.mu.Lock()
				q.abortLocked(err)
				q.running = false
				q.mu.Unlock()
				return
			}
			batch[i] = nil
		}
	}
}

func (q *Queue) abortLocked(err error) {
	q.closed = true
	q.aborted = true
	if q.err == nil {
		q.err = err
	}
	q.items = nil
	q.bytes = 0
}

// Close refuses further messages; those already queued are still written.
func (q *Queue) Close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
}

// Abort refuses further messages and drops the queued ones; the batch the writer
// already took is still written unless a write fails.
func (q *Queue) Abort() {
	q.mu.Lock()
	q.abortLocked(ErrClosed)
	q.mu.Unlock()
}

// Wait returns when the writer goroutine, if any, has returned: the queue is drained
// (after Close) or dropped (after Abort). Call it only after Close or Abort.
func (q *Queue) Wait() {
	q.wg.Wait()
}

// Err returns the error that aborted the queue: the first failed write, or ErrClosed
// after Abort; nil otherwise.
func (q *Queue) Err() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.err
}

// Len returns the number of queued messages and whether a writer goroutine runs.
func (q *Queue) Len() (n int, writing bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items), q.running
}
