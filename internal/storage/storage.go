package storage

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// ErrNotFound is returned by Head when the object does not exist.
var ErrNotFound = errors.New("object not found")

const (
	// DefaultPartSize is the multipart part size when Config.PartSize is zero.
	DefaultPartSize int64 = 8 << 20
	// DefaultRegion is used when Config.Region is empty.
	DefaultRegion = "us-east-1"
	// MaxPresignTTL is the longest lifetime SigV4 allows for a presigned URL.
	MaxPresignTTL = 7 * 24 * time.Hour

	// uploadConcurrency bounds the parts in flight, so one upload buffers at
	// most (uploadConcurrency+1) × PartSize bytes.
	uploadConcurrency = 2
	// metaSHA256 is the user-metadata key, sent as x-amz-meta-sha256.
	metaSHA256 = "sha256"
)

// Config says where the bucket is and how to reach it.
type Config struct {
	// Endpoint is the S3 API base URL the services use, e.g.
	// http://127.0.0.1:7070. Empty means AWS S3's own endpoints.
	Endpoint string
	// PublicEndpoint is the base URL clients reach for presigned downloads.
	// Empty means Endpoint.
	PublicEndpoint string
	Bucket         string
	// Region defaults to DefaultRegion.
	Region          string
	AccessKeyID     string
	SecretAccessKey string
	// PartSize is the multipart part size in bytes: DefaultPartSize when
	// zero, at least 5 MiB (the S3 minimum).
	PartSize int64
}

// Store reads and writes report files in one bucket.
type Store struct {
	client   *s3.Client
	presign  *s3.PresignClient
	uploader *manager.Uploader //nolint:staticcheck // SA1019: manager is deprecated in favour of transfermanager, which is not a dependency yet; manager is stable and streams non-seekable bodies.
	bucket   string
	region   string
	partSize int64
}

// objectInfo is the HTTP metadata stored with an object and returned on
// download.
type objectInfo struct {
	ContentType        string
	ContentDisposition string
}

// putResult describes an uploaded object.
type putResult struct {
	Size int64
	// SHA256 is the hex-encoded sha256 of the object's bytes.
	SHA256 string
}

// New returns a Store for cfg. It does not talk to the server: call Ping or
// EnsureBucket for that.
func New(_ context.Context, cfg Config) (*Store, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("new storage: bucket is required")
	}
	if cfg.AccessKeyID == "" || cfg.SecretAccessKey == "" {
		return nil, errors.New("new storage: access key id and secret access key are required")
	}
	for _, ep := range []struct{ name, value string }{{"endpoint", cfg.Endpoint}, {"public endpoint", cfg.PublicEndpoint}} {
		if err := checkEndpoint(ep.value); err != nil {
			return nil, fmt.Errorf("new storage: %s %q: %w", ep.name, ep.value, err)
		}
	}
	partSize := cmp.Or(cfg.PartSize, DefaultPartSize)
	if partSize < manager.MinUploadPartSize {
		return nil, fmt.Errorf("new storage: part size %d is below the S3 minimum of %d bytes", partSize, manager.MinUploadPartSize)
	}

	region := cmp.Or(cfg.Region, DefaultRegion)
	awsCfg := aws.Config{
		Region:      region,
		Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider(cfg.AccessKeyID, cfg.SecretAccessKey, "")),
		// Checksums only where S3 demands them: many S3-compatible stores
		// reject the SDK's default trailing CRC checksums.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	client := s3.NewFromConfig(awsCfg, withEndpoint(cfg.Endpoint))
	// Presigned URLs embed the host they are signed for, so they are minted
	// by a client that names the address downloaders reach.
	public := s3.NewFromConfig(awsCfg, withEndpoint(cmp.Or(cfg.PublicEndpoint, cfg.Endpoint)))

	return &Store{
		client:  client,
		presign: s3.NewPresignClient(public),
		uploader: manager.NewUploader(client, func(u *manager.Uploader) { //nolint:staticcheck // SA1019: see Store.uploader.
			u.PartSize = partSize
			u.Concurrency = uploadConcurrency
			u.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		}),
		bucket:   cfg.Bucket,
		region:   region,
		partSize: partSize,
	}, nil
}

