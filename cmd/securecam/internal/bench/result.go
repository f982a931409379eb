package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is one measured figure set: a scenario's phase against one target. Fields a
// scenario does not measure are zero and left out of its JSON line.
type Result struct {
	// Scenario is idle, route, cluster, commands, liveview or relay.
	Scenario string `json:"scenario"`
	// Target is what was measured: hub (securecam serve), raw (the bare relay), direct
	// (pion peers without a hub), cluster (two replicas) or bare (the bare pion
	// forwarder of relay).
	Target string `json:"target"`
	// Phase names the load: full (as fast as the target goes), rate (a fixed offered
	// rate), setup (live view), connect (idle) or forward (relay).
	Phase string `json:"phase"`

	Conns   int     `json:"conns,omitempty"`   // sockets open
	Pairs   int     `json:"pairs,omitempty"`   // sender→receiver pairs
	Rate    float64 `json:"rate,omitempty"`    // offered messages (or commands) per second; 0 at full speed
	Seconds float64 `json:"seconds,omitempty"` // length of the measured span
	// Sent counts messages (commands, setups) started in the span. Received counts
	// those completed inside it (liveview: every setup that completed); Late those
	// completed in the drain after it (route, raw, cluster, commands), which no rate or
	// latency counts; Lost those not completed by the end of the drain (drainTimeout).
	// Sent = Received + Late + Lost.
	Sent       int64   `json:"sent,omitempty"`
	Received   int64   `json:"received,omitempty"`
	Late       int64   `json:"late"`
	Lost       int64   `json:"lost"`
	SentPerSec float64 `json:"sent_per_sec,omitempty"` // Sent per second of the span
	PerSec     float64 `json:"per_sec,omitempty"`      // Received per second of the span

	// Latency percentiles in milliseconds, of what completed inside the span only:
	// message send → delivery (route, cluster), command.send → command at the target
	// (commands, of the round trips that completed), stream.request → first RTP packet
	// (liveview).
	P50 float64 `json:"p50_ms,omitempty"`
	P90 float64 `json:"p90_ms,omitempty"`
	P99 float64 `json:"p99_ms,omitempty"`
	Max float64 `json:"max_ms,omitempty"`
	// RoundTrip* (commands): command.send → command.status acknowledged at the source.
	RoundTripP50 float64 `json:"round_trip_p50_ms,omitempty"`
	RoundTripP99 float64 `json:"round_trip_p99_ms,omitempty"`

	// Memory (idle): the server's resident set before and after, and Go's heap and stack
	// in use per connection (from /metrics, hub only).
	RSSBeforeBytes  int64   `json:"rss_before_bytes,omitempty"`
	RSSAfterBytes   int64   `json:"rss_after_bytes,omitempty"`
	RSSPerConnBytes float64 `json:"rss_per_conn_bytes,omitempty"`
	GoPerConnBytes  float64 `json:"go_per_conn_bytes,omitempty"`
	GoroutinesConn  float64 `json:"goroutines_per_conn,omitempty"`
	ConnectSeconds  float64 `json:"connect_seconds,omitempty"`

	// Ratios to the bare relay measured in the same run (route, cluster): throughput
	// (higher is better) and p99 (lower is better).
	PerSecVsRaw float64 `json:"per_sec_vs_raw,omitempty"`
	P99VsRaw    float64 `json:"p99_vs_raw,omitempty"`
	// Ratios to two Centrifugo nodes on the same Redis measured in the same run
	// (cluster with --centrifugo).
	PerSecVsCentrifugo float64 `json:"per_sec_vs_centrifugo,omitempty"`
	P99VsCentrifugo    float64 `json:"p99_vs_centrifugo,omitempty"`
	CPUVsCentrifugo    float64 `json:"cpu_vs_centrifugo,omitempty"`
	// CPU time of the server processes (route, raw, cluster) from the start of a
	// phase to the end of its drain, per message sent in it, in microseconds, and as a
	// ratio to the bare relay's: a figure that load from outside the benchmark hardly
	// moves.
	CPUPerMsgMicros float64 `json:"cpu_per_msg_us,omitempty"`
	CPUVsRaw        float64 `json:"cpu_vs_raw,omitempty"`
	// Overhead (liveview): hub minus direct, in milliseconds, at p50 and p90.
	OverheadP50 float64 `json:"overhead_p50_ms,omitempty"`
	OverheadP90 float64 `json:"overhead_p90_ms,omitempty"`

	// Relay: the server's CPU time in the span per packet delivered in it, in
	// microseconds, and the hub's as a ratio to the bare forwarder's of the same run.
	CPUPerPacketMicros float64 `json:"cpu_per_packet_us,omitempty"`
	CPUVsBare          float64 `json:"cpu_vs_bare,omitempty"`

	// Errors counts error messages and failed operations seen during the phase.
	Errors int64 `json:"errors"`
}

