package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/hub/bustest"
	"github.com/securecam/securecam/signaling/client"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store/blobs"
	"github.com/securecam/securecam/store/storetest"
)

// TestServeKeepsDataAcrossRestarts is the newcomer's flow: start the hub, sign up,
// register a camera and a viewer, link them, restart, and find everything again —
// on the embedded SQLite file and on PostgreSQL.
func TestServeKeepsDataAcrossRestarts(t *testing.T) {
	t.Parallel()
	engines := map[string]func(t *testing.T) map[string]string{
		"sqlite": func(t *testing.T) map[string]string {
			return map[string]string{"SECURECAM_DATA_DIR": filepath.Join(t.TempDir(), "data"), "SECURECAM_STORAGE_RESERVE_BYTES": "1%"}
		},
		"postgres": func(t *testing.T) map[string]string {
			return map[string]string{"SECURECAM_DATA_DIR": t.TempDir(), "SECURECAM_DATABASE_URL": storetest.PostgresURL(t)}
		},
	}
	for name, envFor := range engines {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := envFor(t)
			p := startProc(t, env)
			if s := p.status("/readyz"); s != http.StatusOK {
				t.Fatalf("/readyz = %d, want 200", s)
			}
			if name == "sqlite" {
				checkPrivateData(t, env["SECURECAM_DATA_DIR"])
				checkReserve(t, p, env["SECURECAM_DATA_DIR"])
			}
			acct := newAccount(t, p)
			conn := dialDevice(t, p, acct.camera)
			_ = conn.Close()
			p.stop()

			p = startProc(t, env)
			ctx := t.Context()
			if _, err := p.client(acct.token).Me(ctx); err != nil {
				t.Errorf("session token after restart: %v", err)
			}
			auth, err := p.client("").SignIn(ctx, acct.email, testPassword)
			if err != nil {
				t.Fatalf("sign in after restart: %v", err)
			}
			c := p.client(auth.Session.Token)
			devices, err := c.ListDevices(ctx, client.PageRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if len(devices.Items) != 2 {
				t.Fatalf("%d devices after restart, want 2", len(devices.Items))
			}
			for _, d := range devices.Items {
				if d.Status != "offline" {
					t.Errorf("%s is %s after a restart, want offline", d.Name, d.Status)
				}
				if d.ID == acct.camera.Device.ID && d.LastSeenAt == nil {
					t.Errorf("camera has no last_seen_at after it connected")
				}
			}
			links, err := c.ListLinks(ctx, client.PageRequest{})
			if err != nil {
				t.Fatal(err)
			}
			if len(links.Items) != 1 || links.Items[0].Status != "active" {
				t.Fatalf("links after restart = %+v, want the one active link", links.Items)
			}
			dialDevice(t, p, acct.camera) // the device token still works
		})
	}
}

