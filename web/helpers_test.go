package web_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/securecam/securecam/hub"
	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
	"github.com/securecam/securecam/store/sqlite"
	"github.com/securecam/securecam/store/storetest"
	"github.com/securecam/securecam/web"
	"github.com/securecam/securecam/web/connlimit"
)

// mailbox is a Mailer that hands every mail to the test. Mails set aside by
// nextTo while it looked for another recipient's are returned first by next.
type mailbox struct {
	ch   chan sentMail
	mu   sync.Mutex
	held []sentMail
}

type sentMail struct{ to, subject, body string }

func (m *mailbox) Send(_ context.Context, to, subject, body string) error {
	m.ch <- sentMail{to, subject, body}
	return nil
}

// next waits for the next mail.
func (m *mailbox) next(t *testing.T) sentMail {
	t.Helper()
	m.mu.Lock()
	if len(m.held) > 0 {
		mail := m.held[0]
		m.held = m.held[1:]
		m.mu.Unlock()
		return mail
	}
	m.mu.Unlock()
	select {
	case mail := <-m.ch:
		return mail
	case <-time.After(10 * time.Second):
		t.Fatal("no mail sent within 10 s")
		return sentMail{}
	}
}

// nextTo waits for the next mail to the address, setting others aside.
func (m *mailbox) nextTo(t *testing.T, to string) sentMail {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, mail := range m.held {
		if mail.to == to {
			m.held = append(m.held[:i], m.held[i+1:]...)
			return mail
		}
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case mail := <-m.ch:
			if mail.to == to {
				return mail
			}
			m.held = append(m.held, mail)
		case <-deadline:
			t.Fatalf("no mail to %s within 10 s", to)
			return sentMail{}
		}
	}
}

// tokenIn extracts the token=… of the link in a mail body.
func tokenIn(t *testing.T, body string) string {
	t.Helper()
	for _, f := range strings.Fields(body) {
		if u, err := url.Parse(f); err == nil && u.Query().Get("token") != "" {
			return u.Query().Get("token")
		}
	}
	t.Fatalf("no link with a token in mail:\n%s", body)
	return ""
}

// sockets records what the server asked the hub to close and to send.
type sockets struct {
	mu     sync.Mutex
	closed []string // "device:<id>:<code>", "session:<id>:<code>", "user:<id>:<code>"
	sent   []sentMessage
}

// sentMessage is a message the server asked the hub to deliver to the devices of
// user, except device except.
type sentMessage struct {
	user, except string
	env          hub.Envelope
}

func (s *sockets) SendUser(_ context.Context, userID, except string, env hub.Envelope) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, sentMessage{userID, except, env})
	return nil
}

// takeSent returns the messages sent since the last call.
func (s *sockets) takeSent() []sentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.sent
	s.sent = nil
	return out
}

func (s *sockets) add(kind, id string, code websocket.StatusCode) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = append(s.closed, fmt.Sprintf("%s:%s:%d", kind, id, code))
	return nil
}

func (s *sockets) CloseDevice(_ context.Context, id string, code websocket.StatusCode, _ string) error {
	return s.add("device", id, code)
}

func (s *sockets) CloseSession(_ context.Context, id string, code websocket.StatusCode, _ string) error {
	return s.add("session", id, code)
}

func (s *sockets) CloseUserSessions(_ context.Context, id string, code websocket.StatusCode, _ string) error {
	return s.add("user", id, code)
}

func (s *sockets) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.closed...)
}

// env is a server on a real store behind httptest.
type env struct {
	t       *testing.T
	srv     *web.Server
	auth    *web.SocketAuth // built from the server's Config and Deps, as cmd does
	http    *httptest.Server
	store   store.Store
	dbPath  string
	clock   *storetest.Clock
	mail    *mailbox
	sockets *sockets

	revokedMu sync.Mutex
	revoked   []string // link ids passed to OnLinkRevoked
}

// setup is what options may change before the server is built.
type setup struct {
	cfg         web.Config
	deps        web.Deps
	realHashing bool              // Better Auth's scrypt cost (slow under -race) instead of a cheap one
	connLimit   *connlimit.Config // caps the test server's connections when set
	// pause replaces the wait of sign-in slowdowns when set.
	pause func(ctx context.Context, d time.Duration) error
}

type envOpt func(*setup)

func realHashing(s *setup) { s.realHashing = true }

func config(f func(*web.Config)) envOpt { return func(s *setup) { f(&s.cfg) } }

