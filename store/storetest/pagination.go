package storetest

import (
	"slices"
	"testing"

	"github.com/securecam/securecam/store"
)

func testPagination(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mkUser(t, s)
	var all []string // newest first
	for range 205 {
		d := mkDevice(t, s, u.ID, store.RoleViewer)
		all = append([]string{d.ID}, all...)
	}

	// Walking the pages returns every device once, newest first.
	var walked []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 30 {
			t.Fatal("pagination does not end")
		}
		items, next, err := s.ListDevices(ctx, u.ID, store.Page{Limit: 7, Cursor: cursor})
		noErr(t, "ListDevices page", err)
		if len(items) > 7 || (next != "" && len(items) != 7) {
			t.Fatalf("page of %d items, next %q", len(items), next)
		}
		walked = append(walked, deviceIDs(items)...)
		if next == "" {
			break
		}
		cursor = next
	}
	if !slices.Equal(walked, all) {
		t.Errorf("walked %d ids, want all %d newest first", len(walked), len(all))
	}

	for _, tt := range []struct {
		name  string
		limit int
		want  int
	}{
		{"zero means 50", 0, 50},
		{"negative is 1", -5, 1},
		{"one", 1, 1},
		{"clamped to 200", 1000, 200},
	} {
		items, next, err := s.ListDevices(ctx, u.ID, store.Page{Limit: tt.limit})
		noErr(t, "ListDevices "+tt.name, err)
		if len(items) != tt.want || next == "" || !slices.Equal(deviceIDs(items), all[:tt.want]) {
			t.Errorf("%s: %d items (next %q), want the newest %d", tt.name, len(items), next, tt.want)
		}
	}

	// The last page has no next cursor, even when it is exactly full.
	_, next, err := s.ListDevices(ctx, u.ID, store.Page{Limit: 200})
	noErr(t, "first 200", err)
	items, next, err := s.ListDevices(ctx, u.ID, store.Page{Limit: 5, Cursor: next})
	noErr(t, "last 5", err)
	if len(items) != 5 || next != "" {
		t.Errorf("exactly full last page: %d items, next %q", len(items), next)
	}

	for _, c := range []string{"not base64!", "bm90LWEtdXVpZA"} {
		_, _, err := s.ListDevices(ctx, u.ID, store.Page{Cursor: c})
		wantErr(t, "ListDevices cursor "+c, err, store.ErrInvalidCursor)
		_, _, err = s.ListLinks(ctx, u.ID, store.Page{Cursor: c})
		wantErr(t, "ListLinks cursor "+c, err, store.ErrInvalidCursor)
		_, _, err = s.ListCommands(ctx, u.ID, store.CommandFilter{}, store.Page{Cursor: c})
		wantErr(t, "ListCommands cursor "+c, err, store.ErrInvalidCursor)
		_, _, err = s.ListAuditLogs(ctx, u.ID, store.Page{Cursor: c})
		wantErr(t, "ListAuditLogs cursor "+c, err, store.ErrInvalidCursor)
	}
}
