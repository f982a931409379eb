package hub_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/coder/websocket"
	"github.com/securecam/securecam/hub"
)

// benchHub starts a hub for benchmarks: no admission limit, a large queue.
func benchHub(b *testing.B) (*hub.Hub, string) {
	b.Helper()
	h, err := hub.New(hub.Config{Authenticator: fakeAuth{}, AcceptRate: 1e9, AcceptBurst: 1 << 30, SendQueueSize: 1 << 16, SendQueueBytes: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	srv := newBenchServer(h)
	b.Cleanup(func() {
		_ = h.Shutdown(context.Background())
		srv.Close()
	})
	return h, srv.url
}

type benchServer struct {
	l   net.Listener
	srv *http.Server
	url string
	wg  sync.WaitGroup
}

func newBenchServer(h http.Handler) *benchServer {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	s := &benchServer{l: l, srv: &http.Server{Handler: h}, url: "ws://" + l.Addr().String()}
	s.wg.Go(func() { _ = s.srv.Serve(l) })
	return s
}

func (s *benchServer) Close() {
	_ = s.srv.Close()
	s.wg.Wait()
}

// BenchmarkLocalFanout sends one message to each of n local devices per iteration and
// waits until every client received everything.
func BenchmarkLocalFanout(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		for _, size := range []int{64, 4096} {
			b.Run(fmt.Sprintf("devices=%d/bytes=%d", n, size), func(b *testing.B) {
				h, url := benchHub(b)
				var received atomic.Int64
				var readers sync.WaitGroup
				devices := make([]string, n)
				conns := make([]*websocket.Conn, n)
				for i := range n {
					devices[i] = fmt.Sprintf("d%d", i)
					conn, _, err := websocket.Dial(context.Background(), url, &websocket.DialOptions{
						Subprotocols: []string{hub.Subprotocol}, HTTPHeader: http.Header{"X-Device": {devices[i]}},
					})
					if err != nil {
						b.Fatal(err)
					}
					conns[i] = conn
					readers.Go(func() {
						for {
							if _, _, err := conn.Read(context.Background()); err != nil {
								return
							}
							received.Add(1)
						}
					})
				}
				for received.Load() < int64(n) { // the hellos
					runtime.Gosched()
				}
				env := hub.Envelope{Type: "telemetry", From: "cam", Data: json.RawMessage(`"` + strings.Repeat("x", size) + `"`)}
				ctx := context.Background()
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					for _, d := range devices {
						if err := h.Send(ctx, d, env); err != nil {
							b.Fatal(err)
						}
					}
				}
				want := int64(n) * int64(b.N+1)
				for received.Load() < want {
					runtime.Gosched()
				}
				b.StopTimer()
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
				for _, c := range conns {
					_ = c.CloseNow()
				}
				readers.Wait()
			})
		}
	}
}

// BenchmarkIdleConnectionMemory opens b.N idle authenticated connections (clients are
// bare TCP sockets that completed the handshake) and reports the hub-side heap and
// stack per connection. Run with a fixed count, e.g. -benchtime=2000x.
func BenchmarkIdleConnectionMemory(b *testing.B) {
	_, url := benchHub(b)
	addr := strings.TrimPrefix(url, "ws://")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	conns := make([]net.Conn, 0, b.N)
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for i := range b.N {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"+
			"Sec-WebSocket-Protocol: %s\r\nX-Device: d%d\r\n\r\n", addr, hub.Subprotocol, i)
		r := bufio.NewReaderSize(c, 512)
		resp, err := http.ReadResponse(r, nil)
		if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
			b.Fatalf("handshake: %v %v", err, resp)
		}
		// The hello frame follows: read its header so the hub's writer finished.
		if _, err := r.Peek(2); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	used := float64(after.HeapInuse+after.StackInuse) - float64(before.HeapInuse+before.StackInuse)
	b.ReportMetric(used/float64(b.N), "B/conn")
	b.ReportMetric(float64(runtime.NumGoroutine())/float64(b.N), "goroutines/conn")
}
