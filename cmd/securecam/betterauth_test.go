package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"

	"github.com/securecam/securecam/cmd/securecam/internal/child/childtest"
	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/store/storetest"
	"github.com/securecam/securecam/web"
)

// The tests in this file run the real Better Auth (the npm package pinned in
// testdata/betterauth, which scripts/test.sh installs with npm ci) against the hub:
// its official client, a client that behaves as its Expo plugin, and its server on the
// hub's database.

const baSecret = "hub-and-better-auth-share-this-secret-0123456789"

var baDir = filepath.Join("testdata", "betterauth")

// needNode fails the test unless node and the pinned packages are installed.
func needNode(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is not on PATH: run scripts/test.sh, which installs it (or apt-get install nodejs npm)")
	}
	if _, err := os.Stat(filepath.Join(baDir, "node_modules", "better-auth", "package.json")); err != nil {
		t.Fatalf("Better Auth is not installed in %s: run scripts/test.sh, which runs npm ci there (%v)", baDir, err)
	}
}

// nodeCmd is a node script of testdata/betterauth with env added.
func nodeCmd(ctx context.Context, env map[string]string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Dir = baDir
	// Not NODE_ENV=test: Better Auth would skip its origin checks.
	cmd.Env = append(os.Environ(), "TZ=UTC", "BETTER_AUTH_TELEMETRY=0")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

// runNode runs a script to the end: each {"ask": …} line it prints is answered with
// answer's value on its stdin; its {"result": …} is returned. A failing script fails
// the test with its output.
func runNode(t *testing.T, env map[string]string, answer func(ask json.RawMessage) any, args ...string) json.RawMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	cmd := nodeCmd(ctx, env, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("node %v: %v", args, err)
	}
	var result json.RawMessage
	var out []string
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		out = append(out, string(line))
		var msg struct {
			Ask    json.RawMessage `json:"ask"`
			Result json.RawMessage `json:"result"`
		}
		if json.Unmarshal(line, &msg) != nil {
			continue
		}
		switch {
		case msg.Ask != nil:
			b, err := json.Marshal(answer(msg.Ask))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := stdin.Write(append(b, '\n')); err != nil {
				t.Fatalf("answer node: %v", err)
			}
		case msg.Result != nil:
			result = msg.Result
		}
	}
	_ = stdin.Close()
	if err := cmd.Wait(); err != nil || result == nil {
		t.Fatalf("node %v: %v\nstdout:\n%s\nstderr:\n%s", args, err, strings.Join(out, "\n"), stderr.String())
	}
	return result
}

// hubMails answers a script's {"mail": address, "with": text} with the body of the
// next mail the hub logged to that address with that text in it (the log mailer
// writes mails to the log).
func hubMails(t *testing.T, p *proc) func(json.RawMessage) any {
	seen := map[string]int{}
	return func(ask json.RawMessage) any {
		var q struct {
			Mail string `json:"mail"`
			With string `json:"with"`
		}
		if err := json.Unmarshal(ask, &q); err != nil || q.Mail == "" {
			t.Fatalf("unexpected question %s", ask)
		}
		key := q.Mail + "\x00" + q.With
		deadline := time.Now().Add(30 * time.Second)
		for {
			var bodies []string
			for _, line := range strings.Split(p.Tail(), "\n") {
				var rec struct {
					Msg, To, Body string
				}
				if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == web.LogMailerNotice && rec.To == q.Mail &&
					strings.Contains(rec.Body, q.With) {
					bodies = append(bodies, rec.Body)
				}
			}
			if len(bodies) > seen[key] {
				seen[key]++
				return map[string]string{"body": bodies[seen[key]-1]}
			}
			if time.Now().After(deadline) {
				t.Fatalf("the hub mailed nothing more to %s with %q within 30 s", q.Mail, q.With)
			}
			time.Sleep(20 * time.Millisecond) // polling the log for the mail
		}
	}
}

func noQuestions(t *testing.T) func(json.RawMessage) any {
	return func(ask json.RawMessage) any {
		t.Fatalf("unexpected question %s", ask)
		return nil
	}
}

// baServer is a real Better Auth server (testdata/betterauth/server.mjs) on a database.
type baServer struct {
	url   string
	mu    sync.Mutex
	mails []baMail
	logs  []string
}

type baMail struct {
	Kind, To, URL, Token string
}

