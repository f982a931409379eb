package pushtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/securecam/securecam/push"
)

// APNs is a fake of the APNs provider API: HTTP/2 over TLS, POST /3/device/<token>.
//
// It refuses what APNs refuses (403 MissingProviderToken / InvalidProviderToken /
// ExpiredProviderToken for a missing, badly signed or stale provider JWT; 400 MissingTopic,
// BadTopic, InvalidPushType, BadPriority, BadExpirationDate, BadCollapseId, PayloadEmpty;
// 413 PayloadTooLarge over 4 KiB), then answers as scripted with Respond: 200 with an
// apns-id, or the status with {"reason": …} (and a timestamp for 410).
type APNs struct {
	// URL is the fake's base URL (https://127.0.0.1:port), the provider's endpoint.
	URL string
	// KeyFile is the generated .p8 key; KeyID, TeamID and Topic the credentials the fake
	// expects.
	KeyFile, KeyID, TeamID, Topic string
	// RootCAs trusts the fake's certificate (push.APNsConfig.RootCAs).
	RootCAs *x509.CertPool
	// CertFile is that certificate as PEM, for a child process (SSL_CERT_FILE).
	CertFile string

	key     *ecdsa.PublicKey
	rec     *recorder[APNsRequest]
	closing chan struct{}
}

// APNsRequest is one request the APNs fake received on /3/device/.
type APNsRequest struct {
	Token  string
	Header http.Header
	Body   []byte
	// Status is the HTTP status the fake answered (0 if the client gave up first).
	Status int
}

// NewAPNs starts an APNs fake with freshly generated credentials; t.Cleanup stops it.
func NewAPNs(t testing.TB) *APNs {
	t.Helper()
	keyFile, key := WriteAPNsKey(t)
	f := &APNs{
		KeyFile: keyFile,
		KeyID:   "PUSHTEST01",
		TeamID:  "TEAMTEST01",
		Topic:   "org.securecam.test",
		key:     &key.PublicKey,
		rec:     newRecorder[APNsRequest](),
		closing: make(chan struct{}),
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(func() {
		close(f.closing)
		srv.Close()
	})
	f.URL = srv.URL
	f.RootCAs = x509.NewCertPool()
	f.RootCAs.AddCert(srv.Certificate())
	f.CertFile = filepath.Join(t.TempDir(), "apns-fake.pem")
	writePEM(t, f.CertFile, "CERTIFICATE", srv.Certificate().Raw)
	return f
}

// Config is the push configuration that sends to this fake.
func (f *APNs) Config() push.APNsConfig {
	return push.APNsConfig{
		KeyFile:  f.KeyFile,
		KeyID:    f.KeyID,
		TeamID:   f.TeamID,
		Topic:    f.Topic,
		Endpoint: f.URL,
		RootCAs:  f.RootCAs,
	}
}

// Respond queues answers for pushes to token, one per request in order; once they are
// used up pushes to token succeed.
func (f *APNs) Respond(token string, rs ...Response) { f.rec.respond(token, rs) }

// Requests returns the requests received so far.
func (f *APNs) Requests() []APNsRequest { return f.rec.all() }

// WaitRequests returns the requests once there are at least n, or an error when ctx ends.
func (f *APNs) WaitRequests(ctx context.Context, n int) ([]APNsRequest, error) {
	return f.rec.wait(ctx, n)
}

const apnsMaxPayload = 4096

func (f *APNs) serve(w http.ResponseWriter, r *http.Request) {
	token, ok := strings.CutPrefix(r.URL.Path, "/3/device/")
	switch {
	case r.ProtoMajor != 2:
		http.Error(w, "HTTP/2 required", http.StatusHTTPVersionNotSupported)
		return
	case !ok:
		apnsReject(w, http.StatusNotFound, "BadPath")
		return
	case r.Method != http.MethodPost:
		apnsReject(w, http.StatusMethodNotAllowed, "MethodNotAllowed")
		return
	case token == "":
		apnsReject(w, http.StatusBadRequest, "MissingDeviceToken")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, apnsMaxPayload+1))
	if err != nil {
		return
	}
	req := APNsRequest{Token: token, Header: r.Header.Clone(), Body: body}
	status, reason := f.check(r, body)
	if status == 0 {
		res := f.rec.next(token)
		if res.Hang {
			f.rec.record(req)
			select {
			case <-r.Context().Done():
			case <-f.closing:
			}
			return
		}
		status, reason = res.Status, res.Reason
		if res.RetryAfter != "" {
			w.Header().Set("Retry-After", res.RetryAfter)
		}
	}
	req.Status = status
	f.rec.record(req)
	if status == http.StatusOK {
		id := r.Header.Get("apns-id")
		if id == "" {
			id = strings.ToUpper(uuid.NewString())
		}
		w.Header().Set("apns-id", id)
		w.WriteHeader(http.StatusOK)
		return
	}
	apnsReject(w, status, reason)
}

