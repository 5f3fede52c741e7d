package jobs

import (
	"cmp"
	"context"
	"log/slog"
	"time"

	"github.com/reportd/reportd/internal/domain"
)

// SweepStore lists the rows whose work may have been lost or is due.
type SweepStore interface {
	StaleReports(ctx context.Context, age time.Duration, limit int) ([]domain.WorkRef, error)
	StaleDeliveries(ctx context.Context, age time.Duration, limit int) ([]domain.WorkRef, error)
	ExpiringReports(ctx context.Context, limit int) ([]domain.ExpiredFile, error)
	// ExpireReport marks a report expired and writes its report.expired
	// deliveries, returning their ids.
	ExpireReport(ctx context.Context, id string) ([]string, error)
	DeleteExpiredKeys(ctx context.Context) (int64, error)
	// LiveDeliveries returns those of ids that are not dead letters.
	LiveDeliveries(ctx context.Context, ids []string) ([]string, error)
}

// Leader tells whether this process runs the sweepers now.
type Leader interface {
	Acquire(ctx context.Context) (bool, error)
	Release(ctx context.Context)
}

// WorkQueue queues reports and deliveries again, replacing a task that was
// archived while its row still says the work is unfinished.
type WorkQueue interface {
	RequeueReport(ctx context.Context, p ReportPayload) error
	RequeueDelivery(ctx context.Context, p DeliveryPayload) error
	ArchivedDeliveries(ctx context.Context, page, size int) (ids []string, more bool, err error)
	DropArchivedDelivery(ctx context.Context, id string) error
}

// Sweeper closes the dual-write gap: a row committed whose enqueue was lost
// (a crash, Redis down) is found and queued again. Task IDs make that safe:
// a task that still exists makes the enqueue a no-op. It also deletes
// expired files and idempotency keys. Only the leader sweeps.
//
// When Redis comes back without its data (Epoch), every task is gone at
// once: the sweeper then queues all unfinished work at once, without
// waiting for it to become stale.
type Sweeper struct {
	Store    SweepStore
	Queue    WorkQueue
	Blobs    BlobStore
	Leader   Leader
	Logger   *slog.Logger
	Interval time.Duration
	// StaleAfter is how long a row may wait before its task counts as lost.
	StaleAfter time.Duration
	// Epoch, if set, is checked every EpochInterval (default 1 s).
	Epoch         *Epoch
	EpochInterval time.Duration

	archivePage int // where pruneArchive goes on next time
}

// Run sweeps every Interval until ctx ends.
func (s *Sweeper) Run(ctx context.Context) {
	defer s.Leader.Release(context.WithoutCancel(ctx))
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	var epoch <-chan time.Time // nil: never
	if s.Epoch != nil {
		et := time.NewTicker(cmp.Or(s.EpochInterval, time.Second))
		defer et.Stop()
		epoch = et.C
	}
	s.SweepOnce(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.SweepOnce(ctx)
		case <-epoch:
			s.CheckEpoch(ctx)
		}
	}
}

// CheckEpoch asks Epoch whether Redis lost its data and, if so, queues all
// unfinished work now. It reports whether it swept.
func (s *Sweeper) CheckEpoch(ctx context.Context) bool {
	lost, err := s.Epoch.Check(ctx)
	if err != nil || !lost {
		return false
	}
	s.Logger.WarnContext(ctx, "Redis lost its data (restart without persistence, flush or failover to a stale replica); queueing all unfinished work now")
	s.SweepLost(ctx)
	return true
}

// SweepLost queues every unfinished report and due delivery, however
// recent, if this process leads: after Redis lost its data none of their
// tasks exist, and waiting for StaleAfter would only delay them.
func (s *Sweeper) SweepLost(ctx context.Context) {
	lead, err := s.Leader.Acquire(ctx)
	if err != nil {
		s.Logger.WarnContext(ctx, "sweeper cannot check leadership", "err", err)
		return
	}
	if !lead {
		return
	}
	s.requeueReportsOlder(ctx, 0, lostSweepBatch)
	s.requeueDeliveriesOlder(ctx, 0, lostSweepBatch)
}

// SweepOnce does one pass if this process leads.
func (s *Sweeper) SweepOnce(ctx context.Context) {
	lead, err := s.Leader.Acquire(ctx)
	if err != nil {
		s.Logger.WarnContext(ctx, "sweeper cannot check leadership", "err", err)
		return
	}
	if !lead {
		return
	}
	s.requeueReports(ctx)
	s.requeueDeliveries(ctx)
	s.pruneArchive(ctx)
	s.expireFiles(ctx)
	if n, err := s.Store.DeleteExpiredKeys(ctx); err != nil {
		s.Logger.WarnContext(ctx, "delete expired idempotency keys", "err", err)
	} else if n > 0 {
		s.Logger.InfoContext(ctx, "deleted expired idempotency keys", "count", n)
	}
}

// sweepBatch is how many rows of each kind one sweep queues; after Redis
// lost its data, lostSweepBatch (the rest waits for StaleAfter).
const (
	sweepBatch     = 500
	lostSweepBatch = 10_000
)

