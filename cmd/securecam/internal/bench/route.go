package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling/client"
	"github.com/securecam/securecam/signaling/wire"
)

// link is one sender→receiver pair of generator sockets: on a hub, a viewer and a
// camera inside an open live-view session; on the bare relay, two sockets relayed to
// each other.
type link struct {
	send, recv *websocket.Conn
	target     string // the receiver's device id (commands)
	// build appends the message of seq, stamped ts, to buf[:0].
	build func(buf []byte, seq int64, ts time.Duration) []byte
	seq   int64 // the last sequence number sent; the sender goroutine's

	from     atomic.Int64 // the running phase's start, in nanoseconds since the epoch: older messages are stragglers of the last phase
	sent     atomic.Int64
	received atomic.Int64 // messages delivered (route), commands completed (commands), in the span or the drain after it
	errors   atomic.Int64

	mu      sync.Mutex
	done    []completion          // of the running phase, in the span or the drain after it
	credits chan struct{}         // full-speed window of the running phase; nil at a fixed rate
	pending map[string]completion // commands delivered to the camera, not yet completed, by command id
}

// credit returns one unit of the full-speed window; l.mu is held.
func (l *link) credit() {
	if l.credits != nil {
		select {
		case l.credits <- struct{}{}:
		default:
		}
	}
}

// marker starts the part of a routed message the receiver reads: "candidate:<seq>
// <nanoseconds since the run started> <padding>".
var marker = []byte(`"candidate:`)

// newLink builds the message template of a pair; session is the live-view session id
// (a placeholder of the same length on the bare relay).
func newLink(send, recv *websocket.Conn, session string, size int) *link {
	prefix := []byte(`{"type":"webrtc.candidate","session":"` + session + `","data":{"candidate":"candidate:`)
	// seq and timestamp take about 25 bytes; pad the candidate up to size.
	const tail = `"}}`
	pad := max(1, size-len(prefix)-25-1-len(tail))
	suffix := []byte(" " + strings.Repeat("x", pad) + tail)
	return &link{send: send, recv: recv, build: func(buf []byte, seq int64, ts time.Duration) []byte {
		buf = append(buf[:0], prefix...)
		buf = strconv.AppendInt(buf, seq, 10)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, int64(ts), 10)
		return append(buf, suffix...)
	}}
}

// parseStamp returns the timestamp of a routed message, false if b is not one.
func parseStamp(b []byte) (time.Duration, bool) {
	i := bytes.Index(b, marker)
	if i < 0 {
		return 0, false
	}
	rest := b[i+len(marker):]
	sp := bytes.IndexByte(rest, ' ')
	if sp < 0 {
		return 0, false
	}
	rest = rest[sp+1:]
	end := bytes.IndexByte(rest, ' ')
	if end < 0 {
		return 0, false
	}
	ns, err := strconv.ParseInt(string(rest[:end]), 10, 64)
	return time.Duration(ns), err == nil
}

// fleet is the running pairs of a route load and their read goroutines.
type fleet struct {
	links      []*link
	epoch      time.Time // timestamps count from here
	roundTrips bool      // commands: completions are round trips, reported apart from delivery
	pids       []int     // the processes serving the fleet, whose CPU time a phase counts
	wg         sync.WaitGroup
}

// startRoute runs the read loops of route: receivers time and count routed messages,
// senders count error messages (and keep reading so that pings are answered).
func (f *fleet) startRoute(ctx context.Context) {
	for _, l := range f.links {
		f.wg.Go(func() {
			for {
				_, frame, err := l.recv.Read(ctx)
				if err != nil {
					return
				}
				// Centrifugo may put several messages in one frame, a line each.
				for b := range bytes.SplitSeq(frame, []byte{'\n'}) {
					ts, ok := parseStamp(b)
					if !ok {
						if isError(b) {
							l.errors.Add(1)
						}
						continue
					}
					if int64(ts) < l.from.Load() {
						continue
					}
					now := time.Since(f.epoch)
					l.mu.Lock()
					l.done = append(l.done, completion{sent: ts, delivered: now, done: now})
					l.credit()
					l.mu.Unlock()
					l.received.Add(1)
				}
			}
		})
		f.wg.Go(func() {
			for {
				_, frame, err := l.send.Read(ctx)
				if err != nil {
					return
				}
				for b := range bytes.SplitSeq(frame, []byte{'\n'}) {
					if isError(b) {
						l.errors.Add(1)
					}
				}
			}
		})
	}
}