func newEnv(t *testing.T, opts ...envOpt) *env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "db.sqlite")
	st, err := sqlite.Open(t.Context(), sqlite.Config{Path: path})
	if err != nil {
		t.Fatalf("open sqlite: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e := newEnvOn(t, st, opts...)
	e.dbPath = path
	return e
}

func newEnvOn(t *testing.T, st store.Store, opts ...envOpt) *env {
	t.Helper()
	e := &env{
		t:       t,
		store:   st,
		clock:   storetest.NewClock(),
		mail:    &mailbox{ch: make(chan sentMail, 256)},
		sockets: &sockets{},
	}
	su := setup{deps: web.Deps{
		Store:   st,
		Mailer:  e.mail,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		Sockets: e.sockets,
		Now:     e.clock.Now,
		OnLinkRevoked: func(_ context.Context, l store.DeviceLink) {
			e.revokedMu.Lock()
			e.revoked = append(e.revoked, l.ID)
			e.revokedMu.Unlock()
		},
	}}
	for _, o := range opts {
		o(&su)
	}
	newFn := web.NewFast
	switch {
	case su.realHashing:
		newFn = web.New
	case su.pause != nil:
		newFn = func(cfg web.Config, deps web.Deps) (*web.Server, error) {
			return web.NewFastPaused(cfg, deps, su.pause)
		}
	}
	srv, err := newFn(su.cfg, su.deps)
	if err != nil {
		t.Fatalf("web.New: %v", err)
	}
	e.srv = srv
	if e.auth, err = web.NewSocketAuth(su.cfg, su.deps); err != nil {
		t.Fatalf("web.NewSocketAuth: %v", err)
	}
	e.http = httptest.NewUnstartedServer(srv)
	if su.connLimit != nil {
		lim, err := connlimit.New(*su.connLimit)
		if err != nil {
			t.Fatalf("connlimit.New: %v", err)
		}
		e.http.Listener = lim.Listen(e.http.Listener)
		e.http.Config.ConnContext = lim.ConnContext
	}
	e.http.Start()
	t.Cleanup(func() {
		e.http.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return e
}

func (e *env) revokedLinks() []string {
	e.revokedMu.Lock()
	defer e.revokedMu.Unlock()
	return append([]string(nil), e.revoked...)
}

// reqOpt changes a request before it is sent.
type reqOpt func(*http.Request)

func bearer(tok string) reqOpt {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func withCookie(tok string) reqOpt {
	return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: web.SessionCookie, Value: tok}) }
}

func header(k, v string) reqOpt {
	return func(r *http.Request) { r.Header.Set(k, v) }
}

type response struct {
	status int
	header http.Header
	body   []byte
	resp   *http.Response
}

// do sends a request; body is sent as is when it is a string, else as JSON. The request
// and the answer are checked against the OpenAPI document (checkAPI).
func (e *env) do(method, path string, body any, opts ...reqOpt) response {
	e.t.Helper()
	var (
		rd  io.Reader
		raw []byte
	)
	switch b := body.(type) {
	case nil:
	case string:
		raw = []byte(b)
		rd = bytes.NewReader(raw)
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(e.t.Context(), method, e.http.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, o := range opts {
		o(req)
	}
	res, err := e.http.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	resBody, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	checkAPI(e.t, req, raw, res, resBody)
	return response{status: res.StatusCode, header: res.Header, body: resBody, resp: res}
}

// want checks the status and decodes the body into v (if not nil).
func (r response) want(t *testing.T, status int, v any) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if v != nil {
		if err := json.Unmarshal(r.body, v); err != nil {
			t.Fatalf("decode %s: %v", r.body, err)
		}
	}
}

type problemDoc struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
}

// wantProblem checks that the answer is a problem document with status and code.
func (r response) wantProblem(t *testing.T, status int, code string) problemDoc {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json", ct)
	}
	var p problemDoc
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("decode problem %s: %v", r.body, err)
	}
	if p.Status != status || p.Code != code || p.Type == "" || p.Title == "" {
		t.Fatalf("problem %+v, want status %d code %q with type and title", p, status, code)
	}
	return p
}

func (r response) cookie(name string) *http.Cookie {
	for _, c := range r.resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

type authJSON struct {
	User    wire.User `json:"user"`
	Session struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	} `json:"session"`
}

const testPassword = "correct horse battery"

func uniqueEmail() string { return "u-" + uuid.NewString()[:8] + "@example.com" }

// signUp creates an account and returns it with its session token.
func (e *env) signUp() authJSON {
	e.t.Helper()
	var a authJSON
	e.do("POST", "/api/v1/auth/sign-up", map[string]string{
		"email": uniqueEmail(), "password": testPassword, "name": "Test User",
	}).want(e.t, http.StatusCreated, &a)
	if m := e.mail.nextTo(e.t, a.User.Email); !strings.Contains(m.body, "/verify-email?token=") {
		e.t.Fatalf("sign-up mail %+v, want the verification link", m)
	}
	return a
}

type deviceJSON struct {
	Device      wire.Device `json:"device"`
	DeviceToken string      `json:"device_token"`
}

func (e *env) createDevice(tok, role string) deviceJSON {
	e.t.Helper()
	var d deviceJSON
	e.do("POST", "/api/v1/devices", map[string]any{
		"name": role + " phone", "role": role, "platform": "android",
	}, bearer(tok)).want(e.t, http.StatusCreated, &d)
	return d
}

func (e *env) auditActions(tok string) []string {
	e.t.Helper()
	var l struct{ Items []wire.AuditLog }
	e.do("GET", "/api/v1/audit-logs?limit=200", nil, bearer(tok)).want(e.t, http.StatusOK, &l)
	var out []string
	for _, a := range l.Items {
		out = append(out, a.Action)
	}
	return out
}

func sha256hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
