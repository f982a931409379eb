package web

import (
	"bytes"
	"cmp"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/securecam/securecam/signaling/wire"
	"github.com/securecam/securecam/store"
)

// Native fuzz targets for every decoder and validator of the web package. Each checks
// that bad input is answered with the client error it should be (never a panic or a
// 500), and a property of what it accepts. Run one with, for example,
//
//	go test -run x -fuzz FuzzRequestBodies -fuzztime 60s ./web/

// fuzzNow is the clock of the event validator under fuzzing.
var fuzzNow = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

type bodyKind struct {
	name string
	new  func() any
}

// bodyKinds are the request bodies the API decodes, each with its validation.
var bodyKinds = []bodyKind{
	{"sign-up", func() any { return new(signUpRequest) }},
	{"sign-in", func() any { return new(signInRequest) }},
	{"verify-email", func() any { return new(tokenRequest) }},
	{"password-reset/request", func() any { return new(resetMailRequest) }},
	{"password-reset", func() any { return new(resetRequest) }},
	{"POST devices", func() any { return new(createDeviceRequest) }},
	{"PATCH devices", func() any { return new(updateDeviceRequest) }},
	{"POST device-links", func() any { return new(createLinkRequest) }},
	{"POST commands", func() any { return new(sendCommandRequest) }},
	{"POST events", func() any { return new(wire.EventRequest) }},
	{"PATCH events", func() any { return new(updateEventRequest) }},
	{"POST recordings", func() any { return new(createRecordingRequest) }},
	{"POST ws-tickets", func() any { return new(ticketRequest) }},
	{"POST streams", func() any { return new(streamRequest) }},
	{"POST streams end", func() any { return new(endStreamRequest) }},
	{"POST shares", func() any { return new(createShareRequest) }},
	{"POST shares/accept", func() any { return new(acceptShareRequest) }},
	{"PATCH shares", func() any { return new(updateShareRequest) }},
	{"PUT arming", func() any { return new(wire.ArmingRequest) }},
	{"PUT arming/schedule", func() any { return new(wire.ArmingSchedule) }},
	{"PUT notification-preferences", func() any { return new(notificationPrefsRequest) }},
}

// checkBody runs the validation the handler (or signaling, for arming) runs on a
// decoded body.
func checkBody(v any) error {
	switch x := v.(type) {
	case *updateDeviceRequest:
		if err := x.check(); err != nil {
			return err
		}
		_, err := x.cameraAlertsUpdate.check(fuzzNow) // the alert settings of a camera
		return err
	case interface{ check() error }:
		return x.check()
	case *wire.EventRequest:
		return x.Validate(fuzzNow)
	case *wire.ArmingRequest:
		return x.Validate()
	case *wire.ArmingSchedule:
		_, err := x.Store()
		return err
	case *notificationPrefsRequest:
		if x.QuietHours == nil {
			return nil // clears them
		}
		_, err := x.QuietHours.Store()
		return err
	default:
		return nil // checked against the store or by signaling
	}
}

// wantClientError fails unless err is what a client should see for bad input: one of
// the given statuses.
func wantClientError(t *testing.T, what string, err error, statuses ...int) {
	t.Helper()
	e := asError(err)
	if !slices.Contains(statuses, e.Status) || e.Code == wire.CodeInternal || e.Detail == "" {
		t.Fatalf("%s: %v answers %d %q, want one of %v", what, err, e.Status, e.Code, statuses)
	}
}

// decodeAndCheck is a handler's first step: decodeJSON, then the body's validation.
func decodeAndCheck(s *Server, kind int, body []byte) (any, error) {
	v := bodyKinds[kind].new()
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	if err := s.decodeJSON(httptest.NewRecorder(), r, v); err != nil {
		return nil, err
	}
	return v, checkBody(v)
}

