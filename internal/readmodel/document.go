package readmodel

import (
	"context"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/reportd/reportd/internal/report"
)

// OpenDocument runs fn with the data of one report, read in a single
// REPEATABLE READ, read-only transaction on the read pool so that the
// checkpoint, the row count and the rows all come from one snapshot. It fills
// doc.Type, RowCount and Header.From, To, SubjectLabel, SubjectID and
// DataPosition; the caller fills the rest. The rows stream from the server
// as fn iterates them and are valid only while fn runs; ranging them again
// runs the query again in the same snapshot, so it yields the same rows
// (the PDF reads merchant days twice: see report.Document). A customer or
// merchant with no data at all is an error wrapping report.ErrUnknownSubject.
//
// minPosition is the log position the report was promised (0: none). The
// projection's checkpoint is checked against it in the same snapshot that
// reads the rows, so no row comes from a connection (a lagging replica, one
// of several behind one URL) that has not replayed that far; if the snapshot
// is behind, fn is not called and the error wraps report.ErrBehind.
func (s *Store) OpenDocument(ctx context.Context, clientID string, t report.Type, p report.Params, minPosition int64, fn func(report.Document) error) error {
	from, to, err := p.Period()
	if err != nil {
		return fmt.Errorf("open %s report: %w", t, err)
	}
	// The days are local days of the report's time zone: from..end are
	// the instants between their midnights there.
	start, end, err := p.Bounds()
	if err != nil {
		return fmt.Errorf("open %s report: %w", t, err)
	}
	var doc report.Document
	doc.Type = t
	doc.Header.From, doc.Header.To = from, to
	doc.Header.Locale, doc.Header.Timezone = p.Locale, p.Timezone
	// merchant_daily_sales holds UTC days; any other zone regroups the
	// merchant's orders by their local day as it reads them.
	localDays := t == report.TypeMerchantSales && start.Location() != time.UTC

	var (
		projection, subject, existsSQL, countSQL string
	)
	switch t {
	case report.TypeOrderHistory:
		projection, subject = ProjectionCustomerOrderHistory, p.CustomerID
		doc.Header.SubjectLabel = "Customer"
		existsSQL = "SELECT EXISTS (SELECT 1 FROM customer_order_history WHERE client_id = $1 AND customer_id = $2)"
		countSQL = `SELECT count(*) FROM customer_order_history
			WHERE client_id = $1 AND customer_id = $2 AND placed_at >= $3 AND placed_at < $4`
	case report.TypeMerchantSales:
		projection, subject = ProjectionMerchantDailySales, p.MerchantID
		doc.Header.SubjectLabel = "Merchant"
		existsSQL = "SELECT EXISTS (SELECT 1 FROM merchant_daily_sales WHERE client_id = $1 AND merchant_id = $2)"
		countSQL = `SELECT count(*) FROM merchant_daily_sales
			WHERE client_id = $1 AND merchant_id = $2 AND day >= $3 AND day < $4`
		if localDays {
			countSQL = `SELECT count(*) FROM (SELECT DISTINCT (placed_at AT TIME ZONE $5)::date, currency
				FROM merchant_sales_orders
				WHERE client_id = $1 AND merchant_id = $2 AND placed_at >= $3 AND placed_at < $4) AS d`
		}
	default:
		return fmt.Errorf("open report: unknown type %q", t)
	}
	doc.Header.SubjectID = subject
	ps, err := findProjection(projection)
	if err != nil {
		return fmt.Errorf("open %s report: %w", t, err)
	}
	lockTables := strings.Join(ps[0].tables(), ", ")
	if subject == "" {
		return fmt.Errorf("open %s report: no subject: %w", t, report.ErrUnknownSubject)
	}

	err = pgx.BeginTxFunc(ctx, s.read, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		// Lock the tables before the snapshot is taken (LOCK does not take
		// one): a rebuild's swap then either waits for this report, which
		// reads the old version whole, or has committed, and the snapshot
		// sees the new version whole. Without it, a snapshot taken just
		// before a swap would read the swapped-in tables as they stood then.
		if _, err := tx.Exec(ctx, "LOCK TABLE "+lockTables+" IN ACCESS SHARE MODE"); err != nil {
			return fmt.Errorf("lock %s: %w", projection, err)
		}
		var exists bool
		b := &pgx.Batch{}
		scan := func(dst any) func(pgx.Row) error {
			return func(r pgx.Row) error { return r.Scan(dst) }
		}
		b.Queue("SELECT ("+projectionPositionSQL+") FROM projection_checkpoints c WHERE c.name = $1", projection).QueryRow(scan(&doc.Header.DataPosition))
		b.Queue(existsSQL, clientID, subject).QueryRow(scan(&exists))
		countArgs := []any{clientID, subject, start, end}
		switch {
		case localDays:
			countArgs = append(countArgs, p.Timezone)
		case t == report.TypeMerchantSales:
			countArgs[2], countArgs[3] = from, to.AddDate(0, 0, 1) // UTC dates
		}
		b.Queue(countSQL, countArgs...).QueryRow(scan(&doc.RowCount))
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return fmt.Errorf("read report header: %w", err)
		}
		if doc.Header.DataPosition < minPosition {
			return fmt.Errorf("%s is at position %d, want %d: %w", projection, doc.Header.DataPosition, minPosition, report.ErrBehind)
		}
		if !exists {
			return fmt.Errorf("%s %s: %w", doc.Header.SubjectLabel, subject, report.ErrUnknownSubject)
		}
		switch t {
		case report.TypeOrderHistory:
			doc.Orders = orderRows(ctx, tx, clientID, subject, start, end)
		case report.TypeMerchantSales:
			if localDays {
				doc.MerchantDays = localMerchantDayRows(ctx, tx, clientID, subject, start, end, p.Timezone)
			} else {
				doc.MerchantDays = merchantDayRows(ctx, tx, clientID, subject, from, to.AddDate(0, 0, 1))
			}
		}
		return fn(doc)
	})
	if err != nil {
		return fmt.Errorf("open %s report for %s: %w", t, subject, err)
	}
	return nil
}

