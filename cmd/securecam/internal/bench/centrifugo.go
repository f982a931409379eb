package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// centrifugoStartTimeout bounds the wait for a Centrifugo node to listen.
const centrifugoStartTimeout = 30 * time.Second

// startCentrifugo runs the Centrifugo binary at bin as one node of a cluster on the
// Redis at redisURL (engine "redis", key prefix prefix): clients connect without a
// token and may subscribe and publish in any channel. The node is stopped when the
// scenario ends.
func (r *runner) startCentrifugo(ctx context.Context, bin, name, redisURL, prefix string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	cfg := map[string]any{
		"http_server": map[string]any{"address": "127.0.0.1", "port": port},
		"log":         map[string]any{"level": "error"},
		"client": map[string]any{
			"insecure": true,
			// The generator does not answer application pings: none during a run.
			"ping_interval": "1h",
			"pong_timeout":  "8s",
		},
		"channel": map[string]any{"without_namespace": map[string]any{
			"allow_subscribe_for_client": true,
			"allow_publish_for_client":   true,
		}},
		"engine": map[string]any{"type": "redis", "redis": map[string]any{
			"address": []string{redisURL},
			"prefix":  prefix,
		}},
	}
	b, _ := json.Marshal(cfg) // maps of plain values: cannot fail
	dir, err := os.MkdirTemp("", "securecam-bench-centrifugo-")
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	r.cleanup(func() { _ = os.RemoveAll(dir) })
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin, "--config", path)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	r.cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(centrifugoStartTimeout)
	for {
		select {
		case <-exited:
			return nil, fmt.Errorf("start %s: exited: %s", name, lastLines(logs.String()))
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("start %s: not listening on %s after %s", name, addr, centrifugoStartTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.progressf("%s (pid %d) on http://%s", name, cmd.Process.Pid, addr)
	return &server{name: name, url: "http://" + addr, pid: cmd.Process.Pid}, nil
}

func lastLines(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-5):], "\n")
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// centrifugoFleet sets up pairs on two Centrifugo nodes: the receiver connects to
// camNode and subscribes a channel of its own, the sender connects to viewerNode and
// publishes into that channel (client-side publish, JSON protocol), the same
// viewer→camera path across a Redis as the cluster's.
func (r *runner) centrifugoFleet(ctx context.Context, viewerNode, camNode *server, pairs int, prefix string) (*fleet, error) {
	return r.connectFleet(ctx, "connect centrifugo pairs", pairs, serverPids(viewerNode, camNode), func(ctx context.Context, i int) (*link, error) {
		channel := prefix + "_" + strconv.Itoa(i)
		recv, err := r.dial.dialCentrifugo(ctx, camNode.url)
		if err != nil {
			return nil, err
		}
		sub, _ := json.Marshal(map[string]any{"id": 2, "subscribe": map[string]string{"channel": channel}})
		if err := centrifugoCall(ctx, recv, 2, sub); err != nil {
			_ = recv.CloseNow()
			return nil, fmt.Errorf("subscribe %s: %w", channel, err)
		}
		snd, err := r.dial.dialCentrifugo(ctx, viewerNode.url)
		if err != nil {
			_ = recv.CloseNow()
			return nil, err
		}
		return newCentrifugoLink(snd, recv, channel, r.cfg.Size), nil
	})
}

// dialCentrifugo opens a Centrifugo client connection (JSON protocol) and connects it.
func (d *dialer) dialCentrifugo(ctx context.Context, base string) (*websocket.Conn, error) {
	u := wsURL(base, "/connection/websocket")
	ws, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: d.client(), HTTPHeader: http.Header{}})
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", u, err)
	}
	ws.SetReadLimit(readLimit)
	if err := centrifugoCall(ctx, ws, 1, []byte(`{"id":1,"connect":{}}`)); err != nil {
		_ = ws.CloseNow()
		return nil, fmt.Errorf("connect %s: %w", u, err)
	}
	return ws, nil
}

// centrifugoCall writes the command cmd of id and waits for its reply.
func centrifugoCall(ctx context.Context, ws *websocket.Conn, id int, cmd []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := ws.Write(ctx, websocket.MessageText, cmd); err != nil {
		return err
	}
	want := []byte(`"id":` + strconv.Itoa(id) + `,`)
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			return err
		}
		for line := range bytes.SplitSeq(b, []byte{'\n'}) {
			if !bytes.Contains(line, want) {
				continue
			}
			if bytes.Contains(line, []byte(`"error":`)) {
				return errors.New(string(line))
			}
			return nil
		}
	}
}

// newCentrifugoLink builds the publish command of a pair: the data is the candidate
// object of the hub's route message, so that the pushed publication carries the same
// stamp.
func newCentrifugoLink(send, recv *websocket.Conn, channel string, size int) *link {
	mid := []byte(`,"publish":{"channel":"` + channel + `","data":{"candidate":"candidate:`)
	const tail = `"}}}`
	// id and seq take about 12 bytes, the timestamp about 13.
	pad := max(1, size-len(`{"id":`)-len(mid)-37-len(tail))
	suffix := []byte(" " + strings.Repeat("x", pad) + tail)
	return &link{send: send, recv: recv, build: func(buf []byte, seq int64, ts time.Duration) []byte {
		buf = append(buf[:0], `{"id":`...)
		buf = strconv.AppendInt(buf, seq, 10)
		buf = append(buf, mid...)
		buf = strconv.AppendInt(buf, seq, 10)
		buf = append(buf, ' ')
		buf = strconv.AppendInt(buf, int64(ts), 10)
		return append(buf, suffix...)
	}}
}
