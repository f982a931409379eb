package main

// The standing fault suite: real replicas (processes), the test's own redis-server and
// PostgreSQL cluster, real clients. Each test breaks one thing the way production does
// (SIGKILL, a stopped server) and checks what docs/protocol.md promises about it.
// Waits poll state with generous deadlines; the few timed promises (recovery within 5 s,
// delivery within 30 s) are measured from the moment the fault ended.

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/hub/bustest"
	"github.com/securecam/securecam/signaling/client"
	"github.com/securecam/securecam/store/storetest"

	"github.com/securecam/securecam/signaling/wire"
)

// waitFor polls cond every 50 ms until it holds or timeout passes (then the test fails)
// and returns when it held.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		<-tick.C
	}
	return time.Now()
}

// cameraApp is a camera application: it dedupes the commands it gets by id (the
// protocol delivers at least once) and acknowledges each, retrying while the hub
// answers unavailable.
type cameraApp struct {
	conn    *client.Conn
	mu      sync.Mutex
	got     map[string]time.Time // command id → first delivery
	answers chan string
	done    sync.WaitGroup
}

func runCamera(t *testing.T, conn *client.Conn) *cameraApp {
	a := &cameraApp{conn: conn, got: map[string]time.Time{}, answers: make(chan string, 1<<14)}
	a.done.Add(2)
	go a.read(t)
	go a.answer(t)
	t.Cleanup(func() {
		_ = conn.Close()
		a.done.Wait()
	})
	return a
}

func (a *cameraApp) read(t *testing.T) {
	defer a.done.Done()
	defer close(a.answers)
	for env := range a.conn.Messages() {
		if env.Type != "command" {
			continue
		}
		cmd, err := client.Data[wire.CommandMessage](env)
		if err != nil {
			t.Errorf("undecodable command %s: %v", env.Data, err)
			continue
		}
		a.mu.Lock()
		_, dup := a.got[cmd.CommandID]
		if !dup {
			a.got[cmd.CommandID] = time.Now()
		}
		a.mu.Unlock()
		if !dup {
			a.answers <- cmd.CommandID
		}
	}
}

func (a *cameraApp) answer(t *testing.T) {
	defer a.done.Done()
	for id := range a.answers {
		data, _ := json.Marshal(map[string]string{"command_id": id, "status": "acknowledged"})
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_, err := a.conn.Request(ctx, hub.Envelope{Type: "command.result", Data: data})
			cancel()
			if err == nil || errors.Is(err, client.ErrClosed) {
				break
			}
			if client.ErrorCode(err) != "unavailable" {
				t.Errorf("command.result %s: %v", id, err)
				break
			}
			select { // the store is down: the application retries
			case <-a.conn.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

// delivered returns the ids of the commands delivered so far.
func (a *cameraApp) delivered() map[string]time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]time.Time, len(a.got))
	for id, at := range a.got {
		out[id] = at
	}
	return out
}

// sent is a command.send the hub acknowledged.
type sent struct {
	id, status string
	at         time.Time // when it was sent
}

// flood sends command.send from a viewer at a steady pace until stopped, and keeps
// what the hub acknowledged.
type flood struct {
	mu    sync.Mutex
	acked []sent
	stop  context.CancelFunc
	done  chan struct{}
}

func startFlood(t *testing.T, viewer *client.Conn, target string, every time.Duration) *flood {
	ctx, cancel := context.WithCancel(context.Background())
	f := &flood{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(f.done)
		tick := time.NewTicker(every) // the pace of the load, not a synchronisation
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			// A send in flight when the flood stops is awaited: its command is stored
			// and on its way, so its acknowledgement must be counted.
			at := time.Now()
			rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
			data, _ := json.Marshal(wire.CommandRequest{TargetDeviceID: target, CommandType: "ping", Payload: json.RawMessage(`{}`)})
			ack, err := viewer.Request(rctx, hub.Envelope{Type: "command.send", Data: data})
			rcancel()
			if err != nil {
				t.Errorf("command.send: %v", err)
				continue
			}
			s, err := client.Data[wire.CommandStatus](ack)
			if err != nil {
				t.Errorf("ack %s: %v", ack.Data, err)
				continue
			}
			f.mu.Lock()
			f.acked = append(f.acked, sent{id: s.CommandID, status: s.Status, at: at})
			f.mu.Unlock()
		}
	}()
	t.Cleanup(func() { f.end() })
	return f
}