// FuzzRequestBodies: decodeJSON and every request type's validation. A refusal is 400
// (413 past the size limit); an accepted body is a JSON object, and what validation
// made of it is accepted again unchanged (normalising is stable).
func FuzzRequestBodies(f *testing.F) {
	id := "0193a4c2-0000-7000-8000-000000000001"
	seeds := []string{
		`{"email":" Ann@Example.com ","password":"correct horse","name":" Ann "}`,
		`{"email":"a@example.com","password":"x"}`,
		`{"token":"0193a4c2-0000-7000-8000-000000000001.c2VjcmV0"}`,
		`{"email":"a@example"}`,
		`{"token":"t","password":"new password"}`,
		`{"name":"cam","role":"camera","platform":"android","app_version":"","push_token":"tok"}`,
		`{"name":" porch ","push_token":"","app_version":"1.2"}`,
		`{"camera_device_id":"` + id + `","client_device_id":"` + strings.ToUpper(id) + `"}`,
		`{"source_device_id":"` + id + `","target_device_id":"x","command_type":"set_torch","payload":{ "on" : true },"ttl_seconds":30}`,
		`{"device_id":"` + id + `","title":" Motion ","triggered_by":"motion","started_at":"2029-12-31T23:59:00Z"}`,
		`{"status":"ended","ended_at":"2029-12-31T23:59:00+01:00"}`,
		`{"camera_device_id":"` + id + `","event_id":"","stream_session_id":null,"content_type":"video/mp4","duration_seconds":86400}`,
		`{"device_id":"` + id + `"}`,
		`{"camera_device_id":"` + id + `","requester_device_id":"` + id + `"}`,
		`{"reason":"done"}`,
		`null`, `[]`, `{} {}`, `{"name":1}`, `{"email":"\u0000"}`, "",
	}
	for i, s := range seeds {
		f.Add(uint8(i), []byte(s))
	}
	for _, s := range []struct{ kind, body string }{
		{"POST shares", `{"email":" Bob@Example.com","camera_device_ids":["` + strings.ToUpper(id) + `"],"role":"viewer"}`},
		{"POST shares", `{"email":"b@example.com","camera_device_ids":["` + id + `","` + id + `"],"role":"owner"}`},
		{"POST shares/accept", `{"token":"c2hhcmU"}`},
		{"PATCH shares", `{"role":"operator"}`},
		{"PUT arming", `{"mode":"away"}`},
		{"PUT arming/schedule", `{"time_zone":"Europe/Berlin","rules":[{"days":["mon","fri","mon"],"at":"07:30","mode":"disarmed"}]}`},
		{"PUT arming/schedule", `{"time_zone":"Mars/Olympus","rules":[{"days":[],"at":"24:00","mode":"home"}]}`},
		{"PUT notification-preferences", `{"quiet_hours":{"start":"22:00","end":"07:00"}}`},
		{"PUT notification-preferences", `{"quiet_hours":null}`},
		{"PATCH devices", `{"arm_modes":["home","away","home"],"event_cooldown_seconds":60,"muted_until":"2030-01-01T08:00:00Z"}`},
		{"PATCH devices", `{"arm_modes":["disarmed"],"event_cooldown_seconds":-1,"muted_until":"2099-01-01T00:00:00Z"}`},
	} {
		k := slices.IndexFunc(bodyKinds, func(b bodyKind) bool { return b.name == s.kind })
		f.Add(uint8(k), []byte(s.body))
	}
	s := &Server{maxBody: 4096}
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		k := int(kind) % len(bodyKinds)
		what := bodyKinds[k].name
		v, err := decodeAndCheck(s, k, body)
		if err != nil {
			wantClientError(t, what, err, http.StatusBadRequest, http.StatusRequestEntityTooLarge)
			return
		}
		if trimmed := bytes.TrimLeft(body, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' {
			t.Fatalf("%s: accepted %q, which is not a JSON object", what, body)
		}
		once, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		v2, err := decodeAndCheck(s, k, once)
		if err != nil {
			t.Fatalf("%s: %q was accepted as %s, which is then refused: %v", what, body, once, err)
		}
		twice, err := json.Marshal(v2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(once, twice) {
			t.Fatalf("%s: normalising is not stable: %s, then %s", what, once, twice)
		}
	})
}

