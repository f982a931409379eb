package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/coder/websocket"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling/client"
	"github.com/securecam/securecam/signaling/wire"
)

// commandBuilder returns the command.send message of a pair: a "ping" command whose
// payload carries the send time, with a request id unique per pair.
func commandBuilder(target string) func([]byte, int64, time.Duration) []byte {
	prefix := `{"type":"command.send","id":"b`
	mid := `","data":{"target_device_id":"` + target + `","command_type":"ping","payload":{"t":`
	return func(buf []byte, seq int64, ts time.Duration) []byte {
		buf = append(buf[:0], prefix...)
		buf = strconv.AppendInt(buf, seq, 10)
		buf = append(buf, mid...)
		buf = strconv.AppendInt(buf, int64(ts), 10)
		return append(buf, `}}}`...)
	}
}

// startCommands runs the read loops of commands: the camera times the command's
// delivery and acknowledges it with command.result; the viewer times the
// command.status that completes the round trip.
func (f *fleet) startCommands(ctx context.Context) {
	for _, l := range f.links {
		f.wg.Go(func() {
			var buf []byte
			for {
				_, b, err := l.recv.Read(ctx)
				if err != nil {
					return
				}
				env, err := hub.Decode(b)
				if err != nil || env.Type != wire.TypeCommand {
					if err != nil || env.Type == hub.TypeError {
						l.errors.Add(1)
					}
					continue
				}
				var cmd struct {
					CommandID string `json:"command_id"`
					Payload   struct {
						T int64 `json:"t"`
					} `json:"payload"`
				}
				if err := json.Unmarshal(env.Data, &cmd); err != nil {
					l.errors.Add(1)
					continue
				}
				if sent := time.Duration(cmd.Payload.T); int64(sent) >= l.from.Load() {
					l.mu.Lock()
					l.pending[cmd.CommandID] = completion{sent: sent, delivered: time.Since(f.epoch)}
					l.mu.Unlock()
				}
				buf = append(buf[:0], `{"type":"command.result","data":{"command_id":"`...)
				buf = append(buf, cmd.CommandID...)
				buf = append(buf, `","status":"acknowledged"}}`...)
				if err := l.recv.Write(ctx, websocket.MessageText, buf); err != nil {
					return
				}
			}
		})
		f.wg.Go(func() {
			for {
				_, b, err := l.send.Read(ctx)
				if err != nil {
					return
				}
				env, err := hub.Decode(b)
				switch {
				case err != nil || env.Type == hub.TypeError:
					l.errors.Add(1)
					continue
				case env.Type != wire.TypeCommandStatus:
					continue // the ack of command.send, presence
				}
				st, err := client.Data[wire.CommandStatus](env)
				if err != nil || st.Status != "acknowledged" {
					l.errors.Add(1)
					continue
				}
				l.mu.Lock()
				c, ok := l.pending[st.CommandID]
				delete(l.pending, st.CommandID)
				ok = ok && int64(c.sent) >= l.from.Load()
				if ok {
					c.done = time.Since(f.epoch)
					l.done = append(l.done, c)
					l.credit()
				}
				l.mu.Unlock()
				if ok {
					l.received.Add(1)
				}
			}
		})
	}
}

var commandColumns = []column{
	colTarget, colPhase,
	colInt("pairs", func(r Result) int64 { return int64(r.Pairs) }),
	colOffered, colSent,
	colRate("completed/s"),
	colMs("deliver p50", func(r Result) float64 { return r.P50 }),
	colMs("deliver p90", func(r Result) float64 { return r.P90 }),
	colMs("deliver p99", func(r Result) float64 { return r.P99 }),
	colMs("deliver max", func(r Result) float64 { return r.Max }),
	colMs("ack p50", func(r Result) float64 { return r.RoundTripP50 }),
	colMs("ack p99", func(r Result) float64 { return r.RoundTripP99 }),
	colLate,
	colInt("lost", func(r Result) int64 { return r.Lost }),
	colInt("errors", func(r Result) int64 { return r.Errors }),
}

// commands measures durable command round trips: on a hub on PostgreSQL (a database of
// its own) and, for comparison, on SQLite; or on the hub at Config.Addr.
func (r *runner) commands(ctx context.Context) ([]Result, error) {
	phases := []phase{
		{name: "full", window: r.cfg.CommandWindow, duration: r.cfg.Duration},
		{name: "rate", rate: r.cfg.CommandRate, duration: r.cfg.Duration},
	}
	type target struct {
		name string
		opts hubOptions
	}
	var targets []target
	if r.cfg.Addr == "" {
		dbURL, err := r.database(ctx)
		if err != nil {
			return nil, err
		}
		targets = []target{
			{"postgres", hubOptions{node: "bench-postgres", databaseURL: dbURL}},
			{"sqlite", hubOptions{node: "bench-sqlite"}},
		}
	} else {
		targets = []target{{name: "hub"}}
	}
	var all []Result
	for _, t := range targets {
		var s *server
		var err error
		if r.cfg.Addr != "" {
			s, err = r.hubServer(ctx)
		} else {
			s, err = r.startHub(ctx, t.opts)
		}
		if err != nil {
			return all, err
		}
		f, err := r.hubFleet(ctx, s, s, r.cfg.CommandPairs, false)
		if err != nil {
			return all, err
		}
		for _, l := range f.links {
			l.build = commandBuilder(l.target)
			l.pending = map[string]completion{}
		}
		f.roundTrips = true
		all = append(all, r.measure(ctx, f, (*fleet).startCommands, phases, "commands", t.name)...)
		if err := s.exited(); err != nil {
			return all, err
		}
		s.stop()
	}
	writeTable(r.cfg.Out, fmt.Sprintf("commands: %d viewer→camera pairs, command.send → command → command.result → command.status, %s per phase;\n%s",
		r.cfg.CommandPairs, r.cfg.Duration, spanNote), commandColumns, all)
	return all, nil
}
