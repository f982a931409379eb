package pushtest

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/securecam/securecam/push"
)

// FCM is a fake of Firebase Cloud Messaging's HTTP v1 API and of the Google OAuth2 token
// endpoint its service account signs in at (the generated key's token_uri points here).
//
// POST /token takes a JWT-bearer grant signed by the service account's key and issues an
// access token. POST /v1/projects/<id>/messages:send wants one of those tokens (401
// UNAUTHENTICATED otherwise), the fake's project (403 PERMISSION_DENIED otherwise), and a
// message with a token and string data values (400 INVALID_ARGUMENT otherwise); then it
// answers as scripted with Respond: 200 {"name": …}, or an error document in the v1
// format with an FcmError detail carrying the scripted errorCode.
type FCM struct {
	// URL is the fake's base URL (http://127.0.0.1:port); the FCM endpoint is URL+"/v1".
	URL string
	// ProjectID and CredentialsFile (a generated service-account key) are the
	// credentials the fake expects; ClientEmail is the account's e-mail.
	ProjectID, CredentialsFile, ClientEmail string

	key *rsa.PublicKey
	rec *recorder[FCMRequest]

	mu     sync.Mutex
	tokens []string // access tokens issued

	closing chan struct{}
}

// FCMRequest is one request the FCM fake received on messages:send.
type FCMRequest struct {
	// Token is the message's registration token.
	Token  string
	Header http.Header
	// Body is the request body as sent: {"message": {…}}.
	Body []byte
	// Status is the HTTP status the fake answered (0 if the client gave up first).
	Status int
}

// NewFCM starts an FCM fake with a freshly generated service account; t.Cleanup stops it.
func NewFCM(t testing.TB) *FCM {
	t.Helper()
	f := &FCM{
		ProjectID: "securecam-pushtest",
		rec:       newRecorder[FCMRequest](),
		closing:   make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", f.serveToken)
	mux.HandleFunc("POST /v1/projects/{project}/messages:send", f.serveSend)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		close(f.closing)
		srv.Close()
	})
	f.URL = srv.URL
	var key *rsa.PrivateKey
	f.CredentialsFile, f.ClientEmail, key = WriteServiceAccount(t, f.ProjectID, f.URL+"/token")
	f.key = &key.PublicKey
	return f
}

// Config is the push configuration that sends to this fake.
func (f *FCM) Config() push.FCMConfig {
	return push.FCMConfig{
		CredentialsFile: f.CredentialsFile,
		ProjectID:       f.ProjectID,
		Endpoint:        f.URL + "/v1",
	}
}

// Respond queues answers for pushes to token, one per request in order; once they are
// used up pushes to token succeed.
func (f *FCM) Respond(token string, rs ...Response) { f.rec.respond(token, rs) }

// Requests returns the messages:send requests received so far.
func (f *FCM) Requests() []FCMRequest { return f.rec.all() }

// WaitRequests returns the requests once there are at least n, or an error when ctx ends.
func (f *FCM) WaitRequests(ctx context.Context, n int) ([]FCMRequest, error) {
	return f.rec.wait(ctx, n)
}

// AccessTokensIssued returns how many access tokens the token endpoint granted.
func (f *FCM) AccessTokensIssued() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.tokens)
}

const (
	jwtBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	fcmScope       = "https://www.googleapis.com/auth/firebase.messaging"
	cloudScope     = "https://www.googleapis.com/auth/cloud-platform"
)

func (f *FCM) serveToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != jwtBearerGrant {
		oauthReject(w, "unsupported_grant_type", "want a JWT bearer grant")
		return
	}
	if desc := f.checkAssertion(r.PostForm.Get("assertion")); desc != "" {
		oauthReject(w, "invalid_grant", desc)
		return
	}
	tok := "ya29.pushtest-" + uuid.NewString()
	f.mu.Lock()
	f.tokens = append(f.tokens, tok)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "expires_in": 3600, "token_type": "Bearer"})
}