// isError reports whether a message is an error: the hub's error message, or
// Centrifugo's error reply.
func isError(b []byte) bool {
	return bytes.Contains(b, []byte(`"type":"error"`)) || bytes.Contains(b, []byte(`"error":{`))
}

// close closes every socket and waits for the read loops.
func (f *fleet) close() {
	for _, l := range f.links {
		_ = l.send.CloseNow()
		_ = l.recv.CloseNow()
	}
	f.wg.Wait()
}

// phase is one measured load on a fleet.
type phase struct {
	name     string
	rate     float64 // total messages per second; 0: full speed with window
	window   int
	duration time.Duration
}

// drainTimeout bounds the wait for messages still in flight when a phase ends.
const drainTimeout = 5 * time.Second

// run offers the load of ph for its duration (the span), waits up to drainTimeout for
// what is still in flight, and measures what arrived (see [span.tally]: only what
// completed inside the span counts towards the rate and the latencies).
func (f *fleet) run(ctx context.Context, r *runner, label string, ph phase) Result {
	res := Result{Phase: ph.name, Pairs: len(f.links), Rate: ph.rate}
	from := time.Since(f.epoch)
	for _, l := range f.links {
		l.from.Store(int64(from))
		l.mu.Lock()
		l.done = l.done[:0]
		l.credits = nil
		if ph.rate == 0 {
			l.credits = make(chan struct{}, ph.window)
			for range ph.window {
				l.credits <- struct{}{}
			}
		}
		l.mu.Unlock()
		l.sent.Store(0)
		l.received.Store(0)
		l.errors.Store(0)
	}
	cpu0, cpuErr := f.cpuTime()
	pctx, cancel := context.WithTimeout(ctx, ph.duration)
	defer cancel()
	start := time.Now()
	total := func() (sent, received int64) {
		for _, l := range f.links {
			sent += l.sent.Load()
			received += l.received.Load()
		}
		return sent, received
	}
	var last int64
	stop := r.ticker(func() {
		s, rcv := total()
		r.progressf("%s %s: %.0f s, sent %d, delivered %d (%d/s)", label, ph.name, time.Since(start).Seconds(), s, rcv, rcv-last)
		last = rcv
	})
	var wg sync.WaitGroup
	n := len(f.links)
	for i, l := range f.links {
		wg.Go(func() {
			var buf []byte
			var interval time.Duration
			timer := time.NewTimer(0)
			defer timer.Stop()
			<-timer.C
			next := start
			if ph.rate > 0 {
				interval = time.Duration(float64(n) / ph.rate * float64(time.Second))
				next = start.Add(interval * time.Duration(i) / time.Duration(n)) // spread the pairs
			}
			for {
				var ts time.Duration
				if ph.rate > 0 {
					if d := time.Until(next); d > 0 {
						timer.Reset(d)
						select {
						case <-timer.C:
						case <-pctx.Done():
							return
						}
					}
					ts = next.Sub(f.epoch) // the intended time: lateness counts as latency
					next = next.Add(interval)
				} else {
					l.mu.Lock()
					credits := l.credits
					l.mu.Unlock()
					select {
					case <-credits:
					case <-pctx.Done():
						return
					}
					ts = time.Since(f.epoch)
				}
				if pctx.Err() != nil {
					return
				}
				l.seq++
				buf = l.build(buf, l.seq, ts)
				if err := l.send.Write(ctx, websocket.MessageText, buf); err != nil {
					if !errClosed(err) {
						l.errors.Add(1)
					}
					return
				}
				l.sent.Add(1)
			}
		})
	}
	wg.Wait()
	sp := span{from: from, to: time.Since(f.epoch)}
	deadline := time.Now().Add(drainTimeout)
	for {
		s, rcv := total()
		if rcv >= s {
			break
		}
		if time.Now().After(deadline) {
			r.progressf("%s %s: %d still in flight after the %s drain (counted as lost); the next phase starts behind them",
				label, ph.name, s-rcv, drainTimeout)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	cpu1, err := f.cpuTime()
	if cpuErr == nil && err == nil {
		s, _ := total()
		if s > 0 {
			res.CPUPerMsgMicros = float64((cpu1 - cpu0).Nanoseconds()) / 1e3 / float64(s)
		}
	}
	var cs []completion
	var sent int64
	for _, l := range f.links {
		l.mu.Lock()
		cs = append(cs, l.done...)
		l.credits = nil
		l.mu.Unlock()
		sent += l.sent.Load()
		res.Errors += l.errors.Load()
	}
	sp.tally(&res, sent, cs, f.roundTrips)
	return res
}

// cpuTime sums the CPU time of the fleet's server processes (0 without any).
func (f *fleet) cpuTime() (time.Duration, error) {
	var sum time.Duration
	for _, pid := range f.pids {
		d, err := cpuTime(pid)
		if err != nil {
			return 0, err
		}
		sum += d
	}
	return sum, nil
}

// routePhases are the loads route, raw and cluster measure.
func (r *runner) routePhases() []phase {
	return []phase{
		{name: "full", window: r.cfg.Window, duration: r.cfg.Duration},
		{name: "rate", rate: r.cfg.Rate, duration: r.cfg.Duration},
	}
}

// hubFleet sets up viewer→camera pairs of linked devices: viewers connect to
// viewerHub, cameras to cameraHub (the same hub, or two replicas). With sessions each
// pair gets an open live-view session and the route message; without, the links'
// messages are left for the caller to set.
func (r *runner) hubFleet(ctx context.Context, viewerHub, cameraHub *server, pairs int, sessions bool) (*fleet, error) {
	user, err := r.account(ctx, viewerHub.url)
	if err != nil {
		return nil, err
	}
	cams, err := r.devices(ctx, user, "camera", pairs)
	if err != nil {
		return nil, err
	}
	viewers, err := r.devices(ctx, user, "viewer", pairs)
	if err != nil {
		return nil, err
	}
	if err := r.linkAll(ctx, user, cams, viewers); err != nil {
		return nil, err
	}
	return r.connectFleet(ctx, "open live-view sessions", pairs, serverPids(viewerHub, cameraHub), func(ctx context.Context, i int) (*link, error) {
		cam, err := r.dial.dialHub(ctx, cameraHub.url, cams[i].Token)
		if err != nil {
			return nil, err
		}
		viewer, err := r.dial.dialHub(ctx, viewerHub.url, viewers[i].Token)
		if err != nil {
			_ = cam.CloseNow()
			return nil, err
		}
		if !sessions {
			return &link{send: viewer, recv: cam, target: cams[i].ID}, nil
		}
		session, err := openSession(ctx, viewer, cam, cams[i].ID)
		if err != nil {
			_ = cam.CloseNow()
			_ = viewer.CloseNow()
			return nil, err
		}
		return newLink(viewer, cam, session, r.cfg.Size), nil
	})
}

// connectFleet sets up pairs links with connect, in parallel; if one fails, the
// links made are closed.
func (r *runner) connectFleet(ctx context.Context, what string, pairs int, pids []int, connect func(ctx context.Context, i int) (*link, error)) (*fleet, error) {
	f := &fleet{links: make([]*link, pairs), epoch: r.start, pids: pids}
	err := r.parallel(ctx, what, pairs, func(ctx context.Context, i int) error {
		l, err := connect(ctx, i)
		f.links[i] = l
		return err
	})
	if err != nil {
		for _, l := range f.links {
			if l != nil {
				closeAll([]*websocket.Conn{l.send, l.recv})
			}
		}
		return nil, err
	}
	return f, nil
}

// serverPids returns the distinct process ids of servers (none for a hub given by
// address).
func serverPids(servers ...*server) []int {
	var pids []int
	for _, s := range servers {
		if s.pid != 0 && !slices.Contains(pids, s.pid) {
			pids = append(pids, s.pid)
		}
	}
	return pids
}

// openSession takes a live-view session from stream.request to live, the way a
// viewer and a camera do, without media: request, accept, offer, connected.
func openSession(ctx context.Context, viewer, cam *websocket.Conn, cameraID string) (string, error) {
	ack, err := request(ctx, viewer, wire.TypeStreamRequest, "", "r1", map[string]string{"camera_device_id": cameraID})
	if err != nil {
		return "", err
	}
	sa, err := client.Data[wire.StreamAck](ack)
	if err != nil {
		return "", err
	}
	id := sa.SessionID
	inSession := func(typ string) func(hub.Envelope) bool {
		return func(env hub.Envelope) bool { return env.Type == typ && env.Session == id }
	}
	if _, err := expect(ctx, cam, inSession(wire.TypeStreamRequested)); err != nil {
		return "", fmt.Errorf("stream.requested: %w", err)
	}
	if _, err := request(ctx, cam, wire.TypeStreamAccept, id, "a1", struct{}{}); err != nil {
		return "", err
	}
	if _, err := expect(ctx, viewer, inSession(wire.TypeStreamReady)); err != nil {
		return "", fmt.Errorf("stream.ready: %w", err)
	}
	if _, err := request(ctx, viewer, wire.TypeOffer, id, "o1", wire.SessionDescription{SDP: "v=0\r\n"}); err != nil {
		return "", err
	}
	if _, err := expect(ctx, cam, inSession(wire.TypeOffer)); err != nil {
		return "", fmt.Errorf("webrtc.offer: %w", err)
	}
	if _, err := request(ctx, viewer, wire.TypeStreamConnected, id, "c1", struct{}{}); err != nil {
		return "", err
	}
	return id, nil
}

// rawFleet sets up Pairs socket pairs on the bare relay.
func (r *runner) rawFleet(ctx context.Context, s *server, pairs int) (*fleet, error) {
	placeholder := strings.Repeat("0", 36) // a session id's length
	return r.connectFleet(ctx, "connect raw pairs", pairs, serverPids(s), func(ctx context.Context, i int) (*link, error) {
		a, b := "v"+strconv.Itoa(i), "c"+strconv.Itoa(i)
		recv, err := r.dial.dialRaw(ctx, s.url, b, a)
		if err != nil {
			return nil, err
		}
		snd, err := r.dial.dialRaw(ctx, s.url, a, b)
		if err != nil {
			_ = recv.CloseNow()
			return nil, err
		}
		return newLink(snd, recv, placeholder, r.cfg.Size), nil
	})
}

// measure starts the read loops of a fleet with start, runs the phases on it and
// closes it.
func (r *runner) measure(ctx context.Context, f *fleet, start func(*fleet, context.Context), phases []phase, scenario, target string) []Result {
	fctx, cancel := context.WithCancel(ctx)
	start(f, fctx)
	defer func() {
		cancel()
		f.close()
	}()
	var out []Result
	for _, ph := range phases {
		res := f.run(ctx, r, scenario+" "+target, ph)
		res.Scenario, res.Target = scenario, target
		out = append(out, res)
	}
	return out
}

// contender is a fleet measured by interleave, and how its results are labelled.
type contender struct {
	f                *fleet
	scenario, target string
}

// interleave measures fleets with the route phases Repeat times, taking turns within
// each phase so that load from outside the benchmark falls on all of them alike, and
// closes them. It returns, per fleet and phase, the median of each figure over the
// repeats (counts are summed).
func (r *runner) interleave(ctx context.Context, cs []contender) [][]Result {
	fctx, cancel := context.WithCancel(ctx)
	for _, c := range cs {
		c.f.startRoute(fctx)
	}
	defer func() {
		cancel()
		for _, c := range cs {
			c.f.close()
		}
	}()
	phases := r.routePhases()
	rounds := make([][][]Result, len(cs)) // fleet, phase, repeat
	for i := range cs {
		rounds[i] = make([][]Result, len(phases))
	}
	for rep := range r.cfg.Repeat {
		for p, ph := range phases {
			for i, c := range cs {
				res := c.f.run(ctx, r, fmt.Sprintf("%s %s (%d/%d)", c.scenario, c.target, rep+1, r.cfg.Repeat), ph)
				res.Scenario, res.Target = c.scenario, c.target
				rounds[i][p] = append(rounds[i][p], res)
			}
		}
	}
	out := make([][]Result, len(cs))
	for i := range cs {
		for p := range phases {
			out[i] = append(out[i], medianResult(rounds[i][p]))
		}
	}
	return out
}

// medianResult folds repeats of one measurement: each rate and latency is the median
// over them, counts and seconds are summed.
func medianResult(rs []Result) Result {
	m := rs[0]
	m.Sent, m.Received, m.Late, m.Lost, m.Errors, m.Seconds = 0, 0, 0, 0, 0, 0
	for _, r := range rs {
		m.Sent += r.Sent
		m.Received += r.Received
		m.Late += r.Late
		m.Lost += r.Lost
		m.Errors += r.Errors
		m.Seconds += r.Seconds
	}
	median := func(f func(Result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	m.PerSec = median(func(r Result) float64 { return r.PerSec })
	m.SentPerSec = median(func(r Result) float64 { return r.SentPerSec })
	m.P50 = median(func(r Result) float64 { return r.P50 })
	m.P90 = median(func(r Result) float64 { return r.P90 })
	m.P99 = median(func(r Result) float64 { return r.P99 })
	m.Max = median(func(r Result) float64 { return r.Max })
	m.CPUPerMsgMicros = median(func(r Result) float64 { return r.CPUPerMsgMicros })
	return m
}

// compare sets the ratios of results to the bare relay's result of the same phase.
func compare(rs, raw []Result) {
	samePhase(rs, raw, func(r *Result, b Result) {
		r.PerSecVsRaw = ratio(r.PerSec, b.PerSec)
		r.P99VsRaw = ratio(r.P99, b.P99)
		r.CPUVsRaw = ratio(r.CPUPerMsgMicros, b.CPUPerMsgMicros)
	})
}

// samePhase calls set for each result and the base result of its phase.
func samePhase(rs, base []Result, set func(r *Result, b Result)) {
	for i := range rs {
		for _, b := range base {
			if b.Phase == rs[i].Phase {
				set(&rs[i], b)
			}
		}
	}
}

// ratio is x/y, or 0 (no ratio) when y is not positive.
func ratio(x, y float64) float64 {
	if y <= 0 {
		return 0
	}
	return x / y
}

var routeColumns = []column{
	colTarget, colPhase,
	colInt("pairs", func(r Result) int64 { return int64(r.Pairs) }),
	colOffered, colSent,
	colRate("delivered/s"),
	colMs("p50 ms", func(r Result) float64 { return r.P50 }),
	colMs("p90 ms", func(r Result) float64 { return r.P90 }),
	colMs("p99 ms", func(r Result) float64 { return r.P99 }),
	colMs("max ms", func(r Result) float64 { return r.Max }),
	colLate,
	colInt("lost", func(r Result) int64 { return r.Lost }),
	colInt("errors", func(r Result) int64 { return r.Errors }),
	colRatio("msg/s vs raw", func(r Result) float64 { return r.PerSecVsRaw }),
	colRatio("p99 vs raw", func(r Result) float64 { return r.P99VsRaw }),
	{"CPU/msg", func(r Result) string { return fmt.Sprintf("%.1f µs", r.CPUPerMsgMicros) }},
	colRatio("CPU vs raw", func(r Result) float64 { return r.CPUVsRaw }),
}

// routeTitle heads the tables of route, raw and cluster.
func (r *runner) routeTitle(what string) string {
	return fmt.Sprintf("%s, %d-byte webrtc.candidate messages, %s per phase, median of %d interleaved repeats;\n%s",
		what, r.cfg.Size, r.cfg.Duration, r.cfg.Repeat, spanNote)
}

// route measures webrtc.candidate relaying inside live-view sessions on one hub,
// and the bare relay with the same load, taking turns.
func (r *runner) route(ctx context.Context) ([]Result, error) {
	raw, err := r.startRaw(ctx)
	if err != nil {
		return nil, err
	}
	s, err := r.hubServer(ctx)
	if err != nil {
		return nil, err
	}
	hf, err := r.hubFleet(ctx, s, s, r.cfg.Pairs, true)
	if err != nil {
		return nil, err
	}
	rf, err := r.rawFleet(ctx, raw, r.cfg.Pairs)
	if err != nil {
		hf.close()
		return nil, err
	}
	out := r.interleave(ctx, []contender{{rf, "raw", "raw"}, {hf, "route", "hub"}})
	for _, srv := range []*server{raw, s} {
		if err := srv.exited(); err != nil {
			return out[1], err
		}
	}
	compare(out[1], out[0])
	writeTable(r.cfg.Out, r.routeTitle(fmt.Sprintf("route: %d viewer→camera pairs in live-view sessions", r.cfg.Pairs)),
		routeColumns, append(out[0], out[1]...))
	return out[1], nil
}

// raw measures the route load on the bare relay alone.
func (r *runner) raw(ctx context.Context) ([]Result, error) {
	s, err := r.startRaw(ctx)
	if err != nil {
		return nil, err
	}
	f, err := r.rawFleet(ctx, s, r.cfg.Pairs)
	if err != nil {
		return nil, err
	}
	out := r.interleave(ctx, []contender{{f, "raw", "raw"}})
	if err := s.exited(); err != nil {
		return out[0], err
	}
	writeTable(r.cfg.Out, r.routeTitle(fmt.Sprintf("raw: bare relay, %d pairs", r.cfg.Pairs)), routeColumns, out[0])
	return out[0], nil
}

// cluster measures the route load across two replicas on PostgreSQL and Redis —
// viewers on one, cameras on the other — and the bare relay, taking turns.
func (r *runner) cluster(ctx context.Context) ([]Result, error) {
	raw, err := r.startRaw(ctx)
	if err != nil {
		return nil, err
	}
	dbURL, err := r.database(ctx)
	if err != nil {
		return nil, err
	}
	a, err := r.startHub(ctx, hubOptions{node: "bench-a", databaseURL: dbURL, redisURL: r.cfg.RedisURL})
	if err != nil {
		return nil, err
	}
	b, err := r.startHub(ctx, hubOptions{node: "bench-b", databaseURL: dbURL, redisURL: r.cfg.RedisURL})
	if err != nil {
		return nil, err
	}
	cf, err := r.hubFleet(ctx, a, b, r.cfg.Pairs, true)
	if err != nil {
		return nil, err
	}
	rf, err := r.rawFleet(ctx, raw, r.cfg.Pairs)
	if err != nil {
		cf.close()
		return nil, err
	}
	cs := []contender{{rf, "raw", "raw"}, {cf, "cluster", "cluster"}}
	if r.cfg.Centrifugo != "" {
		zf, err := r.centrifugoCluster(ctx)
		if err != nil {
			cf.close()
			rf.close()
			return nil, err
		}
		cs = append(cs, contender{zf, "cluster", "centrifugo"})
	}
	out := r.interleave(ctx, cs)
	for _, srv := range []*server{raw, a, b} {
		if err := srv.exited(); err != nil {
			return out[1], err
		}
	}
	compare(out[1], out[0])
	if len(out) > 2 {
		compare(out[2], out[0])
		compareCentrifugo(out[1], out[2])
	}
	var rows []Result
	for _, o := range out {
		rows = append(rows, o...)
	}
	writeTable(r.cfg.Out, r.routeTitle(fmt.Sprintf("cluster: %d pairs, viewers on replica A, cameras on replica B (PostgreSQL, Redis)", r.cfg.Pairs)),
		clusterColumns, rows)
	return rows[len(out[0]):], nil
}

// centrifugoCluster starts two Centrifugo nodes on the cluster's Redis and sets up
// the pairs on them, viewers on the first, cameras on the second.
func (r *runner) centrifugoCluster(ctx context.Context) (*fleet, error) {
	prefix := fmt.Sprintf("scbench%d_%d", os.Getpid(), time.Now().UnixNano())
	za, err := r.startCentrifugo(ctx, r.cfg.Centrifugo, "centrifugo-a", r.cfg.RedisURL, prefix)
	if err != nil {
		return nil, err
	}
	zb, err := r.startCentrifugo(ctx, r.cfg.Centrifugo, "centrifugo-b", r.cfg.RedisURL, prefix)
	if err != nil {
		return nil, err
	}
	return r.centrifugoFleet(ctx, za, zb, r.cfg.Pairs, prefix)
}

// compareCentrifugo sets the ratios of results to Centrifugo's of the same phase.
func compareCentrifugo(rs, cf []Result) {
	samePhase(rs, cf, func(r *Result, c Result) {
		r.PerSecVsCentrifugo = ratio(r.PerSec, c.PerSec)
		r.P99VsCentrifugo = ratio(r.P99, c.P99)
		r.CPUVsCentrifugo = ratio(r.CPUPerMsgMicros, c.CPUPerMsgMicros)
	})
}

// clusterColumns are routeColumns and the ratios to Centrifugo.
var clusterColumns = append(slices.Clip(routeColumns),
	colRatio("msg/s vs centrifugo", func(r Result) float64 { return r.PerSecVsCentrifugo }),
	colRatio("p99 vs centrifugo", func(r Result) float64 { return r.P99VsCentrifugo }),
	colRatio("CPU vs centrifugo", func(r Result) float64 { return r.CPUVsCentrifugo }),
)
