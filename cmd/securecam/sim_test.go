package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/securecam/securecam/cmd/securecam/internal/child/childtest"
)

// lineWatch is an io.Writer that keeps what is written and closes a channel when a
// line contains want.
type lineWatch struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func newLineWatch(want string) *lineWatch { return &lineWatch{want: want, seen: make(chan struct{})} }

func (w *lineWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func (w *lineWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func noEnv(string) string { return "" }

// TestSimCameraAndViewer is the README's way to try the hub without phones: the
// hub, `securecam sim camera` and `securecam sim viewer`, directly and with media
// forced through the embedded TURN server.
func TestSimCameraAndViewer(t *testing.T) {
	t.Parallel()
	p := startProc(t, map[string]string{
		"SECURECAM_DATA_DIR":    t.TempDir(),
		"SECURECAM_TURN_ADDR":   "127.0.0.1:0",
		"SECURECAM_TURN_SECRET": "0123456789abcdef0123456789abcdef",
	})
	email := fmt.Sprintf("sim-%d@example.com", time.Now().UnixNano())
	login := []string{"-hub", p.URL, "-email", email, "-password", testPassword}

	for _, relay := range []bool{false, true} {
		t.Run(fmt.Sprintf("relay=%v", relay), func(t *testing.T) {
			extra := []string{"-signup"}
			if relay {
				extra = []string{"-relay"}
			}
			ctx, stopCam := context.WithCancel(context.Background())
			camErr := newLineWatch("waiting for live-view requests")
			camDone := make(chan int, 1)
			go func() {
				camDone <- run(ctx, append(append([]string{"sim", "camera"}, login...), extra...), noEnv, nil, io.Discard, camErr)
			}()
			defer func() {
				stopCam()
				if code := <-camDone; code != 0 {
					t.Errorf("sim camera exited with %d:\n%s", code, camErr)
				}
			}()
			select {
			case <-camErr.seen:
			case code := <-camDone:
				camDone <- code
				t.Fatalf("sim camera exited with %d:\n%s", code, camErr)
			case <-time.After(30 * time.Second):
				t.Fatalf("sim camera not connected within 30 s:\n%s", camErr)
			}

			before := childtest.Metric(t, p.Process, "securecam_turn_relayed_bytes_total")
			var out, errOut bytes.Buffer
			args := append(append([]string{"sim", "viewer"}, login...), "-watch", "500ms")
			if relay {
				args = append(args, "-relay")
			}
			if code := run(context.Background(), args, noEnv, nil, &out, &errOut); code != 0 {
				t.Fatalf("sim viewer exited with %d:\n%s\n%s\nsim camera:\n%s", code, out.String(), errOut.String(), camErr)
			}
			t.Logf("sim viewer:\n%s", out.String())
			if !strings.Contains(out.String(), "time to first frame: ") || !strings.Contains(out.String(), "received ") {
				t.Errorf("sim viewer printed:\n%s", out.String())
			}
			if relayed := childtest.Metric(t, p.Process, "securecam_turn_relayed_bytes_total") - before; relay && relayed < 5000 {
				t.Errorf("%v bytes went through TURN with -relay, want the video", relayed)
			}
		})
	}
}

func TestSimUsage(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"sim"}, 2, "usage: securecam sim camera|viewer"},
		{[]string{"sim", "doorbell"}, 2, "usage: securecam sim camera|viewer"},
		{[]string{"sim", "viewer", "-bogus"}, 2, "flag provided but not defined"},
		{[]string{"sim", "camera", "extra"}, 2, `unexpected arguments ["extra"]`},
		{[]string{"sim", "camera", "-hub", "http://127.0.0.1:1"}, 1, "give a user session token, or an e-mail and a password"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(t.Context(), tt.args, noEnv, nil, &stdout, &stderr); code != tt.code || !strings.Contains(stderr.String(), tt.stderr) {
			t.Errorf("%q: exit %d, stderr %q; want %d and %q", tt.args, code, stderr.String(), tt.code, tt.stderr)
		}
	}
}

// TestSimCameraReconnects: the hub restarts (it drains with 1012); `securecam sim
// camera` does not exit but reconnects, as the protocol tells clients to, and serves
// live view again.
func TestSimCameraReconnects(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	env := map[string]string{"SECURECAM_DATA_DIR": t.TempDir(), "SECURECAM_HTTP_ADDR": addr}
	p := startProc(t, env)
	email := fmt.Sprintf("sim-%d@example.com", time.Now().UnixNano())
	login := []string{"-hub", p.URL, "-email", email, "-password", testPassword}

	ctx, stopCam := context.WithCancel(context.Background())
	ready, closed, back := newLineWatch("waiting for live-view requests"), newLineWatch(`close_code=1012`), newLineWatch("socket reconnected")
	camLog := io.MultiWriter(ready, closed, back)
	camDone := make(chan int, 1)
	go func() {
		camDone <- run(ctx, append([]string{"sim", "camera", "-signup"}, login...), noEnv, nil, io.Discard, camLog)
	}()
	defer func() {
		stopCam()
		if code := <-camDone; code != 0 {
			t.Errorf("sim camera exited with %d:\n%s", code, ready)
		}
	}()
	wait := func(w *lineWatch, what string) {
		t.Helper()
		select {
		case <-w.seen:
		case code := <-camDone:
			camDone <- code
			t.Fatalf("sim camera exited with %d waiting for %s:\n%s", code, what, ready)
		case <-time.After(60 * time.Second):
			t.Fatalf("sim camera: %s not within 60 s:\n%s", what, ready)
		}
	}
	wait(ready, "the first connection")

	p.stop()
	wait(closed, "the 1012 of the drain")
	startProc(t, env) // the same address and data: the hub restarted
	wait(back, "the reconnection")

	var out, errOut bytes.Buffer
	args := append(append([]string{"sim", "viewer"}, login...), "-watch", "500ms")
	if code := run(context.Background(), args, noEnv, nil, &out, &errOut); code != 0 {
		t.Fatalf("sim viewer after the restart exited with %d:\n%s\n%s\nsim camera:\n%s", code, out.String(), errOut.String(), ready)
	}
	if !strings.Contains(out.String(), "time to first frame: ") {
		t.Errorf("sim viewer printed:\n%s", out.String())
	}
}
