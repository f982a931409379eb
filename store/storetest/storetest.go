// Package storetest is the conformance suite every store.Store implementation passes,
// and helpers that give other packages' tests a fresh store.
//
// Concurrency: Run starts its groups as parallel subtests, each on its own store from
// open; the helpers are safe to call from parallel tests.
package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/securecam/securecam/store"
)

// Run runs the conformance suite. open must return a new, empty, migrated store for
// each call, closed by the test's cleanup.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	RunOnly(t, open)
}

// RunOnly runs the named groups of the suite (every group when none is named).
func RunOnly(t *testing.T, open func(t *testing.T) store.Store, names ...string) {
	groups := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Users", testUsers},
		{"Sessions", testSessions},
		{"ListUserSessions", testListUserSessions},
		{"HashRawSessionTokens", testHashRawSessionTokens},
		{"Verification", testVerification},
		{"Devices", testDevices},
		{"DeleteDevice", testDeleteDevice},
		{"Presence", testPresence},
		{"Links", testLinks},
		{"Commands", testCommands},
		{"CommandDedupe", testCommandDedupe},
		{"CommandStateMachine", testCommandStateMachine},
		{"ExpireCommands", testExpireCommands},
		{"CommandBatches", testCommandBatches},
		{"ConcurrentCommandBatches", testConcurrentCommandBatches},
		{"DeliverableCommandsTo", testDeliverableCommandsTo},
		{"CommandsChangedSince", testCommandsChangedSince},
		{"SocketCredentials", testSocketCredentials},
		{"CameraOfflineChecks", testCameraOfflineChecks},
		{"AuditLogs", testAuditLogs},
		{"Pagination", testPagination},
		{"Concurrency", testConcurrency},
		{"Events", testEvents},
		{"EventCooldown", testEventCooldown},
		{"Notifications", testNotifications},
		{"Deliveries", testDeliveries},
		{"DeliveryClaims", testDeliveryClaims},
		{"DeliveryClaimRace", testDeliveryClaimRace},
		{"Recordings", testRecordings},
		{"RecordingObjects", testRecordingObjects},
		{"Prune", testPrune},
		{"Leases", testLeases},
		{"StreamSessions", testStreamSessions},
		{"StreamTransitions", testStreamTransitions},
		{"StreamTransitionBatch", testStreamTransitionBatch},
		{"StreamWriteBatch", testStreamWriteBatch},
		{"StreamLimit", testStreamLimit},
		{"OpenStreamSessions", testOpenStreamSessions},
		{"ExpireStreamSessions", testExpireStreamSessions},
		{"OrphanStreamSessions", testOrphanStreamSessions},
		{"PasswordChangeVoidsResets", testPasswordChangeVoidsResets},
		{"PruneVerifications", testPruneVerifications},
		{"FailedCommandNotAcknowledged", testFailedCommandNotAcknowledged},
		{"DeleteRecordings", testDeleteRecordings},
		{"StreamPartyAway", testStreamPartyAway},
		{"WakingStreamSessions", testWakingStreamSessions},
		{"AbandonedStreamSessions", testAbandonedStreamSessions},
		{"MediaSessions", testMediaSessions},
		{"StreamProvider", testStreamProvider},
		{"MarkStreamPartiesAway", testMarkStreamPartiesAway},
		{"Arming", testArming},
		{"ArmingDST", testArmingDST},
		{"CameraSettings", testCameraSettings},
		{"Shares", testShares},
		{"Settings", testSettings},
	}
	for _, g := range groups {
		if len(names) > 0 && !slices.Contains(names, g.name) {
			continue
		}
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			g.fn(t, open(t))
		})
	}
}

var seq atomic.Int64

// unique returns a string no other call in this process returns.
func unique(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, time.Now().UnixNano(), seq.Add(1))
}

