package pushtest

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

// WebPush is a local push service as browsers use (RFC 8030), over TLS: POST
// /push/<subscription id> with a payload encrypted for the subscription (RFC 8291,
// Content-Encoding aes128gcm) and a VAPID authorization (RFC 8292).
//
// Subscribe makes a subscription the way a browser does: the fake keeps the private
// half of its key pair and its authentication secret, so it decrypts every push it
// receives. It checks the VAPID header ("vapid t=<JWT>, k=<key>"): the key must be the
// application server key the subscription was made with and the JWT an ES256 token signed
// by it whose aud is this service's origin, whose exp is in the future and at most 24 h
// away, and whose sub is a mailto: or https: URL (401 otherwise, 403 for another key);
// the body must decrypt (400 otherwise). Then it answers as scripted with Respond: 201
// Created by default, or a scripted status such as 404 or 410 (subscription gone) or 429
// with Retry-After. An unknown subscription gets 404. Every request is recorded.
type WebPush struct {
	// URL is the service's origin, https://127.0.0.1:port.
	URL string
	// Client trusts the service's certificate: give it to push.WebPushConfig.Client.
	Client *http.Client

	srv *httptest.Server
	rec *recorder[WebPushRequest]

	mu   sync.Mutex
	subs map[string]*subscriber // by subscription id
}

// subscriber is the browser's side of a subscription.
type subscriber struct {
	key       *ecdh.PrivateKey
	auth      []byte
	serverKey string // the application server (VAPID) public key, base64url
}

// WebPushRequest is one push request as the service received it.
type WebPushRequest struct {
	// Subscription is the id of the subscription the push was for.
	Subscription string
	// TTL, Urgency and Topic are the request's headers.
	TTL, Urgency, Topic string
	// Payload is the decrypted message, nil when it was not decrypted.
	Payload []byte
	// Audience, Subject and Expiry are the VAPID JWT's claims, when it was read.
	Audience, Subject string
	Expiry            time.Time
	// Status is the answer given; Problem says why a request was refused by a check
	// (empty when it passed them and got the scripted answer).
	Status  int
	Problem string
}

// NewWebPush starts the service; t.Cleanup stops it.
func NewWebPush(t testing.TB) *WebPush {
	t.Helper()
	w := &WebPush{rec: newRecorder[WebPushRequest](), subs: map[string]*subscriber{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /push/{id}", w.serve)
	w.srv = httptest.NewTLSServer(mux)
	t.Cleanup(w.srv.Close)
	w.URL = w.srv.URL
	w.Client = w.srv.Client()
	return w
}

// CertFile writes the service's certificate as PEM in a temporary directory of t and
// returns its path: point another process's SSL_CERT_FILE at it to make it trust the
// service.
func (w *WebPush) CertFile(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "webpush-ca.pem")
	block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: w.srv.Certificate().Raw})
	if err := os.WriteFile(path, block, 0o600); err != nil {
		t.Fatalf("pushtest: write certificate: %v", err)
	}
	return path
}

// Subscription is a browser's subscription as PushSubscription.toJSON() gives it.
type Subscription struct {
	Endpoint string `json:"endpoint"`
	Keys     struct {
		P256dh string `json:"p256dh"`
		Auth   string `json:"auth"`
	} `json:"keys"`
}

// JSON is the subscription as the JSON text a browser sends its server.
func (s Subscription) JSON() string {
	b, _ := json.Marshal(s) // strings only
	return string(b)
}

// ID is the subscription's id, the last segment of its endpoint.
func (s Subscription) ID() string {
	return s.Endpoint[strings.LastIndex(s.Endpoint, "/")+1:]
}

// Subscribe makes a new subscription for pushes signed with the application server key
// serverKey (a VAPID public key, base64url), as PushManager.subscribe does.
func (w *WebPush) Subscribe(t testing.TB, serverKey string) Subscription {
	t.Helper()
	key, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("pushtest: generate subscription key: %v", err)
	}
	auth := make([]byte, 16)
	_, _ = rand.Read(auth)
	id := uuid.NewString()
	w.mu.Lock()
	w.subs[id] = &subscriber{key: key, auth: auth, serverKey: strings.TrimRight(serverKey, "=")}
	w.mu.Unlock()
	var s Subscription
	s.Endpoint = w.URL + "/push/" + id
	s.Keys.P256dh = base64.RawURLEncoding.EncodeToString(key.PublicKey().Bytes())
	s.Keys.Auth = base64.RawURLEncoding.EncodeToString(auth)
	return s
}

