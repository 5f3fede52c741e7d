package readmodel_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/reportd/reportd/internal/orderevents"
	"github.com/reportd/reportd/internal/readmodel"
	"github.com/reportd/reportd/internal/report"
)

// projectAndReach projects once and checks the min_position promise: the
// position every projection reached covers the last append.
func projectAndReach(tb testing.TB, s *readmodel.Store, want int64) {
	tb.Helper()
	ctx := context.Background()
	if _, err := s.ProjectOnce(ctx); err != nil {
		tb.Fatalf("project: %v", err)
	}
	pos, err := s.Position(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if pos < want {
		tb.Fatalf("read model at position %d, want at least %d: a report with min_position %d would fail with data_not_ready", pos, want, want)
	}
}

func mustAppend(tb testing.TB, s *readmodel.Store, clientID string, events ...orderevents.Event) int64 {
	tb.Helper()
	res, err := s.Append(context.Background(), clientID, events)
	if err != nil {
		tb.Fatalf("append: %v", err)
	}
	return res.Position
}

// counts is, per projection, [held events, parked events].
func counts(tb testing.TB, s *readmodel.Store) map[string][2]int64 {
	tb.Helper()
	st, err := s.Status(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string][2]int64{}
	for _, p := range st {
		if p.Position != p.Head {
			tb.Errorf("projection %s at %d, head %d: the checkpoint must move past parked events", p.Name, p.Position, p.Head)
		}
		out[p.Name] = [2]int64{p.HeldEvents, p.ParkedEvents}
	}
	return out
}

func both(held, parked int64) map[string][2]int64 {
	return map[string][2]int64{
		readmodel.ProjectionCustomerOrderHistory: {held, parked},
		readmodel.ProjectionMerchantDailySales:   {held, parked},
	}
}

func orderSeq(tb testing.TB, pool *pgxpool.Pool, table, clientID, orderID string) int64 {
	tb.Helper()
	var seq int64
	err := pool.QueryRow(context.Background(), "SELECT coalesce(max(last_sequence), 0) FROM "+table+" WHERE client_id = $1 AND order_id = $2", clientID, orderID).Scan(&seq)
	if err != nil {
		tb.Fatal(err)
	}
	return seq
}

// renderReport opens and renders one report as the worker does.
func renderReport(tb testing.TB, s *readmodel.Store, clientID string, typ report.Type, f report.Format, p report.Params) ([]byte, error) {
	tb.Helper()
	var buf bytes.Buffer
	err := s.OpenDocument(context.Background(), clientID, typ, p, 0, func(doc report.Document) error {
		_, err := report.Render(context.Background(), &buf, f, doc)
		return err
	})
	return buf.Bytes(), err
}

// Two orders of 2^63-1 cents for one merchant and day used to overflow the
// merchant_daily_sales sum on every pass, stopping the projection for every
// tenant. Now the sum is numeric: the projection goes on, the other tenant's
// report is fine, and only the reports whose totals do not fit int64 fail,
// with ErrAmountOutOfRange.
func TestInt64MaxOrdersDoNotStallOthers(t *testing.T) {
	ctx := context.Background()
	s, pool := newStore(t)
	mustAppend(t, s, "cli_a",
		event("ord_1", 1, orderevents.TypeOrderPlaced, placed("cus_1", "mer_1", math.MaxInt64), at(1)),
		event("ord_2", 1, orderevents.TypeOrderPlaced, placed("cus_1", "mer_1", math.MaxInt64), at(2)))
	projectAndReach(t, s, 0)
	pos := mustAppend(t, s, "cli_b", event("ord_9", 1, orderevents.TypeOrderPlaced, placed("cus_9", "mer_1", 1234), at(3)))
	projectAndReach(t, s, pos)
	if diff := cmp.Diff(both(0, 0), counts(t, s)); diff != "" {
		t.Errorf("held and parked per projection (-want +got):\n%s", diff)
	}

	var gross string
	if err := pool.QueryRow(ctx, "SELECT gross_cents::text FROM merchant_daily_sales WHERE client_id = 'cli_a'").Scan(&gross); err != nil {
		t.Fatal(err)
	}
	if gross != "18446744073709551614" {
		t.Errorf("cli_a gross_cents = %s, want 2 * (2^63-1) exactly", gross)
	}

	params := report.Params{MerchantID: "mer_1", From: "2026-02-01", To: "2026-02-01"}
	for _, f := range []report.Format{report.FormatPDF, report.FormatCSV} {
		if _, err := renderReport(t, s, "cli_a", report.TypeMerchantSales, f, params); !errors.Is(err, report.ErrAmountOutOfRange) {
			t.Errorf("cli_a merchant_sales %s: %v, want ErrAmountOutOfRange", f, err)
		}
		out, err := renderReport(t, s, "cli_b", report.TypeMerchantSales, f, params)
		if err != nil {
			t.Errorf("cli_b merchant_sales %s: %v", f, err)
		}
		if f == report.FormatCSV && !bytes.Contains(out, []byte("mer_1,2026-02-01,USD,1,0,12.34,0.00,12.34")) {
			t.Errorf("cli_b merchant_sales csv lacks its day:\n%s", out)
		}
	}
	cust := report.Params{CustomerID: "cus_1", From: "2026-02-01", To: "2026-02-01"}
	if _, err := renderReport(t, s, "cli_a", report.TypeOrderHistory, report.FormatPDF, cust); !errors.Is(err, report.ErrAmountOutOfRange) {
		t.Errorf("cli_a order_history pdf: %v, want ErrAmountOutOfRange (its totals overflow)", err)
	}
	if _, err := renderReport(t, s, "cli_a", report.TypeOrderHistory, report.FormatCSV, cust); err != nil {
		t.Errorf("cli_a order_history csv (no totals): %v", err)
	}
}

// Two refunds of 2^63-1 used to wrap refunded_cents to -2. The second one
// now overflows, is parked, and holds back only its order.
func TestInt64MaxRefundsAreParked(t *testing.T) {
	ctx := context.Background()
	s, pool := newStore(t)
	refund := orderevents.OrderRefunded{AmountCents: math.MaxInt64}
	mustAppend(t, s, "cli_a",
		event("ord_1", 1, orderevents.TypeOrderPlaced, placed("cus_1", "mer_1", math.MaxInt64), at(1)),
		event("ord_1", 2, orderevents.TypeOrderRefunded, refund, at(2)),
		event("ord_1", 3, orderevents.TypeOrderRefunded, refund, at(3)),
		event("ord_1", 4, orderevents.TypeOrderShipped, orderevents.OrderShipped{Carrier: "DHL"}, at(4)),
		event("ord_2", 1, orderevents.TypeOrderPlaced, placed("cus_1", "mer_1", 500), at(1)),
		event("ord_3", 1, orderevents.TypeOrderPlaced, placed("cus_1", "mer_1", 500), at(1)),
		event("ord_3", 2, orderevents.TypeOrderRefunded, orderevents.OrderRefunded{AmountCents: 501}, at(2)))
	pos := mustAppend(t, s, "cli_b", event("ord_1", 1, orderevents.TypeOrderPlaced, placed("cus_1", "mer_1", 700), at(1)))
	projectAndReach(t, s, pos)

	if diff := cmp.Diff(both(1, 2), counts(t, s)); diff != "" {
		t.Errorf("held and parked per projection (-want +got):\n%s", diff)
	}
	var refunded int64
	var status string
	if err := pool.QueryRow(ctx, "SELECT refunded_cents, status FROM customer_order_history WHERE client_id = 'cli_a' AND order_id = 'ord_1'").Scan(&refunded, &status); err != nil {
		t.Fatal(err)
	}
	if refunded != math.MaxInt64 || status != "refunded" {
		t.Errorf("ord_1 refunded %d (%s), want %d: the first refund applies, the second is parked", refunded, status, int64(math.MaxInt64))
	}
	parked, err := s.Parked(ctx, readmodel.ParkedFilter{Projection: readmodel.ProjectionCustomerOrderHistory})
	if err != nil {
		t.Fatal(err)
	}
	type brief struct {
		Client, Order string
		Seq, Held     int64
		Type          string
	}
	var got []brief
	for _, p := range parked {
		got = append(got, brief{p.ClientID, p.OrderID, p.Sequence, p.HeldBehind, p.Type})
		if !strings.Contains(p.Error, report.ErrAmountOutOfRange.Error()) {
			t.Errorf("parked %s/%d: error %q, want it to name the amount rule", p.OrderID, p.Sequence, p.Error)
		}
	}
	want := []brief{{"cli_a", "ord_1", 3, 1, orderevents.TypeOrderRefunded}, {"cli_a", "ord_3", 2, 0, orderevents.TypeOrderRefunded}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parked events (-want +got):\n%s", diff)
	}
	// The day holds both placed orders of cli_a and is exact.
	var gross, refunds string
	if err := pool.QueryRow(ctx, "SELECT gross_cents::text, refunds_cents::text FROM merchant_daily_sales WHERE client_id = 'cli_a'").Scan(&gross, &refunds); err != nil {
		t.Fatal(err)
	}
	if gross != "9223372036854776807" || refunds != "9223372036854775807" {
		t.Errorf("cli_a day gross %s refunds %s, want 9223372036854776807 and 9223372036854775807", gross, refunds)
	}
}

// A poison event holds back only its own order's later events; the order's
// other events, other orders and the other tenant go on. Retrying while the
// cause remains parks it again with the same error; once the cause is fixed
// (here: a decoder bug, fixed by swapping the decoder as a release would),
// retry applies it and everything that waited behind it.
func TestPoisonEventIsParkedAndRetried(t *testing.T) {
	ctx := context.Background()
	s, pool := newStore(t)
	bug := true
	readmodel.SetDecoder(s, func(typ string, version int, data []byte) (any, error) {
		if bug && typ == orderevents.TypeOrderShipped {
			return nil, errors.New("decoder bug: cannot read OrderShipped")
		}
		return orderevents.Decode(typ, version, data)
	})
	undecodable := orderevents.Event{EventID: "evt_bad", OrderID: "ord_bad", Sequence: 2, Type: orderevents.TypeOrderRefunded,
		OccurredAt: at(2), Data: json.RawMessage(`{"amount_cents":"lots"}`)}
	mustAppend(t, s, "cli_a",
		event("ord_p", 3, orderevents.TypeOrderCancelled, orderevents.OrderCancelled{Reason: "x"}, at(3)), // arrives before the poison
		event("ord_p", 1, orderevents.TypeOrderPlaced, placed("cus_1", "mer_1", 1000), at(1)),
		event("ord_p", 2, orderevents.TypeOrderShipped, orderevents.OrderShipped{Carrier: "DHL"}, at(2)),
		event("ord_ok", 1, orderevents.TypeOrderPlaced, placed("cus_1", "mer_1", 2000), at(1)),
		event("ord_bad", 1, orderevents.TypeOrderPlaced, placed("cus_2", "mer_1", 3000), at(1)),
		undecodable,
		event("ord_bad", 3, orderevents.TypeOrderRefunded, orderevents.OrderRefunded{AmountCents: 1}, at(3)))
	projectAndReach(t, s, 0)
	pos := mustAppend(t, s, "cli_a",
		event("ord_p", 4, orderevents.TypeOrderRefunded, orderevents.OrderRefunded{AmountCents: 10}, at(4)),
		event("ord_ok", 2, orderevents.TypePaymentCaptured, orderevents.PaymentCaptured{AmountCents: 2000}, at(2)))
	pos2 := mustAppend(t, s, "cli_b", event("ord_p", 1, orderevents.TypeOrderPlaced, placed("cus_1", "mer_1", 10), at(1)))
	projectAndReach(t, s, max(pos, pos2))

	// ord_p: 1 applied, 2 parked, 3 and 4 held; ord_bad: 1 applied, 2 parked, 3 held.
	if diff := cmp.Diff(both(3, 2), counts(t, s)); diff != "" {
		t.Errorf("held and parked per projection (-want +got):\n%s", diff)
	}
	for _, table := range []string{"customer_order_history", "merchant_sales_orders"} {
		got := []int64{orderSeq(t, pool, table, "cli_a", "ord_p"), orderSeq(t, pool, table, "cli_a", "ord_bad"),
			orderSeq(t, pool, table, "cli_a", "ord_ok"), orderSeq(t, pool, table, "cli_b", "ord_p")}
		if diff := cmp.Diff([]int64{1, 1, 2, 1}, got); diff != "" {
			t.Errorf("%s last sequences of ord_p, ord_bad, ord_ok, cli_b's ord_p (-want +got):\n%s", table, diff)
		}
	}
	errorsOf := func() map[string]string {
		t.Helper()
		parked, err := s.Parked(ctx, readmodel.ParkedFilter{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, p := range parked {
			out[p.Projection+"/"+p.OrderID] = p.Error
		}
		return out
	}
	first := errorsOf()
	if len(first) != 4 || !strings.Contains(first["customer_order_history/ord_p"], "decoder bug") ||
		!strings.Contains(first["merchant_daily_sales/ord_bad"], "decode OrderRefunded data") {
		t.Fatalf("parked errors: %v", first)
	}

	// The cause is still there: parked again, with the same error.
	res, err := s.RetryParked(ctx, readmodel.ParkedFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(readmodel.RetryResult{Retried: 4, Applied: 0, Parked: 4}, res); diff != "" {
		t.Errorf("retry (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(first, errorsOf()); diff != "" {
		t.Errorf("errors after a retry that cannot succeed (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(both(3, 2), counts(t, s)); diff != "" {
		t.Errorf("held and parked per projection after a failed retry (-want +got):\n%s", diff)
	}

	// A rebuild parks the same events again.
	before := checksums(t, pool)
	if err := s.Rebuild(ctx, "", nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, checksums(t, pool)); diff != "" {
		t.Errorf("rebuild changed the rows (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(first, errorsOf()); diff != "" {
		t.Errorf("parked errors after a rebuild (-before +after):\n%s", diff)
	}

	// The decoder is fixed: retrying ord_p applies it and what waited behind it.
	bug = false
	res, err = s.RetryParked(ctx, readmodel.ParkedFilter{OrderID: "ord_p"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(readmodel.RetryResult{Retried: 2, Applied: 2, Parked: 0}, res); diff != "" {
		t.Errorf("retry after the fix (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(both(1, 1), counts(t, s)); diff != "" {
		t.Errorf("held and parked per projection after the fix (-want +got):\n%s", diff)
	}
	var status, carrier string
	var seq, refunded int64
	if err := pool.QueryRow(ctx, `SELECT status, carrier, last_sequence, refunded_cents FROM customer_order_history
		WHERE client_id = 'cli_a' AND order_id = 'ord_p'`).Scan(&status, &carrier, &seq, &refunded); err != nil {
		t.Fatal(err)
	}
	if status != "refunded" || carrier != "DHL" || seq != 4 || refunded != 10 {
		t.Errorf("ord_p after the fix: %s %s seq %d refunded %d, want refunded DHL 4 10", status, carrier, seq, refunded)
	}
	// ord_p is cancelled: it leaves the money of its day but counts as an order.
	var orders, cancellations int64
	var gross string
	if err := pool.QueryRow(ctx, `SELECT orders, cancellations, gross_cents::text FROM merchant_daily_sales
		WHERE client_id = 'cli_a'`).Scan(&orders, &cancellations, &gross); err != nil {
		t.Fatal(err)
	}
	if orders != 3 || cancellations != 1 || gross != "5000" {
		t.Errorf("cli_a day: %d orders, %d cancellations, gross %s; want 3, 1, 5000", orders, cancellations, gross)
	}
}

// An order whose values the database refuses (an index row too large) does
// not fail the pass: its event is parked with the database's error and the
// other orders of the same pass are written.
func TestDatabaseRefusalParksOneOrder(t *testing.T) {
	ctx := context.Background()
	s, pool := newStore(t)
	rng := rand.New(rand.NewPCG(1, 2))
	long := make([]byte, 10000)
	for i := range long {
		long[i] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[rng.IntN(62)]
	}
	mustAppend(t, s, "cli_a",
		event("ord_1", 1, orderevents.TypeOrderPlaced, placed("cus_1", "mer_1", 100), at(1)),
		event("ord_long", 1, orderevents.TypeOrderPlaced, placed(string(long), string(long), 100), at(1)),
		event("ord_long", 2, orderevents.TypeOrderShipped, orderevents.OrderShipped{Carrier: "DHL"}, at(2)),
		event("ord_2", 1, orderevents.TypeOrderPlaced, placed("cus_1", "mer_1", 100), at(1)))
	pos := mustAppend(t, s, "cli_b", event("ord_1", 1, orderevents.TypeOrderPlaced, placed("cus_1", "mer_1", 100), at(1)))
	projectAndReach(t, s, pos)
	if diff := cmp.Diff(both(1, 1), counts(t, s)); diff != "" {
		t.Errorf("held and parked per projection (-want +got):\n%s", diff)
	}
	parked, err := s.Parked(ctx, readmodel.ParkedFilter{OrderID: "ord_long"})
	if err != nil {
		t.Fatal(err)
	}
	if len(parked) != 2 || parked[0].Sequence != 1 || !strings.Contains(parked[0].Error, "index row") {
		t.Errorf("parked: %+v, want sequence 1 of ord_long in both projections with the index error", parked)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM customer_order_history").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("customer_order_history has %d orders, want 3 (all but ord_long)", n)
	}
	out, err := renderReport(t, s, "cli_a", report.TypeMerchantSales, report.FormatCSV, report.Params{MerchantID: "mer_1", From: "2026-02-01", To: "2026-02-01"})
	if err != nil || !bytes.Contains(out, []byte(",2,0,2.00,0.00,2.00")) {
		t.Errorf("cli_a merchant_sales: %v\n%s", err, out)
	}
}
