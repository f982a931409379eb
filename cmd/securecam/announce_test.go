package main

import (
	"encoding/json"
	"testing"

	"github.com/securecam/securecam/signaling/client"
	"github.com/securecam/securecam/signaling/wire"
)

// TestAnnounceAcrossReplicas: a device connected to r2 is told, by a device message,
// of every device of its account created, renamed and deleted through r1's API; a
// device of another account connected to r2 hears only of its own account's devices.
func TestAnnounceAcrossReplicas(t *testing.T) {
	t.Parallel()
	r1, r2 := relayReplicas(t)
	a, b := newAccount(t, r1), newAccount(t, r1)
	watcher := dialDevice(t, r2, a.viewer)
	stranger := dialDevice(t, r2, b.viewer)
	ctx := t.Context()
	owner := r1.client(a.token)

	tablet, err := owner.CreateDevice(ctx, client.NewDevice{Name: "tablet", Role: "viewer", Platform: "android"})
	if err != nil {
		t.Fatal(err)
	}
	wantDeviceChange(t, watcher, wire.DeviceCreated, tablet.Device.ID, "tablet")

	name := "Porch"
	if _, err := owner.UpdateDevice(ctx, a.camera.Device.ID, client.DeviceUpdate{Name: &name}); err != nil {
		t.Fatal(err)
	}
	wantDeviceChange(t, watcher, wire.DeviceUpdated, a.camera.Device.ID, "Porch")

	if err := owner.DeleteDevice(ctx, tablet.Device.ID); err != nil {
		t.Fatal(err)
	}
	wantDeviceChange(t, watcher, wire.DeviceDeleted, tablet.Device.ID, "tablet")

	t.Log("the other account's device hears first of its own account's new device")
	other, err := r1.client(b.token).CreateDevice(ctx, client.NewDevice{Name: "laptop", Role: "viewer", Platform: "web"})
	if err != nil {
		t.Fatal(err)
	}
	wantDeviceChange(t, stranger, wire.DeviceCreated, other.Device.ID, "laptop")
}

// wantDeviceChange reads the next device message on conn (past presence) and checks it
// announces change of device id named name.
func wantDeviceChange(t *testing.T, conn *client.Conn, change, id, name string) {
	t.Helper()
	env := next(t, conn, wire.TypeDevice)
	var got wire.DeviceChange
	if err := json.Unmarshal(env.Data, &got); err != nil {
		t.Fatalf("device message %s: %v", env.Data, err)
	}
	if got.Change != change || got.Device.ID != id || got.Device.Name != name {
		t.Fatalf("device message %s, want %s of %s named %q", env.Data, change, id, name)
	}
}
