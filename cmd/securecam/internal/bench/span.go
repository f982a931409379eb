package bench

import "time"

// completion is one routed message delivered (route, raw, cluster) or one command
// round trip completed (commands), in time since the fleet's epoch: when it was sent
// (at a fixed rate, when it was meant to be sent), when it reached the receiver, and
// when it completed (for a routed message the same as delivered; for a command, when
// its command.status reached the sender).
type completion struct{ sent, delivered, done time.Duration }

// span is a measured phase in time since the fleet's epoch: from when the load started
// to when the last sender stopped.
type span struct{ from, to time.Duration }

// tally sets the counts, rates and latencies of res from the number of messages sent in
// the span and the completions seen until the drain after it ended. Only work completed
// inside the span counts: Received, PerSec and the latencies are of completions at or
// before s.to; completions after it (in the drain) are Late; what did not complete by
// the end of the drain is Lost. Completions of messages sent before the span
// (stragglers of an earlier phase) are ignored. With roundTrips the round-trip percentiles are set too.
func (s span) tally(res *Result, sent int64, cs []completion, roundTrips bool) {
	var lat, rtt latencies
	var late int64
	for _, c := range cs {
		switch {
		case c.sent < s.from:
			continue
		case c.done > s.to:
			late++
			continue
		}
		lat = append(lat, c.delivered-c.sent)
		rtt = append(rtt, c.done-c.sent)
	}
	res.Sent, res.Received, res.Late = sent, int64(len(lat)), late
	res.Lost = sent - res.Received - late
	res.Seconds = (s.to - s.from).Seconds()
	if res.Seconds > 0 {
		res.SentPerSec = float64(sent) / res.Seconds
		res.PerSec = float64(res.Received) / res.Seconds
	}
	lat.fill(res)
	if roundTrips && len(rtt) > 0 {
		var rr Result
		rtt.fill(&rr)
		res.RoundTripP50, res.RoundTripP99 = rr.P50, rr.P99
	}
}
