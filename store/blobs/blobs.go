// Package blobs stores the clips of recordings. [Storage] is the interface the web layer,
// the retention and reconcile jobs and `securecam migrate-blobs` use. It has two
// implementations, which pass one conformance suite (blobstest):
//
//   - [Disk] keeps the objects under a directory (by default <data dir>/recordings): the
//     embedded default, which serves one node or a cluster whose data directory is a
//     shared volume. Its bucket name is "local" ([DiskBucket]).
//   - [S3] keeps them in a bucket of any S3-compatible service (AWS S3, MinIO, R2, B2,
//     Ceph RGW, SeaweedFS, versitygw): the cluster answer, every replica reads every clip.
//     It also hands out short-lived presigned URLs ([Presigner]).
//
// A [Set] is the storage new clips go to plus the others that recording rows may still
// name (the data directory after a switch to S3), looked up by bucket name.
//
// Keys are chosen by the hub from ids it generated (never from a path a client sent):
// lower-case letters, digits, '-' and '_' in segments separated by '/'. Anything else is
// refused with [ErrInvalidKey], so a key can never leave the storage root.
//
// Every Put streams: at most one part (S3) or a small copy buffer (Disk) of an object is
// in memory at a time, and an object becomes visible only when it arrived whole. A failed
// or abandoned Put leaves no object; what it may leave (a crashed process's temporary
// file, an incomplete multipart upload that could not be aborted) is removed by Sweep.
//
// Concurrency: every Storage and a Set are safe for concurrent use. Two Puts of one key
// leave one of the two objects whole. An Object is used by one goroutine at a time.
package blobs

import (
	"context"
	"errors"
	"io"
	"iter"
	"net/http"
	"regexp"
	"time"
)

// Errors callers branch on.
var (
	// ErrTooLarge: the object was longer than the limit given to Put; nothing was stored.
	ErrTooLarge = errors.New("blobs: object too large")
	// ErrNotFound: no object has the key.
	ErrNotFound = errors.New("blobs: not found")
	// ErrInvalidKey: the key is not one the storage accepts.
	ErrInvalidKey = errors.New("blobs: invalid key")
	// ErrUnavailable: the storage could not be reached or failed on its side (a network
	// error, an HTTP 5xx); the same call may succeed later.
	ErrUnavailable = errors.New("blobs: storage unavailable")
)

// Storage stores whole objects by key.
type Storage interface {
	// Put streams the bytes of r into the object key, replacing any object there, and
	// returns how many it stored. More than o.Limit bytes is ErrTooLarge; an error
	// reading r or an ended ctx stores nothing.
	Put(ctx context.Context, key string, r io.Reader, o PutOptions) (int64, error)
	// Open returns the object for reading (ErrNotFound if absent). Its reads use ctx.
	// The caller closes it.
	Open(ctx context.Context, key string) (Object, error)
	// Stat describes the object (ErrNotFound if absent).
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes the object; an absent object is not an error.
	Delete(ctx context.Context, key string) error
	// List yields the objects whose key starts with prefix, in byte order of their keys,
	// and stops at the first error (yielded last).
	List(ctx context.Context, prefix string) iter.Seq2[Info, error]
	// Sweep removes what unfinished Puts begun before cutoff left behind (the
	// temporary files of a crashed process, incomplete multipart uploads) and returns
	// how many it removed.
	Sweep(ctx context.Context, cutoff time.Time) (int, error)
	// Bucket names the storage (recordings.bucket).
	Bucket() string
}

// PutOptions describe the object a Put stores.
type PutOptions struct {
	// Limit is the largest object accepted, in bytes.
	Limit int64
	// ContentType is stored with the object where the storage keeps one (S3).
	ContentType string
}

// Info describes a stored object.
type Info struct {
	Key     string
	Size    int64
	ModTime time.Time
	// ContentType is the object's type as stored; empty where the storage keeps none
	// (Disk).
	ContentType string
	// ETag is the storage's entity tag, empty where it has none (Disk). An S3 object
	// stored in several parts has one ending in "-<number of parts>".
	ETag string
}

// Object is a stored object open for reading, with random access for HTTP ranges.
type Object interface {
	io.ReadSeekCloser
	Size() int64
	ModTime() time.Time
}

// Presigner is implemented by storages that clients can reach directly: a URL signed
// for one request, valid for ttl.
type Presigner interface {
	// PresignGet returns a URL that GETs the object (and honours Range).
	PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error)
	// PresignPut returns a URL that PUTs an object of exactly size bytes of type
	// contentType, and the headers the request must carry besides Content-Length.
	PresignPut(ctx context.Context, key string, size int64, contentType string, ttl time.Duration) (string, http.Header, error)
}

var keyRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,127}(/[a-z0-9][a-z0-9_-]{0,127}){0,7}$`)

// ValidKey reports whether key is one a Storage accepts.
func ValidKey(key string) bool { return keyRE.MatchString(key) }

// ctxReader stops reading once ctx ends.
type ctxReader struct {
	ctx context.Context // lives for one Put call
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