func checkEndpoint(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("want an http or https URL such as http://127.0.0.1:7070")
	}
	return nil
}

func withEndpoint(endpoint string) func(*s3.Options) {
	return func(o *s3.Options) {
		if endpoint == "" {
			return
		}
		o.BaseEndpoint = aws.String(endpoint)
		// S3-compatible servers rarely have wildcard DNS for bucket hosts.
		o.UsePathStyle = true
	}
}

// Bucket returns the bucket name.
func (s *Store) Bucket() string { return s.bucket }

// EnsureBucket creates the bucket unless it already exists and is ours.
func (s *Store) EnsureBucket(ctx context.Context) error {
	if err := s.Ping(ctx); err == nil {
		return nil
	}
	in := &s3.CreateBucketInput{Bucket: aws.String(s.bucket)}
	if s.region != DefaultRegion {
		in.CreateBucketConfiguration = &types.CreateBucketConfiguration{
			LocationConstraint: types.BucketLocationConstraint(s.region),
		}
	}
	_, err := s.client.CreateBucket(ctx, in)
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return fmt.Errorf("create bucket %s: %w", s.bucket, err)
	}
	return nil
}

// Ping checks that the bucket is reachable with our credentials.
func (s *Store) Ping(ctx context.Context) error {
	if _, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.bucket)}); err != nil {
		return fmt.Errorf("head bucket %s: %w", s.bucket, err)
	}
	return nil
}

// Put streams body to key and records its sha256 in the object's user
// metadata (x-amz-meta-sha256). The body is read once, in parts, so it is
// never held in memory whole. If body is an *io.PipeReader, Put closes it
// with the error when it fails or ctx ends, so the writing side unblocks.
// A Put that fails may leave an object without the sha256 metadata; a
// retry with the same key replaces it.
func (s *Store) Put(ctx context.Context, key, contentType, disposition string, body io.Reader) (size int64, sha256 string, err error) {
	pipe, _ := body.(pipeCloser)
	if pipe != nil {
		// A Read blocked on a pipe never sees ctx; closing the pipe ends it.
		stop := context.AfterFunc(ctx, func() { _ = pipe.CloseWithError(context.Cause(ctx)) })
		defer stop()
	}
	res, err := s.put(ctx, key, body, objectInfo{ContentType: contentType, ContentDisposition: disposition})
	if err != nil {
		if pipe != nil {
			_ = pipe.CloseWithError(err)
		}
		return 0, "", err
	}
	return res.Size, res.SHA256, nil
}

func (s *Store) put(ctx context.Context, key string, body io.Reader, info objectInfo) (putResult, error) {
	// Most reports fit in one part. Reading that much first costs no more
	// memory than the uploader's own part buffer, and a body that ends
	// inside it goes up in one PutObject that already carries its sha256.
	first := make([]byte, s.partSize)
	n, err := io.ReadFull(body, first)
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return s.putSmall(ctx, key, first[:n], info)
	case err != nil:
		return putResult{}, s.uploadError(ctx, key, err)
	}
	return s.putLarge(ctx, key, io.MultiReader(bytes.NewReader(first), body), info)
}

func (s *Store) putSmall(ctx context.Context, key string, data []byte, info objectInfo) (putResult, error) {
	sum := sha256.Sum256(data)
	res := putResult{Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
	_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket:             aws.String(s.bucket),
		Key:                aws.String(key),
		Body:               bytes.NewReader(data),
		ContentLength:      aws.Int64(res.Size),
		ContentType:        optional(info.ContentType),
		ContentDisposition: optional(info.ContentDisposition),
		Metadata:           map[string]string{metaSHA256: res.SHA256},
	})
	if err != nil {
		return putResult{}, s.uploadError(ctx, key, err)
	}
	return res, nil
}