func startBAServer(t *testing.T, dbURL string) *baServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := nodeCmd(ctx, map[string]string{"DATABASE_URL": dbURL, "BETTER_AUTH_SECRET": baSecret}, "server.mjs")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s := &baServer{}
	cmd.Stderr = writerFunc(func(b []byte) { s.log(string(b)) })
	if err := cmd.Start(); err != nil {
		t.Fatalf("start Better Auth: %v", err)
	}
	listening := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			s.log(sc.Text())
			var msg struct {
				Listening string  `json:"listening"`
				Mail      *baMail `json:"mail"`
			}
			if json.Unmarshal(sc.Bytes(), &msg) != nil {
				continue
			}
			if msg.Listening != "" {
				listening <- msg.Listening
			}
			if msg.Mail != nil {
				s.mu.Lock()
				s.mails = append(s.mails, *msg.Mail)
				s.mu.Unlock()
			}
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if t.Failed() {
			s.mu.Lock()
			t.Logf("Better Auth server output:\n%s", strings.Join(s.logs, "\n"))
			s.mu.Unlock()
		}
	})
	select {
	case s.url = <-listening:
	case <-done:
		t.Fatalf("Better Auth server exited before listening:\n%s", strings.Join(s.logs, "\n"))
	case <-time.After(60 * time.Second):
		t.Fatal("Better Auth server did not listen within 60 s")
	}
	return s
}

func (s *baServer) log(line string) {
	s.mu.Lock()
	s.logs = append(s.logs, strings.TrimRight(line, "\n"))
	s.mu.Unlock()
}

// mail waits for a mail of kind ("reset", "verify") to an address.
func (s *baServer) mail(t *testing.T, kind, to string) baMail {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s.mu.Lock()
		for _, m := range s.mails {
			if m.Kind == kind && m.To == to {
				s.mu.Unlock()
				return m
			}
		}
		s.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("Better Auth mailed no %s mail to %s within 30 s", kind, to)
		}
		time.Sleep(20 * time.Millisecond) // polling the server's output for the mail
	}
}

type writerFunc func([]byte)

func (f writerFunc) Write(b []byte) (int, error) { f(b); return len(b), nil }

// migratedPostgres is a fresh database with the hub's schema, made by `securecam
// migrate`.
func migratedPostgres(t *testing.T) string {
	t.Helper()
	url := storetest.PostgresURL(t)
	cmd := exec.Command(childtest.Binary(t), "migrate")
	cmd.Env = append(os.Environ(), "SECURECAM_DATABASE_URL="+url, "SECURECAM_DATA_DIR="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("securecam migrate: %v\n%s", err, out)
	}
	return url
}

// TestBetterAuthClient runs Better Auth's official client against the hub: every
// email/password call an app makes succeeds, and the errors a wrong password, a taken
// email, a short password and an unknown email produce are the ones the same client
// gets from a real Better Auth server.
func TestBetterAuthClient(t *testing.T) {
	t.Parallel()
	needNode(t)
	p := startProc(t, map[string]string{
		"SECURECAM_DATA_DIR":           t.TempDir(),
		"SECURECAM_BETTER_AUTH_SECRET": baSecret,
	})
	runNode(t, map[string]string{"BASE_URL": p.URL}, hubMails(t, p), "client.mjs", "flow")

	ba := startBAServer(t, migratedPostgres(t))
	var fromHub, fromBA map[string]json.RawMessage
	if err := json.Unmarshal(runNode(t, map[string]string{"BASE_URL": p.URL}, noQuestions(t), "client.mjs", "errors"), &fromHub); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(runNode(t, map[string]string{"BASE_URL": ba.url}, noQuestions(t), "client.mjs", "errors"), &fromBA); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"wrongPassword", "duplicateEmail", "passwordTooShort", "unknownEmail"} {
		if fromHub[k] == nil || string(fromHub[k]) != string(fromBA[k]) {
			t.Errorf("%s: the client gets %s from the hub, %s from Better Auth", k, fromHub[k], fromBA[k])
		}
	}
}

