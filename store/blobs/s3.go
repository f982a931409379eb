package blobs

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3Config configures an S3 storage. Bucket is required; every other zero field takes
// its default.
type S3Config struct {
	// Endpoint is the service's URL (https://minio.example.com:9000). Empty: AWS S3 in
	// Region.
	Endpoint string
	// PublicEndpoint is the URL clients reach the service at, used in presigned URLs.
	// Empty: Endpoint.
	PublicEndpoint string
	// Bucket holds the objects. It must exist.
	Bucket string
	// Region signs the requests. Default "us-east-1".
	Region string
	// AccessKeyID and SecretAccessKey are static credentials; both empty means the
	// standard AWS credential chain (AWS_* variables, ~/.aws files, web identity, the
	// container or instance role).
	AccessKeyID, SecretAccessKey string
	// PathStyle addresses the bucket in the path (endpoint/bucket/key) instead of the
	// host name (bucket.endpoint/key).
	PathStyle bool
	// PartSize is the size of each part of a multipart upload, and the largest object
	// stored by one PUT: a Put keeps one part in memory. Default 8 MiB, at least 5 MiB
	// (the S3 minimum).
	PartSize int64
}

// S3 is a Storage in a bucket of an S3-compatible service. Put reads the object one
// part at a time: an object no longer than a part is stored by one PUT, a longer one by
// a multipart upload (aborted when the Put fails). Objects are read with ranged GETs.
type S3 struct {
	client   *s3.Client
	presign  *s3.PresignClient
	bucket   string
	where    string // the endpoint, for messages
	partSize int64
	parts    sync.Pool // *[]byte of partSize
	creds    aws.CredentialsProvider
}

var (
	_ Storage   = (*S3)(nil)
	_ Presigner = (*S3)(nil)
)

// MinPartSize is the smallest part S3 accepts in a multipart upload (but the last).
const MinPartSize = 5 << 20

// maxParts is the most parts a multipart upload may have.
const maxParts = 10000

// NewS3 returns an S3 storage. It makes no request: Probe checks the configuration.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("blobs: S3 needs a bucket")
	}
	if cfg.Bucket == DiskBucket {
		return nil, fmt.Errorf("blobs: the bucket name %q is reserved for the data directory", DiskBucket)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.PartSize == 0 {
		cfg.PartSize = 8 << 20
	}
	if cfg.PartSize < MinPartSize {
		return nil, fmt.Errorf("blobs: part size %d is below the S3 minimum of %d", cfg.PartSize, MinPartSize)
	}
	if (cfg.AccessKeyID == "") != (cfg.SecretAccessKey == "") {
		return nil, errors.New("blobs: set both the access key id and the secret access key, or neither")
	}
	// A response must start within a minute of the request being sent; a body may
	// stream for as long as the caller's context allows.
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.ResponseHeaderTimeout = time.Minute
	})
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(cfg.Region),
		config.WithHTTPClient(httpClient),
		// Only what S3 itself requires: several S3-compatible services refuse the
		// checksums AWS clients send by default.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if cfg.AccessKeyID != "" {
		opts = append(opts, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("blobs: AWS configuration: %w", err)
	}
	newClient := func(endpoint string) *s3.Client {
		return s3.NewFromConfig(awsCfg, func(o *s3.Options) {
			if endpoint != "" {
				o.BaseEndpoint = aws.String(endpoint)
			}
			o.UsePathStyle = cfg.PathStyle
		})
	}
	public := cfg.PublicEndpoint
	if public == "" {
		public = cfg.Endpoint
	}
	s := &S3{
		client:   newClient(cfg.Endpoint),
		presign:  s3.NewPresignClient(newClient(public)),
		bucket:   cfg.Bucket,
		where:    cfg.Endpoint,
		partSize: cfg.PartSize,
		creds:    awsCfg.Credentials,
	}
	if s.where == "" {
		s.where = "AWS S3 in " + cfg.Region
	}
	s.parts.New = func() any {
		b := make([]byte, s.partSize)
		return &b
	}
	return s, nil
}

// Bucket implements Storage.
func (s *S3) Bucket() string { return s.bucket }

