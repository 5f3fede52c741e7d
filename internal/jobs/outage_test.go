package jobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"

	"github.com/reportd/reportd/internal/domain"
)

// s3Error is an S3 answer with status code, wrapped the way the AWS SDK
// wraps it once its own retries are spent.
func s3Error(status int) error {
	resp := &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: errors.New("api error")}
	return fmt.Errorf("upload object k: %w", &smithy.OperationError{ServiceID: "S3", OperationName: "PutObject",
		Err: &retry.MaxAttemptsError{Attempt: 3, Err: &awshttp.ResponseError{ResponseError: resp, RequestID: "r1"}}})
}

// redisReply is a Redis error reply, as go-redis returns it.
type redisReply string

func (e redisReply) Error() string { return string(e) }
func (redisReply) RedisError()     {}

func TestUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	deadAddr := func() string { return freeLoopback(t) }
	// Real errors from real clients dialing a port nobody listens on.
	_, pgErr := pgconn.Connect(ctx, "postgres://postgres@"+deadAddr()+"/x?sslmode=disable&connect_timeout=2")
	rdb := redis.NewClient(&redis.Options{Addr: deadAddr(), MaxRetries: -1, DialTimeout: time.Second})
	defer rdb.Close()
	redisErr := rdb.Ping(ctx).Err()
	aq := asynq.NewClient(asynq.RedisClientOpt{Addr: deadAddr(), DialTimeout: time.Second})
	defer aq.Close()
	_, asynqErr := aq.EnqueueContext(ctx, asynq.NewTask("x", nil, asynq.TaskID("t1")))

	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"postgres connect refused (pgconn.ConnectError)", pgErr, true},
		{"postgres marked by the adapter", fmt.Errorf("start report: %w: conn closed", domain.ErrUnavailable), true},
		{"postgres shutting down (57P01)", fmt.Errorf("finish: %w", &pgconn.PgError{Code: "57P01"}), true},
		{"postgres connection failure (08006)", &pgconn.PgError{Code: "08006"}, true},
		{"postgres unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"redis connect refused (go-redis)", redisErr, true},
		{"redis connect refused (asynq client)", asynqErr, true},
		{"redis read-only replica after failover", fmt.Errorf("enqueue: %w", redisReply("READONLY You can't write against a read only replica.")), true},
		{"redis loading its data", redisReply("LOADING Redis is loading the dataset in memory"), true},
		{"redis pool timeout", fmt.Errorf("enqueue: %w", redis.ErrPoolTimeout), true},
		{"redis wrong type", redisReply("WRONGTYPE Operation against a key holding the wrong kind of value"), false},
		{"redis client closed (shutdown)", fmt.Errorf("enqueue: %w", redis.ErrClosed), false},
		{"redis nil", redis.Nil, false},
		{"s3 503 slow down", s3Error(http.StatusServiceUnavailable), true},
		{"s3 500", s3Error(http.StatusInternalServerError), true},
		{"s3 429", s3Error(http.StatusTooManyRequests), true},
		{"s3 403 access denied", s3Error(http.StatusForbidden), false},
		{"s3 404 no such bucket", s3Error(http.StatusNotFound), false},
		{"s3 gateway gone (dial refused)", s3Down(t), true},
		{"stream cut short", fmt.Errorf("read rows: %w", io.ErrUnexpectedEOF), true},
		{"render bug", errors.New("render pdf: font has no glyph"), false},
		{"bare deadline (the caller decides)", context.DeadlineExceeded, false},
		{"canceled", context.Canceled, false},
		{"unknown subject", errors.New("unknown customer"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.err == nil && tc.want {
				t.Fatal("no error to classify")
			}
			if got := Unavailable(tc.err); got != tc.want {
				t.Errorf("Unavailable(%v) = %t, want %t", tc.err, got, tc.want)
			}
		})
	}
}

func TestOutageBackoffIsCapped(t *testing.T) {
	for _, elapsed := range []time.Duration{0, time.Second, 10 * time.Second, time.Minute, time.Hour} {
		for range 50 {
			d := OutageBackoff(elapsed)
			if d <= 0 || d > OutageRetryMax {
				t.Fatalf("OutageBackoff(%s) = %s, want in (0, %s]", elapsed, d, OutageRetryMax)
			}
			if want := min(max(elapsed/2, OutageRetryMin), OutageRetryMax); d < want*3/4 {
				t.Fatalf("OutageBackoff(%s) = %s, want at least %s", elapsed, d, want*3/4)
			}
		}
	}
}

func TestOutageLog(t *testing.T) {
	var o outageLog
	t0 := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	if got := o.seen("a", t0); got != 0 {
		t.Errorf("first outage lasted %s, want 0", got)
	}
	if got := o.seen("a", t0.Add(time.Minute)); got != time.Minute {
		t.Errorf("after a minute: %s", got)
	}
	if got := o.seen("b", t0.Add(time.Minute)); got != 0 {
		t.Errorf("another report's outage is its own: %s", got)
	}
	if got := o.seen("a", t0.Add(time.Minute+outageGap+time.Second)); got != 0 {
		t.Errorf("an outage met after a long gap is a new one: %s", got)
	}
	o.clear("a")
	if got := o.seen("a", t0.Add(10*time.Minute)); got != 0 {
		t.Errorf("after clear: %s", got)
	}
}
