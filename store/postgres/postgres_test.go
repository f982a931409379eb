package postgres_test

import (
	"context"
	"errors"
	"net/url"
	neturl "net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/postgres"
	"github.com/securecam/securecam/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return storetest.NewPostgres(t) })
}

// Object keys sort in byte order (the order S3 lists objects in) whatever the
// database's collation: here ICU's en-US, which puts "a_b" before "a-b" before "a/b".
func TestRecordingObjectsUnderICUCollation(t *testing.T) {
	storetest.RunOnly(t, func(t *testing.T) store.Store {
		url := storetest.PostgresURLWith(t, "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8' TEMPLATE template0")
		s, err := postgres.Open(t.Context(), postgres.Config{URL: url, MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}, "RecordingObjects")
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

func migrationCount(t *testing.T, url string) int {
	t.Helper()
	var n int
	if err := connect(t, url).QueryRow(t.Context(), `SELECT count(*) FROM securecam_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Replicas starting together on a fresh database all come up; the migrations ran once.
func TestMissingDatabaseSaysHowToCreateIt(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(storetest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	missing := strings.TrimPrefix(u.Path, "/") + "_missing"
	u.Path = "/" + missing
	st, err := postgres.Open(t.Context(), postgres.Config{URL: u.String()})
	if err == nil {
		st.Close()
		t.Fatal("Open of a database that does not exist succeeded")
	}
	for _, want := range []string{"database \"" + missing + "\" does not exist", "createdb -h " + u.Hostname() + " -p ", " -U postgres " + missing, "CREATE DATABASE " + missing + ";"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestConcurrentOpen(t *testing.T) {
	t.Parallel()
	url := storetest.PostgresURL(t)
	const n = 8
	stores := make([]*postgres.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = postgres.Open(t.Context(), postgres.Config{URL: url, MaxConns: 2}) })
	}
	wg.Wait()
	for i, s := range stores {
		if s != nil {
			t.Cleanup(func() { _ = s.Close() })
		}
		if errs[i] != nil {
			t.Errorf("Open %d: %v", i, errs[i])
		}
	}
	if t.Failed() {
		return
	}
	if got, want := migrationCount(t, url), migrationFiles(t); got != want {
		t.Errorf("securecam_migrations has %d rows, want %d", got, want)
	}
	for _, s := range stores {
		if err := s.Ping(t.Context()); err != nil {
			t.Errorf("Ping: %v", err)
		}
	}
	// A store opened by one replica sees the writes of another.
	u := store.User{Email: "replica@example.com", Name: "R", PasswordHash: "a:b"}
	if err := stores[0].CreateUser(t.Context(), &u); err != nil {
		t.Fatal(err)
	}
	if _, err := stores[n-1].UserByEmail(t.Context(), "REPLICA@example.com"); err != nil {
		t.Errorf("UserByEmail on another replica: %v", err)
	}
}

// Times are instants whatever the session's TimeZone: a hub whose connections run in
// Pacific/Auckland stores and reads the same UTC instants.
func TestTimeZoneIndependence(t *testing.T) {
	t.Parallel()
	url := storetest.PostgresURL(t)
	s, err := postgres.Open(t.Context(), postgres.Config{URL: withTimeZone(t, url, "Pacific/Auckland")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	at := time.Date(2024, 7, 1, 23, 30, 0, 654321000, time.UTC)
	u := store.User{Email: "tz@example.com", Name: "TZ", PasswordHash: "a:b", CreatedAt: at}
	if err := s.CreateUser(t.Context(), &u); err != nil {
		t.Fatal(err)
	}
	got, err := s.UserByID(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.CreatedAt.Equal(at) || got.CreatedAt.Location() != time.UTC {
		t.Errorf("CreatedAt = %v, want %v in UTC", got.CreatedAt, at)
	}
	c := connect(t, withTimeZone(t, url, "America/New_York"))
	var wall string
	if err := c.QueryRow(t.Context(), `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') FROM users WHERE id = $1`, u.ID).Scan(&wall); err != nil {
		t.Fatal(err)
	}
	if wall != "2024-07-01 23:30:00.654321" {
		t.Errorf("stored UTC wall clock %q, want 2024-07-01 23:30:00.654321", wall)
	}
}

// The seed fixture: ids of the original backend are UUID v4.
const (
	seedUser    = "3f1c1d7e-6b1a-4c55-9a57-2a5f0a0c0001"
	seedCam     = "3f1c1d7e-6b1a-4c55-9a57-2a5f0a0c0002"
	seedViewer  = "3f1c1d7e-6b1a-4c55-9a57-2a5f0a0c0003"
	seedLinkOld = "3f1c1d7e-6b1a-4c55-9a57-2a5f0a0c0004"
	seedLinkNew = "3f1c1d7e-6b1a-4c55-9a57-2a5f0a0c0005"
	seedCommand = "3f1c1d7e-6b1a-4c55-9a57-2a5f0a0c0006"
	seedEvent   = "3f1c1d7e-6b1a-4c55-9a57-2a5f0a0c0007"
)

const seedData = `
INSERT INTO users (id, email, name, password_hash, email_verified, created_at, updated_at) VALUES
	('` + seedUser + `', 'Legacy.User@Example.com', 'Legacy', 'a1b2c3:d4e5f6', true, '2024-03-10 08:15:30.123456', '2024-03-11 09:00:00');
INSERT INTO account (user_id, account_id, provider_id, password, created_at, updated_at) VALUES
	('` + seedUser + `', '` + seedUser + `', 'credential', 'a1b2c3:d4e5f6', '2024-03-10 08:15:30', '2024-03-10 08:15:30');
INSERT INTO devices (id, user_id, name, role, platform, push_token, status, is_camera, last_seen_at, created_at, updated_at) VALUES
	('` + seedCam + `', '` + seedUser + `', 'Old camera', 'camera', NULL, 'legacy-push', 'online', true, '2024-03-12 10:00:00', '2024-03-10 09:00:00', '2024-03-12 10:00:00'),
	('` + seedViewer + `', '` + seedUser + `', 'Old viewer', 'viewer', 'ios', NULL, 'offline', false, NULL, '2024-03-10 09:05:00', '2024-03-10 09:05:00');
INSERT INTO device_links (id, owner_user_id, camera_device_id, client_device_id, status, created_at, updated_at) VALUES
	('` + seedLinkOld + `', '` + seedUser + `', '` + seedCam + `', '` + seedViewer + `', 'active', '2024-03-12 00:00:00', '2024-03-12 00:00:00'),
	('` + seedLinkNew + `', '` + seedUser + `', '` + seedCam + `', '` + seedViewer + `', 'active', '2024-03-13 00:00:00', '2024-03-13 00:00:00');
INSERT INTO commands (id, owner_user_id, source_device_id, target_device_id, command_type, payload, status, created_at, updated_at) VALUES
	('` + seedCommand + `', '` + seedUser + `', '` + seedViewer + `', '` + seedCam + `', 'snapshot', NULL, 'pending', '2024-03-14 00:00:00', '2024-03-14 00:00:00');
INSERT INTO session (token, user_id, expires_at, created_at, updated_at) VALUES
	('legacy-plain-token', '` + seedUser + `', '2030-01-01 00:00:00', '2024-03-10 08:15:30', '2024-03-10 08:15:30');
INSERT INTO verification (identifier, value, expires_at) VALUES ('email-verification:x', 'v', '2030-01-01 00:00:00');
INSERT INTO events (id, user_id, device_id, title, triggered_by, started_at, created_at, updated_at) VALUES
	('` + seedEvent + `', '` + seedUser + `', '` + seedCam + `', 'Motion', 'motion', '2024-03-15 12:00:00', '2024-03-15 12:00:00', '2024-03-15 12:00:00');
INSERT INTO notifications (event_id, user_id, channel, status) VALUES ('` + seedEvent + `', '` + seedUser + `', 'push', 'sent');
INSERT INTO notification_deliveries (owner_user_id, recipient_device_id, type, payload) VALUES ('` + seedUser + `', '` + seedViewer + `', 'alert', '{}');
INSERT INTO audit_logs (owner_user_id, action, created_at) VALUES ('` + seedUser + `', 'auth.sign_in', '2024-03-10 08:15:31');
`

// A database created by the original backend (Drizzle / Better Auth) is adopted: Open
// migrates it in place and the store works on the old rows and new ones.
func TestAdoptSeedDatabase(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := storetest.PostgresURL(t)
	ddl, err := os.ReadFile("../testdata/seed_postgres.sql")
	if err != nil {
		t.Fatal(err)
	}
	// The old backend's server ran in another time zone; its timestamp columns hold
	// UTC wall-clock times regardless (it wrote Date.toISOString()).
	seed := connect(t, withTimeZone(t, url, "America/New_York"))
	for _, sql := range []string{string(ddl), seedData} {
		if _, err := seed.Exec(ctx, sql); err != nil {
			t.Fatalf("seed: %v", err)
		}
	}

	s, err := postgres.Open(ctx, postgres.Config{URL: withTimeZone(t, url, "America/New_York")})
	if err != nil {
		t.Fatalf("Open on the seed database: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })

	// Every seed timestamp column is now timestamptz, and the hub's columns exist.
	var left []string
	rows, err := seed.Query(ctx, `SELECT table_name || '.' || column_name FROM information_schema.columns
		WHERE table_schema = 'public' AND data_type = 'timestamp without time zone'`)
	if err != nil {
		t.Fatal(err)
	}
	left, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("columns still timestamp without time zone: %v", left)
	}
	for _, col := range []string{"devices.token_hash", "devices.deleted_at", "commands.request_id", "commands.expires_at",
		"notification_deliveries.expires_at", "notification_deliveries.claimed_by", "notification_deliveries.claimed_until"} {
		var n int
		table, column, _ := strings.Cut(col, ".")
		if err := seed.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns
			WHERE table_schema = 'public' AND table_name = $1 AND column_name = $2`, table, column).Scan(&n); err != nil || n != 1 {
			t.Errorf("column %s missing after adoption (%v)", col, err)
		}
	}

	u, err := s.UserByEmail(ctx, "legacy.user@example.com")
	if err != nil {
		t.Fatalf("UserByEmail on a seed user: %v", err)
	}
	if u.ID != seedUser || u.Name != "Legacy" || !u.EmailVerified || u.PasswordHash != "a1b2c3:d4e5f6" {
		t.Errorf("seed user = %+v", u)
	}
	if want := time.Date(2024, 3, 10, 8, 15, 30, 123456000, time.UTC); !u.CreatedAt.Equal(want) || u.CreatedAt.Location() != time.UTC {
		t.Errorf("seed user CreatedAt = %v, want %v (the stored wall clock read as UTC)", u.CreatedAt, want)
	}
	if pw, err := s.CredentialPassword(ctx, seedUser); err != nil || pw != "a1b2c3:d4e5f6" {
		t.Errorf("CredentialPassword = %q, %v", pw, err)
	}
	dup := store.User{Email: "LEGACY.user@example.COM", Name: "x", PasswordHash: "x:y"}
	if err := s.CreateUser(ctx, &dup); !errors.Is(err, store.ErrConflict) {
		t.Errorf("sign-up with a seed email in other case: %v, want ErrConflict", err)
	}

	cam, err := s.Device(ctx, seedCam)
	if err != nil {
		t.Fatalf("Device on a seed device: %v", err)
	}
	if cam.Platform != "" || cam.PushToken == nil || *cam.PushToken != "legacy-push" || cam.Status != store.DeviceOnline ||
		!cam.IsCamera || cam.LastSeenAt == nil || !cam.LastSeenAt.Equal(time.Date(2024, 3, 12, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("seed camera = %+v", cam)
	}
	devs, _, err := s.ListDevices(ctx, seedUser, store.Page{})
	if err != nil || !slices.Equal(sortedIDs(devs), []string{seedCam, seedViewer}) {
		t.Errorf("ListDevices = %v, %v", devs, err)
	}

	// Inherited duplicate active links: the newest one stays active.
	if ok, err := s.Linked(ctx, seedViewer, seedCam); err != nil || !ok {
		t.Errorf("Linked(seed viewer, seed camera) = %v, %v", ok, err)
	}
	for id, want := range map[string]string{seedLinkOld: store.LinkRevoked, seedLinkNew: store.LinkActive} {
		if l, err := s.Link(ctx, id); err != nil || l.Status != want {
			t.Errorf("seed link %s = %q, %v; want %q", id, l.Status, err, want)
		}
	}

	x, err := s.SessionByTokenHash(ctx, "legacy-plain-token")
	if err != nil || !x.ExpiresAt.Equal(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("seed session = %+v, %v", x, err)
	}

	// The store works on new rows beside the old ones.
	d := store.Device{UserID: seedUser, Name: "New phone", Role: store.RoleViewer, Platform: "android", PushToken: strp("legacy-push")}
	if err := s.CreateDevice(ctx, &d, "new-token-hash"); err != nil {
		t.Fatalf("CreateDevice for a seed user: %v", err)
	}
	if cam, _ := s.Device(ctx, seedCam); cam.PushToken != nil {
		t.Error("the seed camera kept a push token a new device took")
	}
	if got, err := s.DeviceByTokenHash(ctx, "new-token-hash"); err != nil || got.ID != d.ID {
		t.Errorf("DeviceByTokenHash = %v, %v", got.ID, err)
	}
	l := store.DeviceLink{OwnerUserID: seedUser, CameraDeviceID: seedCam, ClientDeviceID: d.ID}
	if err := s.CreateLink(ctx, &l); err != nil {
		t.Errorf("CreateLink to a seed camera: %v", err)
	}
	c := store.Command{OwnerUserID: seedUser, SourceDeviceID: d.ID, TargetDeviceID: seedCam, CommandType: "ping",
		RequestID: strp("m-1"), ExpiresAt: time.Now().Add(time.Minute)}
	if created, err := s.CreateCommand(ctx, &c, time.Hour); err != nil || !created {
		t.Fatalf("CreateCommand to a seed camera: %v, %v", created, err)
	}

	// The inherited pending command has no expiry of its own: it expires at once.
	old, err := s.Command(ctx, seedCommand)
	if err != nil || old.Payload != nil || !old.ExpiresAt.Equal(time.Date(2024, 3, 14, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("seed command = %+v, %v", old, err)
	}
	expired, err := s.ExpireCommands(ctx, time.Now())
	if err != nil || len(expired) != 1 || expired[0].ID != seedCommand {
		t.Errorf("ExpireCommands = %v, %v; want the seed command only", expired, err)
	}
	if err := s.MarkAllDevicesOffline(ctx, time.Now()); err != nil {
		t.Error(err)
	}
	if logs, _, err := s.ListAuditLogs(ctx, seedUser, store.Page{}); err != nil || len(logs) != 1 {
		t.Errorf("ListAuditLogs = %v, %v", logs, err)
	}

	// Opening again finds nothing to do.
	s2, err := postgres.Open(ctx, postgres.Config{URL: url})
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	_ = s2.Close()
	if got, want := migrationCount(t, url), migrationFiles(t); got != want {
		t.Errorf("securecam_migrations has %d rows, want %d", got, want)
	}
}

func strp(s string) *string { return &s }

// withTimeZone sets the TimeZone of the connections a URL opens.
func withTimeZone(t *testing.T, raw, zone string) string {
	t.Helper()
	u, err := neturl.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("timezone", zone)
	u.RawQuery = q.Encode()
	return u.String()
}

func sortedIDs(ds []store.Device) []string {
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	slices.Sort(ids)
	return ids
}

// migrationFiles counts the migrations the package embeds (its migrations directory).
func migrationFiles(t *testing.T) int {
	t.Helper()
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no migrations found: %v", err)
	}
	return len(files)
}

// Better Auth in UUID mode leaves id out of its inserts on PostgreSQL: every table it
// writes has a default (migration 0013), and the store reads what it wrote.
func TestBetterAuthUUIDInserts(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := storetest.PostgresURL(t)
	s, err := postgres.Open(ctx, postgres.Config{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	db := connect(t, url)
	var userID, sessionID string
	if err := db.QueryRow(ctx, `INSERT INTO users (email, name, email_verified, created_at, updated_at)
		VALUES ('ba@example.com', 'BA', false, now(), now()) RETURNING id`).Scan(&userID); err != nil {
		t.Fatalf("insert user without id: %v", err)
	}
	for _, sql := range []string{
		`INSERT INTO account (account_id, provider_id, user_id, password, created_at, updated_at)
			VALUES ($1::text, 'credential', $1::uuid, 'aa:bb', now(), now())`,
		`INSERT INTO verification (identifier, value, expires_at, created_at, updated_at)
			VALUES ('reset-password:abc', $1, now() + interval '1 hour', now(), now())`,
	} {
		if _, err := db.Exec(ctx, sql, userID); err != nil {
			t.Fatalf("insert without id: %v\n%s", err, sql)
		}
	}
	if err := db.QueryRow(ctx, `INSERT INTO session (token, user_id, expires_at, ip_address, user_agent, created_at, updated_at)
		VALUES ('A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6', $1, now() + interval '1 day', '', '', now(), now()) RETURNING id`,
		userID).Scan(&sessionID); err != nil {
		t.Fatalf("insert session without id: %v", err)
	}

	u, err := s.UserByEmail(ctx, "ba@example.com")
	if err != nil || u.ID != userID {
		t.Fatalf("UserByEmail = %+v, %v; want %s", u, err, userID)
	}
	if pw, err := s.CredentialPassword(ctx, userID); err != nil || pw != "aa:bb" {
		t.Errorf("CredentialPassword = %q, %v", pw, err)
	}
	if x, err := s.SessionByTokenHash(ctx, "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6"); err != nil || x.ID != sessionID {
		t.Errorf("session Better Auth wrote = %+v, %v; want %s", x, err, sessionID)
	}
	if vs, err := s.ListVerifications(ctx, "reset-password:abc", time.Now()); err != nil || len(vs) != 1 || vs[0].ValueHash != userID {
		t.Errorf("verification Better Auth wrote = %+v, %v", vs, err)
	}
}