// end stops the flood after the send in flight.
func (f *flood) end() {
	f.stop()
	<-f.done
}

// end stops the flood after the send in flight.
// list returns the acknowledged sends so far, in order.
func (f *flood) list() []sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.acked)
}

func (f *flood) count() int { return len(f.list()) }

// countSince counts the acknowledged sends made at or after t.
func (f *flood) countSince(t time.Time) int {
	n := 0
	for _, s := range f.list() {
		if !s.at.Before(t) {
			n++
		}
	}
	return n
}

// Redis is SIGKILLed and restarted while a viewer on r1 floods a camera on r2 with
// commands. Every command the hub acknowledged reaches the camera application exactly
// once (it dedupes by id) within 30 s of Redis being back; presence and routing across
// the replicas recover within 5 s.
func TestFaultRedisRestartUnderCommandFlood(t *testing.T) {
	pg := storetest.PostgresURL(t)
	redisURL, stopRedis, restartRedis := bustest.StartRedis(t)
	replica := func(node string) *proc {
		return startProc(t, map[string]string{
			"SECURECAM_DATABASE_URL": pg, "SECURECAM_REDIS_URL": redisURL,
			"SECURECAM_NODE_ID": node, "SECURECAM_DATA_DIR": t.TempDir(),
		})
	}
	r1, r2 := replica("r1"), replica("r2")
	acct := newAccount(t, r1)
	ctx := t.Context()
	owner := r1.client(acct.token)
	watcher, err := owner.CreateDevice(ctx, client.NewDevice{Name: "watcher", Role: "viewer", Platform: "web"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := owner.CreateLink(ctx, acct.camera.Device.ID, watcher.Device.ID); err != nil {
		t.Fatal(err)
	}
	viewer := dialDevice(t, r1, acct.viewer)
	cam := dialDevice(t, r2, acct.camera)
	presence(t, viewer, acct.camera.Device.ID, "online")
	app := runCamera(t, cam)
	go func() { // the viewer reads its socket: statuses and presence are not checked here
		for range viewer.Messages() {
		}
	}()
	fl := startFlood(t, viewer, acct.camera.Device.ID, 50*time.Millisecond)

	waitFor(t, "commands acknowledged before the fault", time.Minute, func() bool { return fl.count() >= 10 })
	stopRedis()
	killed := fl.count()
	waitFor(t, "commands acknowledged while Redis is down", time.Minute, func() bool { return fl.count() >= killed+20 })
	restartRedis()
	back := time.Now()

	// Presence: a viewer connecting to r1 is told, in hello, that the camera on r2 is
	// online. That snapshot comes from Redis (this replica's own view says offline), so
	// it holds only once r2 has recorded its devices again.
	var presenceBack time.Time
	waitFor(t, "the camera online in a hello from r1", time.Minute, func() bool {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		conn, err := r1.client(watcher.DeviceToken).Dial(dctx, client.DialOptions{})
		if err != nil {
			return false
		}
		defer conn.Close()
		for _, p := range conn.Hello().Presence {
			if p.DeviceID == acct.camera.Device.ID && p.Status == "online" {
				presenceBack = time.Now()
				return true
			}
		}
		return false
	})
	waitFor(t, "commands acknowledged after Redis came back", time.Minute, func() bool { return fl.countSince(back) >= 40 })
	fl.end()

	all := fl.list()
	// Routing: the first command sent after Redis came back that reached the camera at
	// once (acked dispatched, or already acknowledged) rather than pending.
	var routingBack time.Time
	for _, s := range all {
		if !s.at.Before(back) && s.status != "pending" {
			routingBack = s.at
			break
		}
	}
	if routingBack.IsZero() {
		t.Fatal("no command sent after Redis came back reached the camera at once")
	}
	for _, s := range all[len(all)-10:] {
		if s.status == "pending" {
			t.Errorf("command %s sent %s after Redis came back was acked pending: routing did not stay up", s.id, s.at.Sub(back).Round(time.Millisecond))
		}
	}

	// Delivery: every acknowledged command reaches the application, exactly once.
	acked := map[string]bool{}
	for _, s := range all {
		acked[s.id] = true
	}
	var missing []string
	waitFor(t, "every acknowledged command delivered", time.Until(back.Add(30*time.Second))+time.Second, func() bool {
		got := app.delivered()
		missing = missing[:0]
		for id := range acked {
			if _, ok := got[id]; !ok {
				missing = append(missing, id)
			}
		}
		return len(missing) == 0
	})
	got := app.delivered()
	var last time.Time
	for id, at := range got {
		if !acked[id] {
			t.Errorf("the camera got command %s that no acknowledgement named", id)
		}
		if at.After(last) {
			last = at
		}
	}
	t.Logf("%d commands acknowledged (%d while Redis was down), all delivered by %s after Redis came back; presence back after %s, routing after %s",
		len(all), len(all)-killed-fl.countSince(back), last.Sub(back).Round(time.Millisecond),
		presenceBack.Sub(back).Round(time.Millisecond), routingBack.Sub(back).Round(time.Millisecond))
	if d := last.Sub(back); d > 30*time.Second {
		t.Errorf("the last acknowledged command arrived %s after Redis came back, want within 30 s", d)
	}
	if d := presenceBack.Sub(back); d > 5*time.Second {
		t.Errorf("presence recovered %s after Redis came back, want within 5 s", d)
	}
	if d := routingBack.Sub(back); d > 5*time.Second {
		t.Errorf("routing recovered %s after Redis came back, want within 5 s", d)
	}
}

// A sign-out on r1 while Redis is down cannot broadcast the close of its sockets. The
// user's socket on r2 is still closed with 4003: by the re-validation that follows the
// bus's return, or by the periodic one even while Redis stays down.
func TestFaultRevocationDuringRedisOutage(t *testing.T) {
	tests := []struct {
		name, interval string
		redisBack      bool // Redis comes back before the socket is expected closed
	}{
		{"after the bus resumes", "1h", true},
		{"periodic re-validation", "2s", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pg := storetest.PostgresURL(t)
			redisURL, stopRedis, restartRedis := bustest.StartRedis(t)
			replica := func(node string) *proc {
				return startProc(t, map[string]string{
					"SECURECAM_DATABASE_URL": pg, "SECURECAM_REDIS_URL": redisURL,
					"SECURECAM_NODE_ID": node, "SECURECAM_DATA_DIR": t.TempDir(),
					"SECURECAM_REVALIDATE_INTERVAL": tt.interval,
				})
			}
			r1, r2 := replica("r1"), replica("r2")
			acct := newAccount(t, r1)
			ctx := t.Context()
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			user, err := r2.client(acct.token).Dial(dctx, client.DialOptions{DeviceID: acct.viewer.Device.ID})
			if err != nil {
				t.Fatalf("dial with the session: %v", err)
			}
			t.Cleanup(func() { _ = user.Close() })
			go func() {
				for range user.Messages() {
				}
			}()

			stopRedis()
			signedOut := time.Now()
			if err := r1.client(acct.token).SignOut(ctx); err != nil {
				t.Fatalf("sign out with Redis down: %v", err)
			}
			if _, err := r2.client(acct.token).Me(ctx); client.ErrorCode(err) != "unauthorized" {
				t.Fatalf("the session after sign-out: %v, want unauthorized", err)
			}
			since := signedOut
			if tt.redisBack {
				// Nothing else closes it: no periodic pass within the hour.
				if _, err := user.Ping(ctx); err != nil {
					t.Fatalf("the socket closed before Redis came back: %v", err)
				}
				restartRedis()
				since = time.Now()
			}
			select {
			case <-user.Done():
			case <-time.After(70 * time.Second):
				t.Fatal("the signed-out socket is still open 70 s later")
			}
			var ce websocket.CloseError
			if !errors.As(user.Err(), &ce) || ce.Code != hub.StatusForbidden {
				t.Fatalf("the signed-out socket ended with %v, want close 4003", user.Err())
			}
			t.Logf("closed with 4003 %s after %s", time.Since(since).Round(time.Millisecond),
				map[bool]string{true: "Redis came back", false: "the sign-out (Redis still down)"}[tt.redisBack])
		})
	}
}

// outcome is one request's answer in the PostgreSQL outage test.
type outcome struct {
	kind   string
	status int    // HTTP status, or 0 for a socket answer
	code   string // problem or socket error code; "" for a success
	served bool   // answered normally (a refused sign-in of an unknown account is)
	retry  string // Retry-After
	down   bool   // sent and answered while the database was stopped
	at     time.Time
}

// PostgreSQL is stopped for 10 s under REST and socket traffic. Every answer while it
// is down is 503 unavailable with Retry-After (a socket gets error unavailable), never
// 500; /readyz says 503; every command acknowledged before or after is delivered and
// acknowledged; and each kind of request works again within 5 s of the database.
func TestFaultPostgresStopped(t *testing.T) {
	pgURL, stopPG, startPG := storetest.StartPostgres(t)
	p := startProc(t, map[string]string{"SECURECAM_DATABASE_URL": pgURL, "SECURECAM_DATA_DIR": t.TempDir()})
	acct := newAccount(t, p)
	ctx := t.Context()
	owner := p.client(acct.token)
	spare, err := owner.CreateDevice(ctx, client.NewDevice{Name: "spare", Role: "viewer", Platform: "web"})
	if err != nil {
		t.Fatal(err)
	}
	viewer := dialDevice(t, p, acct.viewer)
	cam := dialDevice(t, p, acct.camera)
	app := runCamera(t, cam)
	go func() {
		for range viewer.Messages() {
		}
	}()

	var down atomic.Bool // the database is stopped (stop returned, start not called)
	var mu sync.Mutex
	var answers []outcome
	var acked []string
	record := func(a outcome, wasDown bool) {
		a.served = a.served || a.code == ""
		a.down = wasDown && down.Load()
		a.at = time.Now()
		mu.Lock()
		answers = append(answers, a)
		mu.Unlock()
	}
	rest := func(kind, method, path, token string, body any) func() {
		return func() {
			wasDown := down.Load()
			status, code, retry, raw := doJSON(t, p.URL+path, method, token, body)
			if status == http.StatusAccepted && kind == "POST /commands" {
				var c struct{ ID string }
				_ = json.Unmarshal(raw, &c)
				mu.Lock()
				acked = append(acked, c.ID)
				mu.Unlock()
			}
			record(outcome{kind: kind, status: status, code: code, retry: retry, served: code == "invalid_credentials"}, wasDown)
		}
	}
	traffic := map[string]func(){
		"GET /devices": rest("GET /devices", "GET", "/api/v1/devices", acct.token, nil),
		"POST /commands": func() {
			rest("POST /commands", "POST", "/api/v1/commands", acct.token, map[string]any{
				"source_device_id": acct.viewer.Device.ID, "target_device_id": acct.camera.Device.ID,
				"command_type": "ping", "payload": map[string]any{},
			})()
		},
		// Unknown accounts: the per-account sign-in limit is not what answers.
		"POST /auth/sign-in": func() {
			rest("POST /auth/sign-in", "POST", "/api/v1/auth/sign-in", "",
				map[string]string{"email": "nobody-" + uuid.NewString()[:8] + "@example.com", "password": testPassword})()
		},
		"GET /readyz": func() {
			wasDown := down.Load()
			res, err := http.Get(p.URL + "/readyz")
			if err != nil {
				t.Errorf("GET /readyz: %v", err)
				return
			}
			res.Body.Close()
			code := ""
			if res.StatusCode != http.StatusOK {
				code = "unavailable"
			}
			record(outcome{kind: "GET /readyz", status: res.StatusCode, code: code, retry: "-"}, wasDown)
		},
		"GET /ws": func() {
			wasDown := down.Load()
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			conn, res, err := websocket.Dial(dctx, "ws"+strings.TrimPrefix(p.URL, "http")+"/ws", &websocket.DialOptions{
				Subprotocols: []string{hub.Subprotocol},
				HTTPHeader:   http.Header{"Authorization": {"Bearer " + spare.DeviceToken}},
			})
			if err == nil {
				_ = conn.Close(websocket.StatusNormalClosure, "")
				record(outcome{kind: "GET /ws", status: http.StatusSwitchingProtocols}, wasDown)
				return
			}
			if res == nil {
				t.Errorf("dial /ws: %v", err)
				return
			}
			var prob struct{ Code string }
			_ = json.NewDecoder(res.Body).Decode(&prob)
			record(outcome{kind: "GET /ws", status: res.StatusCode, code: prob.Code, retry: res.Header.Get("Retry-After")}, wasDown)
		},
		"command.send": func() {
			wasDown := down.Load()
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			data, _ := json.Marshal(wire.CommandRequest{TargetDeviceID: acct.camera.Device.ID, CommandType: "ping", Payload: json.RawMessage(`{}`)})
			ack, err := viewer.Request(rctx, hub.Envelope{Type: "command.send", Data: data})
			a := outcome{kind: "command.send", retry: "-"}
			if err != nil {
				if a.code = client.ErrorCode(err); a.code == "" {
					t.Errorf("command.send: %v", err)
					return
				}
			} else if s, err := client.Data[wire.CommandStatus](ack); err == nil {
				mu.Lock()
				acked = append(acked, s.CommandID)
				mu.Unlock()
			}
			record(a, wasDown)
		},
	}
	stopTraffic, trafficDone := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for kind, req := range traffic {
		every := 100 * time.Millisecond
		if kind == "POST /auth/sign-in" {
			every = time.Second // within the per-address sign-in limit
		}
		wg.Go(func() {
			tick := time.NewTicker(every) // the pace of the load
			defer tick.Stop()
			for {
				select {
				case <-stopTraffic.Done():
					return
				case <-tick.C:
				}
				req()
			}
		})
	}
	t.Cleanup(func() { trafficDone(); wg.Wait() })
	count := func(kind string, pred func(outcome) bool) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, a := range answers {
			if a.kind == kind && pred(a) {
				n++
			}
		}
		return n
	}
	for kind := range traffic {
		waitFor(t, kind+" answered before the fault", time.Minute, func() bool {
			return count(kind, func(a outcome) bool { return a.served }) > 0
		})
	}

	stopPG()
	down.Store(true)
	stopped := time.Now()
	for kind := range traffic {
		waitFor(t, kind+" answered while the database is down", time.Minute, func() bool {
			return count(kind, func(a outcome) bool { return a.down }) >= 3
		})
	}
	waitFor(t, "10 s of outage", time.Minute, func() bool { return time.Since(stopped) >= 10*time.Second })
	down.Store(false)
	startPG()
	back := time.Now()
	for kind := range traffic {
		waitFor(t, kind+" working again", time.Minute, func() bool {
			return count(kind, func(a outcome) bool { return a.served && a.at.After(back) }) > 0
		})
	}
	trafficDone()
	wg.Wait()
	for name, c := range map[string]*client.Conn{"viewer": viewer, "camera": cam} {
		select {
		case <-c.Done():
			t.Errorf("the %s's socket closed during the outage: %v", name, c.Err())
		default:
		}
	}

	mu.Lock()
	all := slices.Clone(answers)
	ackedIDs := slices.Clone(acked)
	mu.Unlock()
	firstOK := map[string]time.Time{}
	for _, a := range all {
		switch {
		case a.status >= 500 && a.status != http.StatusServiceUnavailable, a.code == "internal":
			t.Errorf("%s answered %d %q at %s: never 500 internal", a.kind, a.status, a.code, a.at.Format(time.TimeOnly))
		case a.down && a.code != "unavailable":
			t.Errorf("%s answered %d %q with the database down, want unavailable", a.kind, a.status, a.code)
		case a.down && a.status != 0 && a.status != http.StatusServiceUnavailable:
			t.Errorf("%s answered %d with the database down, want 503", a.kind, a.status)
		case a.down && a.retry == "":
			t.Errorf("%s answered 503 without Retry-After", a.kind)
		}
		if a.served && a.at.After(back) {
			if _, ok := firstOK[a.kind]; !ok {
				firstOK[a.kind] = a.at
			}
		}
	}
	recovered := map[string]string{}
	for kind, at := range firstOK {
		d := at.Sub(back)
		recovered[kind] = d.Round(time.Millisecond).String()
		if d > 5*time.Second {
			t.Errorf("%s worked again %s after the database came back, want within 5 s", kind, d.Round(time.Millisecond))
		}
	}
	t.Logf("working again after the database came back: %v", recovered)

	// Nothing acknowledged is lost: each acked command reaches the camera, whose answer
	// (retried while the database was down) makes it acknowledged.
	waitFor(t, fmt.Sprintf("the %d acknowledged commands delivered", len(ackedIDs)), 2*time.Minute, func() bool {
		got := app.delivered()
		for _, id := range ackedIDs {
			if _, ok := got[id]; !ok {
				return false
			}
		}
		return true
	})
	for _, id := range ackedIDs {
		waitFor(t, "command "+id+" acknowledged", time.Minute, func() bool {
			c, err := owner.Command(ctx, id)
			return err == nil && c.Status == "acknowledged"
		})
	}
	downs := 0
	for _, a := range all {
		if a.down {
			downs++
		}
	}
	t.Logf("%d answers, %d of them with the database down; %d commands acknowledged, all delivered and acknowledged", len(all), downs, len(ackedIDs))
}

