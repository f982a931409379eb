package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/securecam/securecam/cmd/securecam/internal/bench"
	"github.com/securecam/securecam/cmd/securecam/internal/child/childtest"
)

func TestMain(m *testing.M) {
	os.Exit(childtest.Main(m))
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// logWriter sends progress lines to the test log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

// Every scenario, tiny, against real child processes: the tool must keep working and
// its results must be sane. Timing targets are the benchmark's business, not a test's.
func TestEveryScenario(t *testing.T) {
	var out bytes.Buffer
	bin := childtest.Binary(t) // before the deadline: building may take minutes on a loaded machine
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	results, err := bench.Run(ctx, bench.Config{
		Binary:        bin,
		PostgresURL:   envOr("SECURECAM_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"),
		RedisURL:      envOr("SECURECAM_TEST_REDIS_URL", "redis://127.0.0.1:6379"),
		Conns:         20,
		Sources:       2,
		Pairs:         5,
		Duration:      500 * time.Millisecond,
		Repeat:        1,
		Rate:          200,
		CommandPairs:  3,
		CommandRate:   30,
		CommandWindow: 2,
		Setups:        2,
		Rounds:        1,
		Viewers:       []int{2},
		Settle:        10 * time.Millisecond,
		Out:           &out,
		Progress:      logWriter{t},
	}, []string{"all"})
	if err != nil {
		t.Fatalf("Run: %v\n(PostgreSQL and Redis must be running: scripts/test.sh starts them)\n%s", err, out.String())
	}

	type key struct{ scenario, target, phase string }
	got := map[key]bench.Result{}
	for _, r := range results {
		got[key{r.Scenario, r.Target, r.Phase}] = r
	}
	want := []key{
		{"idle", "hub", "connect"}, {"idle", "raw", "connect"},
		{"raw", "raw", "full"}, {"raw", "raw", "rate"},
		{"route", "hub", "full"}, {"route", "hub", "rate"},
		{"cluster", "cluster", "full"}, {"cluster", "cluster", "rate"},
		{"commands", "postgres", "rate"}, {"commands", "postgres", "full"},
		{"commands", "sqlite", "rate"}, {"commands", "sqlite", "full"},
		{"liveview", "direct", "setup"}, {"liveview", "hub", "setup"},
		{"relay", "bare", "forward"}, {"relay", "hub", "forward"},
	}
	for _, k := range want {
		r, ok := got[k]
		if !ok {
			t.Errorf("no result for %v", k)
			continue
		}
		if r.Lost != 0 || r.Errors != 0 {
			t.Errorf("%v: lost %d, errors %d", k, r.Lost, r.Errors)
		}
		switch k.scenario {
		case "idle":
			if r.Conns != 20 || r.RSSAfterBytes <= 0 || r.ConnectSeconds <= 0 {
				t.Errorf("%v: %+v", k, r)
			}
			if k.target == "hub" && r.GoroutinesConn < 0.5 {
				t.Errorf("%v: %.2f goroutines per connection: were the sockets counted?", k, r.GoroutinesConn)
			}
		case "relay":
			if r.Pairs != 2 || r.Received == 0 || r.Received+r.Late+r.Lost != r.Sent || r.P50 <= 0 ||
				r.CPUPerPacketMicros <= 0 || r.RSSAfterBytes <= 0 {
				t.Errorf("%v: %+v", k, r)
			}
			if k.target == "hub" && r.CPUVsBare <= 0 {
				t.Errorf("%v: no CPU ratio to the bare forwarder: %+v", k, r)
			}
		case "liveview":
			if r.Received != 2 || r.P50 <= 0 {
				t.Errorf("%v: %d setups, p50 %.1f ms", k, r.Received, r.P50)
			}
		default:
			if r.Received == 0 || r.P50 <= 0 || r.PerSec <= 0 {
				t.Errorf("%v: sent %d, received %d, p50 %.2f ms, %.0f/s", k, r.Sent, r.Received, r.P50, r.PerSec)
			}
			// Only what completed inside the span counts: what finished in the drain
			// after it is late, and the rate is of the completed alone.
			if r.Received > r.Sent || r.Received+r.Late+r.Lost != r.Sent {
				t.Errorf("%v: sent %d, completed in the span %d, late %d, lost %d: do not add up", k, r.Sent, r.Received, r.Late, r.Lost)
			}
			if r.Seconds <= 0 || math.Abs(r.PerSec-float64(r.Received)/r.Seconds) > 1e-6*r.PerSec ||
				math.Abs(r.SentPerSec-float64(r.Sent)/r.Seconds) > 1e-6*r.SentPerSec {
				t.Errorf("%v: %.1f/s completed, %.1f/s sent; want %d and %d over %.3f s", k, r.PerSec, r.SentPerSec, r.Received, r.Sent, r.Seconds)
			}
		}
		if (k.scenario == "route" || k.scenario == "cluster") && (r.PerSecVsRaw <= 0 || r.P99VsRaw <= 0) {
			t.Errorf("%v: no ratios to the bare relay: %+v", k, r)
		}
		if k.scenario == "commands" && r.RoundTripP50 < r.P50 {
			t.Errorf("%v: round trip p50 %.2f ms below delivery p50 %.2f ms", k, r.RoundTripP50, r.P50)
		}
	}

	// One JSON line per result, and they read back as the results.
	var lines int
	for line := range strings.SplitSeq(out.String(), "\n") {
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var r bench.Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Errorf("JSON line %q: %v", line, err)
		}
		lines++
	}
	// route and cluster print the bare relay's rows beside their own.
	if wantLines := len(results) + 4; lines != wantLines {
		t.Errorf("%d JSON lines, want %d:\n%s", lines, wantLines, out.String())
	}
	for _, title := range []string{"idle:", "route:", "raw:", "cluster:", "commands:", "liveview:", "relay:"} {
		if !strings.Contains(out.String(), "\n"+title) {
			t.Errorf("no %s table in:\n%s", title, out.String())
		}
	}
}

