package web

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
)

// platformWeb is the platform of browsers: their push_token is a Web Push subscription.
const platformWeb = "web"

// GET /webpush/public-key → {"public_key"}: the application server key browsers
// subscribe with (PushManager.subscribe's applicationServerKey).
func (s *Server) handleWebPushKey(w http.ResponseWriter, _ *http.Request) error {
	if s.vapidKey == "" {
		return errNotFound("web push is not configured on this hub")
	}
	writeJSON(w, http.StatusOK, map[string]string{"public_key": s.vapidKey})
	return nil
}

// checkWebPushSubscription checks a web device's push_token: a subscription as
// PushSubscription.toJSON() gives it, with an https endpoint, a P-256 public key and a
// 16-byte authentication secret (RFC 8291).
func checkWebPushSubscription(token string) error {
	var sub struct {
		Endpoint string `json:"endpoint"`
		Keys     struct {
			P256dh string `json:"p256dh"`
			Auth   string `json:"auth"`
		} `json:"keys"`
	}
	if err := json.Unmarshal([]byte(token), &sub); err != nil {
		return errBadRequest("push_token of a web device must be a push subscription as JSON (PushSubscription.toJSON())")
	}
	if u, err := url.Parse(sub.Endpoint); err != nil || u.Scheme != "https" || u.Host == "" {
		return errBadRequest("push_token: the subscription's endpoint must be an https URL")
	}
	if k := decodeB64URL(sub.Keys.P256dh); len(k) != 65 || k[0] != 4 {
		return errBadRequest("push_token: keys.p256dh must be an uncompressed P-256 public key in base64url")
	}
	if k := decodeB64URL(sub.Keys.Auth); len(k) != 16 {
		return errBadRequest("push_token: keys.auth must be 16 bytes in base64url")
	}
	return nil
}

// decodeB64URL reads base64url with or without padding; nil when it is not.
func decodeB64URL(s string) []byte {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil
	}
	return b
}