func (s *Sweeper) requeueReports(ctx context.Context) {
	s.requeueReportsOlder(ctx, s.StaleAfter, sweepBatch)
}

func (s *Sweeper) requeueReportsOlder(ctx context.Context, age time.Duration, limit int) {
	ids, err := s.Store.StaleReports(ctx, age, limit)
	if err != nil {
		s.Logger.WarnContext(ctx, "list stale reports", "err", err)
		return
	}
	for _, ref := range ids {
		if err := s.Queue.RequeueReport(ctx, ReportPayload{ReportID: ref.ID, ClientID: ref.ClientID}); err != nil {
			s.Logger.WarnContext(ctx, "re-enqueue report", "report_id", ref.ID, "err", err)
			return
		}
	}
	if len(ids) > 0 {
		s.Logger.InfoContext(ctx, "sweeper checked unfinished reports", "count", len(ids))
	}
}

func (s *Sweeper) requeueDeliveries(ctx context.Context) {
	s.requeueDeliveriesOlder(ctx, s.StaleAfter, sweepBatch)
}

func (s *Sweeper) requeueDeliveriesOlder(ctx context.Context, age time.Duration, limit int) {
	ids, err := s.Store.StaleDeliveries(ctx, age, limit)
	if err != nil {
		s.Logger.WarnContext(ctx, "list stale deliveries", "err", err)
		return
	}
	for _, ref := range ids {
		if err := s.Queue.RequeueDelivery(ctx, DeliveryPayload{DeliveryID: ref.ID, ReportID: ref.ReportID, ClientID: ref.ClientID}); err != nil {
			s.Logger.WarnContext(ctx, "re-enqueue delivery", "delivery_id", ref.ID, "err", err)
			return
		}
	}
	if len(ids) > 0 {
		s.Logger.InfoContext(ctx, "sweeper checked due deliveries", "count", len(ids))
	}
}

// archivePages is how many pages of asynq's archive one sweep checks; it
// goes on from there on the next sweep, and starts over at the end.
const (
	archivePages    = 5
	archivePageSize = 100
)

// pruneArchive deletes the archived tasks of dead letters that have been
// replayed since, so asynqmon's archive lists only what is still dead. A
// bulk replay leaves them behind rather than spend a Redis round trip per
// delivery on its path.
func (s *Sweeper) pruneArchive(ctx context.Context) {
	pruned := 0
	for range archivePages {
		ids, more, err := s.Queue.ArchivedDeliveries(ctx, s.archivePage, archivePageSize)
		if err != nil {
			s.Logger.WarnContext(ctx, "list archived deliveries", "err", err)
			return
		}
		live, err := s.Store.LiveDeliveries(ctx, ids)
		if err != nil {
			s.Logger.WarnContext(ctx, "check archived deliveries", "err", err)
			return
		}
		for _, id := range live {
			if err := s.Queue.DropArchivedDelivery(ctx, id); err != nil {
				s.Logger.WarnContext(ctx, "drop archived delivery task", "delivery_id", id, "err", err)
				return
			}
		}
		pruned += len(live)
		// Deleting shifts later tasks to earlier pages; whatever that skips
		// is met on the next round.
		s.archivePage++
		if !more {
			s.archivePage = 0
			break
		}
	}
	if pruned > 0 {
		s.Logger.InfoContext(ctx, "pruned archived tasks of replayed deliveries", "count", pruned)
	}
}

func (s *Sweeper) expireFiles(ctx context.Context) {
	files, err := s.Store.ExpiringReports(ctx, sweepBatch)
	if err != nil {
		s.Logger.WarnContext(ctx, "list expiring reports", "err", err)
		return
	}
	for _, f := range files {
		if f.ObjectKey != "" {
			if err := s.Blobs.Delete(ctx, f.ObjectKey); err != nil {
				s.Logger.WarnContext(ctx, "delete expired file", "report_id", f.ID, "err", err)
				return
			}
		}
		// Other runs' files: usually none (one run), each a delete of nothing.
		for run := int64(1); run <= f.Runs && f.Runs > 1; run++ {
			key := ObjectKey(domain.Report{ID: f.ID, ClientID: f.ClientID, Format: f.Format, Run: run})
			if key == f.ObjectKey {
				continue
			}
			if err := s.Blobs.Delete(ctx, key); err != nil {
				s.Logger.WarnContext(ctx, "delete an expired report's file of another run", "report_id", f.ID, "err", err)
				return
			}
		}
		deliveryIDs, err := s.Store.ExpireReport(ctx, f.ID)
		if err != nil {
			s.Logger.WarnContext(ctx, "mark report expired", "report_id", f.ID, "err", err)
			return
		}
		s.Logger.InfoContext(ctx, "report expired; file deleted", "report_id", f.ID, "delivery_ids", deliveryIDs)
		for _, id := range deliveryIDs {
			// A lost enqueue is found by the next sweep of stale deliveries.
			if err := s.Queue.RequeueDelivery(ctx, DeliveryPayload{DeliveryID: id, ReportID: f.ID, ClientID: f.ClientID}); err != nil {
				s.Logger.WarnContext(ctx, "queue report.expired delivery; a later sweep will", "delivery_id", id, "err", err)
			}
		}
	}
}