func mkUser(t *testing.T, s store.Store) store.User {
	t.Helper()
	u := store.User{Email: unique("user") + "@example.com", Name: "Test User", PasswordHash: "salt:key"}
	if err := s.CreateUser(t.Context(), &u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	return u
}

func mkDevice(t *testing.T, s store.Store, userID, role string) store.Device {
	t.Helper()
	d := store.Device{UserID: userID, Name: unique(role), Role: role, Platform: "android"}
	if err := s.CreateDevice(t.Context(), &d, unique("tokenhash")); err != nil {
		t.Fatalf("CreateDevice: %v", err)
	}
	return d
}

func mkLink(t *testing.T, s store.Store, owner, camera, client string) store.DeviceLink {
	t.Helper()
	l := store.DeviceLink{OwnerUserID: owner, CameraDeviceID: camera, ClientDeviceID: client}
	if err := s.CreateLink(t.Context(), &l); err != nil {
		t.Fatalf("CreateLink: %v", err)
	}
	return l
}

func mkCommand(t *testing.T, s store.Store, owner, source, target string, ttl time.Duration) store.Command {
	t.Helper()
	c := store.Command{OwnerUserID: owner, SourceDeviceID: source, TargetDeviceID: target,
		CommandType: "ping", ExpiresAt: time.Now().Add(ttl)}
	created, err := s.CreateCommand(t.Context(), &c, time.Hour)
	if err != nil || !created {
		t.Fatalf("CreateCommand: created=%v err=%v", created, err)
	}
	return c
}

func strp(s string) *string { return &s }

// missing is a well-formed id that names no row.
const missing = "01900000-0000-7000-8000-000000000000"

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// checkTime fails unless got is UTC, has at most microsecond precision and is the
// same instant as want.
func checkTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if got.Location() != time.UTC {
		t.Errorf("%s: location %v, want UTC", what, got.Location())
	}
	if got.Nanosecond()%1000 != 0 {
		t.Errorf("%s: %v has sub-microsecond digits", what, got)
	}
	if !got.Equal(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// checkRecent fails unless t is UTC and within a minute of now.
func checkRecent(t *testing.T, what string, got time.Time) {
	t.Helper()
	if got.Location() != time.UTC {
		t.Errorf("%s: location %v, want UTC", what, got.Location())
	}
	if d := time.Since(got); d < -time.Minute || d > time.Minute {
		t.Errorf("%s = %v, not near now", what, got)
	}
}

func ids[T any](items []T, id func(T) string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = id(it)
	}
	return out
}

func deviceIDs(ds []store.Device) []string {
	return ids(ds, func(d store.Device) string { return d.ID })
}
func linkIDs(ls []store.DeviceLink) []string {
	return ids(ls, func(l store.DeviceLink) string { return l.ID })
}
func commandIDs(cs []store.Command) []string {
	return ids(cs, func(c store.Command) string { return c.ID })
}
func auditIDs(as []store.AuditLog) []string {
	return ids(as, func(a store.AuditLog) string { return a.ID })
}
func sorted(s []string) []string          { r := slices.Clone(s); slices.Sort(r); return r }
func jsonEqual(a, b json.RawMessage) bool { return compactJSON(a) == compactJSON(b) }

func compactJSON(raw json.RawMessage) string {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "invalid:" + string(raw)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func testUsers(t *testing.T, s store.Store) {
	ctx := t.Context()
	img := "https://example.com/a.png"
	at := time.Date(2024, 5, 1, 12, 30, 15, 123456789, time.FixedZone("CEST", 2*3600))
	u := store.User{Email: "Alice.Example@Example.COM", Name: "Alice", PasswordHash: "aa:bb", Image: &img, CreatedAt: at}
	noErr(t, "CreateUser", s.CreateUser(ctx, &u))
	checkV7(t, u.ID)
	if u.Email != "alice.example@example.com" {
		t.Errorf("Email = %q, want lower-cased", u.Email)
	}
	checkTime(t, "CreatedAt", u.CreatedAt, at.Truncate(time.Microsecond))
	checkTime(t, "UpdatedAt", u.UpdatedAt, u.CreatedAt)

	got, err := s.UserByID(ctx, u.ID)
	noErr(t, "UserByID", err)
	if got.Email != u.Email || got.Name != "Alice" || got.PasswordHash != "aa:bb" || got.EmailVerified ||
		got.Image == nil || *got.Image != img {
		t.Errorf("UserByID = %+v, want %+v", got, u)
	}
	checkTime(t, "read CreatedAt", got.CreatedAt, u.CreatedAt)

	for _, email := range []string{"alice.example@example.com", "ALICE.EXAMPLE@EXAMPLE.COM", "Alice.Example@example.com"} {
		got, err := s.UserByEmail(ctx, email)
		noErr(t, "UserByEmail "+email, err)
		if got.ID != u.ID {
			t.Errorf("UserByEmail(%q) = %s, want %s", email, got.ID, u.ID)
		}
	}

	dup := store.User{Email: "ALICE.example@example.com", Name: "Other", PasswordHash: "x:y"}
	wantErr(t, "duplicate email", s.CreateUser(ctx, &dup), store.ErrConflict)
	wantErr(t, "duplicate id", s.CreateUser(ctx, &store.User{ID: u.ID, Email: unique("x") + "@e.com"}), store.ErrConflict)

	pw, err := s.CredentialPassword(ctx, u.ID)
	noErr(t, "CredentialPassword", err)
	if pw != "aa:bb" {
		t.Errorf("CredentialPassword = %q, want aa:bb", pw)
	}

	noErr(t, "SetPassword", s.SetPassword(ctx, u.ID, "cc:dd"))
	pw, err = s.CredentialPassword(ctx, u.ID)
	noErr(t, "CredentialPassword after set", err)
	got, err = s.UserByID(ctx, u.ID)
	noErr(t, "UserByID after set", err)
	if pw != "cc:dd" || got.PasswordHash != "cc:dd" {
		t.Errorf("after SetPassword: account %q, users %q, want cc:dd both", pw, got.PasswordHash)
	}

	noErr(t, "SetEmailVerified", s.SetEmailVerified(ctx, u.ID))
	got, err = s.UserByID(ctx, u.ID)
	noErr(t, "UserByID after verify", err)
	if !got.EmailVerified {
		t.Error("EmailVerified = false after SetEmailVerified")
	}

	name, clear := "Alice B.", ""
	got, err = s.UpdateUser(ctx, u.ID, store.UserUpdate{Name: &name})
	noErr(t, "UpdateUser name", err)
	if got.Name != name || got.Image == nil || *got.Image != img || got.Email != u.Email || !got.EmailVerified {
		t.Errorf("UpdateUser(name) = %+v, want the name changed and the rest kept", got)
	}
	if !got.UpdatedAt.After(u.UpdatedAt) {
		t.Errorf("UpdatedAt %v not after %v", got.UpdatedAt, u.UpdatedAt)
	}
	got, err = s.UpdateUser(ctx, u.ID, store.UserUpdate{Image: &clear})
	noErr(t, "UpdateUser clear image", err)
	if got.Image != nil || got.Name != name {
		t.Errorf("UpdateUser(image \"\") = %+v, want no image and the name kept", got)
	}
	again, err := s.UserByID(ctx, u.ID)
	noErr(t, "UserByID after update", err)
	if again.Name != name || again.Image != nil {
		t.Errorf("read after UpdateUser = %+v", again)
	}

	for name, err := range map[string]error{
		"UpdateUser missing":         second(s.UpdateUser(ctx, missing, store.UserUpdate{Name: &name})),
		"UpdateUser not a uuid":      second(s.UpdateUser(ctx, "nope", store.UserUpdate{})),
		"UserByID missing":           second(s.UserByID(ctx, missing)),
		"UserByID not a uuid":        second(s.UserByID(ctx, "nope")),
		"UserByEmail missing":        second(s.UserByEmail(ctx, "nobody@example.com")),
		"CredentialPassword missing": second(s.CredentialPassword(ctx, missing)),
		"SetPassword missing":        s.SetPassword(ctx, missing, "x"),
		"SetPassword not a uuid":     s.SetPassword(ctx, "nope", "x"),
		"SetEmailVerified missing":   s.SetEmailVerified(ctx, missing),
	} {
		wantErr(t, name, err, store.ErrNotFound)
	}
}

func second[T any](_ T, err error) error { return err }

func testSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mkUser(t, s)
	exp := time.Now().Add(time.Hour)
	x := store.Session{TokenHash: unique("sess"), UserID: u.ID, ExpiresAt: exp, IPAddress: "192.0.2.1", UserAgent: "test"}
	noErr(t, "CreateSession", s.CreateSession(ctx, &x))
	checkTime(t, "ExpiresAt", x.ExpiresAt, exp.UTC().Truncate(time.Microsecond))
	checkRecent(t, "CreatedAt", x.CreatedAt)

	got, err := s.SessionByTokenHash(ctx, x.TokenHash)
	noErr(t, "SessionByTokenHash", err)
	if got.ID != x.ID || got.UserID != u.ID || got.IPAddress != "192.0.2.1" || got.UserAgent != "test" {
		t.Errorf("SessionByTokenHash = %+v, want %+v", got, x)
	}
	checkTime(t, "read ExpiresAt", got.ExpiresAt, x.ExpiresAt)

	wantErr(t, "duplicate token", s.CreateSession(ctx, &store.Session{TokenHash: x.TokenHash, UserID: u.ID, ExpiresAt: exp}), store.ErrConflict)
	wantErr(t, "unknown user", s.CreateSession(ctx, &store.Session{TokenHash: unique("s"), UserID: missing, ExpiresAt: exp}), store.ErrNotFound)

	later := exp.Add(24 * time.Hour)
	noErr(t, "ExtendSession", s.ExtendSession(ctx, x.ID, later))
	got, err = s.SessionByTokenHash(ctx, x.TokenHash)
	noErr(t, "SessionByTokenHash after extend", err)
	checkTime(t, "extended ExpiresAt", got.ExpiresAt, later.UTC().Truncate(time.Microsecond))

	other := store.Session{TokenHash: unique("sess"), UserID: u.ID, ExpiresAt: exp}
	noErr(t, "CreateSession other", s.CreateSession(ctx, &other))
	noErr(t, "DeleteSession", s.DeleteSession(ctx, x.ID))
	wantErr(t, "deleted session", second(s.SessionByTokenHash(ctx, x.TokenHash)), store.ErrNotFound)
	wantErr(t, "DeleteSession twice", s.DeleteSession(ctx, x.ID), store.ErrNotFound)
	if _, err := s.SessionByTokenHash(ctx, other.TokenHash); err != nil {
		t.Fatalf("other session gone after DeleteSession: %v", err)
	}

	u2 := mkUser(t, s)
	keep := store.Session{TokenHash: unique("sess"), UserID: u2.ID, ExpiresAt: exp}
	noErr(t, "CreateSession u2", s.CreateSession(ctx, &keep))
	noErr(t, "DeleteUserSessions", s.DeleteUserSessions(ctx, u.ID))
	wantErr(t, "after DeleteUserSessions", second(s.SessionByTokenHash(ctx, other.TokenHash)), store.ErrNotFound)
	if _, err := s.SessionByTokenHash(ctx, keep.TokenHash); err != nil {
		t.Errorf("another user's session gone: %v", err)
	}
	noErr(t, "DeleteUserSessions none", s.DeleteUserSessions(ctx, u.ID))

	wantErr(t, "ExtendSession missing", s.ExtendSession(ctx, missing, later), store.ErrNotFound)
	wantErr(t, "SessionByTokenHash missing", second(s.SessionByTokenHash(ctx, "nope")), store.ErrNotFound)

	byID, err := s.SessionByID(ctx, keep.ID)
	noErr(t, "SessionByID", err)
	if byID.TokenHash != keep.TokenHash || byID.UserID != u2.ID {
		t.Errorf("SessionByID = %+v, want %+v", byID, keep)
	}
	wantErr(t, "SessionByID missing", second(s.SessionByID(ctx, missing)), store.ErrNotFound)
	wantErr(t, "SessionByID not a uuid", second(s.SessionByID(ctx, "nope")), store.ErrNotFound)
}

func testListUserSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	u, other := mkUser(t, s), mkUser(t, s)
	base := time.Now().Add(-time.Hour)
	var want []string
	for i, exp := range []time.Duration{-time.Minute, time.Hour, 2 * time.Hour} { // the first has expired
		x := store.Session{TokenHash: unique("sess"), UserID: u.ID, ExpiresAt: time.Now().Add(exp),
			CreatedAt: base.Add(time.Duration(i) * time.Minute)}
		noErr(t, "CreateSession", s.CreateSession(ctx, &x))
		want = append([]string{x.ID}, want...)
	}
	noErr(t, "CreateSession other", s.CreateSession(ctx, &store.Session{TokenHash: unique("sess"),
		UserID: other.ID, ExpiresAt: time.Now().Add(time.Hour)}))
	got, err := s.ListUserSessions(ctx, u.ID)
	noErr(t, "ListUserSessions", err)
	if ids := ids(got, func(x store.Session) string { return x.ID }); !slices.Equal(ids, want) {
		t.Errorf("ListUserSessions = %v, want %v (newest first, expired included, no other user's)", ids, want)
	}
	for _, id := range []string{missing, "nope"} {
		got, err := s.ListUserSessions(ctx, id)
		if err != nil || len(got) != 0 {
			t.Errorf("ListUserSessions(%s) = %v, %v; want none", id, got, err)
		}
	}
}