// TestBetterAuthExpoCookies: a client that keeps cookies as Better Auth's Expo plugin
// does (its better-auth*session_token cookies, replayed with expo-origin) signs up and
// in on the hub; with that cookie it registers a device and opens /ws.
func TestBetterAuthExpoCookies(t *testing.T) {
	t.Parallel()
	needNode(t)
	p := startProc(t, map[string]string{
		"SECURECAM_DATA_DIR":           t.TempDir(),
		"SECURECAM_BETTER_AUTH_SECRET": baSecret,
		"SECURECAM_ALLOWED_ORIGINS":    "myapp://",
	})
	var got struct {
		Cookie string `json:"cookie"`
	}
	if err := json.Unmarshal(runNode(t, map[string]string{"BASE_URL": p.URL}, noQuestions(t), "expo.mjs"), &got); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.Cookie, "better-auth.session_token=") {
		t.Fatalf("the Expo client kept %q, want the session cookie", got.Cookie)
	}

	expo := http.Header{"Cookie": {got.Cookie}, "Expo-Origin": {"myapp://"}}
	deviceID := createDevice(t, p, expo)
	h := expo.Clone()
	h.Set("X-Device-Id", deviceID)
	wantHello(t, p, h)

	// The origin check holds: without expo-origin (or with another app's) the cookie
	// opens nothing.
	for name, origin := range map[string]string{"no origin": "", "another app": "otherapp://"} {
		h := http.Header{"Cookie": {got.Cookie}, "X-Device-Id": {deviceID}}
		if origin != "" {
			h.Set("Expo-Origin", origin)
		}
		if status := dialStatus(t, p, h); status != http.StatusForbidden {
			t.Errorf("%s: /ws answered %d, want 403", name, status)
		}
	}
}