// Probe checks that the bucket can be used: credentials, the bucket, and an object
// written and deleted. Its errors say what to fix.
func (s *S3) Probe(ctx context.Context) error {
	if s.creds == nil {
		return errors.New("no credentials: set SECURECAM_S3_ACCESS_KEY_ID and SECURECAM_S3_SECRET_ACCESS_KEY, or configure the AWS credential chain (AWS_ACCESS_KEY_ID…, ~/.aws/credentials, an instance or container role)")
	}
	if _, err := s.creds.Retrieve(ctx); err != nil {
		return fmt.Errorf("no credentials (%w): set SECURECAM_S3_ACCESS_KEY_ID and SECURECAM_S3_SECRET_ACCESS_KEY, or configure the AWS credential chain (AWS_ACCESS_KEY_ID…, ~/.aws/credentials, an instance or container role)", err)
	}
	if _, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &s.bucket}); err != nil {
		return s.explain("reach the bucket", err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	key := "recordings/probe-" + hex.EncodeToString(b[:])
	if _, err := s.Put(ctx, key, strings.NewReader("securecam probe"), PutOptions{Limit: 64, ContentType: "text/plain"}); err != nil {
		return s.explain("write a test object (s3:PutObject)", err)
	}
	if err := s.Delete(ctx, key); err != nil {
		return s.explain("delete the test object "+key+" (s3:DeleteObject)", err)
	}
	return nil
}

// explain turns a failed request of Probe into a message a person can act on.
func (s *S3) explain(what string, err error) error {
	var ae smithy.APIError
	var re *awshttp.ResponseError
	code, status := "", 0
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled):
		return fmt.Errorf("cannot %s: no answer from %s in time (%w); check SECURECAM_S3_ENDPOINT and that the service runs", what, s.where, err)
	case status == 0:
		return fmt.Errorf("cannot %s: nothing answers at %s (%w); check SECURECAM_S3_ENDPOINT and that the service runs", what, s.where, err)
	case code == "NoSuchBucket" || status == http.StatusNotFound:
		return fmt.Errorf("cannot %s: bucket %q does not exist at %s; create it (for example: mc mb minio/%s, or aws s3 mb s3://%s) or fix SECURECAM_S3_BUCKET (%w)",
			what, s.bucket, s.where, s.bucket, s.bucket, err)
	case code == "AuthorizationHeaderMalformed" || code == "PermanentRedirect" || status == http.StatusMovedPermanently:
		return fmt.Errorf("cannot %s: the bucket %q is in another region; set SECURECAM_S3_REGION to its region (%w)", what, s.bucket, err)
	case code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch":
		return fmt.Errorf("cannot %s: %s refused the credentials; check SECURECAM_S3_ACCESS_KEY_ID and SECURECAM_S3_SECRET_ACCESS_KEY (%w)", what, s.where, err)
	case status == http.StatusForbidden:
		// A HEAD answer has no body to tell a wrong key from a missing permission.
		return fmt.Errorf("cannot %s: access to bucket %q denied; check SECURECAM_S3_ACCESS_KEY_ID and SECURECAM_S3_SECRET_ACCESS_KEY, and that they may s3:ListBucket, s3:GetObject, s3:PutObject, s3:DeleteObject and s3:AbortMultipartUpload on it (%w)",
			what, s.bucket, err)
	default:
		return fmt.Errorf("cannot %s: bucket %q at %s: %w", what, s.bucket, s.where, err)
	}
}

// wrap adds the operation to an error of the S3 client and marks as ErrUnavailable
// what may pass: no answer at all, or a 5xx.
func wrap(op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("blobs %s: %w", op, err)
	}
	// A request that got no answer has status 0.
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() >= 400 && re.HTTPStatusCode() < 500 {
		return fmt.Errorf("blobs %s: %w", op, err)
	}
	return fmt.Errorf("blobs %s: %w: %w", op, ErrUnavailable, err)
}

// notFound reports whether err is S3's answer for a missing key (and not a missing
// bucket, which is a configuration error).
func notFound(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchBucket" {
		return false
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound
}

func checkKey(key string) error {
	if !ValidKey(key) {
		return fmt.Errorf("%w: %q", ErrInvalidKey, key)
	}
	return nil
}