// testHashRawSessionTokens: tokens a Better Auth server wrote (32 characters, or the
// hub's 43 when it shares the database) become their hash; hashes stay.
func testHashRawSessionTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	u := mkUser(t, s)
	hash := func(tok string) string { return "h:" + strings.Repeat("0", 62-len(tok)) + tok }
	exp := time.Now().Add(time.Hour)
	mk := func(tok string) store.Session {
		x := store.Session{TokenHash: tok, UserID: u.ID, ExpiresAt: exp}
		noErr(t, "CreateSession", s.CreateSession(ctx, &x))
		return x
	}
	rawBA := mk("A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6")
	rawHub := mk("abcdefghijklmnopqrstuvwxyz_ABCDEFGHIJKLMNOP")
	hashed := mk(strings.Repeat("ab", 32))
	n, err := s.HashRawSessionTokens(ctx, hash)
	noErr(t, "HashRawSessionTokens", err)
	if n != 2 {
		t.Errorf("HashRawSessionTokens replaced %d, want 2", n)
	}
	for _, x := range []store.Session{rawBA, rawHub} {
		wantErr(t, "raw token after hashing", second(s.SessionByTokenHash(ctx, x.TokenHash)), store.ErrNotFound)
		got, err := s.SessionByTokenHash(ctx, hash(x.TokenHash))
		noErr(t, "session by the hash of its raw token", err)
		if got.ID != x.ID {
			t.Errorf("hash of %s finds %s, want %s", x.TokenHash, got.ID, x.ID)
		}
	}
	if got, err := s.SessionByTokenHash(ctx, hashed.TokenHash); err != nil || got.ID != hashed.ID {
		t.Errorf("hashed token after HashRawSessionTokens: %+v, %v", got, err)
	}
	n, err = s.HashRawSessionTokens(ctx, hash)
	noErr(t, "HashRawSessionTokens again", err)
	if n != 0 {
		t.Errorf("second HashRawSessionTokens replaced %d, want 0", n)
	}
}

