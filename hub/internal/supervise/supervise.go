// Package supervise keeps a long-lived background loop alive: when the loop panics, the
// panic is reported and the loop starts again after a backoff, so that a bug hit once
// neither stops the loop's work for the rest of the process's life nor does so silently.
//
// Concurrency: [Run] blocks in the goroutine that calls it and calls the loop and the
// panic report from that goroutine only.
package supervise

import (
	"runtime/debug"
	"time"
)

// The wait before a restart starts at MinBackoff and doubles with each panic in a row
// up to MaxBackoff; a run that lasted longer than MaxBackoff resets it.
const (
	MinBackoff = 100 * time.Millisecond
	MaxBackoff = 30 * time.Second
)

// Run calls loop until it returns normally or stop is closed. When loop panics,
// onPanic gets the panic value and the panicking goroutine's stack, and loop is called
// again after the backoff unless stop is closed first.
func Run(stop <-chan struct{}, loop func(), onPanic func(v any, stack []byte)) {
	backoff := MinBackoff
	for {
		start := time.Now()
		if !panicked(loop, onPanic) {
			return
		}
		if time.Since(start) > MaxBackoff {
			backoff = MinBackoff
		}
		t := time.NewTimer(backoff)
		select {
		case <-stop:
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, MaxBackoff)
	}
}

// panicked calls loop and reports whether it panicked.
func panicked(loop func(), onPanic func(v any, stack []byte)) (p bool) {
	defer func() {
		if v := recover(); v != nil {
			p = true
			onPanic(v, debug.Stack())
		}
	}()
	loop()
	return false
}
