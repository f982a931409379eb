package web

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// newSecret returns 32 random bytes, base64url without padding (43 characters).
func newSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// hashToken is how every token is stored: hex SHA-256 of its text.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Scoped tokens (verification links, WebSocket tickets) carry the ids needed to find
// their verification row: "<id>.<secret>" or "<id>.<id2>.<secret>". The whole text is
// hashed, so changing any part makes the token unknown.

func newScopedToken(ids ...string) (string, error) {
	secret, err := newSecret()
	if err != nil {
		return "", err
	}
	return strings.Join(append(ids, secret), "."), nil
}

// tokenUserID returns the user id a verification token (e-mail, reset) names, or
// ok=false when it is not shaped as one.
func tokenUserID(tok string) (string, bool) {
	ids, ok := splitScopedToken(tok, 1)
	if !ok {
		return "", false
	}
	return parseID(ids[0])
}

// ticketParts splits a WebSocket ticket into its device id and session reference
// (empty for a device token), or ok=false when it is not shaped as one.
func ticketParts(ticket string) (deviceID, sessionRef string, ok bool) {
	ids, ok := splitScopedToken(ticket, 2)
	if !ok {
		return "", "", false
	}
	deviceID, ok = parseID(ids[0])
	return deviceID, ids[1], ok
}

// splitScopedToken returns the n ids in front of the secret, or ok=false.
func splitScopedToken(token string, n int) (ids []string, ok bool) {
	if len(token) > maxTokenLen {
		return nil, false
	}
	parts := strings.Split(token, ".")
	if len(parts) != n+1 || parts[n] == "" {
		return nil, false
	}
	return parts[:n], true
}