// Put implements Storage.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, o PutOptions) (int64, error) {
	if err := checkKey(key); err != nil {
		return 0, err
	}
	var ct *string
	if o.ContentType != "" {
		ct = aws.String(o.ContentType)
	}
	// At most maxParts parts: a limit beyond maxParts × the part size takes larger parts.
	size := max(s.partSize, (o.Limit+maxParts-1)/maxParts)
	var buf []byte
	if size == s.partSize {
		p := s.parts.Get().(*[]byte)
		defer s.parts.Put(p)
		buf = *p
	} else {
		buf = make([]byte, size)
	}
	body := bufio.NewReaderSize(io.LimitReader(ctxReader{ctx, r}, o.Limit+1), 16)

	n, err := readPart(body, buf)
	if err != nil {
		return int64(n), err
	}
	if int64(n) > o.Limit {
		return int64(n), ErrTooLarge
	}
	if _, err := body.Peek(1); errors.Is(err, io.EOF) { // the whole object fits in one part: one PUT
		_, err := s.client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &key, ContentType: ct,
			Body: bytes.NewReader(buf[:n]), ContentLength: aws.Int64(int64(n))})
		if err != nil {
			return 0, wrap("put", err)
		}
		return int64(n), nil
	}
	return s.putMultipart(ctx, key, ct, body, buf, o.Limit)
}

// readPart fills buf from r, short only at the end of r.
func readPart(r io.Reader, buf []byte) (int, error) {
	n, err := io.ReadFull(r, buf)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return n, fmt.Errorf("blobs put: %w", err)
	}
	return n, nil
}

// putMultipart uploads body in parts, buf holding the first (full) part read.
func (s *S3) putMultipart(ctx context.Context, key string, ct *string, body io.Reader, buf []byte, limit int64) (total int64, err error) {
	up, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &key, ContentType: ct})
	if err != nil {
		return 0, wrap("put: start a multipart upload", err)
	}
	defer func() {
		if err == nil {
			return
		}
		// Abort even when ctx ended; what cannot be aborted now, Sweep aborts later.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_, _ = s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: &key, UploadId: up.UploadId})
	}()
	var parts []types.CompletedPart
	n := len(buf)
	for n > 0 {
		total += int64(n)
		if total > limit {
			return total, ErrTooLarge
		}
		num := aws.Int32(int32(len(parts) + 1))
		res, err := s.client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &s.bucket, Key: &key, UploadId: up.UploadId,
			PartNumber: num, Body: bytes.NewReader(buf[:n]), ContentLength: aws.Int64(int64(n))})
		if err != nil {
			return total, wrap("put: upload a part", err)
		}
		parts = append(parts, types.CompletedPart{ETag: res.ETag, PartNumber: num})
		if n, err = readPart(body, buf); err != nil {
			return total, err
		}
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &s.bucket, Key: &key,
		UploadId: up.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	if err != nil {
		return total, wrap("put: complete a multipart upload", err)
	}
	return total, nil
}

// Stat implements Storage.
func (s *S3) Stat(ctx context.Context, key string) (Info, error) {
	if err := checkKey(key); err != nil {
		return Info{}, err
	}
	h, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &key})
	if notFound(err) {
		return Info{}, fmt.Errorf("blobs stat %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return Info{}, wrap("stat", err)
	}
	return Info{Key: key, Size: aws.ToInt64(h.ContentLength), ModTime: aws.ToTime(h.LastModified),
		ContentType: aws.ToString(h.ContentType), ETag: strings.Trim(aws.ToString(h.ETag), `"`)}, nil
}

// Open implements Storage: a HEAD for the size and time, then ranged GETs from wherever
// the reader seeks.
func (s *S3) Open(ctx context.Context, key string) (Object, error) {
	info, err := s.Stat(ctx, key)
	if err != nil {
		return nil, err
	}
	return &s3Object{ctx: ctx, s: s, info: info}, nil
}

// Delete implements Storage.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil && !notFound(err) {
		return wrap("delete", err)
	}
	return nil
}

