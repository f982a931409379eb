package relay_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/securecam/securecam/signaling/client/media"
	"github.com/securecam/securecam/signaling/relay"
)

// lockedBuffer is a log sink safe for the relay's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestPanicClosesSession: a panic in one of a session's goroutines closes that
// session (a publication's with its viewers and feeds; a viewer's alone, the
// others keep receiving), is logged, and is counted in
// securecam_relay_panics_total{goroutine}.
func TestPanicClosesSession(t *testing.T) {
	for _, tc := range []struct {
		goroutine string
		publisher bool // the goroutine is the publication's
	}{
		{"publication_track", true},
		{"keyframe_pacer", true},
		{"viewer_writer", false},
		{"viewer_rtcp", false},
	} {
		t.Run(tc.goroutine, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			logs := &lockedBuffer{}
			r, err := relay.New(relay.Config{SettingEngine: media.LoopbackSettingEngine(), Registerer: reg,
				Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelError}))})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(r.Close)
			var victim atomic.Pointer[relay.Session] // nil: not armed
			relay.SetPanicHook(r, func(goroutine string, s *relay.Session) {
				if goroutine == tc.goroutine && victim.CompareAndSwap(s, nil) {
					panic("injected " + goroutine)
				}
			})

			_, pub := publish(t, r, "cam1")
			a, sa := watch(t, r, "cam1", "alice")
			b, sb := watch(t, r, "cam1", "bob")
			waitFor(t, "alice's first frame", a.FirstFrame())
			waitFor(t, "bob's first frame", b.FirstFrame())

			if tc.publisher {
				victim.Store(pub)
			} else {
				victim.Store(sa)
			}
			// A feed attaching asks for a keyframe: the pacer takes a turn.
			feed, err := r.Attach("cam1", 0)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(feed.Close)

			if tc.publisher {
				waitFor(t, "publication closed", pub.Done())
				waitFor(t, "alice's session closed", sa.Done())
				waitFor(t, "bob's session closed", sb.Done())
				drained := make(chan struct{})
				go func() {
					for range feed.Packets() {
					}
					close(drained)
				}()
				waitFor(t, "feed closed", drained)
				if r.Publishing("cam1") || r.Viewers("cam1") != 0 {
					t.Fatal("publication or viewers left behind")
				}
			} else {
				waitFor(t, "alice's session closed", sa.Done())
				growing(t, b, "bob keeps receiving")
				select {
				case <-pub.Done():
					t.Fatal("a viewer's panic closed the publication")
				default:
				}
				if n := r.Viewers("cam1"); n != 1 {
					t.Fatalf("%d viewers left, want 1", n)
				}
			}

			for _, g := range []string{"publication_track", "keyframe_pacer", "viewer_writer", "viewer_rtcp"} {
				want := 0.0
				if g == tc.goroutine {
					want = 1
				}
				if n := counter(t, reg, "securecam_relay_panics_total", "goroutine", g); n != want {
					t.Errorf("securecam_relay_panics_total{goroutine=%q} = %v, want %v", g, n, want)
				}
			}
			if l := logs.String(); !strings.Contains(l, "panic in relay goroutine") ||
				!strings.Contains(l, fmt.Sprintf("goroutine=%s", tc.goroutine)) || !strings.Contains(l, "injected") {
				t.Errorf("panic not logged:\n%s", l)
			}
		})
	}
}

// counter returns the value of name{label=value} in reg, 0 when absent.
func counter(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
