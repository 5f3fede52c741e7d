package readmodel

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/reportd/reportd/internal/report"
)

// OpenDocumentAsOf is OpenDocument for the report as it stood at asOf: every
// order is folded from its events with occurred_at ≤ asOf, in sequence
// order, with the projector's fold and rules (an event after a gap is held,
// one that fails to apply is parked and holds back the rest of its order),
// not read from today's projection.
//
// as_of is about occurrence time only: the report says how things stood at
// asOf as the log tells it now, so an event that occurred before asOf but was
// recorded later is in it.
//
// Memory is bounded: events stream from the server one order at a time, and
// only what a report row needs is kept (for merchant_sales, one aggregate
// per day and currency of the period). The order history folds twice, once
// to count the rows (RowCount comes first) and once to yield them, in the
// same snapshot. DataPosition is the log position the snapshot holds, and is
// what minPosition is checked against.
func (s *Store) OpenDocumentAsOf(ctx context.Context, clientID string, t report.Type, p report.Params, asOf time.Time, minPosition int64, fn func(report.Document) error) error {
	from, to, err := p.Period()
	if err != nil {
		return fmt.Errorf("open %s report as of %s: %w", t, asOf.Format(time.RFC3339), err)
	}
	// As for the live report, the days are local days of the report's time
	// zone: start..end are the instants between their midnights there.
	start, end, err := p.Bounds()
	if err != nil {
		return fmt.Errorf("open %s report as of %s: %w", t, asOf.Format(time.RFC3339), err)
	}
	var doc report.Document
	doc.Type = t
	doc.Header.From, doc.Header.To = from, to
	doc.Header.Locale, doc.Header.Timezone = p.Locale, p.Timezone
	a := asOfQuery{clientID: clientID, asOf: asOf, from: start, end: end, decode: s.decode}
	switch t {
	case report.TypeOrderHistory:
		a.subject, a.field = p.CustomerID, "customer_id"
		doc.Header.SubjectLabel = "Customer"
	case report.TypeMerchantSales:
		a.subject, a.field = p.MerchantID, "merchant_id"
		doc.Header.SubjectLabel = "Merchant"
	default:
		return fmt.Errorf("open report as of: unknown type %q", t)
	}
	doc.Header.SubjectID = a.subject
	if a.subject == "" {
		return fmt.Errorf("open %s report as of: no subject: %w", t, report.ErrUnknownSubject)
	}

	err = pgx.BeginTxFunc(ctx, s.read, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var exists bool
		b := &pgx.Batch{}
		b.Queue("SELECT coalesce(max(position), 0) FROM order_events").QueryRow(func(r pgx.Row) error { return r.Scan(&doc.Header.DataPosition) })
		// A subject is known at asOf when an order of it was placed by then.
		b.Queue(`SELECT EXISTS (SELECT 1 FROM order_events WHERE client_id = $1 AND type = 'OrderPlaced'
			AND md5(data->>`+quoteField(a.field)+`) = md5($2) AND data->>`+quoteField(a.field)+` = $2 AND occurred_at <= $3)`, clientID, a.subject, asOf).
			QueryRow(func(r pgx.Row) error { return r.Scan(&exists) })
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("read report header: %w", err)
		}
		if doc.Header.DataPosition < minPosition {
			return fmt.Errorf("the event log is at position %d, want %d: %w", doc.Header.DataPosition, minPosition, report.ErrBehind)
		}
		if !exists {
			return fmt.Errorf("%s %s as of %s: %w", doc.Header.SubjectLabel, a.subject, asOf.Format(time.RFC3339), report.ErrUnknownSubject)
		}
		switch t {
		case report.TypeOrderHistory:
			n, misfits, err := a.countOrders(ctx, tx)
			if err != nil {
				return err
			}
			doc.RowCount = n
			doc.Orders = a.orderRows(ctx, tx, misfits)
		case report.TypeMerchantSales:
			days, err := a.merchantDays(ctx, tx)
			if err != nil {
				return err
			}
			doc.RowCount = len(days)
			doc.MerchantDays = func(yield func(report.MerchantDayRow, error) bool) {
				for _, d := range days {
					if !yield(d, nil) {
						return
					}
				}
			}
		}
		return fn(doc)
	})
	if err != nil {
		return fmt.Errorf("open %s report for %s as of %s: %w", t, a.subject, asOf.Format(time.RFC3339), err)
	}
	return nil
}

