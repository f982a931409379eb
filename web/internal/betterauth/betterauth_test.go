package betterauth

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

// Vectors made by better-auth 1.7.25 itself (serializeSignedCookie from better-call,
// signJWT from better-auth/crypto) with this secret.
const (
	secret       = "test-secret-0123456789abcdefghijklmnopqrstuvwxyz"
	cookieToken  = "Xk3vQ9pL2mN8rT5wY7zA1bC4dE6fG0hJ"
	cookieValue  = "Xk3vQ9pL2mN8rT5wY7zA1bC4dE6fG0hJ.mCsFeM02TPZYxdQVJqzAJvE5kv6wodscCliqjKfKuaQ%3D"
	jwtToken     = "eyJhbGciOiJIUzI1NiJ9.eyJlbWFpbCI6ImFAZXhhbXBsZS5jb20iLCJ1c2VySWQiOiIwMTkwZjRjMi0wMDAwLTcwMDAtODAwMC0wMDAwMDAwMDAwMDEiLCJpYXQiOjE3OTYyMjI4NTgsImV4cCI6MTc5NjIyNjQ1OH0.Htp8CI1XHVjslaZrolC83tVe7Hg6p4SLEDESlNNXZxo"
	jwtIssuedAt  = 1796222858
	jwtExpiresAt = 1796226458
)

func TestSignMatchesBetterAuth(t *testing.T) {
	if got := Sign(secret, cookieToken); got != strings.Replace(cookieValue, "%3D", "=", 1) {
		t.Fatalf("Sign = %q, want Better Auth's %q (decoded)", got, cookieValue)
	}
}

func TestVerify(t *testing.T) {
	signed := Sign(secret, cookieToken)
	sig := signed[len(cookieToken)+1:]
	raw, _ := base64.StdEncoding.DecodeString(sig)
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"cookie as Better Auth sets it (URL-encoded)", cookieValue, true},
		{"decoded, as the Expo plugin replays it", signed, true},
		{"bearer without padding", strings.TrimRight(signed, "="), true},
		{"URL base64 signature", cookieToken + "." + base64.RawURLEncoding.EncodeToString(raw), true},
		{"other secret", Sign("another secret of enough length 0123456789", cookieToken), false},
		{"token changed", "Xk3vQ9pL2mN8rT5wY7zA1bC4dE6fG0hK." + sig, false},
		{"signature cut", signed[:len(signed)-4], false},
		{"no signature", cookieToken, false},
		{"empty value", "." + sig, false},
		{"garbage signature", cookieToken + ".!!!", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Verify(secret, tt.in)
			if ok != tt.ok || (ok && got != cookieToken) {
				t.Fatalf("Verify(%q) = %q, %v; want ok=%v", tt.in, got, ok, tt.ok)
			}
		})
	}
}

func TestVerifyJWT(t *testing.T) {
	iat := time.Unix(jwtIssuedAt, 0)
	v, err := VerifyJWT(secret, jwtToken, iat)
	if err != nil {
		t.Fatalf("VerifyJWT of Better Auth's token: %v", err)
	}
	if v.Email != "a@example.com" || v.UserID != "0190f4c2-0000-7000-8000-000000000001" || v.UpdateTo != "" {
		t.Fatalf("claims = %+v", v)
	}
	if _, err := VerifyJWT(secret, jwtToken, time.Unix(jwtExpiresAt-1, 999e6)); err != nil {
		t.Errorf("a second before exp: %v", err)
	}
	if _, err := VerifyJWT(secret, jwtToken, time.Unix(jwtExpiresAt, 0)); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("at exp: %v, want ErrTokenExpired", err)
	}
	parts := strings.Split(jwtToken, ".")
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none"}`))
	hs512 := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS512"}`))
	noEmail := base64.RawURLEncoding.EncodeToString([]byte(`{"userId":"x","exp":9999999999}`))
	future := base64.RawURLEncoding.EncodeToString([]byte(`{"email":"a@example.com","nbf":9999999999}`))
	resign := func(h, p string) string {
		return h + "." + p + "." + base64.RawURLEncoding.EncodeToString(mac(secret, h+"."+p))
	}
	for name, tok := range map[string]string{
		"other secret":        parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(mac("x", parts[0]+"."+parts[1])),
		"payload changed":     parts[0] + "." + noEmail + "." + parts[2],
		"alg none":            none + "." + parts[1] + ".",
		"alg HS512":           resign(hs512, parts[1]),
		"no email":            resign(parts[0], noEmail),
		"not yet valid (nbf)": resign(parts[0], future),
		"two parts":           parts[0] + "." + parts[1],
		"a hub token":         "0190f4c2-0000-7000-8000-000000000001.c2VjcmV0",
	} {
		if _, err := VerifyJWT(secret, tok, iat); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: %v, want ErrInvalidToken", name, err)
		}
	}
}

func TestAppOrigins(t *testing.T) {
	for _, p := range []string{"myapp://", "exp://192.168.1.5:8081", "com.example.app://cb"} {
		if !IsAppOrigin(p) {
			t.Errorf("IsAppOrigin(%q) = false", p)
		}
	}
	for _, p := range []string{"https://app.example.com", "http://localhost:3000", "", "://x", "1abc://"} {
		if IsAppOrigin(p) {
			t.Errorf("IsAppOrigin(%q) = true", p)
		}
	}
	tests := []struct {
		url, pattern string
		want         bool
	}{
		{"myapp://", "myapp://", true},
		{"myapp:///reset?token=x", "myapp://", true},
		{"MyApp://", "myapp://", true},
		{"otherapp://", "myapp://", false},
		{"https://evil.example", "myapp://", false},
		{"exp://192.168.1.5:8081/--/", "exp://192.168.1.5:8081", true},
		{"exp://10.0.0.1:8081", "exp://192.168.1.5:8081", false},
		{"myapp://host/cb/x", "myapp://host/cb", true},
		{"myapp://host/cbx", "myapp://host/cb", false},
		{"myapp://host/cb/../evil", "myapp://host/cb", false},
		{"myapp://\x00", "myapp://", false},
	}
	for _, tt := range tests {
		if got := MatchAppOrigin(tt.url, tt.pattern); got != tt.want {
			t.Errorf("MatchAppOrigin(%q, %q) = %v, want %v", tt.url, tt.pattern, got, tt.want)
		}
	}
}

func TestIsSafeRelativeURL(t *testing.T) {
	for v, want := range map[string]bool{
		"/":                 true,
		"/reset?x=1":        true,
		"/a/b#c":            true,
		"//evil.example":    false,
		"/\\evil.example":   false,
		"https://x.example": false,
		"reset":             false,
		"/a%2fb":            false,
		"/a%5Cb":            false,
		"/a\tb":             false,
		"":                  false,
	} {
		if got := IsSafeRelativeURL(v); got != want {
			t.Errorf("IsSafeRelativeURL(%q) = %v, want %v", v, got, want)
		}
	}
}
