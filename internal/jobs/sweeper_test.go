package jobs

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/report"
)

// sweepStore answers the sweeper's queries; it records the ages asked for.
type sweepStore struct {
	mu                  sync.Mutex
	StaleReportsFunc    func(age time.Duration) []domain.WorkRef
	StaleDeliveriesFunc func(age time.Duration) []domain.WorkRef
	ages                []string
	// expiring lists the reports whose retention ended, and
	// expiredDeliveries their report.expired deliveries.
	expiring          []domain.ExpiredFile
	expiredDeliveries map[string][]string
}

func (s *sweepStore) StaleReports(_ context.Context, age time.Duration, limit int) ([]domain.WorkRef, error) {
	s.mu.Lock()
	s.ages = append(s.ages, fmt.Sprintf("reports %s ≤%d", age, limit))
	s.mu.Unlock()
	return s.StaleReportsFunc(age), nil
}

func (s *sweepStore) StaleDeliveries(_ context.Context, age time.Duration, limit int) ([]domain.WorkRef, error) {
	s.mu.Lock()
	s.ages = append(s.ages, fmt.Sprintf("deliveries %s ≤%d", age, limit))
	s.mu.Unlock()
	return s.StaleDeliveriesFunc(age), nil
}

func (s *sweepStore) ExpiringReports(context.Context, int) ([]domain.ExpiredFile, error) {
	return s.expiring, nil
}

func (s *sweepStore) ExpireReport(_ context.Context, id string) ([]string, error) {
	return s.expiredDeliveries[id], nil
}

func (s *sweepStore) DeleteExpiredKeys(context.Context) (int64, error)           { return 0, nil }
func (s *sweepStore) LiveDeliveries(context.Context, []string) ([]string, error) { return nil, nil }

// sweepQueue records what the sweeper queued.
type sweepQueue struct {
	mu     sync.Mutex
	queued []string
}

func (q *sweepQueue) RequeueReport(_ context.Context, p ReportPayload) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.queued = append(q.queued, "report "+p.ReportID)
	return nil
}

func (q *sweepQueue) RequeueDelivery(_ context.Context, p DeliveryPayload) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.queued = append(q.queued, "delivery "+p.DeliveryID)
	return nil
}

func (q *sweepQueue) ArchivedDeliveries(context.Context, int, int) ([]string, bool, error) {
	return nil, false, nil
}
func (q *sweepQueue) DropArchivedDelivery(context.Context, string) error { return nil }

type sweepLeader struct{ lead bool }

func (l sweepLeader) Acquire(context.Context) (bool, error) { return l.lead, nil }
func (l sweepLeader) Release(context.Context)               {}

// unfinished is a store in which one report and one delivery are young
// (updated 2 s ago) and one of each is stale.
func unfinished() *sweepStore {
	pick := func(prefix string) func(age time.Duration) []domain.WorkRef {
		return func(age time.Duration) []domain.WorkRef {
			refs := []domain.WorkRef{{ID: prefix + "_old", ReportID: "rep_old", ClientID: "cli_1"}}
			if age < 2*time.Second {
				refs = append(refs, domain.WorkRef{ID: prefix + "_young", ReportID: "rep_young", ClientID: "cli_1"})
			}
			return refs
		}
	}
	return &sweepStore{StaleReportsFunc: pick("rep"), StaleDeliveriesFunc: pick("msg")}
}