// check returns the status and reason APNs would refuse the request with, or 0.
func (f *APNs) check(r *http.Request, body []byte) (int, string) {
	bearer, ok := strings.CutPrefix(r.Header.Get("authorization"), "bearer ")
	if !ok || bearer == "" {
		return http.StatusForbidden, "MissingProviderToken"
	}
	if reason := f.checkJWT(bearer); reason != "" {
		return http.StatusForbidden, reason
	}
	switch topic := r.Header.Get("apns-topic"); {
	case topic == "":
		return http.StatusBadRequest, "MissingTopic"
	case topic != f.Topic:
		return http.StatusBadRequest, "BadTopic"
	}
	pushType := r.Header.Get("apns-push-type")
	if pushType != "alert" && pushType != "background" {
		return http.StatusBadRequest, "InvalidPushType"
	}
	if p := r.Header.Get("apns-priority"); (p != "" && p != "5" && p != "10") || (pushType == "background" && p == "10") {
		return http.StatusBadRequest, "BadPriority"
	}
	if e := r.Header.Get("apns-expiration"); e != "" {
		if _, err := strconv.ParseInt(e, 10, 64); err != nil {
			return http.StatusBadRequest, "BadExpirationDate"
		}
	}
	if len(r.Header.Get("apns-collapse-id")) > 64 {
		return http.StatusBadRequest, "BadCollapseId"
	}
	switch {
	case len(body) == 0:
		return http.StatusBadRequest, "PayloadEmpty"
	case len(body) > apnsMaxPayload:
		return http.StatusRequestEntityTooLarge, "PayloadTooLarge"
	}
	return 0, ""
}

// checkJWT verifies an APNs provider token: ES256 by the fake's key, kid = KeyID,
// iss = TeamID, issued within the last hour. It returns the APNs reason or "".
func (f *APNs) checkJWT(jwt string) string {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "InvalidProviderToken"
	}
	var header struct{ Alg, Kid string }
	var claims struct {
		Iss string
		Iat int64
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if decodeSegment(parts[0], &header) != nil || decodeSegment(parts[1], &claims) != nil || err != nil ||
		len(sig) != 64 || header.Alg != "ES256" || header.Kid != f.KeyID || claims.Iss != f.TeamID {
		return "InvalidProviderToken"
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	rr, ss := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(f.key, digest[:], rr, ss) {
		return "InvalidProviderToken"
	}
	if age := time.Since(time.Unix(claims.Iat, 0)); age > time.Hour || age < -time.Minute {
		return "ExpiredProviderToken"
	}
	return ""
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func apnsReject(w http.ResponseWriter, status int, reason string) {
	doc := map[string]any{"reason": reason}
	if status == http.StatusGone {
		doc["timestamp"] = time.Now().UnixMilli()
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("apns-id", strings.ToUpper(uuid.NewString()))
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(doc)
}
