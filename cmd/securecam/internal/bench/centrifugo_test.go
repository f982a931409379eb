package bench_test

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"github.com/securecam/securecam/cmd/securecam/internal/bench"
	"github.com/securecam/securecam/cmd/securecam/internal/child/childtest"
)

// cluster --centrifugo measures two Centrifugo nodes beside the replicas, and every
// message Centrifugo relays is counted. SECURECAM_TEST_CENTRIFUGO names its binary
// (scripts/test.sh builds it; see docs/benchmarks.md).
func TestClusterBesideCentrifugo(t *testing.T) {
	bin := os.Getenv("SECURECAM_TEST_CENTRIFUGO")
	if bin == "" {
		t.Fatal("SECURECAM_TEST_CENTRIFUGO does not name a Centrifugo v6 binary: run the tests with scripts/test.sh, which builds it")
	}
	var out bytes.Buffer
	self := childtest.Binary(t) // before the deadline: building may take minutes on a loaded machine
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	results, err := bench.Run(ctx, bench.Config{
		Binary:      self,
		PostgresURL: envOr("SECURECAM_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"),
		RedisURL:    envOr("SECURECAM_TEST_REDIS_URL", "redis://127.0.0.1:6379"),
		Centrifugo:  bin,
		Pairs:       3,
		Duration:    500 * time.Millisecond,
		Repeat:      1,
		Rate:        100,
		Out:         &out,
		Progress:    logWriter{t},
	}, []string{"cluster"})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	seen := map[string]bool{}
	for _, r := range results {
		seen[r.Target+" "+r.Phase] = true
		if r.Received == 0 || r.Received+r.Late+r.Lost != r.Sent || r.Lost != 0 || r.Errors != 0 {
			t.Errorf("%s %s: sent %d, received %d, late %d, lost %d, errors %d; want all delivered, none lost",
				r.Target, r.Phase, r.Sent, r.Received, r.Late, r.Lost, r.Errors)
		}
		if r.Target == "cluster" && (r.PerSecVsCentrifugo <= 0 || r.P99VsCentrifugo <= 0 || r.CPUVsCentrifugo <= 0) {
			t.Errorf("cluster %s: no ratio to Centrifugo (msg/s %v, p99 %v, CPU %v)", r.Phase, r.PerSecVsCentrifugo, r.P99VsCentrifugo, r.CPUVsCentrifugo)
		}
		if r.Target == "centrifugo" && r.CPUPerMsgMicros <= 0 {
			t.Errorf("centrifugo %s: no CPU per message", r.Phase)
		}
	}
	for _, want := range []string{"cluster full", "cluster rate", "centrifugo full", "centrifugo rate"} {
		if !seen[want] {
			t.Errorf("no %s result; got %v\n%s", want, seen, out.String())
		}
	}
	if !bytes.Contains(out.Bytes(), []byte("msg/s vs centrifugo")) {
		t.Errorf("the table has no Centrifugo column:\n%s", out.String())
	}
}