// quoteField names one of the two OrderPlaced fields a subject is found by;
// never client input.
func quoteField(f string) string {
	if f != "customer_id" && f != "merchant_id" {
		panic("readmodel: unknown subject field " + f)
	}
	return "'" + f + "'"
}

// asOfQuery is one as_of report's subject and period.
type asOfQuery struct {
	clientID, subject, field string
	asOf, from, end          time.Time
	decode                   decodeFunc
}

// folded is one order of the subject folded as of the report's time, with
// the key its events were streamed in.
type folded struct {
	key   time.Time // the latest placement of the order in the period: its expected placed_at
	state orderState
}

// fold streams the events (occurred ≤ asOf) of the orders placed for the
// subject in the period, ordered by each order's latest such placement,
// then order and sequence, and calls each with one folded order. An order is
// folded by the projector's rules; a folded order whose subject or
// placement is not the one it was found by is the caller's to judge.
func (a *asOfQuery) fold(ctx context.Context, tx pgx.Tx, each func(*folded) error) error {
	rows, err := tx.Query(ctx, `
		WITH subject AS (
			SELECT order_id, max(occurred_at) AS placed FROM order_events
			WHERE client_id = $1 AND type = 'OrderPlaced'
			  AND md5(data->>`+quoteField(a.field)+`) = md5($2) AND data->>`+quoteField(a.field)+` = $2 -- the index, then the id
			  AND occurred_at >= $3 AND occurred_at < $4 AND occurred_at <= $5
			GROUP BY order_id)
		SELECT s.placed, e.position, e.order_id, e.sequence, e.type, e.schema_version, e.occurred_at, e.data
		FROM subject s JOIN order_events e ON e.client_id = $1 AND e.order_id = s.order_id
		WHERE e.occurred_at <= $5
		ORDER BY s.placed, e.order_id, e.sequence`, a.clientID, a.subject, a.from, a.end, a.asOf)
	if err != nil {
		return fmt.Errorf("query events as of %s: %w", a.asOf.Format(time.RFC3339), err)
	}
	defer rows.Close()
	var (
		cur     *folded
		blocked bool // an event of cur was parked: the rest are held
	)
	for rows.Next() {
		var placed time.Time
		var e logEvent
		if err := rows.Scan(&placed, &e.Position, &e.OrderID, &e.Sequence, &e.Type, &e.Version, &e.OccurredAt, &e.Data); err != nil {
			return fmt.Errorf("scan event: %w", err)
		}
		if cur == nil || cur.state.OrderID != e.OrderID {
			if cur != nil {
				if err := each(cur); err != nil {
					return err
				}
			}
			cur = &folded{key: placed.UTC(), state: orderState{ClientID: a.clientID, OrderID: e.OrderID}}
			blocked = false
		}
		if blocked || e.Sequence != cur.state.LastSequence+1 {
			continue // held, as the projector holds it
		}
		if err := cur.state.apply(&e, a.decode); err != nil {
			blocked = true // parked
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read events as of %s: %w", a.asOf.Format(time.RFC3339), err)
	}
	if cur != nil {
		return each(cur)
	}
	return nil
}

// inReport reports whether a folded order is a row of the order history:
// the customer's, placed in the period.
func (a *asOfQuery) inReport(o *orderState) bool {
	return o.PlacedAt != nil && o.CustomerID == a.subject && !o.PlacedAt.Before(a.from) && o.PlacedAt.Before(a.end)
}

// countOrders counts the order history's rows and returns the misfits: rows
// whose placed_at is not the key they streamed by (an order placed twice, or
// whose later placement was held or parked), so they are not where the live
// report's order (placed_at, order_id) puts them. They are rare and few.
func (a *asOfQuery) countOrders(ctx context.Context, tx pgx.Tx) (int, []report.OrderRow, error) {
	n := 0
	var misfits []report.OrderRow
	err := a.fold(ctx, tx, func(f *folded) error {
		if !a.inReport(&f.state) {
			return nil
		}
		n++
		if !f.state.PlacedAt.Equal(f.key) {
			misfits = append(misfits, f.state.row())
		}
		return nil
	})
	slices.SortFunc(misfits, compareOrderRows)
	return n, misfits, err
}

func compareOrderRows(x, y report.OrderRow) int {
	return cmp.Or(x.PlacedAt.Compare(y.PlacedAt), cmp.Compare(x.OrderID, y.OrderID))
}

// orderRows folds again and yields the rows in the live report's order,
// merging the misfits in where they belong.
func (a *asOfQuery) orderRows(ctx context.Context, tx pgx.Tx, misfits []report.OrderRow) iter.Seq2[report.OrderRow, error] {
	return func(yield func(report.OrderRow, error) bool) {
		stop := false
		err := a.fold(ctx, tx, func(f *folded) error {
			if !a.inReport(&f.state) || !f.state.PlacedAt.Equal(f.key) {
				return nil
			}
			r := f.state.row()
			for len(misfits) > 0 && compareOrderRows(misfits[0], r) < 0 {
				if !yield(misfits[0], nil) {
					stop = true
					return errStopped
				}
				misfits = misfits[1:]
			}
			if !yield(r, nil) {
				stop = true
				return errStopped
			}
			return nil
		})
		if stop {
			return
		}
		if err != nil {
			yield(report.OrderRow{}, err)
			return
		}
		for _, r := range misfits {
			if !yield(r, nil) {
				return
			}
		}
	}
}

var errStopped = errors.New("readmodel: the consumer stopped")

// merchantDays folds the merchant's orders and sums them into day rows with
// the projector's contribution and day bucketing, in (day, currency) order.
// The sums are kept per day and currency of the period, so they are small.
func (a *asOfQuery) merchantDays(ctx context.Context, tx pgx.Tx) ([]report.MerchantDayRow, error) {
	sums := map[dayKey]*dayDelta{}
	err := a.fold(ctx, tx, func(f *folded) error {
		k, sh, ok, err := f.state.contribution()
		if err != nil {
			return fmt.Errorf("order %s: %w", f.state.OrderID, err)
		}
		placed := f.state.PlacedAt
		if !ok || k.MerchantID != a.subject || placed.Before(a.from) || !placed.Before(a.end) {
			return nil
		}
		// The projector's days are UTC days; the report's are local days.
		lp := placed.In(a.from.Location())
		k.Day = time.Date(lp.Year(), lp.Month(), lp.Day(), 0, 0, 0, 0, time.UTC)
		d := sums[k]
		if d == nil {
			d = &dayDelta{}
			sums[k] = d
		}
		d.add(sh, 1)
		return nil
	})
	if err != nil {
		return nil, err
	}
	keys := slices.SortedFunc(maps.Keys(sums), func(x, y dayKey) int {
		return cmp.Or(x.Day.Compare(y.Day), cmp.Compare(x.Currency, y.Currency))
	})
	days := make([]report.MerchantDayRow, 0, len(keys))
	for _, k := range keys {
		d := sums[k]
		if d.zero() {
			continue // the projector deletes a row that sums to nothing
		}
		if !d.Gross.IsInt64() || !d.Refunds.IsInt64() || !d.Net.IsInt64() || !d.Tax.IsInt64() {
			return nil, fmt.Errorf("merchant %s on %s: sum of amounts does not fit int64: %w", k.MerchantID, k.Day.Format(time.DateOnly), report.ErrAmountOutOfRange)
		}
		days = append(days, report.MerchantDayRow{MerchantID: k.MerchantID, Day: k.Day, Currency: k.Currency,
			Orders: int(d.Orders), Cancellations: int(d.Cancellations),
			GrossCents: d.Gross.Int64(), RefundsCents: d.Refunds.Int64(), NetCents: d.Net.Int64(), TaxCents: d.Tax.Int64()})
	}
	return days, nil
}