// TestClusterOfThreeReplicas runs three replicas on one PostgreSQL and the test's own
// Redis: presence and commands across replicas, replacement of an older socket, a
// replica killed with a command in flight, and a Redis restart.
func TestClusterOfThreeReplicas(t *testing.T) {
	t.Parallel()
	pg := storetest.PostgresURL(t)
	redisURL, stopRedis, restartRedis := bustest.StartRedis(t)
	replica := func(node string) *proc {
		return startProc(t, map[string]string{
			"SECURECAM_DATABASE_URL": pg, "SECURECAM_REDIS_URL": redisURL,
			"SECURECAM_NODE_ID": node, "SECURECAM_DATA_DIR": t.TempDir(),
		})
	}
	r1, r2, r3 := replica("r1"), replica("r2"), replica("r3")
	acct := newAccount(t, r1)
	ctx := t.Context()

	viewer := dialDevice(t, r1, acct.viewer)
	cam := dialDevice(t, r3, acct.camera)
	if got := cam.Hello().Node; got != "r3" {
		t.Errorf("hello.node = %q, want r3", got)
	}
	presence(t, viewer, acct.camera.Device.ID, "online")
	devices, err := r2.client(acct.token).ListDevices(ctx, client.PageRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devices.Items {
		if d.Status != "online" {
			t.Errorf("replica r2 reports %s %s, want online", d.Name, d.Status)
		}
	}

	t.Log("a command from r1 reaches the camera on r3 and its result comes back")
	id := sendCommand(t, viewer, acct.camera.Device.ID)
	answer(t, cam, id)
	wantStatus(t, viewer, id, "acknowledged")

	t.Log("the camera connecting to r2 replaces its socket on r3 with 4001")
	cam2 := dialDevice(t, r2, acct.camera)
	if code := closeCode(t, cam); code != hub.StatusReplaced {
		t.Errorf("old socket closed with %d, want 4001", code)
	}

	t.Log("r2 is killed while a command to the camera is unanswered")
	id = sendCommand(t, viewer, acct.camera.Device.ID)
	if got := commandID(t, next(t, cam2, "command")); got != id {
		t.Fatalf("camera got %s, want %s", got, id)
	}
	r2.Kill()
	cam3 := dialDevice(t, r3, acct.camera)
	if got := commandID(t, next(t, cam3, "command")); got != id {
		t.Fatalf("after the crash the camera got %s, want %s again", got, id)
	}
	answer(t, cam3, id)
	wantStatus(t, viewer, id, "acknowledged")

	t.Log("Redis stops: readiness tells the truth, a command is still accepted")
	stopRedis()
	if s := r1.status("/readyz"); s != http.StatusServiceUnavailable {
		t.Errorf("/readyz with Redis down = %d, want 503", s)
	}
	id = sendCommand(t, viewer, acct.camera.Device.ID)
	restartRedis()
	t.Log("Redis is back: the command arrives without restarting any replica")
	if got := commandID(t, next(t, cam3, "command")); got != id {
		t.Fatalf("after the Redis restart the camera got %s, want %s", got, id)
	}
	answer(t, cam3, id)
	wantStatus(t, viewer, id, "acknowledged")
	if s := r1.status("/readyz"); s != http.StatusOK {
		t.Errorf("/readyz after the Redis restart = %d, want 200", s)
	}
	cmd, err := r3.client(acct.token).Command(ctx, id)
	if err != nil || cmd.Status != "acknowledged" {
		t.Errorf("stored command = %+v, %v; want acknowledged", cmd, err)
	}
}

func sendCommand(t *testing.T, viewer *client.Conn, target string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	id, err := viewer.SendCommand(ctx, wire.CommandRequest{TargetDeviceID: target, CommandType: "set_torch", Payload: json.RawMessage(`{"on":true}`)})
	if err != nil {
		t.Fatalf("command.send: %v", err)
	}
	return id
}

func commandID(t *testing.T, env hub.Envelope) string {
	t.Helper()
	c, err := client.Data[wire.CommandMessage](env)
	if err != nil {
		t.Fatal(err)
	}
	return c.CommandID
}

// answer acknowledges command id from the camera.
func answer(t *testing.T, cam *client.Conn, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	data, _ := json.Marshal(map[string]string{"command_id": id, "status": "acknowledged"})
	if _, err := cam.Request(ctx, hub.Envelope{Type: "command.result", Data: data}); err != nil {
		t.Fatalf("command.result: %v", err)
	}
}

// wantStatus waits for command.status of id with status, skipping other statuses of
// the same or earlier commands (dispatched notices).
func wantStatus(t *testing.T, viewer *client.Conn, id, status string) {
	t.Helper()
	for {
		env := next(t, viewer, "command.status")
		var s struct {
			CommandID string `json:"command_id"`
			Status    string `json:"status"`
		}
		if err := json.Unmarshal(env.Data, &s); err != nil {
			t.Fatal(err)
		}
		if s.CommandID == id && s.Status == status {
			return
		}
	}
}

// closeCode waits for conn to end and returns its close code.
func closeCode(t *testing.T, conn *client.Conn) websocket.StatusCode {
	t.Helper()
	select {
	case <-conn.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("connection still open after 20 s")
	}
	var ce websocket.CloseError
	if !errors.As(conn.Err(), &ce) {
		t.Fatalf("connection ended without a close frame: %v", conn.Err())
	}
	return ce.Code
}

// checkPrivateData: the data directory the hub created, its database and recordings
// directory are the hub user's only.
func checkPrivateData(t *testing.T, dir string) {
	t.Helper()
	for path, want := range map[string]os.FileMode{
		dir:                                0o700,
		filepath.Join(dir, "securecam.db"): 0o600,
		filepath.Join(dir, "recordings"):   0o700,
	} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", path, got, want)
		}
	}
}

// checkReserve: a reserve of 1% of the volume shows in /readyz.
func checkReserve(t *testing.T, p *proc, dir string) {
	t.Helper()
	_, total, err := blobs.FreeSpace(dir)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(p.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var ready struct {
		Storage struct {
			FreeBytes    *int64 `json:"free_bytes"`
			ReserveBytes int64  `json:"reserve_bytes"`
			Uploads      string `json:"uploads"`
		} `json:"storage"`
	}
	if err := json.NewDecoder(res.Body).Decode(&ready); err != nil {
		t.Fatal(err)
	}
	if ready.Storage.FreeBytes == nil || ready.Storage.ReserveBytes != int64(float64(total)*0.01) {
		t.Errorf("readyz storage %+v, want 1%% of %d reserved", ready.Storage, total)
	}
}