// doJSON sends a JSON request and returns the status, the problem code, Retry-After
// and the body.
func doJSON(t *testing.T, url, method, token string, body any) (status int, code, retry string, raw []byte) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, url, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	} else {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", method, url, err)
		return 0, "transport", "", nil
	}
	defer res.Body.Close()
	raw, err = io.ReadAll(res.Body)
	if err != nil {
		t.Errorf("%s %s: read: %v", method, url, err)
	}
	if res.StatusCode >= 300 {
		var p struct{ Code string }
		_ = json.Unmarshal(raw, &p)
		code = cmp.Or(p.Code, fmt.Sprintf("status-%d", res.StatusCode))
	}
	return res.StatusCode, code, res.Header.Get("Retry-After"), raw
}

// A camera drops off without a clean close; the replica that saw it is SIGKILLed
// before the camera_offline alert is due. The countdown was in the store: the restarted
// replica raises the alert.
func TestFaultCameraOfflineSurvivesReplicaKill(t *testing.T) {
	env := map[string]string{"SECURECAM_DATA_DIR": t.TempDir(), "SECURECAM_CAMERA_OFFLINE_AFTER": "3s"}
	p := startProc(t, env)
	acct := newAccount(t, p)
	ctx := t.Context()
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(dctx, "ws"+strings.TrimPrefix(p.URL, "http")+"/ws", &websocket.DialOptions{
		Subprotocols: []string{hub.Subprotocol},
		HTTPHeader:   http.Header{"Authorization": {"Bearer " + acct.camera.DeviceToken}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := conn.Read(dctx); err != nil { // hello
		t.Fatal(err)
	}
	_ = conn.CloseNow() // no close frame: the camera dropped off
	waitFor(t, "the replica to record the drop", time.Minute, func() bool {
		return slices.ContainsFunc(strings.Split(p.Tail(), "\n"), func(l string) bool {
			return strings.Contains(l, "camera_offline scheduled") && strings.Contains(l, acct.camera.Device.ID)
		})
	})
	p.Kill()

	p = startProc(t, env)
	type event struct {
		DeviceID    string `json:"device_id"`
		TriggeredBy string `json:"triggered_by"`
	}
	waitFor(t, "camera_offline raised by the restarted replica", time.Minute, func() bool {
		var events struct{ Items []event }
		status, _, _, raw := doJSON(t, p.URL+"/api/v1/events", "GET", acct.token, nil)
		if status != http.StatusOK || json.Unmarshal(raw, &events) != nil {
			return false
		}
		return slices.Contains(events.Items, event{acct.camera.Device.ID, "camera_offline"})
	})
}
