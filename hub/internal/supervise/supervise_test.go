package supervise

import (
	"testing"
	"testing/synctest"
	"time"
)

func TestRunRestartsAfterPanicWithBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stop := make(chan struct{})
		var starts []time.Time
		var panics []any
		done := make(chan struct{})
		go func() {
			defer close(done)
			Run(stop, func() {
				starts = append(starts, time.Now())
				if len(starts) <= 3 {
					panic(len(starts))
				}
				<-stop // the fourth run works until stopped
			}, func(v any, stack []byte) {
				if len(stack) == 0 {
					t.Error("no stack with the panic")
				}
				panics = append(panics, v)
			})
		}()
		time.Sleep(time.Hour) // fake time: every restart has happened
		synctest.Wait()
		if len(starts) != 4 || len(panics) != 3 {
			t.Fatalf("%d starts and panics %v, want 4 starts after 3 panics", len(starts), panics)
		}
		for i, want := range []time.Duration{MinBackoff, 2 * MinBackoff, 4 * MinBackoff} {
			if got := starts[i+1].Sub(starts[i]); got != want {
				t.Errorf("restart %d after %s, want %s", i+1, got, want)
			}
		}
		close(stop)
		<-done
	})
}

func TestRunBackoffCapsAndResets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stop := make(chan struct{})
		var starts []time.Time
		done := make(chan struct{})
		go func() {
			defer close(done)
			Run(stop, func() {
				starts = append(starts, time.Now())
				if len(starts) == 12 {
					time.Sleep(2 * MaxBackoff) // a long healthy run before the next panic
				}
				if len(starts) < 14 {
					panic("again")
				}
			}, func(any, []byte) {})
		}()
		<-done // the 14th run returns normally: Run returns
		gaps := make([]time.Duration, len(starts)-1)
		for i := range gaps {
			gaps[i] = starts[i+1].Sub(starts[i])
		}
		if gaps[10] != MaxBackoff {
			t.Errorf("backoff after 11 panics in a row %s, want the cap %s (gaps %v)", gaps[10], MaxBackoff, gaps)
		}
		if want := 2*MaxBackoff + MinBackoff; gaps[11] != want {
			t.Errorf("restart after a long run came %s after its start, want %s: backoff reset (gaps %v)", gaps[11], want, gaps)
		}
		close(stop)
	})
}

func TestRunStopsDuringBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		stop := make(chan struct{})
		runs := 0
		done := make(chan struct{})
		go func() {
			defer close(done)
			Run(stop, func() { runs++; panic("always") }, func(any, []byte) {})
		}()
		synctest.Wait() // panicked once, waiting out the backoff
		close(stop)
		<-done
		if runs != 1 {
			t.Fatalf("%d runs, want 1: stop ends the wait", runs)
		}
	})
}
