package postgres

import (
	"context"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/reportd/reportd/internal/reports"
)

// insertBatcher turns concurrent report inserts into multi-row INSERTs, so
// many reports share one round trip and one durable commit. There is no
// background goroutine: a caller that finds fewer than maxFlushers batches
// in flight flushes what is pending (its own request and any that queued
// meanwhile); the others wait for their result. Under light load every
// batch holds one report and nothing waits.
type insertBatcher struct {
	pool rowQuerier

	mu       sync.Mutex
	pending  []*insertRequest
	flushing int
}

// rowQuerier is the part of a pool the batcher needs.
type rowQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

const (
	maxFlushers = 4   // batches in flight at once
	maxBatch    = 128 // reports per INSERT
)

type insertRequest struct {
	r           reports.NewReport
	params      string
	maxInFlight int
	done        chan insertResult
}

type insertResult struct {
	rep reports.Report
	err error
}

func (b *insertBatcher) insert(ctx context.Context, req *insertRequest) (reports.Report, error) {
	req.done = make(chan insertResult, 1)
	b.mu.Lock()
	b.pending = append(b.pending, req)
	if b.flushing >= maxFlushers {
		b.mu.Unlock()
		select {
		case res := <-req.done:
			return res.rep, res.err
		case <-ctx.Done():
			// The report may still be written by the batch it sits in.
			return reports.Report{}, fmt.Errorf("insert report: %w", ctx.Err())
		}
	}
	b.flushing++
	for len(b.pending) > 0 {
		batch := b.pending[:min(len(b.pending), maxBatch)]
		b.pending = b.pending[len(batch):]
		b.mu.Unlock()
		// The flush runs to completion even if this caller gives up: other
		// callers wait on it.
		b.flush(context.WithoutCancel(ctx), batch)
		b.mu.Lock()
	}
	b.flushing--
	b.mu.Unlock()
	res := <-req.done
	return res.rep, res.err
}

// flush inserts a batch in one statement. Each row is checked against its
// client's in-flight limit, counting the rows before it in the same batch;
// a row left out by the check is ErrQuotaExceeded.
func (b *insertBatcher) flush(ctx context.Context, batch []*insertRequest) {
	n := len(batch)
	var (
		ids, clients, types, formats, params, webhooks = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		requestIDs                                     = make([]string, n)
		metadata                                       = make([]*string, n)
		minPositions                                   = make([]*int64, n)
		limits, ords                                   = make([]int32, n), make([]int32, n)
	)
	for i, req := range batch {
		r := req.r
		ids[i], clients[i], types[i], formats[i], params[i], webhooks[i] = r.ID, r.ClientID, string(r.Type), string(r.Format), req.params, r.WebhookURL
		if len(r.Metadata) > 0 {
			m := string(r.Metadata)
			metadata[i] = &m
		}
		minPositions[i], requestIDs[i] = r.MinPosition, r.RequestID
		limits[i], ords[i] = int32(min(req.maxInFlight, 1<<30)), int32(i) //nolint:gosec // bounded just before
	}
	rows, err := b.pool.Query(ctx, `WITH input AS (
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
			                     $8::bigint[], $9::int[], $10::int[], $11::text[])
				AS t(id, client_id, type, format, params, metadata, webhook_url, min_position, max_in_flight, ord, request_id)
		), allowed AS (
			SELECT i.* FROM (SELECT *, row_number() OVER (PARTITION BY client_id ORDER BY ord) AS nth FROM input) i
			-- The count stops at the limit, so its cost does not grow with a backlog.
			WHERE i.max_in_flight <= 0 OR i.nth + (SELECT count(*) FROM (SELECT 1 FROM reports r
				WHERE r.client_id = i.client_id AND r.status IN ('queued', 'running') LIMIT i.max_in_flight) AS in_flight) <= i.max_in_flight
		)
		INSERT INTO reports (id, client_id, type, format, params, metadata, webhook_url, min_position, request_id)
		SELECT a.id, a.client_id, a.type, a.format, a.params::jsonb, a.metadata::jsonb,
			coalesce(NULLIF(a.webhook_url, ''), (SELECT c.webhook_url FROM clients c WHERE c.id = a.client_id AND c.webhook_disabled_at IS NULL)),
			a.min_position, NULLIF(a.request_id, '')
		FROM allowed a ORDER BY a.ord
		RETURNING `+reportColumns,
		ids, clients, types, formats, params, metadata, webhooks, minPositions, limits, ords, requestIDs)
	created := map[string]reports.Report{}
	if err == nil {
		var list []reports.Report
		list, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (reports.Report, error) { return scanReport(row) })
		for _, rep := range list {
			created[rep.ID] = rep
		}
	}
	for _, req := range batch {
		switch rep, ok := created[req.r.ID]; {
		case err != nil:
			req.done <- insertResult{err: classify(fmt.Errorf("insert report: %w", err))}
		case ok:
			req.done <- insertResult{rep: rep}
		default:
			req.done <- insertResult{err: reports.ErrQuotaExceeded}
		}
	}
}