func orderRows(ctx context.Context, tx pgx.Tx, clientID, customerID string, from, end time.Time) iter.Seq2[report.OrderRow, error] {
	return func(yield func(report.OrderRow, error) bool) {
		rows, err := tx.Query(ctx, `
			SELECT order_id, customer_id, merchant_id, status, placed_at, paid_at, shipped_at, cancelled_at,
			       item_count, currency, total_cents, refunded_cents, carrier, tracking_number, tax_cents
			FROM customer_order_history
			WHERE client_id = $1 AND customer_id = $2 AND placed_at >= $3 AND placed_at < $4
			ORDER BY placed_at, order_id`, clientID, customerID, from, end)
		if err != nil {
			yield(report.OrderRow{}, fmt.Errorf("query orders: %w", err))
			return
		}
		defer rows.Close()
		for rows.Next() {
			var r report.OrderRow
			if err := rows.Scan(&r.OrderID, &r.CustomerID, &r.MerchantID, &r.Status, &r.PlacedAt, &r.PaidAt,
				&r.ShippedAt, &r.CancelledAt, &r.ItemCount, &r.Currency, &r.TotalCents, &r.RefundedCents,
				&r.Carrier, &r.TrackingNumber, &r.TaxCents); err != nil {
				yield(report.OrderRow{}, fmt.Errorf("scan order: %w", err))
				return
			}
			r.PlacedAt = r.PlacedAt.UTC()
			utc(r.PaidAt)
			utc(r.ShippedAt)
			utc(r.CancelledAt)
			if !yield(r, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(report.OrderRow{}, fmt.Errorf("read orders: %w", err))
		}
	}
}

func merchantDayRows(ctx context.Context, tx pgx.Tx, clientID, merchantID string, from, end time.Time) iter.Seq2[report.MerchantDayRow, error] {
	return func(yield func(report.MerchantDayRow, error) bool) {
		rows, err := tx.Query(ctx, `
			SELECT merchant_id, day, currency, orders, cancellations, gross_cents, refunds_cents, net_cents, tax_cents
			FROM merchant_daily_sales
			WHERE client_id = $1 AND merchant_id = $2 AND day >= $3 AND day < $4
			ORDER BY day, currency`, clientID, merchantID, from, end)
		if err != nil {
			yield(report.MerchantDayRow{}, fmt.Errorf("query merchant days: %w", err))
			return
		}
		defer rows.Close()
		for rows.Next() {
			var r report.MerchantDayRow
			if err := rows.Scan(&r.MerchantID, &r.Day, &r.Currency, &r.Orders, &r.Cancellations,
				amountInto(&r.GrossCents), amountInto(&r.RefundsCents), amountInto(&r.NetCents), amountInto(&r.TaxCents)); err != nil {
				yield(report.MerchantDayRow{}, fmt.Errorf("scan merchant day: %w", err))
				return
			}
			if !yield(r, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(report.MerchantDayRow{}, fmt.Errorf("read merchant days: %w", err))
		}
	}
}

func utc(t *time.Time) {
	if t != nil {
		*t = t.UTC()
	}
}

// localMerchantDayRows are merchant_daily_sales rows for the local days of
// zone, folded from the merchant's orders (merchant_sales_orders) as they
// stream, in (day, currency) order. Each order is valued by
// report.OrderAmounts, the same rule the projector applies, and the sums
// are checked, so a row here equals the UTC table's row for a UTC day.
func localMerchantDayRows(ctx context.Context, tx pgx.Tx, clientID, merchantID string, start, end time.Time, zone string) iter.Seq2[report.MerchantDayRow, error] {
	return func(yield func(report.MerchantDayRow, error) bool) {
		rows, err := tx.Query(ctx, `
			SELECT (placed_at AT TIME ZONE $5)::date AS day, currency, order_id, total_cents, refunded_cents, cancelled_at, tax_cents
			FROM merchant_sales_orders
			WHERE client_id = $1 AND merchant_id = $2 AND placed_at >= $3 AND placed_at < $4
			ORDER BY day, currency, order_id`, clientID, merchantID, start, end, zone)
		if err != nil {
			yield(report.MerchantDayRow{}, fmt.Errorf("query merchant orders: %w", err))
			return
		}
		defer rows.Close()
		var cur report.MerchantDayRow
		var sum report.Amounts
		have := false
		flush := func() bool {
			if !have {
				return true
			}
			cur.GrossCents, cur.RefundsCents, cur.NetCents, cur.TaxCents = sum.Gross, sum.Refunds, sum.Net, sum.Tax
			return yield(cur, nil)
		}
		for rows.Next() {
			var day time.Time
			o := report.OrderRow{MerchantID: merchantID}
			if err := rows.Scan(&day, &o.Currency, &o.OrderID, &o.TotalCents, &o.RefundedCents, &o.CancelledAt, &o.TaxCents); err != nil {
				yield(report.MerchantDayRow{}, fmt.Errorf("scan merchant order: %w", err))
				return
			}
			if !have || !day.Equal(cur.Day) || o.Currency != cur.Currency {
				if !flush() {
					return
				}
				cur, sum, have = report.MerchantDayRow{MerchantID: merchantID, Day: day.UTC(), Currency: o.Currency}, report.Amounts{}, true
			}
			a, err := report.OrderAmounts(o)
			if err == nil {
				sum, err = sum.Add(a)
			}
			if err != nil {
				yield(report.MerchantDayRow{}, fmt.Errorf("merchant day %s %s: %w", day.Format(time.DateOnly), o.Currency, err))
				return
			}
			cur.Orders++
			if o.CancelledAt != nil {
				cur.Cancellations++
			}
		}
		if err := rows.Err(); err != nil {
			yield(report.MerchantDayRow{}, fmt.Errorf("read merchant orders: %w", err))
			return
		}
		flush()
	}
}
