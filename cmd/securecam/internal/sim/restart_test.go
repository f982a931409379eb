package sim_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/securecam/securecam/cmd/securecam/internal/child"
	"github.com/securecam/securecam/cmd/securecam/internal/child/childtest"
	"github.com/securecam/securecam/cmd/securecam/internal/sim"
	"github.com/securecam/securecam/hub/bustest"
	"github.com/securecam/securecam/signaling/client"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/storetest"

	_ "modernc.org/sqlite" // the embedded hub's database, aged by a test

	"github.com/securecam/securecam/signaling/wire"
)

// balancer is the test's load balancer: the URLs of the replicas that are up, by
// node id.
type balancer struct {
	mu  sync.Mutex
	up  map[string]string
	all []string // node ids in start order
}

func (b *balancer) set(node, url string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.up == nil {
		b.up = map[string]string{}
	}
	if _, ok := b.up[node]; !ok {
		b.all = append(b.all, node)
	}
	b.up[node] = url
}

func (b *balancer) down(node string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.up[node] = ""
}

// prefer returns a dial target: the URL of node while it is up, else of another
// replica that is (else node's last one, which fails and is retried).
func (b *balancer) prefer(node string) func() string {
	return func() string {
		b.mu.Lock()
		defer b.mu.Unlock()
		if u := b.up[node]; u != "" {
			return u
		}
		for _, n := range b.all {
			if u := b.up[n]; u != "" {
				return u
			}
		}
		return "http://127.0.0.1:1"
	}
}

// watching is a pion viewer (sim.View) watching a pion camera (sim.RunCamera), each
// on a Socket, while a test restarts hubs under them.
type watching struct {
	t      *testing.T
	f      family
	rest   func() string // the URL of a hub that is up, for REST
	stop   context.CancelFunc
	viewed chan viewed
	live   wire.StreamSession // the session, once live
}

type viewed struct {
	res sim.ViewResult
	err error
}

// startWatching runs the camera on cam and the viewer on view until the session is
// live.
func startWatching(t *testing.T, f family, cam, view *client.Socket, rest func() string) *watching {
	t.Helper()
	runCamera(t, cam, loopback)
	ctx, stop := context.WithCancel(t.Context())
	t.Cleanup(stop)
	w := &watching{t: t, f: f, rest: rest, stop: stop, viewed: make(chan viewed, 1)}
	go func() {
		res, err := sim.View(ctx, view, sim.ViewerConfig{Media: loopback, CameraDeviceID: f.camera.ID, Watch: time.Hour})
		w.viewed <- viewed{res, err}
	}()
	w.poll("the session to be live", func() bool {
		s, ok := w.session()
		w.live = s
		return ok && s.Status == store.StreamLive
	})
	return w
}

// poll waits until cond holds, failing early if the view ended.
func (w *watching) poll(what string, cond func() bool) {
	w.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		select {
		case o := <-w.viewed:
			w.t.Fatalf("waiting for %s: the view ended: %v (%+v)", what, o.err, o.res)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("%s: not within 60 s", what)
		}
	}
}

// session returns the camera's one session, read through a hub that is up; false
// while none answers or there is none.
func (w *watching) session() (wire.StreamSession, bool) {
	w.t.Helper()
	c, err := client.New(client.Config{BaseURL: w.rest(), Token: w.f.owner.Token()})
	if err != nil {
		w.t.Fatal(err)
	}
	page, err := c.ListStreams(w.t.Context(), w.f.camera.ID, client.PageRequest{Limit: 10})
	if err != nil || len(page.Items) == 0 {
		return wire.StreamSession{}, false
	}
	if len(page.Items) != 1 {
		w.t.Fatalf("the camera has %d sessions, want the one", len(page.Items))
	}
	return page.Items[0], true
}

// resumed waits until both parties are back in the session, and checks it is the
// same one, live.
func (w *watching) resumed() {
	w.t.Helper()
	w.poll("both parties to resume", func() bool {
		s, ok := w.session()
		return ok && s.CameraAwayAt == nil && s.RequesterAwayAt == nil
	})
	if s, _ := w.session(); s.ID != w.live.ID || s.Status != store.StreamLive {
		w.t.Fatalf("after the restart the camera's session is %s %s, want %s live", s.ID, s.Status, w.live.ID)
	}
}

