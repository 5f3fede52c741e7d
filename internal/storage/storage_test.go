package storage

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	mathrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// testConfig is the local gateway started by scripts/dev-services.sh, with
// the same environment overrides the services read.
func testConfig(bucket string) Config {
	return Config{
		Endpoint:        cmp.Or(os.Getenv("S3_ENDPOINT"), "http://127.0.0.1:7070"),
		Bucket:          bucket,
		Region:          cmp.Or(os.Getenv("S3_REGION"), "us-east-1"),
		AccessKeyID:     cmp.Or(os.Getenv("AWS_ACCESS_KEY_ID"), "reportd"),
		SecretAccessKey: cmp.Or(os.Getenv("AWS_SECRET_ACCESS_KEY"), "reportd-secret-key"),
	}
}

// newTestStore returns a Store on a fresh bucket that is emptied and removed
// when the test ends.
func newTestStore(tb testing.TB) *Store {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	buf := make([]byte, 6)
	_, _ = rand.Read(buf)
	cfg := testConfig("reportd-test-" + hex.EncodeToString(buf))
	s, err := New(ctx, cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	pingCtx, pingCancel := context.WithTimeout(ctx, 5*time.Second)
	defer pingCancel()
	if _, err := s.client.ListBuckets(pingCtx, &s3.ListBucketsInput{}); err != nil {
		tb.Fatalf("S3 gateway at %s is unreachable: %v\nstart the local services with: scripts/dev-services.sh up", cfg.Endpoint, err)
	}
	if err := s.EnsureBucket(ctx); err != nil {
		tb.Fatalf("EnsureBucket: %v", err)
	}
	tb.Cleanup(func() { removeBucket(tb, s) })
	return s
}

func removeBucket(tb testing.TB, s *Store) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bucket := aws.String(s.bucket)
	uploads, err := s.client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: bucket})
	if err == nil {
		for _, u := range uploads.Uploads {
			_, _ = s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: bucket, Key: u.Key, UploadId: u.UploadId})
		}
	}
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: bucket})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			tb.Logf("list bucket %s: %v", s.bucket, err)
			return
		}
		for _, obj := range page.Contents {
			if _, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: obj.Key}); err != nil {
				tb.Logf("delete %s/%s: %v", s.bucket, aws.ToString(obj.Key), err)
			}
		}
	}
	if _, err := s.client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: bucket}); err != nil {
		tb.Logf("delete bucket %s: %v", s.bucket, err)
	}
}

// download is what a client of the presigned URL sees.
type download struct {
	Status             int
	ContentType        string
	ContentDisposition string
	Size               int64
	SHA256             string
}

func fetchPresigned(tb testing.TB, s *Store, key string) download {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	u, expiresAt, err := s.PresignGet(ctx, key, 15*time.Minute)
	if err != nil {
		tb.Fatalf("PresignGet: %v", err)
	}
	if d := time.Until(expiresAt); d < 14*time.Minute || d > 15*time.Minute {
		tb.Errorf("PresignGet expiresAt is %s away, want about 15m", d)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		tb.Fatalf("new request: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("GET presigned URL: %v", err)
	}
	defer resp.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil {
		tb.Fatalf("read presigned download: %v", err)
	}
	return download{
		Status:             resp.StatusCode,
		ContentType:        resp.Header.Get("Content-Type"),
		ContentDisposition: resp.Header.Get("Content-Disposition"),
		Size:               n,
		SHA256:             hex.EncodeToString(h.Sum(nil)),
	}
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func TestPutSmall(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := context.Background()
	body := []byte("id,total\n1,100\n")
	key := "reports/cli_1/rep_small.csv"
	info := objectInfo{ContentType: "text/csv; charset=utf-8", ContentDisposition: `attachment; filename="rep_small.csv"`}

	got, err := putInfo(ctx, s, key, bytes.NewReader(body), info)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	want := putResult{Size: int64(len(body)), SHA256: sum(body)}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("Put result mismatch (-want +got):\n%s", diff)
	}
	checkStored(t, s, key, info, want)
}

func TestPutEmpty(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	key := "reports/cli_1/rep_empty.csv"
	info := objectInfo{ContentType: "text/csv", ContentDisposition: `attachment; filename="rep_empty.csv"`}
	got, err := putInfo(context.Background(), s, key, strings.NewReader(""), info)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	want := putResult{Size: 0, SHA256: sum(nil)}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("Put result mismatch (-want +got):\n%s", diff)
	}
	checkStored(t, s, key, info, want)
}