// Unsubscribe forgets the subscription: its pushes get 410 Gone from now on, as after
// the user revoked the permission.
func (w *WebPush) Unsubscribe(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.subs, id)
}

// Respond queues answers for the subscription id, one per push in order, for pushes
// that pass the checks; once they are used up pushes get 201.
func (w *WebPush) Respond(id string, rs ...Response) { w.rec.respond(id, rs) }

// Requests returns every request received so far.
func (w *WebPush) Requests() []WebPushRequest { return w.rec.all() }

// WaitRequests returns the requests once there are at least n, or an error when ctx ends.
func (w *WebPush) WaitRequests(ctx context.Context, n int) ([]WebPushRequest, error) {
	return w.rec.wait(ctx, n)
}

func (w *WebPush) serve(rw http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	req := WebPushRequest{Subscription: id, TTL: r.Header.Get("TTL"), Urgency: r.Header.Get("Urgency"), Topic: r.Header.Get("Topic")}
	answer := func(status int, problem string) {
		req.Status, req.Problem = status, problem
		w.rec.record(req)
		if problem != "" {
			http.Error(rw, problem, status)
			return
		}
		rw.WriteHeader(status)
	}
	w.mu.Lock()
	sub := w.subs[id]
	w.mu.Unlock()
	if sub == nil {
		answer(http.StatusGone, "no such subscription")
		return
	}
	if req.TTL == "" {
		answer(http.StatusBadRequest, "missing TTL header")
		return
	}
	claims, status, err := w.checkVAPID(r.Header.Get("Authorization"), sub.serverKey)
	req.Audience, req.Subject, req.Expiry = claims.Aud, claims.Sub, claims.Exp
	if err != nil {
		answer(status, err.Error())
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 8192))
	if err != nil {
		answer(http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	if len(body) > 4096 {
		answer(http.StatusRequestEntityTooLarge, "payload over 4096 bytes")
		return
	}
	if enc := r.Header.Get("Content-Encoding"); enc != "aes128gcm" {
		answer(http.StatusBadRequest, fmt.Sprintf("Content-Encoding %q, want aes128gcm", enc))
		return
	}
	plain, err := Decrypt(body, sub.key, sub.auth)
	if err != nil {
		answer(http.StatusBadRequest, err.Error())
		return
	}
	req.Payload = plain
	res := w.rec.next(id)
	if res.Status == http.StatusOK {
		res.Status = http.StatusCreated
	}
	if res.RetryAfter != "" {
		rw.Header().Set("Retry-After", res.RetryAfter)
	}
	if res.Status == http.StatusCreated {
		rw.Header().Set("Location", w.URL+"/message/"+uuid.NewString())
	}
	answer(res.Status, "")
}

// vapidClaims are the claims RFC 8292 defines.
type vapidClaims struct {
	Aud string
	Sub string
	Exp time.Time
}

// checkVAPID checks the Authorization header of a push against the subscription's
// application server key.
func (w *WebPush) checkVAPID(header, serverKey string) (vapidClaims, int, error) {
	var c vapidClaims
	scheme, params, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "vapid") {
		return c, http.StatusUnauthorized, fmt.Errorf("authorization %q: want the vapid scheme", scheme)
	}
	var token, key string
	for p := range strings.SplitSeq(params, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch k {
		case "t":
			token = v
		case "k":
			key = strings.TrimRight(v, "=")
		}
	}
	if token == "" || key == "" {
		return c, http.StatusUnauthorized, errors.New("vapid authorization without t= or k=")
	}
	if key != serverKey {
		return c, http.StatusForbidden, errors.New("vapid key is not the subscription's application server key")
	}
	rawKey, err := base64.RawURLEncoding.DecodeString(key)
	if err != nil {
		return c, http.StatusUnauthorized, fmt.Errorf("vapid k=: %w", err)
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), rawKey)
	if err != nil {
		return c, http.StatusUnauthorized, fmt.Errorf("vapid k=: %w", err)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return c, http.StatusUnauthorized, errors.New("vapid t= is not a JWT")
	}
	var head struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
	}
	if err := decodeSegment(parts[0], &head); err != nil || head.Alg != "ES256" {
		return c, http.StatusUnauthorized, fmt.Errorf("vapid JWT header: alg %q, want ES256 (%v)", head.Alg, err)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return c, http.StatusUnauthorized, errors.New("vapid JWT signature: want 64 bytes r||s")
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return c, http.StatusUnauthorized, errors.New("vapid JWT signature does not verify with k=")
	}
	var claims struct {
		Aud string `json:"aud"`
		Sub string `json:"sub"`
		Exp int64  `json:"exp"`
	}
	if err := decodeSegment(parts[1], &claims); err != nil {
		return c, http.StatusUnauthorized, fmt.Errorf("vapid JWT claims: %w", err)
	}
	c = vapidClaims{Aud: claims.Aud, Sub: claims.Sub, Exp: time.Unix(claims.Exp, 0)}
	now := time.Now()
	switch {
	case claims.Aud != w.URL:
		return c, http.StatusUnauthorized, fmt.Errorf("vapid aud %q, want this service's origin %q", claims.Aud, w.URL)
	case !c.Exp.After(now):
		return c, http.StatusUnauthorized, errors.New("vapid JWT expired")
	case c.Exp.After(now.Add(24 * time.Hour)):
		return c, http.StatusUnauthorized, errors.New("vapid exp more than 24 hours away")
	}
	if u, err := url.Parse(claims.Sub); err != nil || (u.Scheme != "mailto" && u.Scheme != "https") || u.Opaque+u.Host == "" {
		return c, http.StatusUnauthorized, fmt.Errorf("vapid sub %q: want a mailto: or https: URL", claims.Sub)
	}
	return c, 0, nil
}