func (s *Store) uploadError(ctx context.Context, key string, err error) error {
	if cause := context.Cause(ctx); cause != nil {
		// Closing the pipe on cancel makes the read fail with a generic
		// "closed pipe"; the cancellation is the real reason.
		return fmt.Errorf("upload object %s: %w", key, cause)
	}
	return fmt.Errorf("upload object %s: %w", key, err)
}

// putLarge streams a multi-part body, then records its sha256.
func (s *Store) putLarge(ctx context.Context, key string, body io.Reader, info objectInfo) (putResult, error) {
	h := sha256.New()
	counted := &countingReader{r: io.TeeReader(body, h)}
	_, err := s.uploader.Upload(ctx, &s3.PutObjectInput{ //nolint:staticcheck // SA1019: see Store.uploader.
		Bucket:             aws.String(s.bucket),
		Key:                aws.String(key),
		Body:               counted,
		ContentType:        optional(info.ContentType),
		ContentDisposition: optional(info.ContentDisposition),
	})
	if err != nil {
		return putResult{}, s.uploadError(ctx, key, err)
	}
	res := putResult{Size: counted.n, SHA256: hex.EncodeToString(h.Sum(nil))}

	// The hash is known only once the last byte has gone, so it is attached
	// afterwards by a server-side copy of the object onto itself.
	_, err = s.client.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket:             aws.String(s.bucket),
		Key:                aws.String(key),
		CopySource:         aws.String(copySource(s.bucket, key)),
		MetadataDirective:  types.MetadataDirectiveReplace,
		Metadata:           map[string]string{metaSHA256: res.SHA256},
		ContentType:        optional(info.ContentType),
		ContentDisposition: optional(info.ContentDisposition),
	})
	if err != nil {
		return putResult{}, fmt.Errorf("record sha256 of object %s: %w", key, err)
	}
	return res, nil
}

// PresignGet returns a URL that downloads key without credentials until
// expiresAt. ttl must be between one second and MaxPresignTTL.
func (s *Store) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, time.Time, error) {
	if ttl < time.Second || ttl > MaxPresignTTL {
		return "", time.Time{}, fmt.Errorf("presign object %s: ttl %s is outside 1s..%s", key, ttl, MaxPresignTTL)
	}
	ttl = ttl.Truncate(time.Second)
	// Taken before signing, so the URL never outlives the time we report.
	expiresAt := time.Now().Add(ttl)
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(key),
	}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("presign object %s: %w", key, err)
	}
	return req.URL, expiresAt, nil
}

// Delete removes key. A missing object is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(key),
	})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("delete object %s: %w", key, err)
	}
	return nil
}

// Head returns the size and the recorded sha256 (empty if none was
// recorded) of key, or ErrNotFound. A missing bucket is an error, not
// ErrNotFound, so a misconfiguration never reads as lost files.
func (s *Store) Head(ctx context.Context, key string) (size int64, sha256 string, err error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(key),
	})
	if err != nil {
		if !isNotFound(err) {
			return 0, "", fmt.Errorf("head object %s: %w", key, err)
		}
		// A HEAD answer has no body, so a missing bucket looks like a
		// missing object until the bucket itself is checked.
		if err := s.Ping(ctx); err != nil {
			return 0, "", fmt.Errorf("head object %s: %w", key, err)
		}
		return 0, "", fmt.Errorf("head object %s: %w", key, ErrNotFound)
	}
	return aws.ToInt64(out.ContentLength), out.Metadata[metaSHA256], nil
}

// isNotFound reports whether err says the object is absent. A missing
// bucket (NoSuchBucket) is not that: it must surface.
func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && (apiErr.ErrorCode() == "NoSuchKey" || apiErr.ErrorCode() == "NotFound")
}

// copySource is the URL-encoded "bucket/key" that CopyObject expects.
func copySource(bucket, key string) string {
	segs := strings.Split(key, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return bucket + "/" + strings.Join(segs, "/")
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

// pipeCloser is the read end of an io.Pipe.
type pipeCloser interface {
	CloseWithError(err error) error
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