// List implements Storage.
func (s *S3) List(ctx context.Context, prefix string) iter.Seq2[Info, error] {
	return func(yield func(Info, error) bool) {
		p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				yield(Info{}, wrap("list", err))
				return
			}
			for _, o := range page.Contents {
				if !yield(Info{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified),
					ETag: strings.Trim(aws.ToString(o.ETag), `"`)}, nil) {
					return
				}
			}
		}
	}
}

// Sweep implements Storage: it aborts the bucket's multipart uploads begun before
// cutoff.
func (s *S3) Sweep(ctx context.Context, cutoff time.Time) (int, error) {
	aborted := 0
	p := s3.NewListMultipartUploadsPaginator(s.client, &s3.ListMultipartUploadsInput{Bucket: &s.bucket})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return aborted, wrap("sweep: list multipart uploads", err)
		}
		for _, u := range page.Uploads {
			if !aws.ToTime(u.Initiated).Before(cutoff) {
				continue
			}
			_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &s.bucket, Key: u.Key, UploadId: u.UploadId})
			if err != nil && !notFound(err) {
				return aborted, wrap("sweep: abort a multipart upload", err)
			}
			aborted++
		}
	}
	return aborted, nil
}

// PresignGet implements Presigner.
func (s *S3) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if err := checkKey(key); err != nil {
		return "", err
	}
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("blobs presign get: %w", err)
	}
	return req.URL, nil
}

// PresignPut implements Presigner. The size and the content type are signed: the
// service refuses a request with another Content-Length or Content-Type.
func (s *S3) PresignPut(ctx context.Context, key string, size int64, contentType string, ttl time.Duration) (string, http.Header, error) {
	if err := checkKey(key); err != nil {
		return "", nil, err
	}
	req, err := s.presign.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: &s.bucket, Key: &key,
		ContentLength: aws.Int64(size), ContentType: aws.String(contentType)}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", nil, fmt.Errorf("blobs presign put: %w", err)
	}
	h := http.Header{}
	for k, v := range req.SignedHeader {
		if !strings.EqualFold(k, "Host") && !strings.EqualFold(k, "Content-Length") {
			h[http.CanonicalHeaderKey(k)] = v
		}
	}
	return req.URL, h, nil
}

// s3Object reads an object with ranged GETs: one open response from the current offset,
// replaced after a seek elsewhere.
type s3Object struct {
	ctx  context.Context // the Open call's: lives as long as the object is read
	s    *S3
	info Info
	off  int64
	body io.ReadCloser // reads from bodyOff
	at   int64         // bodyOff
}

func (o *s3Object) Size() int64        { return o.info.Size }
func (o *s3Object) ModTime() time.Time { return o.info.ModTime }

func (o *s3Object) Read(p []byte) (int, error) {
	if o.off >= o.info.Size {
		return 0, io.EOF
	}
	if o.body != nil && o.at != o.off {
		_ = o.body.Close()
		o.body = nil
	}
	if o.body == nil {
		rng := fmt.Sprintf("bytes=%d-", o.off)
		res, err := o.s.client.GetObject(o.ctx, &s3.GetObjectInput{Bucket: &o.s.bucket, Key: &o.info.Key, Range: &rng})
		if notFound(err) {
			return 0, fmt.Errorf("blobs read %s: %w", o.info.Key, ErrNotFound)
		}
		if err != nil {
			return 0, wrap("read", err)
		}
		o.body, o.at = res.Body, o.off
	}
	n, err := o.body.Read(p)
	o.off += int64(n)
	o.at += int64(n)
	if errors.Is(err, io.EOF) {
		_ = o.body.Close()
		o.body = nil
		if o.off < o.info.Size { // the object changed or the response was cut short
			return n, fmt.Errorf("blobs read %s: %w", o.info.Key, io.ErrUnexpectedEOF)
		}
		return n, nil
	}
	if err != nil {
		return n, wrap("read", err)
	}
	return n, nil
}

func (o *s3Object) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += o.off
	case io.SeekEnd:
		offset += o.info.Size
	default:
		return 0, errors.New("blobs seek: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("blobs seek: negative position")
	}
	o.off = offset
	return offset, nil
}

func (o *s3Object) Close() error {
	if o.body != nil {
		err := o.body.Close()
		o.body = nil
		return err
	}
	return nil
}