// finish stops the viewer and checks what it got: one session, video with no gap
// over 2 s from the first packet to the end, and video after restarted.
func (w *watching) finish(restarted time.Time) {
	w.t.Helper()
	stopped := time.Now()
	w.stop()
	o := <-w.viewed
	m := o.res.Media
	w.t.Logf("view: %v; %d packets, %d frames, longest gap %v, last packet %v before the end",
		o.err, m.Packets, m.Frames, m.MaxGap, stopped.Sub(m.LastPacketAt))
	if o.res.SessionID != w.live.ID || o.res.Sessions != 1 {
		w.t.Errorf("the viewer watched session %s (%d sessions), want only %s", o.res.SessionID, o.res.Sessions, w.live.ID)
	}
	if m.MaxGap > 2*time.Second {
		w.t.Errorf("the video stopped for %v at worst, want at most 2 s", m.MaxGap)
	}
	if !m.LastPacketAt.After(restarted) || stopped.Sub(m.LastPacketAt) > 2*time.Second {
		w.t.Errorf("the video stopped: last packet at %v, the restart done at %v, the view ended at %v",
			m.LastPacketAt, restarted, stopped)
	}
}

// TestLiveViewSurvivesRollingRestart: a pion viewer watches a pion camera, each on a
// replica of its own, while both replicas are restarted one after the other (each
// drains with 1012 and a new one takes its place). Media is peer to peer: the video
// keeps coming with no gap over 2 s, both devices reconnect and resume, and the same
// session is live at the end.
func TestLiveViewSurvivesRollingRestart(t *testing.T) {
	pg := storetest.PostgresURL(t)
	redisURL, _, _ := bustest.StartRedis(t)
	lb := &balancer{}
	start := func(node string) *child.Process {
		p := childtest.Start(t, map[string]string{
			"SECURECAM_DATABASE_URL": pg, "SECURECAM_REDIS_URL": redisURL, "SECURECAM_NODE_ID": node,
		})
		lb.set(node, p.URL)
		return p
	}
	a, b := start("a"), start("b")
	f := newFamily(t, a.URL)
	cam, view := f.dialAny(t, lb.prefer("a"), f.camera), f.dialAny(t, lb.prefer("b"), f.viewer)
	w := startWatching(t, f, cam, view, lb.prefer("b"))
	t.Logf("session %s live; camera on %s, viewer on %s", w.live.ID, cam.Hello().Node, view.Hello().Node)

	// Replica a (the camera's) goes: the camera moves to b. Then a new a comes.
	childtest.Stop(t, a)
	lb.down("a")
	w.poll("the camera to reconnect to b", func() bool { return cam.Hello().Node == "b" })
	start("a")
	// Replica b (now both's) goes: both move to the new a. Then a new b comes.
	childtest.Stop(t, b)
	lb.down("b")
	w.poll("the camera and the viewer to reconnect to a", func() bool {
		return cam.Hello().Node == "a" && view.Hello().Node == "a"
	})
	restarted := time.Now()
	start("b")
	w.resumed()
	w.finish(restarted)
}

// TestLiveViewSurvivesHubCrash: the embedded hub is killed (no drain: nobody is told)
// and started again on its address and data. The new hub keeps the live session for
// its parties to resume (though they are offline when it starts, and the session is
// old enough to pass for an orphan); the video keeps coming, and both devices resume
// the same session.
func TestLiveViewSurvivesHubCrash(t *testing.T) {
	dir := t.TempDir()
	h, env := childtest.StartAt(t, func(addr string) map[string]string {
		return map[string]string{"SECURECAM_DATA_DIR": dir, "SECURECAM_HTTP_ADDR": addr}
	})
	// The devices' way to the hub: closed ("") while the test keeps them away.
	var way atomic.Value
	way.Store(h.URL)
	url := func() string {
		if u := way.Load().(string); u != "" {
			return u
		}
		return "http://127.0.0.1:1"
	}
	f := newFamily(t, h.URL)
	w := startWatching(t, f, f.dialAny(t, url, f.camera), f.dialAny(t, url, f.viewer), func() string { return h.URL })

	way.Store("")
	h.Kill()
	// As if the session had been live for an hour.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(env["SECURECAM_DATA_DIR"], "securecam.db"))
	if err != nil {
		t.Fatal(err)
	}
	hourAgo := time.Now().UTC().Add(-time.Hour).Format("2006-01-02T15:04:05.000000Z")
	if _, err := db.Exec(`UPDATE stream_sessions SET updated_at = ? WHERE id = ?`, hourAgo, w.live.ID); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	h = childtest.Start(t, env)
	restarted := time.Now()
	s, _ := w.session()
	if s.Status != store.StreamLive || s.CameraAwayAt == nil || s.RequesterAwayAt == nil {
		t.Fatalf("the new hub has the session %s, camera away since %v, viewer since %v; want it live, both away",
			s.Status, s.CameraAwayAt, s.RequesterAwayAt)
	}
	way.Store(h.URL)
	w.resumed()
	w.finish(restarted)
}