// checkAssertion verifies a service-account grant: RS256 by the account's key, issued by
// its e-mail for this token endpoint, unexpired, with a scope that allows FCM. It returns
// what is wrong or "".
func (f *FCM) checkAssertion(jwt string) string {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "malformed assertion"
	}
	var header struct{ Alg string }
	var claims struct {
		Iss, Aud, Scope string
		Exp             int64
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if decodeSegment(parts[0], &header) != nil || decodeSegment(parts[1], &claims) != nil || err != nil ||
		header.Alg != "RS256" {
		return "malformed assertion"
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(f.key, crypto.SHA256, digest[:], sig) != nil {
		return "Invalid JWT Signature."
	}
	scopes := strings.Fields(claims.Scope)
	switch {
	case claims.Iss != f.ClientEmail:
		return "Invalid issuer"
	case claims.Aud != f.URL+"/token":
		return "Invalid audience"
	case time.Now().After(time.Unix(claims.Exp, 0)):
		return "Token has expired"
	case !slices.Contains(scopes, fcmScope) && !slices.Contains(scopes, cloudScope):
		return "Invalid scope"
	}
	return ""
}

func oauthReject(w http.ResponseWriter, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

func (f *FCM) issued(token string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Contains(f.tokens, token)
}

func (f *FCM) serveSend(w http.ResponseWriter, r *http.Request) {
	bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if bearer == "" || !f.issued(bearer) {
		fcmReject(w, Response{Status: http.StatusUnauthorized,
			Message: "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential."})
		return
	}
	if p := r.PathValue("project"); p != f.ProjectID {
		fcmReject(w, Response{Status: http.StatusForbidden,
			Message: "Permission 'cloudmessaging.messages.create' denied on resource '//cloudresourcemanager.googleapis.com/projects/" + p + "' (or it may not exist)."})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return
	}
	var doc struct {
		Message struct {
			Token string            `json:"token"`
			Data  map[string]string `json:"data"`
		} `json:"message"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		fcmReject(w, Response{Status: http.StatusBadRequest, Reason: "INVALID_ARGUMENT",
			Message: "Invalid JSON payload received. " + err.Error()})
		return
	}
	if doc.Message.Token == "" {
		fcmReject(w, Response{Status: http.StatusBadRequest, Reason: "INVALID_ARGUMENT",
			Message: "Recipient of the message is not set."})
		return
	}
	req := FCMRequest{Token: doc.Message.Token, Header: r.Header.Clone(), Body: body}
	res := f.rec.next(doc.Message.Token)
	if res.Hang {
		f.rec.record(req)
		select {
		case <-r.Context().Done():
		case <-f.closing:
		}
		return
	}
	req.Status = res.Status
	f.rec.record(req)
	if res.Status == http.StatusOK {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"name": "projects/" + f.ProjectID + "/messages/" + uuid.NewString(),
		})
		return
	}
	fcmReject(w, res)
}

// grpcStatus is the canonical status name FCM puts in error.status for an HTTP status.
var grpcStatus = map[int]string{
	http.StatusBadRequest:          "INVALID_ARGUMENT",
	http.StatusUnauthorized:        "UNAUTHENTICATED",
	http.StatusForbidden:           "PERMISSION_DENIED",
	http.StatusNotFound:            "NOT_FOUND",
	http.StatusTooManyRequests:     "RESOURCE_EXHAUSTED",
	http.StatusInternalServerError: "INTERNAL",
	http.StatusServiceUnavailable:  "UNAVAILABLE",
}

// fcmReject writes an FCM v1 error document.
func fcmReject(w http.ResponseWriter, res Response) {
	status, ok := grpcStatus[res.Status]
	if !ok {
		status = "UNKNOWN"
	}
	msg := res.Message
	switch {
	case msg != "":
	case res.Reason == "UNREGISTERED":
		msg = "Requested entity was not found."
	default:
		msg = http.StatusText(res.Status)
	}
	e := map[string]any{"code": res.Status, "message": msg, "status": status}
	if res.Reason != "" {
		e["details"] = []map[string]string{{
			"@type":     "type.googleapis.com/google.firebase.fcm.v1.FcmError",
			"errorCode": res.Reason,
		}}
	}
	if res.RetryAfter != "" {
		w.Header().Set("Retry-After", res.RetryAfter)
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(res.Status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": e})
}