// FuzzQueryParams: the page and every list filter. A refusal is 400; what is accepted
// is in range, and ids come out canonical.
func FuzzQueryParams(f *testing.F) {
	for _, q := range []string{
		"limit=10&cursor=abc", "limit=0", "limit=999", "limit=-1", "limit=1e3",
		"device_id=0193A4C2-0000-7000-8000-000000000001&since=2025-01-31T08:00:00Z",
		"since=yesterday", "camera_device_id=x&event_id=", "status=acknowledged", "status=done",
		"unread=true", "unread=yes", "cursor=" + strings.Repeat("a", 513), "%zz",
	} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, _ := url.ParseQuery(raw) // what the router hands on: the pairs that parsed
		canonical := func(what, id string) {
			if id == "" {
				return
			}
			if c, ok := parseID(id); !ok || c != id {
				t.Fatalf("%s: %q is not a canonical id", what, id)
			}
		}
		if p, err := pageOf(q); err != nil {
			wantClientError(t, "page", err, http.StatusBadRequest)
		} else if p.Limit < 1 || p.Limit > maxPageLimit || len(p.Cursor) > 512 {
			t.Fatalf("page %+v out of range", p)
		}
		if ef, err := eventFilter(q); err != nil {
			wantClientError(t, "events", err, http.StatusBadRequest)
		} else {
			canonical("events device_id", ef.DeviceID)
		}
		if rf, err := recordingFilter(q); err != nil {
			wantClientError(t, "recordings", err, http.StatusBadRequest)
		} else {
			canonical("recordings camera_device_id", rf.CameraDeviceID)
			canonical("recordings event_id", rf.EventID)
		}
		if cf, err := commandFilter(q); err != nil {
			wantClientError(t, "commands", err, http.StatusBadRequest)
		} else {
			canonical("commands device_id", cf.DeviceID)
			if cf.Status != "" && !commandStatuses[cf.Status] {
				t.Fatalf("command status %q accepted", cf.Status)
			}
		}
		if sf, err := streamFilter(q); err != nil {
			wantClientError(t, "streams", err, http.StatusBadRequest)
		} else {
			canonical("streams camera_device_id", sf.CameraDeviceID)
		}
		if _, err := unreadOnly(q); err != nil {
			wantClientError(t, "notifications", err, http.StatusBadRequest)
		}
		if id, ok := parseID(raw); ok {
			if again, ok := parseID(id); !ok || again != id || len(id) != 36 {
				t.Fatalf("parseID(%q) = %q, which does not parse to itself", raw, id)
			}
		}
	})
}

// FuzzClientIP: parseTrustedProxies and clientIP. The address of an untrusted peer is
// the client; a trusted proxy's is replaced only by an address its X-Forwarded-For
// names.
func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.0/8,192.0.2.7", "10.1.2.3:4567", "203.0.113.9, 10.0.0.2")
	f.Add("10.0.0.0/8", "10.1.2.3:4567", "garbage, 10.0.0.2")
	f.Add("", "[::ffff:198.51.100.1]:80", "")
	f.Add("::1", "[::1]:1", "2001:db8::1,::1")
	f.Add("fe80::/10", "[fe80::1%eth0]:1", "fe80::2%eth1")
	f.Add("x", "not an address", "")
	f.Fuzz(func(t *testing.T, proxies, remote, xff string) {
		prefixes, err := parseTrustedProxies(strings.Split(proxies, ","))
		if err != nil {
			return // a configuration error: refused at start
		}
		s := &Server{creds: &credentials{trustedProxies: prefixes}}
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = remote
		r.Header["X-Forwarded-For"] = []string{xff}
		got := s.clientIP(r)
		host, _, err := net.SplitHostPort(remote)
		if err != nil {
			host = remote
		}
		peer, err := netip.ParseAddr(host)
		if err != nil {
			if got != host {
				t.Fatalf("peer %q is no address: client %q, want the host as is", remote, got)
			}
			return
		}
		peer = peer.Unmap()
		if !s.creds.trusted(peer) {
			if got != peer.String() {
				t.Fatalf("untrusted peer %s: client %q", peer, got)
			}
			return
		}
		a, err := netip.ParseAddr(got)
		if err != nil {
			t.Fatalf("client %q behind trusted %s is not an address", got, peer)
		}
		if a == peer {
			return
		}
		for _, hop := range strings.Split(xff, ",") {
			if h, err := netip.ParseAddr(strings.TrimSpace(hop)); err == nil && h.Unmap() == a {
				return
			}
		}
		t.Fatalf("client %s is neither the peer %s nor in X-Forwarded-For %q", a, peer, xff)
	})
}