// createDevice registers a viewer over /api/v1 with the given credentials.
func createDevice(t *testing.T, p *proc, h http.Header) string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, p.URL+"/api/v1/devices",
		strings.NewReader(`{"name":"phone","role":"viewer","platform":"ios"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h.Clone()
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/v1/devices = %d %s", res.StatusCode, body)
	}
	var d struct {
		Device struct {
			ID string `json:"id"`
		} `json:"device"`
	}
	if err := json.Unmarshal(body, &d); err != nil || d.Device.ID == "" {
		t.Fatalf("device answer %s: %v", body, err)
	}
	return d.Device.ID
}

func wsURL(p *proc) string { return "ws" + strings.TrimPrefix(p.URL, "http") + "/ws" }

// wantHello opens /ws with h, wants the hub's hello, and returns the open socket.
func wantHello(t *testing.T, p *proc, h http.Header) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	conn, res, err := websocket.Dial(ctx, wsURL(p), &websocket.DialOptions{HTTPHeader: h, Subprotocols: []string{hub.Subprotocol}})
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		t.Fatalf("/ws with %v: %v (status %d)", h, err, status)
	}
	t.Cleanup(func() { _ = conn.CloseNow() })
	_, msg, err := conn.Read(ctx)
	if err != nil {
		t.Fatalf("read hello: %v", err)
	}
	var env struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(msg, &env); err != nil || env.Type != "hello" {
		t.Fatalf("first message %s, want hello", msg)
	}
	return conn
}

// closeStatus reads conn until the hub closes it (within 30 s) and returns the code.
func closeStatus(t *testing.T, conn *websocket.Conn) websocket.StatusCode {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		if _, _, err := conn.Read(ctx); err != nil {
			code := websocket.CloseStatus(err)
			if code == -1 {
				t.Fatalf("socket ended without a close frame: %v", err)
			}
			return code
		}
	}
}

// dialStatus opens /ws with h and returns the refusal's status (0 when it opened).
func dialStatus(t *testing.T, p *proc, h http.Header) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	conn, res, err := websocket.Dial(ctx, wsURL(p), &websocket.DialOptions{HTTPHeader: h, Subprotocols: []string{hub.Subprotocol}})
	if err == nil {
		conn.CloseNow()
		return 0
	}
	if res == nil {
		t.Fatalf("/ws: %v", err)
	}
	return res.StatusCode
}

// TestBetterAuthSharedDatabase: the hub (SECURECAM_BETTER_AUTH_SHARED=true) and a real
// Better Auth server on one PostgreSQL database. Users, passwords and sessions made on
// either side work on the other, a sign-out on either side ends the session on both,
// and a Better Auth session opens /ws.
func TestBetterAuthSharedDatabase(t *testing.T) {
	t.Parallel()
	needNode(t)
	dbURL := storetest.PostgresURL(t)
	p := startProc(t, map[string]string{
		"SECURECAM_DATA_DIR":            t.TempDir(),
		"SECURECAM_DATABASE_URL":        dbURL,
		"SECURECAM_BETTER_AUTH_SECRET":  baSecret,
		"SECURECAM_BETTER_AUTH_SHARED":  "true",
		"SECURECAM_REVALIDATE_INTERVAL": "1s",
	})
	ba := startBAServer(t, dbURL)
	var got struct {
		BABearer string `json:"baBearer"`
	}
	if err := json.Unmarshal(runNode(t, map[string]string{"HUB_URL": p.URL, "BA_URL": ba.url}, noQuestions(t),
		"shared.mjs"), &got); err != nil {
		t.Fatal(err)
	}

	// A session Better Auth made, in the bearer plugin's signed form, works on /api/v1
	// and /ws.
	bearer := http.Header{"Authorization": {"Bearer " + got.BABearer}}
	deviceID := createDevice(t, p, bearer)
	h := bearer.Clone()
	h.Set("X-Device-Id", deviceID)
	sock := wantHello(t, p, h)

	// Signed out on Better Auth, it opens no new socket on the hub, and the socket it
	// opened is closed with 4003 at the next revalidation.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, ba.url+"/api/auth/sign-out", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = bearer.Clone()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("sign-out on Better Auth: %d", res.StatusCode)
	}
	if status := dialStatus(t, p, h); status != http.StatusUnauthorized {
		t.Errorf("/ws with a session Better Auth signed out: %d, want 401", status)
	}
	if code := closeStatus(t, sock); code != hub.StatusForbidden {
		t.Errorf("socket of a session Better Auth signed out closed with %d, want %d", code, hub.StatusForbidden)
	}

	// What Better Auth wrote has UUID ids from the column defaults (migration 0013).
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var users, sessions int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM users`).Scan(&users); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM session`).Scan(&sessions); err != nil {
		t.Fatal(err)
	}
	if users != 2 || sessions == 0 {
		t.Errorf("%d users and %d sessions in the shared database, want 2 users and some sessions", users, sessions)
	}
}

// TestBetterAuthTakeover: a database the original backend and its Better Auth server
// made (the seed schema), with users signed in, a password reset mailed and a
// verification link mailed, is taken over by the hub. The users stay signed in (their
// cookies and bearer tokens work), no raw session token is left in the database, and
// the reset token and verification link Better Auth mailed still work.
func TestBetterAuthTakeover(t *testing.T) {
	t.Parallel()
	needNode(t)
	dbURL := storetest.PostgresURL(t)
	seed, err := os.ReadFile(filepath.Join("..", "..", "store", "testdata", "seed_postgres.sql"))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), string(seed)); err != nil {
		t.Fatalf("seed: %v", err)
	}

	ba := startBAServer(t, dbURL)
	var before struct {
		Email, Cookie, Bearer, Token string
	}
	if err := json.Unmarshal(runNode(t, map[string]string{"BA_URL": ba.url}, noQuestions(t),
		"takeover.mjs", "before"), &before); err != nil {
		t.Fatal(err)
	}
	reset := ba.mail(t, "reset", before.Email)
	verify := ba.mail(t, "verify", before.Email)

	p := startProc(t, map[string]string{
		"SECURECAM_DATA_DIR":           t.TempDir(),
		"SECURECAM_DATABASE_URL":       dbURL,
		"SECURECAM_BETTER_AUTH_SECRET": baSecret,
	})
	var raw int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM session WHERE token !~ '^[0-9a-f]{64}$'`).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if raw != 0 {
		t.Errorf("%d raw session tokens left after the hub took over", raw)
	}
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM session WHERE token = $1`, before.Token).Scan(&raw); err != nil || raw != 0 {
		t.Errorf("the raw token of a session is still stored (%d rows, %v)", raw, err)
	}

	// The session Better Auth made opens /ws on the hub.
	deviceID := createDevice(t, p, http.Header{"Authorization": {"Bearer " + before.Bearer}})
	wantHello(t, p, http.Header{"Authorization": {"Bearer " + before.Bearer}, "X-Device-Id": {deviceID}})

	// The rest in node; the password reset at the end ends every session.
	verifyURL := strings.Replace(verify.URL, ba.url, p.URL, 1)
	runNode(t, map[string]string{"HUB_URL": p.URL, "EMAIL": before.Email, "COOKIE": before.Cookie,
		"BEARER": before.Bearer, "TOKEN": before.Token, "RESET_TOKEN": reset.Token, "VERIFY_URL": verifyURL},
		noQuestions(t), "takeover.mjs", "after")
}
