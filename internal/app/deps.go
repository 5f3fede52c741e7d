package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/reportd/reportd/internal/api"
	"github.com/reportd/reportd/internal/config"
	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/jobs"
	"github.com/reportd/reportd/internal/orderevents"
	"github.com/reportd/reportd/internal/postgres"
	"github.com/reportd/reportd/internal/readmodel"
	"github.com/reportd/reportd/internal/redisurl"
	"github.com/reportd/reportd/internal/storage"
)

// NewLogger returns the JSON logger every process uses. Durations are
// written as Go duration strings ("1.5s"), not slog's nanosecond integers,
// so start-up and request lines are readable as they are.
func NewLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: readableDuration}))
}

func readableDuration(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}

// Services are the connected dependencies of a process.
type Services struct {
	Write     *pgxpool.Pool
	Read      *pgxpool.Pool
	Store     *postgres.Store
	ReadModel *readmodel.Store
	Redis     redis.UniversalClient
	RedisOpt  asynq.RedisConnOpt
	Files     *storage.Store
	Enqueuer  *jobs.Enqueuer
	// Later re-runs enqueues that failed for want of Redis; RunAPI and
	// RunWorker run it.
	Later     *jobs.RetryLater
	asynq     *asynq.Client
	inspector *asynq.Inspector
}

// Connect opens Postgres (applying migrations), Redis and S3 (creating the
// bucket). Each failure names the dependency.
func Connect(ctx context.Context, cfg config.Config, logger *slog.Logger) (*Services, error) {
	s := &Services{}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	var err error
	if s.Write, err = postgres.Connect(ctx, cfg.DatabaseURL); err != nil {
		return nil, fmt.Errorf("connect to DATABASE_URL: %w", err)
	}
	if err := postgres.Migrate(ctx, s.Write, logger); err != nil {
		return nil, err
	}
	s.Read = s.Write
	if cfg.ReadDatabaseURL != cfg.DatabaseURL {
		if s.Read, err = postgres.Connect(ctx, cfg.ReadDatabaseURL); err != nil {
			return nil, fmt.Errorf("connect to READ_DATABASE_URL: %w", err)
		}
	}
	s.Store = postgres.NewStore(s.Write).WithKeyring(cfg.WebhookKeyring)
	s.ReadModel = readmodel.NewStore(s.Write, s.Read, logger).WithProjector(readmodel.ProjectorOptions{
		Partitions: cfg.ProjectionPartitions, Lease: cfg.ProjectionLease})

	if s.RedisOpt, err = redisurl.Parse(cfg.RedisURL); err != nil {
		return nil, fmt.Errorf("parse REDIS_URL: %w", err)
	}
	rdb, isClient := s.RedisOpt.MakeRedisClient().(redis.UniversalClient)
	if !isClient {
		return nil, errors.New("REDIS_URL: unsupported redis client")
	}
	s.Redis = rdb
	if err := rdb.Ping(ctx).Err(); err != nil {
		return nil, fmt.Errorf("ping REDIS_URL: %w", err)
	}
	s.asynq = asynq.NewClientFromRedisClient(rdb)
	s.inspector = asynq.NewInspectorFromRedisClient(rdb)
	s.Later = jobs.NewRetryLater(logger, jobs.RetryLaterConfig{})
	s.Enqueuer = jobs.NewEnqueuer(s.asynq, s.inspector, jobs.EnqueuerConfig{
		ReportMaxAttempts: cfg.ReportMaxAttempts,
		ReportTimeout:     30 * time.Minute,
		DeliveryMaxRetry:  cfg.WebhookSchedule.MaxRetry(),
		DeliveryTimeout:   cfg.WebhookTimeout + 30*time.Second,
		Later:             s.Later,
		Shards:            jobs.Shards(cfg.RedisQueueShards),
	})

	s.Files, err = storage.New(ctx, storage.Config{
		Endpoint: cfg.S3Endpoint, PublicEndpoint: cfg.S3PublicURL, Bucket: cfg.S3Bucket, Region: cfg.S3Region,
		AccessKeyID: cfg.S3AccessKey, SecretAccessKey: cfg.S3SecretKey,
	})
	if err != nil {
		return nil, fmt.Errorf("configure S3: %w", err)
	}
	if err := s.Files.EnsureBucket(ctx); err != nil {
		return nil, fmt.Errorf("ensure S3 bucket %s: %w", cfg.S3Bucket, err)
	}
	ok = true
	return s, nil
}

