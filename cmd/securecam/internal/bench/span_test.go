package bench

import (
	"testing"
	"time"
)

// Only work completed inside the span counts towards the rate and the latencies: a
// round trip that finishes in the drain is late, one that never finishes is lost, and a
// straggler of an earlier phase is ignored.
func TestTallyCountsOnlyCompletionsInsideTheSpan(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	sp := span{from: ms(1000), to: ms(3000)} // 2 s
	cs := []completion{
		{sent: ms(1000), delivered: ms(1010), done: ms(1020)}, // inside
		{sent: ms(2000), delivered: ms(2100), done: ms(2200)}, // inside
		{sent: ms(2900), delivered: ms(2950), done: ms(3000)}, // completes exactly at the end: inside
		{sent: ms(2950), delivered: ms(2990), done: ms(3001)}, // delivered inside, completed in the drain
		{sent: ms(2990), delivered: ms(3500), done: ms(4000)}, // entirely in the drain
		{sent: ms(900), delivered: ms(1100), done: ms(1200)},  // sent in the previous phase
	}
	var res Result
	sp.tally(&res, 6, cs, true) // six sent in the span: one never completed

	if res.Sent != 6 || res.Received != 3 || res.Late != 2 || res.Lost != 1 {
		t.Errorf("sent %d, received %d, late %d, lost %d; want 6, 3, 2, 1", res.Sent, res.Received, res.Late, res.Lost)
	}
	if res.Received > res.Sent || res.Received+res.Late+res.Lost != res.Sent {
		t.Errorf("counts do not add up: %+v", res)
	}
	if res.Seconds != 2 || res.PerSec != 1.5 || res.SentPerSec != 3 {
		t.Errorf("%.3f s, %.2f/s completed, %.2f/s sent; want 2 s, 1.5/s, 3/s", res.Seconds, res.PerSec, res.SentPerSec)
	}
	// Delivery latencies of the three inside: 10, 100, 50 ms; round trips 20, 200, 100.
	if res.P50 != 50 || res.Max != 100 {
		t.Errorf("delivery p50 %.1f ms, max %.1f ms; want 50, 100 (late and stale ones excluded)", res.P50, res.Max)
	}
	if res.RoundTripP50 != 100 || res.RoundTripP99 != 200 {
		t.Errorf("round trip p50 %.1f ms, p99 %.1f ms; want 100, 200", res.RoundTripP50, res.RoundTripP99)
	}
}

// Without round trips (route), only delivery latencies are set.
func TestTallyRouteHasNoRoundTrips(t *testing.T) {
	now := 1500 * time.Millisecond
	var res Result
	span{from: time.Second, to: 2 * time.Second}.tally(&res, 1, []completion{{sent: time.Second, delivered: now, done: now}}, false)
	if res.Received != 1 || res.P50 != 500 || res.RoundTripP50 != 0 || res.RoundTripP99 != 0 {
		t.Errorf("%+v", res)
	}
}

// A phase in which nothing completes in time has no rate and no latencies, not a
// rate made of the drain.
func TestTallyNothingInsideTheSpan(t *testing.T) {
	var res Result
	cs := []completion{{sent: time.Second, delivered: 3 * time.Second, done: 3 * time.Second}}
	span{from: time.Second, to: 2 * time.Second}.tally(&res, 1, cs, true)
	if res.Received != 0 || res.Late != 1 || res.PerSec != 0 || res.P50 != 0 || res.RoundTripP50 != 0 {
		t.Errorf("%+v", res)
	}
}
