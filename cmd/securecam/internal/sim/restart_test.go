package sim_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/securecam/securecam/cmd/securecam/internal/child"
	"github.com/securecam/securecam/cmd/securecam/internal/child/childtest"
	"github.com/securecam/securecam/cmd/securecam/internal/sim"
	"github.com/securecam/securecam/hub/bustest"
	"github.com/securecam/securecam/signaling/client"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/storetest"
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
	cam := f.dialAny(t, lb.prefer("a"), f.camera)
	runCamera(t, cam, loopback)
	view := f.dialAny(t, lb.prefer("b"), f.viewer)

	ctx, stopView := context.WithCancel(t.Context())
	defer stopView()
	type outcome struct {
		res sim.ViewResult
		err error
	}
	viewed := make(chan outcome, 1)
	go func() {
		res, err := sim.View(ctx, view, sim.ViewerConfig{Media: loopback, CameraDeviceID: f.camera.ID, Watch: time.Hour})
		viewed <- outcome{res, err}
	}()
	// poll waits until cond holds, failing early if the view ended.
	poll := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			select {
			case o := <-viewed:
				t.Fatalf("waiting for %s: the view ended: %v (%+v)", what, o.err, o.res)
			case <-time.After(100 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 60 s", what)
			}
		}
	}
	// streams lists the camera's sessions through a replica that is up.
	streams := func() (client.Page[client.StreamSession], error) {
		c, err := client.New(client.Config{BaseURL: lb.prefer("b")(), Token: f.owner.Token()})
		if err != nil {
			return client.Page[client.StreamSession]{}, err
		}
		return c.ListStreams(t.Context(), f.camera.ID, client.PageRequest{Limit: 10})
	}
	session := func() client.StreamSession {
		t.Helper()
		page, err := streams()
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != 1 {
			t.Fatalf("the camera has %d sessions, want the one", len(page.Items))
		}
		return page.Items[0]
	}
	var live client.StreamSession
	poll("the session to be live", func() bool {
		page, err := streams()
		if err != nil || len(page.Items) == 0 || page.Items[0].Status != store.StreamLive {
			return false
		}
		live = page.Items[0]
		return true
	})
	t.Logf("session %s live; camera on %s, viewer on %s", live.ID, cam.Hello().Node, view.Hello().Node)

	// Replica a (the camera's) goes: the camera moves to b. Then a new a comes.
	childtest.Stop(t, a)
	lb.down("a")
	poll("the camera to reconnect to b", func() bool { return cam.Hello().Node == "b" })
	start("a")
	// Replica b (now both's) goes: both move to the new a. Then a new b comes.
	childtest.Stop(t, b)
	lb.down("b")
	poll("the camera and the viewer to reconnect to a", func() bool {
		return cam.Hello().Node == "a" && view.Hello().Node == "a"
	})
	restarted := time.Now()
	start("b")
	poll("both parties to resume", func() bool {
		s := session()
		return s.CameraAwayAt == nil && s.RequesterAwayAt == nil
	})
	if s := session(); s.ID != live.ID || s.Status != store.StreamLive {
		t.Fatalf("after the restarts the camera's session is %s %s, want %s live", s.ID, s.Status, live.ID)
	}

	// The viewer's stats cover the whole view: the longest gap between two packets,
	// and the last one, close to the end.
	stopped := time.Now()
	stopView()
	o := <-viewed
	m := o.res.Media
	t.Logf("view: %v; %d packets, %d frames, longest gap %v, last packet %v before the end",
		o.err, m.Packets, m.Frames, m.MaxGap, stopped.Sub(m.LastPacketAt))
	if o.res.SessionID != live.ID || o.res.Sessions != 1 {
		t.Errorf("the viewer watched session %s (%d sessions), want only %s", o.res.SessionID, o.res.Sessions, live.ID)
	}
	if m.MaxGap > 2*time.Second {
		t.Errorf("the video stopped for %v at worst, want at most 2 s", m.MaxGap)
	}
	if !m.LastPacketAt.After(restarted) || stopped.Sub(m.LastPacketAt) > 2*time.Second {
		t.Errorf("the video stopped: last packet at %v, the restarts done at %v, the view ended at %v",
			m.LastPacketAt, restarted, stopped)
	}
}