// Close releases every connection.
func (s *Services) Close() {
	if s.inspector != nil {
		_ = s.inspector.Close()
	}
	if s.asynq != nil {
		_ = s.asynq.Close()
	}
	if s.Redis != nil {
		_ = s.Redis.Close()
	}
	if s.Read != nil && s.Read != s.Write {
		s.Read.Close()
	}
	if s.Write != nil {
		s.Write.Close()
	}
}

// queueAdapter adds to the Enqueuer the Redis pings it cannot make (it holds
// asynq, not a Redis client): the health check's, and one bounded by ctx
// before QueueLatency, whose inspector call takes no context.
type queueAdapter struct {
	*jobs.Enqueuer
	redis redis.UniversalClient
}

func (q queueAdapter) Ping(ctx context.Context) error { return q.redis.Ping(ctx).Err() }

func (q queueAdapter) QueueLatency(ctx context.Context) (time.Duration, error) {
	// A cluster client sends PING to any master, so one failing over would
	// close intake; there the shards' answers (QueueLatency) are the check.
	if _, isCluster := q.redis.(*redis.ClusterClient); !isCluster {
		if err := q.redis.Ping(ctx).Err(); err != nil {
			return 0, err
		}
	}
	return q.Enqueuer.QueueLatency(ctx)
}

// epochCounter is the Redis counter behind jobs.Epoch. It stays an adapter:
// it pipelines INCR with INFO and reads run_id out of INFO's text.
type epochCounter struct{ redis redis.UniversalClient }

// epochKey is hash-tagged so that its slot is plain to see (CLUSTER KEYSLOT).
const epochKey = "{reportd}:epoch"

// Incr increments the counter and names the server that holds it by its
// run_id, both from one node. On a Cluster the server is every master's
// run_id: a failover or empty restart of any master may have lost the tasks
// of its slots, and each is seen as a change of that list.
func (c epochCounter) Incr(ctx context.Context) (int64, string, error) {
	node := c.redis
	cluster, isCluster := c.redis.(*redis.ClusterClient)
	if isCluster {
		// INFO has no key: sent on the cluster client it goes to any node.
		owner, err := cluster.MasterForKey(ctx, epochKey)
		if err != nil {
			return 0, "", fmt.Errorf("check redis epoch: find the master of %s: %w", epochKey, err)
		}
		node = owner
	}
	var incr *redis.IntCmd
	var info *redis.StringCmd
	if _, err := node.Pipelined(ctx, func(p redis.Pipeliner) error {
		incr = p.Incr(ctx, epochKey)
		info = p.Info(ctx, "server")
		return nil
	}); err != nil {
		return 0, "", fmt.Errorf("check redis epoch: %w", err)
	}
	if !isCluster {
		return incr.Val(), runID(info.Val()), nil
	}
	var mu sync.Mutex
	var ids []string
	err := cluster.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		info, err := m.Info(ctx, "server").Result()
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		ids = append(ids, runID(info))
		return nil
	})
	if err != nil {
		return 0, "", fmt.Errorf("check redis epoch: read the masters' run_id: %w", err)
	}
	slices.Sort(ids)
	return incr.Val(), strings.Join(ids, ","), nil
}

// runID reads run_id from the text of INFO server.
func runID(info string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "run_id:"); ok {
			return v
		}
	}
	return ""
}

// eventsAdapter translates the read model's errors into the API's: sequence
// conflicts, and connection failures marked domain.ErrUnavailable.
type eventsAdapter struct{ rm *readmodel.Store }

func (e eventsAdapter) Append(ctx context.Context, clientID string, events []orderevents.Event) (domain.AppendResult, error) {
	res, err := e.rm.Append(ctx, clientID, events)
	if errors.Is(err, domain.ErrSequenceConflict) {
		return domain.AppendResult{}, err // the API's 409, not a database failure
	}
	return res, postgres.Classify(err)
}

func (e eventsAdapter) Projections(ctx context.Context) ([]domain.ProjectionStatus, error) {
	list, err := e.rm.Status(ctx)
	return list, postgres.Classify(err)
}

// The concrete types fit the interfaces their consumers declare, without
// adapters.
var (
	_ jobs.OrderReader = (*readmodel.Store)(nil)
	_ api.Files        = (*storage.Store)(nil)
	_ jobs.BlobStore   = (*storage.Store)(nil)
	_ api.Queue        = queueAdapter{}
)
