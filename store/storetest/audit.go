package storetest

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/securecam/securecam/store"
)

func testAuditLogs(t *testing.T, s store.Store) {
	ctx := t.Context()
	f := mkFixture(t, s)
	at := time.Date(2025, 6, 7, 8, 9, 10, 111213000, time.UTC)
	a := store.AuditLog{OwnerUserID: &f.user.ID, ActorDeviceID: &f.cam.ID, Action: "device.create",
		TargetType: strp("device"), TargetID: &f.cam.ID, Metadata: json.RawMessage(`{"name":"x"}`),
		IPAddress: strp("192.0.2.7"), CreatedAt: at}
	noErr(t, "AddAuditLog", s.AddAuditLog(ctx, &a))
	checkV7(t, a.ID)
	b := store.AuditLog{OwnerUserID: &f.user.ID, Action: "auth.sign_in"}
	noErr(t, "AddAuditLog minimal", s.AddAuditLog(ctx, &b))
	anon := store.AuditLog{Action: "auth.sign_in_failed", IPAddress: strp("192.0.2.8")}
	noErr(t, "AddAuditLog without owner", s.AddAuditLog(ctx, &anon))
	other := mkUser(t, s)
	noErr(t, "AddAuditLog other user", s.AddAuditLog(ctx, &store.AuditLog{OwnerUserID: &other.ID, Action: "x"}))

	wantErr(t, "unknown owner", s.AddAuditLog(ctx, &store.AuditLog{OwnerUserID: strp(missing), Action: "x"}), store.ErrNotFound)
	if err := s.AddAuditLog(ctx, &store.AuditLog{Action: "x", Metadata: json.RawMessage(`{bad`)}); err == nil {
		t.Error("AddAuditLog with invalid metadata succeeded")
	}

	list, next, err := s.ListAuditLogs(ctx, f.user.ID, store.Page{})
	noErr(t, "ListAuditLogs", err)
	if want := []string{b.ID, a.ID}; !slices.Equal(auditIDs(list), want) || next != "" {
		t.Fatalf("ListAuditLogs = %v (next %q), want %v", auditIDs(list), next, want)
	}
	got := list[1]
	if *got.OwnerUserID != f.user.ID || *got.ActorDeviceID != f.cam.ID || got.Action != "device.create" ||
		*got.TargetType != "device" || *got.TargetID != f.cam.ID || !jsonEqual(got.Metadata, a.Metadata) ||
		*got.IPAddress != "192.0.2.7" {
		t.Errorf("audit log = %+v, want %+v", got, a)
	}
	checkTime(t, "CreatedAt", got.CreatedAt, at)
	if m := list[0]; m.ActorDeviceID != nil || m.TargetType != nil || m.TargetID != nil || m.Metadata != nil || m.IPAddress != nil {
		t.Errorf("minimal audit log = %+v, want nil optional fields", m)
	}
}
