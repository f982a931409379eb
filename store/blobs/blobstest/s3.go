package blobstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/securecam/securecam/store/blobs"
)

// S3Env is the S3 service the tests use, from SECURECAM_TEST_S3_ENDPOINT, _REGION
// (default us-east-1), _ACCESS_KEY_ID and _SECRET_ACCESS_KEY: credentials that may create
// and delete buckets. scripts/test.sh starts versitygw and sets them.
type S3Env struct {
	Endpoint, Region, AccessKeyID, SecretAccessKey string
}

// TestS3 returns the test service. It fails the test when none is configured: the suite
// never skips what it cannot reach.
func TestS3(t testing.TB) S3Env {
	t.Helper()
	env := S3Env{
		Endpoint:        os.Getenv("SECURECAM_TEST_S3_ENDPOINT"),
		Region:          os.Getenv("SECURECAM_TEST_S3_REGION"),
		AccessKeyID:     os.Getenv("SECURECAM_TEST_S3_ACCESS_KEY_ID"),
		SecretAccessKey: os.Getenv("SECURECAM_TEST_S3_SECRET_ACCESS_KEY"),
	}
	if env.Endpoint == "" || env.AccessKeyID == "" || env.SecretAccessKey == "" {
		t.Fatal("blobstest: no S3 service for the tests: run scripts/test.sh (it starts versitygw), or set SECURECAM_TEST_S3_ENDPOINT, SECURECAM_TEST_S3_ACCESS_KEY_ID and SECURECAM_TEST_S3_SECRET_ACCESS_KEY")
	}
	if env.Region == "" {
		env.Region = "us-east-1"
	}
	return env
}

// Client is a plain S3 client of the test service at endpoint (Endpoint when empty),
// for what the tests do beside the storage under test.
func (e S3Env) Client(endpoint string) *s3.Client {
	if endpoint == "" {
		endpoint = e.Endpoint
	}
	return s3.New(s3.Options{
		Region:                     e.Region,
		BaseEndpoint:               aws.String(endpoint),
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(e.AccessKeyID, e.SecretAccessKey, ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// Config returns the storage configuration for bucket at endpoint (Endpoint when empty).
func (e S3Env) Config(bucket, endpoint string) blobs.S3Config {
	if endpoint == "" {
		endpoint = e.Endpoint
	}
	return blobs.S3Config{Endpoint: endpoint, Bucket: bucket, Region: e.Region, AccessKeyID: e.AccessKeyID,
		SecretAccessKey: e.SecretAccessKey, PathStyle: true}
}

// NewBucket creates an empty bucket with a unique name, and empties and removes it when
// the test ends.
func (e S3Env) NewBucket(t testing.TB) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "securecam-test-" + hex.EncodeToString(b[:])
	c := e.Client("")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatalf("blobstest: create bucket at %s: %v", e.Endpoint, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		ups, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &name})
		if err == nil {
			for _, u := range ups.Uploads {
				_, _ = c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &name, Key: u.Key, UploadId: u.UploadId})
			}
		}
		p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: &name})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				t.Errorf("blobstest: empty bucket %s: %v", name, err)
				return
			}
			for _, o := range page.Contents {
				_, _ = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &name, Key: o.Key})
			}
		}
		if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &name}); err != nil {
			t.Errorf("blobstest: delete bucket %s: %v", name, err)
		}
	})
	return name
}

// NewS3 returns an S3 storage on a new bucket (see NewBucket) with parts of
// blobs.MinPartSize, so a few MiB make a multipart upload.
func NewS3(t testing.TB) *blobs.S3 {
	t.Helper()
	env := TestS3(t)
	cfg := env.Config(env.NewBucket(t), "")
	cfg.PartSize = blobs.MinPartSize
	st, err := blobs.NewS3(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// AbandonS3 starts a multipart upload of key in st's bucket and uploads one part, as a
// process that crashed mid-upload would leave it.
func AbandonS3(t *testing.T, st blobs.Storage, key string) {
	t.Helper()
	c := TestS3(t).Client("")
	bucket := st.Bucket()
	up, err := c.CreateMultipartUpload(t.Context(), &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	body := Pattern(blobs.MinPartSize)
	_, err = c.UploadPart(t.Context(), &s3.UploadPartInput{Bucket: &bucket, Key: &key, UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body)))})
	if err != nil {
		t.Fatal(err)
	}
}

// MultipartUploads lists the incomplete multipart uploads in bucket.
func (e S3Env) MultipartUploads(t testing.TB, bucket string) []types.MultipartUpload {
	t.Helper()
	out, err := e.Client("").ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil {
		t.Fatalf("list multipart uploads: %v", err)
	}
	return out.Uploads
}