// latencies collects durations and reports percentiles.
type latencies []time.Duration

// percentile returns the q-quantile (0 < q ≤ 1) in milliseconds, nearest rank; 0 when
// empty. ls must be sorted.
func (ls latencies) percentile(q float64) float64 {
	if len(ls) == 0 {
		return 0
	}
	i := int(q*float64(len(ls))+0.5) - 1
	i = max(0, min(i, len(ls)-1))
	return ms(ls[i])
}

// fill sorts ls and sets the latency fields of r.
func (ls latencies) fill(r *Result) {
	slices.Sort(ls)
	r.P50, r.P90, r.P99 = ls.percentile(0.50), ls.percentile(0.90), ls.percentile(0.99)
	r.Max = ls.percentile(1)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// writeJSON writes r as one line.
func writeJSON(w io.Writer, r Result) {
	b, _ := json.Marshal(r) // plain fields: cannot fail
	fmt.Fprintf(w, "%s\n", b)
}

// column is one column of a table: a header and how to show a result in it.
type column struct {
	head string
	cell func(Result) string
}

// writeTable writes results as an aligned table with the columns, then one JSON line
// per result.
func writeTable(w io.Writer, title string, cols []column, rs []Result) {
	fmt.Fprintf(w, "\n%s\n", title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	heads := make([]string, len(cols))
	for i, c := range cols {
		heads[i] = c.head
	}
	fmt.Fprintln(tw, strings.Join(heads, "\t")+"\t")
	for _, r := range rs {
		cells := make([]string, len(cols))
		for i, c := range cols {
			cells[i] = c.cell(r)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t")+"\t")
	}
	_ = tw.Flush()
	for _, r := range rs {
		writeJSON(w, r)
	}
}

// Common columns.
var (
	colTarget = column{"target", func(r Result) string { return r.Target }}
	colPhase  = column{"phase", func(r Result) string { return r.Phase }}
	// colOffered is the offered load: a fixed rate, or "max" at full speed.
	colOffered = column{"offered/s", func(r Result) string {
		if r.Rate == 0 {
			return "max"
		}
		return strconv.FormatFloat(r.Rate, 'f', 0, 64)
	}}
	// colSent is the rate actually sent in the span.
	colSent = column{"sent/s", func(r Result) string { return strconv.FormatFloat(r.SentPerSec, 'f', 0, 64) }}
	// colRate is what completed inside the span, per second.
	colRate = func(head string) column {
		return column{head, func(r Result) string { return strconv.FormatFloat(r.PerSec, 'f', 0, 64) }}
	}
	colLate = column{"late", func(r Result) string { return strconv.FormatInt(r.Late, 10) }}
	colMs   = func(head string, f func(Result) float64) column {
		return column{head, func(r Result) string { return fmt.Sprintf("%.2f", f(r)) }}
	}
	colInt = func(head string, f func(Result) int64) column {
		return column{head, func(r Result) string { return fmt.Sprintf("%d", f(r)) }}
	}
	colRatio = func(head string, f func(Result) float64) column {
		return column{head, func(r Result) string {
			if f(r) == 0 {
				return "-"
			}
			return fmt.Sprintf("%.2f×", f(r))
		}}
	}
)

// spanNote explains the counting of route, raw, cluster and commands under their tables.
const spanNote = "sent/s: started in the span; delivered/s, completed/s and every latency: only what completed inside the span; " +
	"late: completed in the drain after it (not counted); lost: not completed within the drain (5 s)"

// kib formats bytes as KiB with one decimal.
func kib(b float64) string { return fmt.Sprintf("%.1f KiB", b/1024) }

// mib formats bytes as MiB with one decimal.
func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }
