package wire_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
)

// hidden are the store columns that never leave the hub.
var hidden = map[string]bool{
	"User.PasswordHash":       true,
	"Command.RequestID":       true,
	"StreamSession.StreamKey": true,
}

// negated are the columns that leave the hub as their negation, under another name
// (store field → wire field).
var negated = map[string]string{
	"Event.Disarmed": "Armed",
}

// TestResourcesCarryEveryColumn converts a store row with every column set and checks
// that each column reaches its wire field (or is one of the hidden ones and appears
// nowhere), and that the JSON members are exactly those docs/api.md documents. A
// column added to the store without a decision about the wire fails here.
func TestResourcesCarryEveryColumn(t *testing.T) {
	for _, tc := range []struct {
		row     any
		convert func(any) any
		members string
	}{
		{store.User{}, func(r any) any { return wire.FromUser(r.(store.User)) },
			"id email name email_verified image created_at updated_at"},
		{store.Device{}, func(r any) any { return wire.FromDevice(r.(store.Device)) },
			"id user_id name role platform app_version push_token status is_camera last_seen_at created_at updated_at recording_mode live_mode"},
		{store.DeviceLink{}, func(r any) any { return wire.FromDeviceLink(r.(store.DeviceLink)) },
			"id owner_user_id camera_device_id client_device_id status created_at updated_at"},
		{store.Command{}, func(r any) any { return wire.FromCommand(r.(store.Command)) },
			"id owner_user_id source_device_id target_device_id command_type payload status retry_count " +
				"last_dispatched_at acknowledged_at error expires_at created_at updated_at"},
		{store.StreamSession{}, func(r any) any { return wire.FromStreamSession(r.(store.StreamSession)) },
			"id owner_user_id camera_device_id requester_device_id status reason media_provider media_session_id " +
				"publish_endpoint subscribe_endpoint started_at ended_at camera_away_at requester_away_at metadata " +
				"created_at updated_at"},
		{store.Event{}, func(r any) any { return wire.FromEvent(r.(store.Event)) },
			"id user_id device_id title triggered_by status started_at ended_at notified_at video_url armed created_at updated_at"},
		{store.Notification{}, func(r any) any { return wire.FromNotification(r.(store.Notification)) },
			"id event_id user_id sent_at channel status is_read"},
		{store.Recording{}, func(r any) any { return wire.FromRecording(r.(store.Recording)) },
			"id owner_user_id stream_session_id camera_device_id requester_device_id event_id object_key bucket " +
				"content_type duration_seconds size_bytes status available_at error created_at updated_at"},
		{store.AuditLog{}, func(r any) any { return wire.FromAuditLog(r.(store.AuditLog)) },
			"id owner_user_id actor_device_id action target_type target_id metadata ip_address created_at"},
	} {
		rt := reflect.TypeOf(tc.row)
		t.Run(rt.Name(), func(t *testing.T) {
			row := reflect.New(rt).Elem()
			for i := range rt.NumField() {
				fill(t, row.Field(i), rt.Field(i).Name, i)
			}
			w := reflect.ValueOf(tc.convert(row.Interface()))
			b, err := json.Marshal(w.Interface())
			if err != nil {
				t.Fatal(err)
			}
			for i := range rt.NumField() {
				name := rt.Field(i).Name
				got := w.FieldByName(name)
				if to, ok := negated[rt.Name()+"."+name]; ok {
					if w.FieldByName(to).Bool() == row.Field(i).Bool() {
						t.Errorf("%s is not the negation of %s", to, name)
					}
					continue
				}
				if hidden[rt.Name()+"."+name] {
					if got.IsValid() || strings.Contains(string(b), "x-"+name) {
						t.Errorf("%s leaves the hub: %s", name, b)
					}
					continue
				}
				if !got.IsValid() {
					t.Errorf("store column %s has no wire field (add it, or list it in hidden)", name)
					continue
				}
				if !reflect.DeepEqual(got.Interface(), row.Field(i).Interface()) {
					t.Errorf("%s = %v, want %v", name, got.Interface(), row.Field(i).Interface())
				}
			}
			var members map[string]json.RawMessage
			if err := json.Unmarshal(b, &members); err != nil {
				t.Fatal(err)
			}
			got := slices.Sorted(func(yield func(string) bool) {
				for k := range members {
					if !yield(k) {
						return
					}
				}
			})
			want := slices.Sorted(slices.Values(strings.Fields(tc.members)))
			if !slices.Equal(got, want) {
				t.Errorf("JSON members %v, want %v", got, want)
			}
		})
	}
}

// fill sets v, field number i called name, to a value that is not zero and tells the
// fields apart.
func fill(t *testing.T, v reflect.Value, name string, i int) {
	at := time.Date(2026, 3, 1, 10, 15, i, 123456000, time.UTC)
	switch p := v.Addr().Interface().(type) {
	case *string:
		*p = "x-" + name
	case **string:
		s := "x-" + name
		*p = &s
	case *bool:
		*p = true
	case *int:
		*p = i + 1
	case **int:
		n := i + 1
		*p = &n
	case **int64:
		n := int64(i + 1)
		*p = &n
	case *time.Time:
		*p = at
	case **time.Time:
		*p = &at
	case *json.RawMessage:
		*p = json.RawMessage(`{"field":"x-` + name + `"}`)
	default:
		t.Fatalf("fill: no value for %s (%s)", name, v.Type())
	}
}