// FuzzOriginOK: originOf, requestOrigin, originOK and originAllowed. An origin is
// allowed only when it parses and is the request's own origin (scheme, host and port)
// or an allowed one; every allowed origin is; the normal form is stable.
func FuzzOriginOK(f *testing.F) {
	f.Add("https://app.example.com", "hub.example.com", "https://app.example.com", false, "", false)
	f.Add("http://HUB.example.com:80", "hub.example.com", "", false, "", false)
	f.Add("https://hub.example.com", "hub.example.com", "", false, "https", true)
	f.Add("https://hub.example.com", "hub.example.com", "", false, "https", false)
	f.Add("https://hub.example.com:443", "hub.example.com", "", true, "", false)
	f.Add("null", "hub", "null", false, "", false)
	f.Add("http://[::1]:8080", "[::1]:8080", "http://[::1]:8080", false, "http", true)
	f.Fuzz(func(t *testing.T, origin, host, allowed string, overTLS bool, forwardedProto string, viaProxy bool) {
		c := &credentials{allowedOrigins: map[string]bool{}, trustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}
		if n := originOf(allowed); n != "" {
			c.allowedOrigins[n] = true
		}
		o := originOf(origin)
		if o != "" {
			if again := originOf(o); again != o {
				t.Fatalf("originOf(%q) = %q, but originOf(%q) = %q", origin, o, o, again)
			}
		}
		r := httptest.NewRequest(http.MethodPost, "/", nil)
		r.Host = host
		r.RemoteAddr = "192.0.2.1:1234"
		if viaProxy {
			r.RemoteAddr = "10.0.0.1:1234"
		}
		if !overTLS {
			r.TLS = nil
		} else if r.TLS == nil {
			r.TLS = &tls.ConnectionState{}
		}
		r.Header.Set("X-Forwarded-Proto", forwardedProto)
		own := c.requestOrigin(r)
		if own != "" && overTLS && !strings.HasPrefix(own, "https://") {
			t.Fatalf("a request over TLS has the origin %q", own)
		}
		if own != "" && !overTLS && !viaProxy && !strings.HasPrefix(own, "http://") {
			t.Fatalf("a plain request not from a proxy has the origin %q (X-Forwarded-Proto %q)", own, forwardedProto)
		}
		ok := c.originOK(r, origin)
		switch {
		case ok && o == "":
			t.Fatalf("origin %q that does not parse was allowed", origin)
		case o != "" && c.allowedOrigins[o] && !ok:
			t.Fatalf("allowed origin %q refused", origin)
		case ok && !c.allowedOrigins[o] && o != own:
			t.Fatalf("origin %q allowed for a request to %q, neither its own nor allowed", origin, own)
		}
		r.Header.Set("Origin", origin)
		s := &Server{creds: c}
		if origin != "" && s.originAllowed(r) != ok {
			t.Fatalf("originAllowed and originOK disagree on %q for %q", origin, own)
		}
	})
}

// FuzzCredentials: bearer parsing, verification tokens, WebSocket tickets and the
// socket's device id. What is accepted is well formed: a bearer token without
// surrounding space that parses back, canonical ids, tickets within the length bound.
func FuzzCredentials(f *testing.F) {
	id := "0193a4c2-0000-7000-8000-000000000001"
	f.Add("Bearer abc", id+".c2VjcmV0", id, "")
	f.Add("bearer   tok  ", id+".abc.secret", "", strings.ToUpper(id))
	f.Add("Basic abc", id+"..secret", id, id)
	f.Add("Bearer", "a.b", "x", "y")
	f.Fuzz(func(t *testing.T, authz, token, headerID, queryID string) {
		if tok, ok := parseBearer(authz); ok {
			if tok == "" || tok != strings.TrimSpace(tok) || !strings.EqualFold(authz[:len("bearer")], "bearer") {
				t.Fatalf("parseBearer(%q) = %q", authz, tok)
			}
			if again, ok := parseBearer("Bearer " + tok); !ok || again != tok {
				t.Fatalf("bearer %q does not parse back: %q %v", tok, again, ok)
			}
		}
		if user, ok := tokenUserID(token); ok {
			if c, _ := parseID(user); c != user || len(token) > maxTokenLen || strings.Count(token, ".") != 1 {
				t.Fatalf("tokenUserID(%q) = %q", token, user)
			}
		}
		if device, ref, ok := ticketParts(token); ok {
			if c, _ := parseID(device); c != device || strings.Contains(ref, ".") || len(token) > maxTokenLen {
				t.Fatalf("ticketParts(%q) = %q, %q", token, device, ref)
			}
		}
		r := httptest.NewRequest(http.MethodGet, "/ws?"+url.Values{"device_id": {queryID}}.Encode(), nil)
		r.Header.Set("X-Device-Id", headerID)
		got, err := socketDeviceID(r)
		if err != nil {
			wantClientError(t, "socket device id", err, http.StatusBadRequest)
			return
		}
		want := r.Header.Get("X-Device-Id")
		if want == "" {
			want = queryID
		}
		if c, ok := parseID(want); !ok || c != got {
			t.Fatalf("socket device id %q from header %q and query %q", got, headerID, queryID)
		}
	})
}

