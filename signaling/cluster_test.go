package signaling_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/hub/bustest"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store/storetest"
)

// Across replicas on Redis a viewer's candidates are relayed without waiting for
// each publish's answer: they still reach the camera in the order sent, one with an
// id is acknowledged, and once the camera is connected nowhere the next is answered
// target_offline.
func TestCandidatesAcrossReplicas(t *testing.T) {
	st := storetest.NewSQLite(t)
	url, prefix := bustest.RedisURL(t), bustest.Prefix(t)
	a, b := startRedisReplica(t, st, url, prefix, nil), startRedisReplica(t, st, url, prefix, nil)
	f := newFamily(t, st)
	view, cam := dial(t, a, f.viewer), dial(t, b, f.camera)
	sid := liveSession(t, st, cam, view, f.camera)

	const n = 40 // within the socket's message burst
	candidate := func(i int) map[string]string {
		return map[string]string{"candidate": fmt.Sprintf("candidate:%d 1 udp 2130706431 127.0.0.1 5000 typ host", i)}
	}
	for i := range n {
		view.send("webrtc.candidate", "", sid, candidate(i))
	}
	mustAck(t, view, "webrtc.candidate", sid, candidate(n))
	for i := range n + 1 {
		got := decode[map[string]string](t, cam.expect("webrtc.candidate"))
		if want := candidate(i)["candidate"]; got["candidate"] != want {
			t.Fatalf("candidate %d arrived as %q, want %q", i, got["candidate"], want)
		}
	}

	cam.drop() // not a clean close: the session waits for the camera to come back
	waitOffline(t, view, f.camera.ID)
	ans := view.request("webrtc.candidate", sid, candidate(n+1))
	if ans.Type != "error" || errorCode(t, ans) != wire.CodeTargetOffline {
		t.Fatalf("candidate to a camera connected nowhere: %s %s, want error target_offline", ans.Type, ans.Data)
	}
}

// waitOffline reads p's messages until the presence of deviceID says offline.
func waitOffline(t *testing.T, p *peer, deviceID string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case env, ok := <-p.conn.Messages():
			if !ok {
				t.Fatalf("connection ended: %v", p.conn.Err())
			}
			if env.Type != "presence" {
				continue
			}
			if pd := decode[hub.PresenceData](t, env); pd.DeviceID == deviceID && pd.Status == "offline" {
				return
			}
		case <-timeout:
			t.Fatalf("no offline presence of %s within 10 s", deviceID)
		}
	}
}
