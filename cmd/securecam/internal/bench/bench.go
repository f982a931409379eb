// Package bench is the load and latency tool behind `securecam bench`: it measures a
// hub from the outside, the way phones use it, and compares it with a bare WebSocket
// relay and with pion peers connected without a hub.
//
// The servers under test run as processes of their own, so their memory and file
// limit are theirs: Run starts `securecam serve` (the executable in Config.Binary) on a
// fresh data directory — or a fresh PostgreSQL database and Redis for the cluster and
// commands scenarios — with the per-socket message rate and the accept rate raised,
// and the bare relay as `securecam bench raw-server` ([ServeRaw]). Config.Addr targets
// a hub that is already running instead.
//
// Scenarios: idle (memory per idle authenticated socket), route (webrtc.candidate
// messages inside open live-view sessions, at full speed and at a fixed rate), cluster
// (the same across two replicas on Redis), commands (durable command round trips),
// liveview (time from stream.request to the first RTP packet with pion peers), relay
// (one camera's RTP forwarded to many viewers by WHIP and WHEP, against a bare pion
// forwarder, [ServeSFU]) and raw
// (the route load on the bare relay alone). route and cluster measure the bare relay in
// the same run and report their figures as ratios to it. Each scenario prints a table
// and one JSON line per [Result] to Config.Out, and progress lines to Config.Progress.
//
// Concurrency: Run blocks until its scenarios are done; it owns every goroutine and
// process it starts and ends them (processes with SIGTERM) before it returns. It may be
// called again after it returned, not concurrently with itself.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Scenarios lists the scenario names Run accepts, in the order "all" runs them.
var Scenarios = []string{"idle", "route", "raw", "cluster", "commands", "liveview", "relay"}

// Config configures Run. Every zero field takes the default beside it.
type Config struct {
	// Binary is the securecam executable that child hubs and the bare relay run from
	// (the caller's os.Executable()). Required.
	Binary string
	// Addr, when set, is the base URL of a running hub (http://host:port) that idle,
	// route, commands and liveview measure instead of a child. Its rate limits then
	// apply (SECURECAM_MESSAGE_RATE, SECURECAM_ACCEPT_RATE, SECURECAM_MAX_CONNS_PER_IP,
	// SECURECAM_MAX_CONNS) and its memory is read from /metrics only.
	Addr string
	// PostgresURL is the server on which cluster and commands create a database of
	// their own (dropped afterwards). Default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable.
	PostgresURL string
	// RedisURL is the Redis of the cluster scenario. Default redis://127.0.0.1:6379.
	RedisURL string
	// Centrifugo, when set, is the path of a Centrifugo (v6) binary: cluster then also
	// measures two Centrifugo nodes on the same Redis with the same load, taking turns.
	Centrifugo string

	// Conns is the number of idle device sockets. Default 19,900.
	Conns int
	// Sources is how many loopback source addresses (127.0.0.1, 127.0.0.2, …) the
	// sockets are spread over, each good for about 28,000 ports. Default: one per
	// 5,000 sockets of the largest scenario, at least one.
	Sources int

	// Pairs is the number of viewer→camera pairs of route, raw and cluster. Default 500.
	Pairs int
	// Duration is the length of each measured phase of route, raw, cluster,
	// commands and relay. Default 5 s.
	Duration time.Duration
	// Repeat is how many times route, raw and cluster run their phases, taking turns
	// between the hub and the bare relay; figures are medians over the repeats.
	// Default 3.
	Repeat int
	// Rate is the fixed total message rate of the rate phase. Default 10,000/s.
	Rate float64
	// Size is the size of a routed message as the sender writes it, in bytes. Default 256.
	Size int
	// Window is how many messages one pair may have in flight at full speed: the load
	// goes as fast as the target delivers, and a hub's send queue (256) never
	// overflows. Default 8.
	Window int

	// CommandPairs is the number of viewer→camera pairs sending commands. Default 50.
	CommandPairs int
	// CommandRate is the fixed total command rate of the rate phase. Default 1,000/s.
	CommandRate float64
	// CommandWindow is how many commands one pair may have open at full speed. Default 4.
	CommandWindow int

	// Settle is how long idle waits before it reads a server's memory, so that
	// handshake garbage is collected and the figures are steady. Default 3 s.
	Settle time.Duration

	// Setups is the number of live-view setups run at once. Default 10.
	Setups int
	// Rounds is how many times liveview runs its concurrent setups. Default 5.
	Rounds int

	// Viewers are the viewer counts of the relay scenario, one run each (with Duration
	// measured). Default 10, 50, 100.
	Viewers []int

	// Out receives the tables and JSON lines. Default os.Stdout.
	Out io.Writer
	// Progress receives progress lines. Default os.Stderr.
	Progress io.Writer
}