func testVerification(t *testing.T, s store.Store) {
	ctx := t.Context()
	now := time.Now()
	v := store.Verification{Identifier: "email-verification:" + missing, ValueHash: "h1", ExpiresAt: now.Add(time.Hour)}
	noErr(t, "CreateVerification", s.CreateVerification(ctx, &v))
	old := store.Verification{Identifier: "password-reset:" + missing, ValueHash: "h2", ExpiresAt: now.Add(-time.Second)}
	noErr(t, "CreateVerification expired", s.CreateVerification(ctx, &old))

	tests := []struct {
		name, identifier, hash string
	}{
		{"wrong hash", v.Identifier, "other"},
		{"wrong identifier", "password-reset:" + missing, "h1"},
		{"expired", old.Identifier, "h2"},
	}
	for _, tt := range tests {
		wantErr(t, tt.name, second(s.ConsumeVerification(ctx, tt.identifier, tt.hash, now)), store.ErrNotFound)
	}
	got, err := s.ConsumeVerification(ctx, v.Identifier, "h1", now)
	noErr(t, "ConsumeVerification", err)
	if got.ID != v.ID || got.Identifier != v.Identifier || got.ValueHash != "h1" {
		t.Errorf("ConsumeVerification = %+v, want %+v", got, v)
	}
	checkTime(t, "ExpiresAt", got.ExpiresAt, v.ExpiresAt)
	wantErr(t, "consume twice", second(s.ConsumeVerification(ctx, v.Identifier, "h1", now)), store.ErrNotFound)

	// ListVerifications reads without consuming, newest first, unexpired only.
	l1 := store.Verification{Identifier: "reset-password:tok", ValueHash: "u1", ExpiresAt: now.Add(time.Hour),
		CreatedAt: now.Add(-time.Minute)}
	l2 := store.Verification{Identifier: "reset-password:tok", ValueHash: "u2", ExpiresAt: now.Add(time.Hour)}
	l3 := store.Verification{Identifier: "reset-password:tok", ValueHash: "u3", ExpiresAt: now.Add(-time.Second)}
	for _, x := range []*store.Verification{&l1, &l2, &l3} {
		noErr(t, "CreateVerification list", s.CreateVerification(ctx, x))
	}
	for range 2 {
		got, err := s.ListVerifications(ctx, "reset-password:tok", now)
		noErr(t, "ListVerifications", err)
		if vals := ids(got, func(v store.Verification) string { return v.ValueHash }); !slices.Equal(vals, []string{"u2", "u1"}) {
			t.Errorf("ListVerifications = %v, want [u2 u1]", vals)
		}
	}
	if got, err := s.ListVerifications(ctx, "reset-password:other", now); err != nil || len(got) != 0 {
		t.Errorf("ListVerifications(unknown) = %v, %v; want none", got, err)
	}

	// Concurrent consumers: exactly one wins.
	c := store.Verification{Identifier: "password-reset:race", ValueHash: "h3", ExpiresAt: now.Add(time.Hour)}
	noErr(t, "CreateVerification race", s.CreateVerification(ctx, &c))
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_, err := s.ConsumeVerification(ctx, c.Identifier, "h3", now)
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, store.ErrNotFound):
				t.Errorf("concurrent consume: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d concurrent consumers won, want 1", wins.Load())
	}
}

// checkV7 fails unless id is a canonical UUID v7.
func checkV7(t *testing.T, id string) {
	t.Helper()
	u, err := uuid.Parse(id)
	if err != nil || u.Version() != 7 || u.String() != id {
		t.Fatalf("id %q is not a canonical UUID v7", id)
	}
}
