// Package password hashes and verifies passwords in Better Auth's scrypt format and
// bounds how many hashes run at once.
//
// The format is "hex(salt):hex(key)": the salt is 16 random bytes whose 32-character
// hex string (not the raw bytes) is the scrypt salt, the password is NFKC-normalised,
// and key = scrypt(password, salt, N=16384, r=16, p=1, dkLen=64). Hashes written by
// Better Auth verify here and the other way round.
//
// Concurrency: Hash and Verify are pure functions; a [Pool] is safe for concurrent use.
// Each hash costs about 32 MiB and 100 ms of one core, so callers go through a Pool that
// runs at most a fixed number at a time and refuses work beyond a small queue.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"golang.org/x/crypto/scrypt"
	"golang.org/x/text/unicode/norm"
)

// Sentinel errors.
var (
	// ErrMalformed means a stored hash is not "salt:hexkey".
	ErrMalformed = errors.New("password: malformed hash")
	// ErrBusy means the pool and its wait queue are full: answer "try again later".
	ErrBusy = errors.New("password: hashing pool busy")
)

// Params are scrypt's cost parameters.
type Params struct {
	N, R, P, KeyLen int
}

// BetterAuth are the parameters Better Auth uses; hashes only interoperate with these.
var BetterAuth = Params{N: 16384, R: 16, P: 1, KeyLen: 64}

// Hash returns a new hash of password in Better Auth's format.
func Hash(p Params, password string) (string, error) {
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	salt := hex.EncodeToString(raw[:])
	key, err := derive(p, password, salt)
	if err != nil {
		return "", err
	}
	return salt + ":" + hex.EncodeToString(key), nil
}

// Verify reports whether password matches hash, comparing in constant time. A hash
// that does not parse spends the same work on a fixed salt and returns ErrMalformed.
func Verify(p Params, hash, password string) (bool, error) {
	salt, keyHex, ok := strings.Cut(hash, ":")
	want, err := hex.DecodeString(keyHex)
	if !ok || salt == "" || len(want) == 0 || err != nil {
		if _, derr := derive(p, password, "00000000000000000000000000000000"); derr != nil {
			return false, derr
		}
		return false, ErrMalformed
	}
	got, err := derive(p, password, salt)
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

func derive(p Params, password, salt string) ([]byte, error) {
	key, err := scrypt.Key([]byte(norm.NFKC.String(password)), []byte(salt), p.N, p.R, p.P, p.KeyLen)
	if err != nil {
		return nil, fmt.Errorf("password scrypt: %w", err)
	}
	return key, nil
}

// Pool runs at most workers hashes at once and lets at most queue more wait; beyond
// that it refuses with ErrBusy at once, so a burst of sign-ins cannot starve the rest
// of the process of CPU.
type Pool struct {
	params   Params
	sem      chan struct{}
	capacity int64
	admitted atomic.Int64
}

// NewPool returns a pool for params; workers below 1 count as 1, queue below 0 as 0.
func NewPool(params Params, workers, queue int) *Pool {
	workers = max(workers, 1)
	queue = max(queue, 0)
	return &Pool{params: params, sem: make(chan struct{}, workers), capacity: int64(workers + queue)}
}

// Acquire takes a worker slot, waiting in the queue if there is room. The caller must
// call release exactly once. ErrBusy when the queue is full, ctx.Err() when ctx ends.
func (p *Pool) Acquire(ctx context.Context) (release func(), err error) {
	if p.admitted.Add(1) > p.capacity {
		p.admitted.Add(-1)
		return nil, ErrBusy
	}
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		p.admitted.Add(-1)
		return nil, fmt.Errorf("password pool: %w", ctx.Err())
	}
	var once atomic.Bool
	return func() {
		if once.CompareAndSwap(false, true) {
			<-p.sem
			p.admitted.Add(-1)
		}
	}, nil
}

// Hash is [Hash] run in the pool.
func (p *Pool) Hash(ctx context.Context, password string) (string, error) {
	release, err := p.Acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	return Hash(p.params, password)
}

// Verify is [Verify] run in the pool.
func (p *Pool) Verify(ctx context.Context, hash, password string) (bool, error) {
	release, err := p.Acquire(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	return Verify(p.params, hash, password)
}
