// Package betterauth holds the parts of Better Auth's wire formats that need no I/O:
// signed cookie values (the session cookie and the bearer plugin's tokens), the HS256
// JWTs of its e-mail verification links, and its trusted-origin rules. Each follows
// the better-auth 1.7 sources (better-call's signCookieValue, the bearer plugin,
// jose's jwtVerify, matchesOriginPattern and isSafeRelativeURL).
//
// Concurrency: every function is pure and safe for concurrent use.
package betterauth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"time"
)

// Sign returns value + "." + the standard base64 (padded) of HMAC-SHA256(secret,
// value): the text of Better Auth's signed cookies and of the bearer plugin's
// set-auth-token header. A cookie carries it URL-encoded.
func Sign(secret, value string) string {
	return value + "." + base64.StdEncoding.EncodeToString(mac(secret, value))
}

// Verify checks a signed value (URL-encoded or not) and returns the value in front of
// the signature. The signature is the part after the last '.', in standard or URL
// base64, padded or not, as Better Auth's own decoder accepts.
func Verify(secret, signed string) (string, bool) {
	if strings.Contains(signed, "%") {
		if d, err := url.PathUnescape(signed); err == nil {
			signed = d
		}
	}
	i := strings.LastIndexByte(signed, '.')
	if i < 1 {
		return "", false
	}
	value, sig := signed[:i], decodeBase64(signed[i+1:])
	if len(sig) != sha256.Size || !hmac.Equal(sig, mac(secret, value)) {
		return "", false
	}
	return value, true
}

func mac(secret, value string) []byte {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(value))
	return h.Sum(nil)
}

func decodeBase64(s string) []byte {
	s = strings.TrimRight(s, "=")
	s = strings.NewReplacer("-", "+", "_", "/").Replace(s)
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return nil
	}
	return b
}

// JWT errors.
var (
	// ErrInvalidToken: not an HS256 JWT signed with the secret, or its claims are
	// malformed.
	ErrInvalidToken = errors.New("betterauth: invalid token")
	// ErrTokenExpired: well signed, but past its exp.
	ErrTokenExpired = errors.New("betterauth: token expired")
)

// Verification is the payload of an e-mail verification JWT.
type Verification struct {
	Email       string `json:"email"`
	UpdateTo    string `json:"updateTo"`
	UserID      string `json:"userId"`
	RequestType string `json:"requestType"`
}

// VerifyJWT checks an HS256 JWT signed with secret, as jose's jwtVerify with
// algorithms ["HS256"] does (exp and nbf against now, no clock tolerance), and returns
// its verification payload. The email claim is required.
func VerifyJWT(secret, token string, now time.Time) (Verification, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Verification{}, ErrInvalidToken
	}
	var header struct {
		Alg  string   `json:"alg"`
		Crit []string `json:"crit"`
	}
	if !decodePart(parts[0], &header) || header.Alg != "HS256" || header.Crit != nil {
		return Verification{}, ErrInvalidToken
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || !hmac.Equal(sig, mac(secret, parts[0]+"."+parts[1])) {
		return Verification{}, ErrInvalidToken
	}
	var claims struct {
		Verification
		Exp *json.Number `json:"exp"`
		Nbf *json.Number `json:"nbf"`
	}
	if !decodePart(parts[1], &claims) {
		return Verification{}, ErrInvalidToken
	}
	sec := now.Unix()
	if claims.Nbf != nil {
		nbf, err := claims.Nbf.Float64()
		if err != nil || nbf > float64(sec) {
			return Verification{}, ErrInvalidToken
		}
	}
	if claims.Exp != nil {
		exp, err := claims.Exp.Float64()
		if err != nil {
			return Verification{}, ErrInvalidToken
		}
		if exp <= float64(sec) {
			return Verification{}, ErrTokenExpired
		}
	}
	if claims.Email == "" {
		return Verification{}, ErrInvalidToken
	}
	return claims.Verification, nil
}

func decodePart(part string, v any) bool {
	raw, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		return false
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	return dec.Decode(v) == nil
}

// IsAppOrigin reports whether pattern is a trusted origin of a native app: a scheme
// other than http and https ("myapp://", "exp://192.168.1.5:8081"), as Better Auth's
// trustedOrigins list them for Expo apps.
func IsAppOrigin(pattern string) bool {
	scheme, ok := schemeOf(pattern)
	return ok && scheme != "http" && scheme != "https"
}

// MatchAppOrigin reports whether u (an expo-origin header, a callback URL) matches an
// app origin pattern: the same scheme and, when the pattern has them, the same
// authority and a path at or below the pattern's.
func MatchAppOrigin(u, pattern string) bool {
	got, ok1 := parseApp(u)
	want, ok2 := parseApp(pattern)
	if !ok1 || !ok2 || got.scheme != want.scheme || got.scheme == "http" || got.scheme == "https" {
		return false
	}
	if want.authority != "" && got.authority != want.authority {
		return false
	}
	return want.path == "" || got.path == want.path || strings.HasPrefix(got.path, want.path+"/")
}

type appURL struct{ scheme, authority, path string }

func schemeOf(v string) (string, bool) {
	i := strings.IndexByte(v, ':')
	if i <= 0 {
		return "", false
	}
	scheme := strings.ToLower(v[:i])
	for j, c := range scheme {
		if !(c >= 'a' && c <= 'z' || j > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return "", false
		}
	}
	return scheme, true
}

// parseApp splits a custom-scheme URL with string operations, as Better Auth does
// (URL parsers disagree on non-special schemes), resolving dot segments in the path.
func parseApp(v string) (appURL, bool) {
	if hasControl(v) {
		return appURL{}, false
	}
	scheme, ok := schemeOf(v)
	if !ok {
		return appURL{}, false
	}
	rest := v[len(scheme)+1:]
	var a appURL
	a.scheme = scheme
	if strings.HasPrefix(rest, "//") {
		rest = rest[2:]
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		a.authority, rest = strings.ToLower(rest[:end]), rest[end:]
	}
	if end := strings.IndexAny(rest, "?#"); end >= 0 {
		rest = rest[:end]
	}
	if d, err := url.PathUnescape(rest); err == nil {
		rest = d
	}
	var segs []string
	for _, s := range strings.Split(rest, "/") {
		switch s {
		case "", ".":
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
		default:
			segs = append(segs, s)
		}
	}
	if len(segs) > 0 {
		a.path = "/" + strings.Join(segs, "/")
	}
	return a, true
}

// IsSafeRelativeURL reports whether v is a root-relative path that every browser and
// router reads as a path on this origin: "/x", never "//host", a backslash, a control
// character or an encoded slash in the path.
func IsSafeRelativeURL(v string) bool {
	if !strings.HasPrefix(v, "/") || strings.HasPrefix(v, "//") || strings.Contains(v, `\`) || hasControl(v) {
		return false
	}
	path := v
	if end := strings.IndexAny(v, "?#"); end >= 0 {
		path = v[:end]
	}
	lower := strings.ToLower(path)
	if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") {
		return false
	}
	u, err := url.Parse(v)
	return err == nil && u.Scheme == "" && u.Host == ""
}

func hasControl(v string) bool {
	return strings.IndexFunc(v, func(r rune) bool { return r < 0x20 || (r >= 0x7f && r <= 0x9f) }) >= 0
}