// Decrypt opens an aes128gcm message (RFC 8188) encrypted for a Web Push subscription
// (RFC 8291) with the subscription's private key and authentication secret.
func Decrypt(body []byte, key *ecdh.PrivateKey, auth []byte) ([]byte, error) {
	// Header: salt (16) | record size (4) | key id length (1) | key id (the sender's
	// ephemeral public key).
	if len(body) < 21 {
		return nil, errors.New("aes128gcm: body shorter than its header")
	}
	salt, rs, idLen := body[:16], binary.BigEndian.Uint32(body[16:20]), int(body[20])
	if len(body) < 21+idLen {
		return nil, errors.New("aes128gcm: key id cut short")
	}
	senderPub, records := body[21:21+idLen], body[21+idLen:]
	if rs < 18 {
		return nil, fmt.Errorf("aes128gcm: record size %d", rs)
	}
	if len(records) > int(rs) {
		return nil, errors.New("aes128gcm: more than one record (a push message is one)")
	}
	asPub, err := ecdh.P256().NewPublicKey(senderPub)
	if err != nil {
		return nil, fmt.Errorf("aes128gcm: key id is not a P-256 public key: %w", err)
	}
	shared, err := key.ECDH(asPub)
	if err != nil {
		return nil, fmt.Errorf("webpush: ECDH: %w", err)
	}
	// RFC 8291 section 3.4: IKM from the ECDH secret and the auth secret, bound to both
	// public keys; then RFC 8188's content-encryption key and nonce from IKM and salt.
	info := append(append([]byte("WebPush: info\x00"), key.PublicKey().Bytes()...), senderPub...)
	ikm, err := hkdf.Key(sha256.New, shared, auth, string(info), 32)
	if err != nil {
		return nil, err
	}
	cek, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: aes128gcm\x00", 16)
	if err != nil {
		return nil, err
	}
	nonce, err := hkdf.Key(sha256.New, ikm, salt, "Content-Encoding: nonce\x00", 12)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	plain, err := gcm.Open(nil, nonce, records, nil)
	if err != nil {
		return nil, fmt.Errorf("aes128gcm: decrypt: %w", err)
	}
	// The last (only) record ends with the delimiter 0x02 and zero padding.
	end := len(plain) - 1
	for end >= 0 && plain[end] == 0 {
		end--
	}
	if end < 0 || plain[end] != 2 {
		return nil, errors.New("aes128gcm: no last-record delimiter")
	}
	return plain[:end], nil
}

// String says what the service answered, for test messages.
func (r WebPushRequest) String() string {
	s := "push to " + r.Subscription + ": " + strconv.Itoa(r.Status)
	if r.Problem != "" {
		s += " (" + r.Problem + ")"
	}
	return s
}
