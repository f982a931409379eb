package bench

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/coder/websocket"

	"github.com/securecam/securecam/signaling/client"
)

// idle opens Conns authenticated device sockets on the hub (signaling/client, device
// tokens) and then as many on the bare relay, and reports memory per socket.
func (r *runner) idle(ctx context.Context) ([]Result, error) {
	n := r.cfg.Conns
	var results []Result
	res, err := r.idleHub(ctx, n)
	if err != nil {
		return nil, err
	}
	results = append(results, res)
	if r.cfg.Addr == "" {
		res, err := r.idleRaw(ctx, n)
		if err != nil {
			return results, err
		}
		results = append(results, res)
	}
	writeTable(r.cfg.Out, fmt.Sprintf("idle: %d device sockets", n), []column{
		colTarget,
		colInt("conns", func(r Result) int64 { return int64(r.Conns) }),
		colMs("connect s", func(r Result) float64 { return r.ConnectSeconds }),
		{"RSS before", func(r Result) string { return mib(float64(r.RSSBeforeBytes)) }},
		{"RSS after", func(r Result) string { return mib(float64(r.RSSAfterBytes)) }},
		{"RSS/conn", func(r Result) string { return kib(r.RSSPerConnBytes) }},
		{"Go heap+stack/conn", func(r Result) string {
			if r.GoPerConnBytes == 0 {
				return "-"
			}
			return kib(r.GoPerConnBytes)
		}},
		{"goroutines/conn", func(r Result) string {
			if r.GoroutinesConn == 0 {
				return "-"
			}
			return strconv.FormatFloat(r.GoroutinesConn, 'f', 2, 64)
		}},
		colInt("errors", func(r Result) int64 { return r.Errors }),
	}, results)
	return results, nil
}

// goMetrics are the /metrics values idle reads from a hub.
var goMetrics = []string{"go_memstats_heap_inuse_bytes", "go_memstats_stack_inuse_bytes", "go_goroutines",
	"process_resident_memory_bytes", "securecam_hub_connections"}

// memory is a server's memory at one moment.
type memory struct {
	rss        int64
	goBytes    float64 // heap in use + stacks in use
	goroutines float64
	conns      float64
}

func (r *runner) memory(ctx context.Context, s *server, metrics bool) (memory, error) {
	if err := s.gc(ctx); err != nil {
		return memory{}, err
	}
	var m memory
	var err error
	if m.rss, err = s.rss(); err != nil {
		return m, err
	}
	if !metrics {
		return m, nil
	}
	v, err := s.metrics(ctx, goMetrics...)
	if err != nil {
		return m, err
	}
	if m.rss == 0 {
		m.rss = int64(v["process_resident_memory_bytes"])
	}
	m.goBytes = v["go_memstats_heap_inuse_bytes"] + v["go_memstats_stack_inuse_bytes"]
	m.goroutines = v["go_goroutines"]
	m.conns = v["securecam_hub_connections"]
	return m, nil
}

func (r *runner) idleHub(ctx context.Context, n int) (Result, error) {
	res := Result{Scenario: "idle", Target: "hub", Phase: "connect", Conns: n}
	s, err := r.hubServer(ctx)
	if err != nil {
		return res, err
	}
	user, err := r.account(ctx, s.url)
	if err != nil {
		return res, err
	}
	devs, err := r.devices(ctx, user, "camera", n)
	if err != nil {
		return res, err
	}
	if s.pid != 0 {
		// A fresh process on the same data: registering the devices left garbage that
		// the runtime keeps mapped, which would hide part of the sockets' memory.
		s.stop()
		if s, err = r.startHub(ctx, hubOptions{node: "bench-hub", dataDir: s.dataDir}); err != nil {
			return res, err
		}
	}
	r.dial.close() // the registration's keep-alive sockets count against the file limit
	clients := make([]*client.Client, len(r.dial.clients))
	for i, hc := range r.dial.clients {
		if clients[i], err = client.New(client.Config{BaseURL: s.url, HTTPClient: hc}); err != nil {
			return res, err
		}
	}

	time.Sleep(r.cfg.Settle) // let the registration garbage go before the baseline
	before, err := r.memory(ctx, s, true)
	if err != nil {
		return res, err
	}
	conns := make([]*client.Conn, n)
	defer func() {
		_ = r.parallel(context.WithoutCancel(ctx), "close hub sockets", n, func(_ context.Context, i int) error {
			if conns[i] != nil {
				_ = conns[i].Close()
			}
			return nil
		})
	}()
	start := time.Now()
	err = r.parallel(ctx, "connect hub sockets", n, func(ctx context.Context, i int) error {
		c, err := clients[i%len(clients)].WithToken(devs[i].Token).Dial(ctx, client.DialOptions{MessageBuffer: 1})
		if err != nil {
			return err
		}
		conns[i] = c
		return nil
	})
	if err != nil {
		return res, err
	}
	res.ConnectSeconds = time.Since(start).Seconds()
	r.progressf("idle hub: %d sockets connected in %.1f s", n, res.ConnectSeconds)
	time.Sleep(r.cfg.Settle)
	after, err := r.memory(ctx, s, true)
	if err != nil {
		return res, err
	}
	if int(after.conns) != n {
		res.Errors = int64(n) - int64(after.conns)
	}
	for _, c := range conns {
		select {
		case <-c.Done():
			res.Errors++
		default:
		}
	}
	res.RSSBeforeBytes, res.RSSAfterBytes = before.rss, after.rss
	res.RSSPerConnBytes = float64(after.rss-before.rss) / float64(n)
	res.GoPerConnBytes = (after.goBytes - before.goBytes) / float64(n)
	res.GoroutinesConn = (after.goroutines - before.goroutines) / float64(n)
	return res, nil
}

func (r *runner) idleRaw(ctx context.Context, n int) (Result, error) {
	res := Result{Scenario: "idle", Target: "raw", Phase: "connect", Conns: n}
	s, err := r.startRaw(ctx)
	if err != nil {
		return res, err
	}
	time.Sleep(r.cfg.Settle)
	before, err := r.memory(ctx, s, false)
	if err != nil {
		return res, err
	}
	conns := make([]*websocket.Conn, n)
	defer closeAll(conns)
	start := time.Now()
	err = r.parallel(ctx, "connect raw sockets", n, func(ctx context.Context, i int) error {
		c, err := r.dial.dialRaw(ctx, s.url, strconv.Itoa(i), strconv.Itoa(i))
		if err != nil {
			return err
		}
		conns[i] = c
		return nil
	})
	if err != nil {
		return res, err
	}
	res.ConnectSeconds = time.Since(start).Seconds()
	r.progressf("idle raw: %d sockets connected in %.1f s", n, res.ConnectSeconds)
	time.Sleep(r.cfg.Settle)
	after, err := r.memory(ctx, s, false)
	if err != nil {
		return res, err
	}
	res.RSSBeforeBytes, res.RSSAfterBytes = before.rss, after.rss
	res.RSSPerConnBytes = float64(after.rss-before.rss) / float64(n)
	return res, nil
}