func TestUnknownScenario(t *testing.T) {
	_, err := bench.Run(context.Background(), bench.Config{Binary: childtest.Binary(t), Out: io.Discard, Progress: io.Discard}, []string{"idle", "nope"})
	if err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("Run(nope) = %v", err)
	}
}

// The bare relay relays a message between two sockets and stops with its context.
func TestServeRaw(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	r, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- bench.ServeRaw(ctx, "127.0.0.1:0", w)
		_ = w.Close()
	}()
	var line struct {
		Msg, Addr string
	}
	if err := json.NewDecoder(r).Decode(&line); err != nil || line.Msg != "listening" {
		t.Fatalf("listening line: %+v %v", line, err)
	}
	go func() { _, _ = io.Copy(io.Discard, r) }()
	a := dialRaw(t, ctx, line.Addr, "a", "b")
	b := dialRaw(t, ctx, line.Addr, "b", "a")
	// b's registration may trail its handshake: a repeats until b has a message.
	got := make(chan string, 1)
	go func() {
		_, msg, err := b.Read(ctx)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(msg)
	}()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
wait:
	for {
		if err := a.Write(ctx, websocket.MessageText, []byte(`{"type":"x"}`)); err != nil {
			t.Fatal(err)
		}
		select {
		case msg := <-got:
			if msg != `{"type":"x"}` {
				t.Fatalf("b read %q", msg)
			}
			break wait
		case <-tick.C:
		case <-deadline:
			t.Fatal("nothing relayed within 10 s")
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("ServeRaw: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("ServeRaw did not return after its context ended")
	}
}

func dialRaw(t *testing.T, ctx context.Context, addr, id, peer string) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.Dial(ctx, "ws://"+addr+"/relay?id="+id+"&peer="+peer, nil)
	if err != nil {
		t.Fatalf("dial relay: %v", err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	return ws
}
