package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// RawServerArg is the argument of `securecam bench` that runs the bare relay as a
// process of its own (the benchmark starts it; people need not).
const RawServerArg = "raw-server"

// rawQueue is the capacity of a bare relay connection's outgoing queue: the hub's
// default send queue size.
const rawQueue = 256

// ServeRaw runs the bare relay on addr until ctx ends: the baseline that routing
// figures are compared with. A client opens GET /relay?id=A&peer=B (any WebSocket
// subprotocol it offers is accepted) and every message it sends is written, as is,
// to the socket of B. Each connection has one reader and one writer goroutine and a
// queue of 256 messages; nothing is parsed, authenticated or stored. It logs
// {"msg":"listening","addr":…} as JSON to logOut once it listens, and serves pprof
// under /debug/pprof/ on the same address.
func ServeRaw(ctx context.Context, addr string, logOut io.Writer) error {
	rl := &relay{conns: map[string]*relayConn{}}
	mux := http.NewServeMux()
	mux.Handle("GET /relay", rl)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	return serveBaseline(ctx, "raw relay", addr, mux, logOut, func() {
		rl.closeAll()
		rl.wg.Wait()
	})
}

// serveBaseline serves h on addr until ctx ends, for a baseline server that runs as
// a process of its own: it logs {"msg":"listening","addr":…} as JSON to logOut once
// it listens, and on the way out shuts the HTTP server down, then runs closeAll.
func serveBaseline(ctx context.Context, name, addr string, h http.Handler, logOut io.Writer, closeAll func()) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	line, _ := json.Marshal(map[string]string{"msg": "listening", "addr": l.Addr().String()})
	fmt.Fprintf(logOut, "%s\n", line)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("%s: %w", name, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	closeAll()
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// relay is the bare relay's registry of connections by id.
type relay struct {
	mu    sync.RWMutex
	conns map[string]*relayConn
	wg    sync.WaitGroup // writer goroutines
}

type relayConn struct {
	ws   *websocket.Conn
	out  chan []byte
	done <-chan struct{} // closed when the connection ends
}

// ServeHTTP serves one connection: it is the reader; a writer goroutine drains out.
func (rl *relay) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id, peer := r.URL.Query().Get("id"), r.URL.Query().Get("peer")
	if id == "" || peer == "" {
		http.Error(w, "id and peer are required", http.StatusBadRequest)
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	ws.SetReadLimit(64 << 10)
	ctx, cancel := context.WithCancel(r.Context())
	c := &relayConn{ws: ws, out: make(chan []byte, rawQueue), done: ctx.Done()}
	rl.mu.Lock()
	rl.conns[id] = c
	rl.mu.Unlock()
	rl.wg.Add(1)
	go func() {
		defer rl.wg.Done()
		defer cancel()
		for {
			select {
			case b := <-c.out:
				if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	defer func() {
		rl.mu.Lock()
		if rl.conns[id] == c {
			delete(rl.conns, id)
		}
		rl.mu.Unlock()
		cancel()
		_ = ws.CloseNow()
	}()
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			return
		}
		rl.mu.RLock()
		p := rl.conns[peer]
		rl.mu.RUnlock()
		if p == nil {
			continue
		}
		select {
		case p.out <- b:
		case <-p.done:
		case <-ctx.Done():
			return
		}
	}
}

// closeAll closes every connection (their readers then end and stop their writers).
func (rl *relay) closeAll() {
	rl.mu.RLock()
	defer rl.mu.RUnlock()
	for _, c := range rl.conns {
		_ = c.ws.CloseNow()
	}
}
