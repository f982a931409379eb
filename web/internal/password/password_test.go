package password

import (
	"context"
	"encoding/hex"
	"errors"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/crypto/scrypt"
)

// fast keeps round-trip tests quick under -race; the vectors use BetterAuth.
var fast = Params{N: 16, R: 1, P: 1, KeyLen: 64}

// Hashes produced by better-auth 1.7.25 (hashPassword from "better-auth/crypto": the
// node:crypto implementation, and the @noble/hashes one), and one by OpenSSL's scrypt
// with a chosen salt.
func TestVerifyBetterAuthVectors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, hash, password string
		want                 bool
	}{
		{
			name:     "better-auth node",
			hash:     "9e9243f8ff6123f9d92711bbdce35f2c:c33fc80978096b892714d28090e1959a21230008812daac647ece4313e2774f6e30a67ef2baf3e3eadbad6c940a24222e09bd12b0ca9d8c9eee94a50c53d4bc3",
			password: "correct horse battery staple",
			want:     true,
		},
		{
			name:     "better-auth noble, NFKC: the ligature and the plain letters are one password",
			hash:     "c65ebd8d9994a1b73cdc8b431647eff1:d16f7c8476fc9d9ae9fa62b536758f0041071df1fd1fe57607469111c865e3c4c19b95449d241f06ae053b4e8ac52faae9d078ae2b346f1e80854bd94afb9ced",
			password: "first-password-\u00C5",
			want:     true,
		},
		{
			name:     "openssl, wrong password",
			hash:     "0d1e5b2f6c1a4e9b8f7d3c2a1b0e9f8d:bd11874de050cc327a760785be05dbb57f665a75492ab31b0729d2c70d4cdb2d36c5597102909cb143c0c58bd3861b8eee9acf55a06ffe7e77de1bb4bcfeade1",
			password: "correct horse battery stapler",
			want:     false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Verify(BetterAuth, tt.hash, tt.password)
			if err != nil || got != tt.want {
				t.Fatalf("Verify = %v, %v; want %v, nil", got, err, tt.want)
			}
		})
	}
}

func TestHashFormatRoundTrip(t *testing.T) {
	t.Parallel()
	h, err := Hash(fast, "s3cret-pässword")
	if err != nil {
		t.Fatal(err)
	}
	salt, key, ok := strings.Cut(h, ":")
	if !ok || len(salt) != 32 || len(key) != 128 {
		t.Fatalf("hash %q: want 32 hex chars, ':', 128 hex chars", h)
	}
	if _, err := hex.DecodeString(salt); err != nil {
		t.Fatalf("salt not hex: %v", err)
	}
	// Built by hand: the salt's hex text is the scrypt salt.
	want, err := scrypt.Key([]byte("s3cret-pässword"), []byte(salt), fast.N, fast.R, fast.P, 64)
	if err != nil {
		t.Fatal(err)
	}
	if key != hex.EncodeToString(want) {
		t.Fatalf("key %s, want %x", key, want)
	}
	for pw, want := range map[string]bool{"s3cret-pässword": true, "s3cret-passw0rd": false, "": false} {
		got, err := Verify(fast, h, pw)
		if err != nil || got != want {
			t.Errorf("Verify(%q) = %v, %v; want %v", pw, got, err, want)
		}
	}
	h2, err := Hash(fast, "s3cret-pässword")
	if err != nil {
		t.Fatal(err)
	}
	if h2 == h {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
}

func TestVerifyMalformed(t *testing.T) {
	t.Parallel()
	for _, h := range []string{"", "nocolon", ":abcd", "salt:", "salt:zz", "salt:abc"} {
		ok, err := Verify(fast, h, "password")
		if ok || !errors.Is(err, ErrMalformed) {
			t.Errorf("Verify(%q) = %v, %v; want false, ErrMalformed", h, ok, err)
		}
	}
}

func TestPoolRefusesBeyondQueue(t *testing.T) {
	t.Parallel()
	p := NewPool(fast, 1, 1)
	ctx := context.Background()
	hold, err := p.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// One waiter fits in the queue.
	waiting := make(chan error, 1)
	waiterCtx, cancel := context.WithCancel(ctx)
	go func() {
		release, err := p.Acquire(waiterCtx)
		if err == nil {
			release()
		}
		waiting <- err
	}()
	// The queue is now full once the waiter is admitted; wait until it is.
	for p.admitted.Load() < 2 {
		select {
		case err := <-waiting:
			t.Fatalf("waiter returned early: %v", err)
		default:
			runtime.Gosched()
		}
	}
	if _, err := p.Hash(ctx, "x"); !errors.Is(err, ErrBusy) {
		t.Fatalf("Hash on a full pool = %v, want ErrBusy", err)
	}
	cancel()
	if err := <-waiting; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter = %v, want context.Canceled", err)
	}
	hold()
	hold() // a second release is a no-op
	if _, err := p.Hash(ctx, "x"); err != nil {
		t.Fatalf("Hash after release: %v", err)
	}
	if n := p.admitted.Load(); n != 0 {
		t.Fatalf("admitted = %d after all released, want 0", n)
	}
}