func TestPutStreamedMultipart(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := context.Background()
	const size = 20<<20 + 12345 // three parts at the default part size, the last one short
	key := "reports/cli_1/rep_big.pdf"
	info := objectInfo{ContentType: "application/pdf", ContentDisposition: `attachment; filename="rep_big.pdf"`}

	pr, pw := io.Pipe()
	written := make(chan putResult, 1)
	go func() {
		rng := mathrand.NewChaCha8([32]byte{1, 2, 3})
		h := sha256.New()
		chunk := make([]byte, 64<<10)
		var n int64
		for n < size {
			c := chunk[:min(int64(len(chunk)), size-n)]
			_, _ = rng.Read(c)
			h.Write(c)
			if _, err := pw.Write(c); err != nil {
				return
			}
			n += int64(len(c))
		}
		_ = pw.Close()
		written <- putResult{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}
	}()

	got, err := putInfo(ctx, s, key, pr, info)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	want := <-written
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("Put result mismatch (-want +got):\n%s", diff)
	}
	checkStored(t, s, key, info, want)
}

// checkStored compares what Head and a presigned download report with want.
func checkStored(t *testing.T, s *Store, key string, info objectInfo, want putResult) {
	t.Helper()
	size, sha, err := s.Head(context.Background(), key)
	if err != nil {
		t.Fatalf("Head: %v", err)
	}
	if diff := gocmp.Diff(want, putResult{Size: size, SHA256: sha}); diff != "" {
		t.Errorf("Head mismatch (-want +got):\n%s", diff)
	}
	wantDL := download{
		Status:             http.StatusOK,
		ContentType:        info.ContentType,
		ContentDisposition: info.ContentDisposition,
		Size:               want.Size,
		SHA256:             want.SHA256,
	}
	if diff := gocmp.Diff(wantDL, fetchPresigned(t, s, key)); diff != "" {
		t.Errorf("presigned download mismatch (-want +got):\n%s", diff)
	}
}