// FuzzRanges: checkRanges lets through only what ServeContent answers with at most 16
// ranges that do not overlap, and refuses with 416.
func FuzzRanges(f *testing.F) {
	for _, h := range []string{"bytes=0-9", "bytes=0-4,5-9", "bytes=0-10,5-20", "bytes=-5,0-0", "bytes=50-,60-61",
		"bytes=" + strings.Repeat("0-0,", 17), "items=0-1", "bytes=x-y", "bytes= 1 - 2 , 3-", "bytes=-0"} {
		f.Add(h, uint16(100))
	}
	f.Fuzz(func(t *testing.T, h string, size uint16) {
		n := int64(size % 4096)
		if err := checkRanges(h, n); err != nil {
			wantClientError(t, "ranges", err, http.StatusRequestedRangeNotSatisfiable)
			return
		}
		rec := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header["Range"] = []string{h}
		http.ServeContent(rec, r, "", time.Time{}, bytes.NewReader(make([]byte, n)))
		if rec.Code != http.StatusPartialContent {
			return
		}
		var spans [][2]int64
		add := func(contentRange string) {
			var a, b, total int64
			if _, err := fmt.Sscanf(contentRange, "bytes %d-%d/%d", &a, &b, &total); err != nil {
				t.Fatalf("Content-Range %q: %v", contentRange, err)
			}
			spans = append(spans, [2]int64{a, b + 1})
		}
		mt, params, _ := mime.ParseMediaType(rec.Header().Get("Content-Type"))
		if mt != "multipart/byteranges" {
			add(rec.Header().Get("Content-Range"))
		} else {
			mr := multipart.NewReader(rec.Body, params["boundary"])
			for {
				p, err := mr.NextPart()
				if err != nil {
					break
				}
				add(p.Header.Get("Content-Range"))
			}
		}
		if len(spans) > maxRanges {
			t.Fatalf("Range %q served %d ranges", h, len(spans))
		}
		slices.SortFunc(spans, func(a, b [2]int64) int { return cmp.Compare(a[0], b[0]) })
		for i := 1; i < len(spans); i++ {
			if spans[i][0] < spans[i-1][1] {
				t.Fatalf("Range %q served overlapping ranges %v", h, spans)
			}
		}
	})
}