func TestSweeperWaitsForStalenessNormally(t *testing.T) {
	store, queue := unfinished(), &sweepQueue{}
	s := &Sweeper{Store: store, Queue: queue, Blobs: &genBlobs{}, Leader: sweepLeader{true}, Logger: discard(), StaleAfter: time.Minute}
	s.SweepOnce(t.Context())
	if diff := cmp.Diff([]string{"report rep_old", "delivery msg_old"}, queue.queued); diff != "" {
		t.Errorf("a normal sweep queues only stale rows (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"reports 1m0s ≤500", "deliveries 1m0s ≤500"}, store.ages); diff != "" {
		t.Errorf("ages asked (-want +got):\n%s", diff)
	}
}

func TestSweeperQueuesEverythingOnceRedisLostItsData(t *testing.T) {
	store, queue := unfinished(), &sweepQueue{}
	counter := &scriptedCounter{values: []int64{10, 11, 1, 2}, errs: make([]error, 4)}
	s := &Sweeper{Store: store, Queue: queue, Blobs: &genBlobs{}, Leader: sweepLeader{true}, Logger: discard(),
		StaleAfter: time.Minute, Epoch: &Epoch{Counter: counter}}
	for i, want := range []bool{false, false, true, false} {
		if got := s.CheckEpoch(t.Context()); got != want {
			t.Errorf("check %d swept %t, want %t", i, got, want)
		}
	}
	want := []string{"report rep_old", "report rep_young", "delivery msg_old", "delivery msg_young"}
	if diff := cmp.Diff(want, queue.queued); diff != "" {
		t.Errorf("after data loss every unfinished row is queued at once (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"reports 0s ≤10000", "deliveries 0s ≤10000"}, store.ages); diff != "" {
		t.Errorf("ages asked (-want +got):\n%s", diff)
	}
}

func TestSweeperFollowerDoesNotSweepLost(t *testing.T) {
	store, queue := unfinished(), &sweepQueue{}
	s := &Sweeper{Store: store, Queue: queue, Blobs: &genBlobs{}, Leader: sweepLeader{false}, Logger: discard(), StaleAfter: time.Minute}
	s.SweepLost(t.Context())
	if len(queue.queued) != 0 {
		t.Errorf("a follower queued %v; only the leader sweeps", queue.queued)
	}
}

// TestSweeperQueuesReportExpired: a report's report.expired deliveries are
// queued once its file is gone and the row says expired.
func TestSweeperQueuesReportExpired(t *testing.T) {
	store := &sweepStore{
		StaleReportsFunc:    func(time.Duration) []domain.WorkRef { return nil },
		StaleDeliveriesFunc: func(time.Duration) []domain.WorkRef { return nil },
		expiring:            []domain.ExpiredFile{{ID: "rep_1", ObjectKey: "reports/cli_1/rep_1.pdf", ClientID: "cli_1"}},
		expiredDeliveries:   map[string][]string{"rep_1": {"msg_a", "msg_b"}},
	}
	queue := &sweepQueue{}
	s := &Sweeper{Store: store, Queue: queue, Blobs: &genBlobs{}, Leader: sweepLeader{true}, Logger: discard(), StaleAfter: time.Minute}
	s.SweepOnce(t.Context())
	if diff := cmp.Diff([]string{"delivery msg_a", "delivery msg_b"}, queue.queued); diff != "" {
		t.Errorf("queued (-want +got):\n%s", diff)
	}
}

// TestSweeperDeletesEveryRunsFileOnExpiry: a report rescued twice has up
// to three files (one per run); expiry deletes them all.
func TestSweeperDeletesEveryRunsFileOnExpiry(t *testing.T) {
	store := &sweepStore{
		StaleReportsFunc:    func(time.Duration) []domain.WorkRef { return nil },
		StaleDeliveriesFunc: func(time.Duration) []domain.WorkRef { return nil },
		expiring: []domain.ExpiredFile{
			{ID: "rep_1", ObjectKey: "reports/cli_1/rep_1.run2.pdf", ClientID: "cli_1", Format: report.FormatPDF, Runs: 3},
			{ID: "rep_2", ObjectKey: "reports/cli_1/rep_2.csv", ClientID: "cli_1", Format: report.FormatCSV, Runs: 1},
		},
	}
	blobs := &genBlobs{}
	s := &Sweeper{Store: store, Queue: &sweepQueue{}, Blobs: blobs, Leader: sweepLeader{true}, Logger: discard(), StaleAfter: time.Minute}
	s.SweepOnce(t.Context())
	want := []string{"reports/cli_1/rep_1.run2.pdf", "reports/cli_1/rep_1.pdf", "reports/cli_1/rep_1.run3.pdf", "reports/cli_1/rep_2.csv"}
	if diff := cmp.Diff(want, blobs.deleted); diff != "" {
		t.Errorf("deleted (-want +got):\n%s", diff)
	}
}