func TestPutCancelUnblocksPipeWriter(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	writeErr := make(chan error, 1)
	go func() {
		if _, err := pw.Write([]byte("first bytes")); err != nil {
			writeErr <- err
			return
		}
		cancel() // the producer stalls; the caller gives up
		// Without Put closing the pipe, a Write would block forever. The
		// uploader may still drain a buffer or two that were in flight, so
		// keep writing until the pipe refuses (well before 64 MiB).
		chunk := make([]byte, 1<<20)
		for range 64 {
			if _, err := pw.Write(chunk); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- nil
	}()

	_, err := putInfo(ctx, s, "reports/cli_1/rep_cancel.csv", pr, objectInfo{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Put error = %v, want context.Canceled", err)
	}
	select {
	case err := <-writeErr:
		if err == nil {
			t.Error("pipe Write after cancel succeeded, want an error")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("pipe writer still blocked after Put returned")
	}
	if _, _, err := s.Head(context.Background(), "reports/cli_1/rep_cancel.csv"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Head after canceled Put = %v, want ErrNotFound", err)
	}
}

func TestDeleteIsIdempotent(t *testing.T) {
	t.Parallel()
	s := newTestStore(t)
	ctx := context.Background()
	key := "reports/cli_1/rep_delete.csv"
	if _, err := putInfo(ctx, s, key, strings.NewReader("x"), objectInfo{ContentType: "text/csv"}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	for i := range 2 {
		if err := s.Delete(ctx, key); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
	}
	if _, _, err := s.Head(ctx, key); !errors.Is(err, ErrNotFound) {
		t.Errorf("Head after Delete = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, "reports/never/existed.pdf"); err != nil {
		t.Errorf("Delete of a key never written: %v", err)
	}
}

func TestEnsureBucketTwice(t *testing.T) {
	t.Parallel()
	s := newTestStore(t) // already ensured once
	ctx := context.Background()
	for i := range 2 {
		if err := s.EnsureBucket(ctx); err != nil {
			t.Fatalf("EnsureBucket #%d: %v", i+1, err)
		}
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
	// Bypass the HeadBucket shortcut: CreateBucket on an owned bucket is fine too.
	_, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(s.bucket)})
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		t.Errorf("CreateBucket on an existing bucket: %v, want nil or BucketAlreadyOwnedByYou", err)
	}
}

func TestMissingBucketIsAnError(t *testing.T) {
	t.Parallel()
	newTestStore(t) // fails clearly when the gateway is down
	s, err := New(context.Background(), testConfig("reportd-test-missing-bucket"))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx := context.Background()
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping on a missing bucket succeeded")
	}
	if _, _, err := s.Head(ctx, "k"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Head in a missing bucket = %v, want an error other than ErrNotFound", err)
	}
	if err := s.Delete(ctx, "k"); err == nil {
		t.Error("Delete in a missing bucket succeeded, want an error")
	}
}

func TestPresignUsesPublicEndpoint(t *testing.T) {
	t.Parallel()
	cfg := testConfig("reportd")
	cfg.Endpoint = "http://s3.internal:7070"
	cfg.PublicEndpoint = "https://files.example.com"
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	raw, _, err := s.PresignGet(context.Background(), "reports/c/r.pdf", time.Hour)
	if err != nil {
		t.Fatalf("PresignGet: %v", err)
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("parse %q: %v", raw, err)
	}
	got := []string{u.Scheme, u.Host, u.Path, u.Query().Get("X-Amz-Expires")}
	want := []string{"https", "files.example.com", "/reportd/reports/c/r.pdf", "3600"}
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("presigned URL parts mismatch (-want +got):\n%s", diff)
	}
}

func TestPresignRejectsBadTTL(t *testing.T) {
	t.Parallel()
	s, err := New(context.Background(), testConfig("reportd"))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for _, ttl := range []time.Duration{0, -time.Minute, 500 * time.Millisecond, MaxPresignTTL + time.Second} {
		if _, _, err := s.PresignGet(context.Background(), "k", ttl); err == nil {
			t.Errorf("PresignGet(ttl=%s) succeeded, want an error", ttl)
		}
	}
}

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		modify func(*Config)
		errSub string
	}{
		{"valid", func(*Config) {}, ""},
		{"no endpoint means AWS", func(c *Config) { c.Endpoint = "" }, ""},
		{"no bucket", func(c *Config) { c.Bucket = "" }, "bucket is required"},
		{"no secret", func(c *Config) { c.SecretAccessKey = "" }, "secret access key"},
		{"endpoint without scheme", func(c *Config) { c.Endpoint = "127.0.0.1:7070" }, "endpoint"},
		{"bad public endpoint", func(c *Config) { c.PublicEndpoint = "ftp://x" }, "public endpoint"},
		{"part size too small", func(c *Config) { c.PartSize = 1 << 20 }, "part size"},
	}
	got := make([]string, 0, len(tests))
	want := make([]string, 0, len(tests))
	for _, tt := range tests {
		cfg := testConfig("reportd")
		tt.modify(&cfg)
		_, err := New(context.Background(), cfg)
		errText := ""
		if err != nil {
			errText = err.Error()
		}
		want = append(want, tt.name+": "+tt.errSub)
		if tt.errSub != "" && strings.Contains(errText, tt.errSub) {
			errText = tt.errSub
		}
		got = append(got, tt.name+": "+errText)
	}
	if diff := gocmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("New errors mismatch (-want +got):\n%s", diff)
	}
}

func TestCopySource(t *testing.T) {
	t.Parallel()
	got := copySource("reportd", "reports/cli 1/rep+x?.pdf")
	want := "reportd/reports/cli%201/rep+x%3F.pdf"
	if diff := gocmp.Diff(want, got); diff != "" {
		t.Errorf("copySource mismatch (-want +got):\n%s", diff)
	}
}

// BenchmarkPutStreamed measures a 32 MiB streamed multipart upload; B/op
// shows the memory a Put holds (part buffers), not the object size.
func BenchmarkPutStreamed(b *testing.B) {
	s := newTestStore(b)
	const size = 32 << 20
	chunk := make([]byte, 64<<10)
	_, _ = rand.Read(chunk)
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		pr, pw := io.Pipe()
		go func() {
			for n := 0; n < size; n += len(chunk) {
				if _, err := pw.Write(chunk); err != nil {
					return
				}
			}
			_ = pw.Close()
		}()
		if _, err := putInfo(context.Background(), s, "bench/object.bin", pr, objectInfo{ContentType: "application/octet-stream"}); err != nil {
			b.Fatalf("Put: %v", err)
		}
	}
}

// putInfo calls Put with info's headers and returns what it reports.
func putInfo(ctx context.Context, s *Store, key string, body io.Reader, info objectInfo) (putResult, error) {
	size, digest, err := s.Put(ctx, key, info.ContentType, info.ContentDisposition, body)
	return putResult{Size: size, SHA256: digest}, err
}