func (c *Config) setDefaults() {
	def := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	if c.PostgresURL == "" {
		c.PostgresURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	}
	if c.RedisURL == "" {
		c.RedisURL = "redis://127.0.0.1:6379"
	}
	def(&c.Conns, 19900)
	def(&c.Pairs, 500)
	if c.Duration <= 0 {
		c.Duration = 5 * time.Second
	}
	def(&c.Repeat, 3)
	if c.Rate <= 0 {
		c.Rate = 10000
	}
	def(&c.Size, 256)
	def(&c.Window, 8)
	def(&c.CommandPairs, 50)
	if c.CommandRate <= 0 {
		c.CommandRate = 1000
	}
	def(&c.CommandWindow, 4)
	if c.Settle <= 0 {
		c.Settle = 3 * time.Second
	}
	def(&c.Setups, 10)
	def(&c.Rounds, 5)
	if len(c.Viewers) == 0 {
		c.Viewers = []int{10, 50, 100}
	}
	def(&c.Sources, max(1, (max(c.Conns, 2*c.Pairs)+4999)/5000))
	if c.Out == nil {
		c.Out = os.Stdout
	}
	if c.Progress == nil {
		c.Progress = os.Stderr
	}
}

// ErrUnknownScenario is returned by Run for a scenario name it does not know.
var ErrUnknownScenario = errors.New("bench: unknown scenario")

// Run runs the named scenarios ("all" for every one, in the order of [Scenarios]),
// prints their tables and returns their results. It stops at the first scenario that
// fails.
func Run(ctx context.Context, cfg Config, scenarios []string) ([]Result, error) {
	cfg.setDefaults()
	if cfg.Binary == "" {
		return nil, errors.New("bench: Config.Binary is required")
	}
	var names []string
	for _, s := range scenarios {
		switch {
		case s == "all":
			names = append(names, Scenarios...)
		case slices.Contains(Scenarios, s):
			names = append(names, s)
		default:
			return nil, fmt.Errorf("%w %q (want one of %s or all)", ErrUnknownScenario, s, strings.Join(Scenarios, ", "))
		}
	}
	if cfg.Addr != "" {
		u, err := url.Parse(cfg.Addr)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("bench: --addr %q is not http(s)://host:port", cfg.Addr)
		}
	}
	r := &runner{cfg: cfg, start: time.Now()}
	r.dial = newDialer(cfg.Sources, cfg.Addr)
	defer r.dial.close()
	writeMachine(cfg.Out)

	var all []Result
	for _, name := range names {
		r.progressf("scenario %s", name)
		rs, err := r.scenario(ctx, name)
		all = append(all, rs...)
		if err != nil {
			return all, fmt.Errorf("bench %s: %w", name, err)
		}
	}
	return all, nil
}

// runner is the state of one Run.
type runner struct {
	cfg   Config
	start time.Time
	dial  *dialer

	cleanups []func() // of the running scenario, run last first
}

// scenario runs one scenario and then its cleanups.
func (r *runner) scenario(ctx context.Context, name string) ([]Result, error) {
	defer func() {
		for i := len(r.cleanups) - 1; i >= 0; i-- {
			r.cleanups[i]()
		}
		r.cleanups = nil
	}()
	switch name {
	case "idle":
		return r.idle(ctx)
	case "route":
		return r.route(ctx)
	case "raw":
		return r.raw(ctx)
	case "cluster":
		return r.cluster(ctx)
	case "commands":
		return r.commands(ctx)
	case "relay":
		return r.relay(ctx)
	default:
		return r.liveview(ctx)
	}
}

// cleanup registers fn to run when the current scenario ends.
func (r *runner) cleanup(fn func()) { r.cleanups = append(r.cleanups, fn) }

// progressf writes one progress line, stamped with the time since Run started.
func (r *runner) progressf(format string, args ...any) {
	fmt.Fprintf(r.cfg.Progress, "[%6.1fs] %s\n", time.Since(r.start).Seconds(), fmt.Sprintf(format, args...))
}

// ticker calls fn every second until the returned stop is called (which waits for it).
func (r *runner) ticker(fn func()) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fn()
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// hubServer returns the hub under test: the one at Config.Addr, or a new child on
// SQLite.
func (r *runner) hubServer(ctx context.Context) (*server, error) {
	if r.cfg.Addr != "" {
		return &server{name: "hub", url: strings.TrimSuffix(r.cfg.Addr, "/")}, nil
	}
	return r.startHub(ctx, hubOptions{node: "bench-hub"})
}

// writeMachine prints what the figures were taken on.
func writeMachine(w io.Writer) {
	var lim syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if line, _, ok := strings.Cut(string(b), "\n"); ok {
			mem = strings.Join(strings.Fields(strings.TrimPrefix(line, "MemTotal:")), " ")
		}
	}
	load := "?"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	host, _ := os.Hostname()
	fmt.Fprintf(w, "securecam bench on %s: %d CPUs, %s RAM, open files %d (hard %d), %s %s/%s, load %s, %s\n",
		host, runtime.NumCPU(), mem, lim.Cur, lim.Max, runtime.Version(), runtime.GOOS, runtime.GOARCH, load,
		time.Now().UTC().Format(time.RFC3339))
}

// isLoopback reports whether the host of a base URL is a loopback address or
// localhost.
func isLoopback(base string) bool {
	u, err := url.Parse(base)
	if err != nil {
		return false
	}
	if u.Hostname() == "localhost" {
		return true
	}
	ip := net.ParseIP(u.Hostname())
	return ip != nil && ip.IsLoopback()
}
