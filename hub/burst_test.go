package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"testing"

	"github.com/securecam/securecam/hub"
)

// TestBurstWithPingsArrivesWhole: bursts of queued messages are written several
// frames per write (corked); every message still arrives in order, and the pongs
// the hub writes in the middle of a burst are not held back for good.
func TestBurstWithPingsArrivesWhole(t *testing.T) {
	t.Parallel()
	th := newHub(t, hub.Config{SendQueueSize: 1024})
	c, _ := dial(t, th, "d1")
	const n = 600
	sent := make(chan error, 1)
	go func() {
		for i := range n {
			if err := th.Send(bg(t), "d1", hub.Envelope{Type: "telemetry", Data: json.RawMessage(strconv.Itoa(i))}); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	got := make(chan error, 1)
	go func() {
		for i := range n {
			ctx, cancel := context.WithTimeout(bg(t), wait)
			_, b, err := c.next(ctx)
			cancel()
			if err != nil {
				got <- err
				return
			}
			env, err := hub.Decode(b)
			if err != nil {
				got <- err
				return
			}
			if string(env.Data) != strconv.Itoa(i) {
				got <- fmt.Errorf("message %d: data %s", i, env.Data)
				return
			}
		}
		got <- nil
		for { // keep reading, so that a late ping gets its pong; ends with the socket
			if _, _, err := c.conn.Read(context.Background()); err != nil {
				return
			}
		}
	}()
	for range 5 {
		ctx, cancel := context.WithTimeout(bg(t), wait)
		err := c.conn.Ping(ctx)
		cancel()
		if err != nil {
			t.Fatalf("Ping during the burst: %v", err)
		}
	}
	if err := <-sent; err != nil {
		t.Fatalf("Send: %v", err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}
