package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/securecam/securecam/cmd/securecam/internal/bench"
)

const benchUsage = `usage: securecam bench [flags] scenario...

Measures a hub from the outside and prints a table and one JSON line per result
(progress goes to stderr). The hub under test runs as a child process (securecam serve
on a temporary data directory, or on a new PostgreSQL database and Redis for cluster
and commands), unless --addr names one that is running. See docs/benchmarks.md.

scenarios (or all):
  idle      N idle authenticated device sockets: server memory per socket, connect time
  route     webrtc.candidate messages in open live-view sessions: msg/s and latency at
            full speed and at a fixed rate, as ratios to the bare relay of the same run
  raw       the route load on the bare coder/websocket relay alone
  cluster   the route load across two replicas on PostgreSQL and Redis
  commands  durable command round trips on PostgreSQL (and SQLite): commands/s, latency
  liveview  concurrent live-view setups with pion peers: time to the first RTP packet,
            through the hub and directly
  relay     one camera (30 fps VP8, ~1 Mbit/s) to N viewers by WHIP/WHEP: loss, added
            latency, CPU per forwarded packet and memory per viewer, beside a bare pion
            forwarder of the same run

Rates and latencies count only what completes inside each measured phase; what
completes in the drain after it is shown apart as late.

flags:
`

// benchCmd runs `securecam bench`; `securecam bench raw-server [--listen addr]` is the
// bare relay process the benchmark starts, `securecam bench sfu-server` the bare pion
// forwarder of the relay scenario.
func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == bench.SFUServerArg {
		fs := flag.NewFlagSet("securecam bench "+bench.SFUServerArg, flag.ContinueOnError)
		fs.SetOutput(stderr)
		listen := fs.String("listen", "127.0.0.1:0", "listen address")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		if err := bench.ServeSFU(ctx, *listen, stderr); err != nil {
			fmt.Fprintf(stderr, "securecam: %v\n", err)
			return 1
		}
		return 0
	}
	if len(args) > 0 && args[0] == bench.RawServerArg {
		fs := flag.NewFlagSet("securecam bench "+bench.RawServerArg, flag.ContinueOnError)
		fs.SetOutput(stderr)
		listen := fs.String("listen", "127.0.0.1:0", "listen address")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		if err := bench.ServeRaw(ctx, *listen, stderr); err != nil {
			fmt.Fprintf(stderr, "securecam: %v\n", err)
			return 1
		}
		return 0
	}

	var cfg bench.Config
	fs := flag.NewFlagSet("securecam bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, benchUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.Addr, "addr", "", "base URL of a running hub to measure instead of a child (idle, route, commands, liveview)")
	fs.StringVar(&cfg.PostgresURL, "postgres", "", "PostgreSQL server where cluster and commands create their database (default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable)")
	fs.StringVar(&cfg.RedisURL, "redis", "", "Redis of the cluster scenario (default redis://127.0.0.1:6379)")
	fs.StringVar(&cfg.Centrifugo, "centrifugo", "", "path of a Centrifugo v6 binary: cluster also measures two Centrifugo nodes on the same Redis (see docs/benchmarks.md)")
	fs.IntVar(&cfg.Conns, "conns", 0, "idle device sockets (default 19900)")
	fs.IntVar(&cfg.Sources, "sources", 0, "loopback source addresses to spread sockets over (default one per 5,000 sockets)")
	fs.IntVar(&cfg.Pairs, "pairs", 0, "viewer→camera pairs of route, raw and cluster (default 500)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "length of each measured phase (route, raw, cluster, commands, relay; default 5s)")
	fs.IntVar(&cfg.Repeat, "repeat", 0, "times route, raw and cluster repeat their phases, taking turns with the bare relay; figures are medians (default 3)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "fixed total message rate of the rate phase, per second (default 10000)")
	fs.IntVar(&cfg.Size, "size", 0, "routed message size in bytes (default 256)")
	fs.IntVar(&cfg.Window, "window", 0, "messages in flight per pair at full speed (default 8)")
	fs.IntVar(&cfg.CommandPairs, "command-pairs", 0, "viewer→camera pairs sending commands (default 50)")
	fs.Float64Var(&cfg.CommandRate, "command-rate", 0, "fixed total command rate of the rate phase, per second (default 1000)")
	fs.IntVar(&cfg.CommandWindow, "command-window", 0, "open commands per pair at full speed (default 4)")
	fs.IntVar(&cfg.Setups, "setups", 0, "live-view setups at once (default 10)")
	fs.IntVar(&cfg.Rounds, "rounds", 0, "rounds of concurrent live-view setups (default 5)")
	fs.Func("viewers", "comma-separated viewer counts of relay (default 10,50,100)", func(v string) error {
		cfg.Viewers = nil
		for f := range strings.SplitSeq(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				return fmt.Errorf("%q is not a positive count", f)
			}
			cfg.Viewers = append(cfg.Viewers, n)
		}
		return nil
	})
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintf(stderr, "securecam bench: name a scenario (%s or all)\n\n", strings.Join(bench.Scenarios, ", "))
		fs.Usage()
		return 2
	}
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "securecam: bench: %v\n", err)
		return 1
	}
	cfg.Binary, cfg.Out, cfg.Progress = exe, stdout, stderr
	if _, err := bench.Run(ctx, cfg, fs.Args()); err != nil {
		fmt.Fprintf(stderr, "securecam: %v\n", err)
		if errors.Is(err, bench.ErrUnknownScenario) {
			return 2
		}
		return 1
	}
	return 0
}