// wantProblem is wantClientError, and the answer the client gets is a problem document
// saying the same.
func wantProblem(t *testing.T, what string, err error, statuses ...int) {
	t.Helper()
	wantClientError(t, what, err, statuses...)
	e := asError(err)
	rec := httptest.NewRecorder()
	writeProblem(rec, e)
	var doc struct {
		Status int    `json:"status"`
		Code   string `json:"code"`
		Detail string `json:"detail"`
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("%s: %v is answered as %q", what, err, ct)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || rec.Code != e.Status ||
		doc.Status != e.Status || doc.Code != e.Code || doc.Detail != e.Detail {
		t.Fatalf("%s: problem document %d %s (%v) for %+v", what, rec.Code, rec.Body, err, e)
	}
}

// FuzzShareFilter: the query of GET /shares and /shares/received. A refusal is a 400
// problem document; what is accepted is a canonical camera id (or none) and one of
// the share statuses, and reads back the same from its own query.
func FuzzShareFilter(f *testing.F) {
	id := "0193a4c2-0000-7000-8000-000000000001"
	for _, q := range []string{
		"", "camera_device_id=" + id, "camera_device_id=" + strings.ToUpper(id) + "&status=active",
		"status=pending", "status=revoked", "status=left", "status=Active", "status=accepted",
		"camera_device_id=x", "camera_device_id=&status=", "camera_device_id=" + id + "&camera_device_id=y",
		"status=active&status=bogus", "camera_device_id={" + id + "}", "camera_device_id=urn:uuid:" + id,
		"%zz&status=left", "camera_device_id=" + strings.ReplaceAll(id, "-", "") + "0000",
	} {
		f.Add(q)
	}
	statuses := []string{"", store.SharePending, store.ShareActive, store.ShareRevoked, store.ShareLeft}
	f.Fuzz(func(t *testing.T, raw string) {
		q, _ := url.ParseQuery(raw) // what the router hands on: the pairs that parsed
		camera, status, err := shareFilter(q)
		if err != nil {
			wantProblem(t, "shares filter", err, http.StatusBadRequest)
			return
		}
		if camera != "" {
			if c, ok := parseID(camera); !ok || c != camera {
				t.Fatalf("%q: camera %q is not a canonical id", raw, camera)
			}
		} else if q.Get("camera_device_id") != "" {
			t.Fatalf("%q: camera_device_id %q was dropped", raw, q.Get("camera_device_id"))
		}
		if !slices.Contains(statuses, status) || status != q.Get("status") {
			t.Fatalf("%q: status %q accepted", raw, status)
		}
		again := url.Values{}
		if camera != "" {
			again.Set("camera_device_id", camera)
		}
		if status != "" {
			again.Set("status", status)
		}
		c2, s2, err := shareFilter(again)
		if err != nil || c2 != camera || s2 != status {
			t.Fatalf("%q: accepted as %q, %q, whose own query %q reads %q, %q, %v", raw, camera, status, again.Encode(), c2, s2, err)
		}
	})
}

// baFuzzServer is a hub at https://hub.example.com that also trusts
// https://app.example.com and the app scheme securecam://, with a 4 KiB body limit.
func baFuzzServer() *Server {
	return &Server{
		maxBody:   4096,
		publicURL: &url.URL{Scheme: "https", Host: "hub.example.com"},
		creds: &credentials{
			allowedOrigins: map[string]bool{"https://app.example.com": true},
			appOrigins:     []string{"securecam://"},
		},
	}
}

// baCallbackFields are the body fields baDecode checks against the trusted origins.
var baCallbackFields = []string{"callbackURL", "redirectTo", "errorCallbackURL", "newUserCallbackURL"}

// FuzzBetterAuthBody: baDecode and the field readers of the Better Auth routes
// (optString, str, optBool). A refusal is Better Auth's error document — 400, 403
// for an untrusted callback URL, 413 past the limit — with a code and a message; an
// accepted body is a JSON object (or none), its callback URLs are trusted, each field
// reads as a string, a boolean or a VALIDATION_ERROR naming it, and the body sent
// again as the server read it reads the same.
func FuzzBetterAuthBody(f *testing.F) {
	for _, s := range []string{
		`{"email":"ann@example.com","password":"correct horse","name":"Ann","rememberMe":true}`,
		`{"email":"ann@example.com","password":"x","callbackURL":"/dashboard?tab=1"}`,
		`{"email":"ann@example.com","callbackURL":"https://app.example.com/welcome"}`,
		`{"email":"ann@example.com","callbackURL":"https://evil.example/"}`,
		`{"redirectTo":"//evil.example/x"}`, `{"redirectTo":"/%2f%2fevil.example"}`,
		`{"errorCallbackURL":"securecam://reset"}`, `{"newUserCallbackURL":"javascript:alert(1)"}`,
		`{"callbackURL":1}`, `{"callbackURL":null}`, `{"callbackURL":""}`,
		`{"newPassword":"correct horse","currentPassword":"old password","revokeOtherSessions":"yes"}`,
		`{"name":null,"image":"https://img.example/a.png"}`, `{"token":"abc","token":"def"}`,
		`{"rememberMe":false}`, `{"rememberMe":0}`, `{"email":"\ud800"}`,
		``, `null`, `[]`, `"x"`, `{} {}`, `{`, `{"a":1}x`, strings.Repeat(" ", 5000) + `{}`,
	} {
		f.Add([]byte(s), "email", false)
	}
	f.Add([]byte(`{"rememberMe":true}`), "rememberMe", true)
	f.Add([]byte(`{"token":"t"}`), "token", true)
	s := baFuzzServer()
	f.Fuzz(func(t *testing.T, body []byte, field string, unknownLength bool) {
		decode := func(body []byte, unknownLength bool) (baBody, error) {
			r := httptest.NewRequest(http.MethodPost, "/api/auth/sign-in/email", bytes.NewReader(body))
			if unknownLength {
				r.ContentLength = -1 // chunked
			}
			return s.baDecode(httptest.NewRecorder(), r)
		}
		b, err := decode(body, unknownLength)
		if err != nil {
			wantBAError(t, err, http.StatusBadRequest, http.StatusForbidden, http.StatusRequestEntityTooLarge)
			return
		}
		if b == nil {
			t.Fatalf("%q: accepted as nil", body)
		}
		if trimmed := bytes.TrimLeft(body, " \t\r\n"); len(trimmed) > 0 && trimmed[0] != '{' && !bytes.Equal(bytes.TrimSpace(trimmed), []byte("null")) {
			t.Fatalf("%q: accepted, which is not a JSON object", body)
		}
		for _, name := range baCallbackFields {
			if v, ok, err := b.optString(name); err != nil || (ok && v != "" && !s.baTrustedURL(v)) {
				t.Fatalf("%q: %s %q accepted (%v)", body, name, v, err)
			}
		}
		type reading struct {
			str     string
			present bool
			strErr  string
			boolean bool
			boolErr string
		}
		read := func(b baBody, name string) reading {
			var r reading
			v, ok, err := b.optString(name)
			r.str, r.present = v, ok
			if err != nil {
				r.strErr = fieldError(t, name, err)
			}
			if req, err := b.str(name); (err == nil) != ok || req != v {
				t.Fatalf("%s: str says %q, %v; optString %q, %v", name, req, err, v, ok)
			}
			bv, err := b.optBool(name)
			r.boolean = bv
			if err != nil {
				r.boolErr = fieldError(t, name, err)
			}
			if _, isPresent := b[name]; !isPresent && (r.strErr != "" || r.boolErr != "" || ok || bv) {
				t.Fatalf("%s: absent, but read as %+v", name, r)
			}
			return r
		}
		names := append([]string{field}, slices.Collect(maps.Keys(b))...)
		first := map[string]reading{}
		for _, name := range names {
			first[name] = read(b, name)
		}
		sent, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		b2, err := decode(sent, unknownLength)
		if err != nil {
			t.Fatalf("%q was accepted as %s, which is then refused: %v", body, sent, err)
		}
		if len(b2) != len(b) {
			t.Fatalf("%q was read as %s, which has %d fields", body, sent, len(b2))
		}
		for _, name := range names {
			if again := read(b2, name); again != first[name] {
				t.Fatalf("%s: %q reads %+v, and %s reads %+v", name, body, first[name], sent, again)
			}
		}
	})
}

// wantBAError fails unless err is answered with one of statuses as Better Auth's
// error document {message, code}.
func wantBAError(t *testing.T, err error, statuses ...int) {
	t.Helper()
	be, _ := asBAError(err)
	rec := httptest.NewRecorder()
	(&Server{log: slog.New(slog.DiscardHandler)}).writeBAError(rec, httptest.NewRequest(http.MethodPost, "/", nil), err)
	var doc struct{ Message, Code string }
	if jerr := json.Unmarshal(rec.Body.Bytes(), &doc); jerr != nil || !slices.Contains(statuses, rec.Code) ||
		doc.Code == "" || doc.Message == "" || doc.Code != be.Code || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("%v is answered %d %s (%v), want one of %v with a code and a message", err, rec.Code, rec.Body, jerr, statuses)
	}
}

// fieldError checks that err is the VALIDATION_ERROR of the body field name and
// returns its message.
func fieldError(t *testing.T, name string, err error) string {
	t.Helper()
	var be *baError
	if !errors.As(err, &be) || be.Status != http.StatusBadRequest || be.Code != "VALIDATION_ERROR" ||
		!strings.HasPrefix(be.Message, "[body."+name+"] ") {
		t.Fatalf("field %q: %v is not its validation error", name, err)
	}
	return be.Message
}
