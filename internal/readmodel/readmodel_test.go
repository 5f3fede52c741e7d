package readmodel_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/orderevents"
	"github.com/reportd/reportd/internal/pgtest"
	"github.com/reportd/reportd/internal/readmodel"
	"github.com/reportd/reportd/internal/report"
	"github.com/reportd/reportd/internal/seed"
)

func newStore(tb testing.TB) (*readmodel.Store, *pgxpool.Pool) {
	tb.Helper()
	pool := pgtest.New(tb)
	if _, err := pool.Exec(context.Background(),
		"INSERT INTO clients (id, name) VALUES ('cli_a', 'Client A'), ('cli_b', 'Client B')"); err != nil {
		tb.Fatalf("insert clients: %v", err)
	}
	logger := slog.New(slog.DiscardHandler)
	return readmodel.NewStore(pool, pool, logger), pool
}

// checksums fingerprints both projection tables, row by row in key order.
func checksums(tb testing.TB, pool *pgxpool.Pool) [2]string {
	tb.Helper()
	var sums [2]string
	err := pool.QueryRow(context.Background(), `
		SELECT (SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY client_id, order_id), '')) FROM customer_order_history t),
		       (SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY client_id, merchant_id, day, currency), '')) FROM merchant_daily_sales t)`).
		Scan(&sums[0], &sums[1])
	if err != nil {
		tb.Fatalf("checksum projections: %v", err)
	}
	return sums
}

func appendAll(tb testing.TB, s *readmodel.Store, clientID string, events []orderevents.Event, batch int, project bool) {
	tb.Helper()
	ctx := context.Background()
	for start := 0; start < len(events); start += batch {
		if _, err := s.Append(ctx, clientID, events[start:min(start+batch, len(events))]); err != nil {
			tb.Fatalf("append: %v", err)
		}
		if project {
			if _, err := s.ProjectOnce(ctx); err != nil {
				tb.Fatalf("project: %v", err)
			}
		}
	}
	if _, err := s.ProjectOnce(ctx); err != nil {
		tb.Fatalf("project: %v", err)
	}
}

func seedEvents(customers, orders int) []orderevents.Event {
	events, _ := seed.Events(seed.Options{Customers: customers, OrdersPerCustomer: orders, Merchants: 7, Seed: 42})
	return events
}

// inOrder sorts events by order and sequence: the order a perfect upstream sends.
func inOrder(events []orderevents.Event) []orderevents.Event {
	out := slices.Clone(events)
	slices.SortFunc(out, func(a, b orderevents.Event) int {
		if c := strings.Compare(a.OrderID, b.OrderID); c != 0 {
			return c
		}
		return int(a.Sequence - b.Sequence)
	})
	return out
}

func TestShuffledArrivalGivesSameProjection(t *testing.T) {
	events := seedEvents(30, 8)

	ordered, orderedPool := newStore(t)
	appendAll(t, ordered, "cli_a", inOrder(events), 1000, false)

	shuffled, shuffledPool := newStore(t)
	mixed := slices.Clone(events)
	rand.New(rand.NewPCG(7, 7)).Shuffle(len(mixed), func(i, j int) { mixed[i], mixed[j] = mixed[j], mixed[i] })
	appendAll(t, shuffled, "cli_a", mixed, 97, true) // project between batches, so gaps really are held

	if diff := cmp.Diff(checksums(t, orderedPool), checksums(t, shuffledPool)); diff != "" {
		t.Errorf("projections differ between in-order and shuffled arrival (-in order +shuffled):\n%s", diff)
	}
	st, err := shuffled.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range st {
		if p.HeldEvents != 0 || p.LagEvents != 0 || p.Position != p.Head {
			t.Errorf("after catching up, status %+v, want nothing held or lagging", p)
		}
	}
	var n int
	if err := shuffledPool.QueryRow(context.Background(), "SELECT count(*) FROM customer_order_history").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 30*8 {
		t.Errorf("customer_order_history has %d rows, want %d", n, 30*8)
	}
}

// merchant_daily_sales must equal an aggregate of the order rows.
func TestMerchantDailySalesMatchesOrders(t *testing.T) {
	s, pool := newStore(t)
	appendAll(t, s, "cli_a", seedEvents(40, 6), 500, true)
	var mismatches int
	//nolint:unqueryvet // EXCEPT ALL compares whole rows, every column on purpose
	err := pool.QueryRow(context.Background(), `
		WITH want AS (
			SELECT client_id, merchant_id, (placed_at AT TIME ZONE 'UTC')::date AS day, currency,
			       count(*)::int AS orders,
			       count(*) FILTER (WHERE cancelled_at IS NOT NULL)::int AS cancellations,
			       coalesce(sum(total_cents) FILTER (WHERE cancelled_at IS NULL), 0)::bigint AS gross_cents,
			       coalesce(sum(refunded_cents) FILTER (WHERE cancelled_at IS NULL), 0)::bigint AS refunds_cents,
			       coalesce(sum(total_cents - refunded_cents) FILTER (WHERE cancelled_at IS NULL), 0)::bigint AS net_cents,
			       coalesce(sum(tax_cents) FILTER (WHERE cancelled_at IS NULL), 0)::bigint AS tax_cents
			FROM customer_order_history WHERE placed_at IS NOT NULL
			GROUP BY 1, 2, 3, 4)
		SELECT count(*) FROM (
			(SELECT * FROM want EXCEPT ALL SELECT * FROM merchant_daily_sales)
			UNION ALL
			(SELECT * FROM merchant_daily_sales EXCEPT ALL SELECT * FROM want)) d`).Scan(&mismatches)
	if err != nil {
		t.Fatal(err)
	}
	if mismatches != 0 {
		t.Errorf("merchant_daily_sales differs from the aggregate of customer_order_history in %d rows", mismatches)
	}
}

func TestRebuildGivesIdenticalRows(t *testing.T) {
	ctx := context.Background()
	s, pool := newStore(t)
	events := seedEvents(30, 6)
	appendAll(t, s, "cli_a", events[:len(events)/2], 250, true)
	appendAll(t, s, "cli_b", events, 1000, true)
	appendAll(t, s, "cli_a", events[len(events)/2:], 250, true)
	before := checksums(t, pool)

	for _, name := range []string{readmodel.ProjectionCustomerOrderHistory, readmodel.ProjectionMerchantDailySales, ""} {
		var last [2]int64
		calls := 0
		err := s.Rebuild(ctx, name, func(done, total int64) { calls++; last = [2]int64{done, total} })
		if err != nil {
			t.Fatalf("rebuild %q: %v", name, err)
		}
		if diff := cmp.Diff(before, checksums(t, pool)); diff != "" {
			t.Errorf("rebuild %q changed the rows (-before +after):\n%s", name, diff)
		}
		want := int64(len(events) * 2)
		if calls == 0 || last != [2]int64{want, want} {
			t.Errorf("rebuild %q: last progress %v after %d calls, want [%d %d]", name, last, calls, want, want)
		}
	}
	if err := s.Rebuild(ctx, "nope", nil); err == nil {
		t.Error("rebuild of an unknown projection succeeded")
	}
}

// Appends and projection go on during a rebuild; readers never see the
// projection empty, and afterwards it matches a rebuild from scratch.
func TestRebuildWhileIngesting(t *testing.T) {
	ctx := context.Background()
	s, pool := newStore(t)
	events := seedEvents(40, 6)
	half := len(events) / 2
	appendAll(t, s, "cli_a", events[:half], 500, true)

	var wg sync.WaitGroup
	errs := make(chan error, 3)
	stop := make(chan struct{})
	wg.Add(3)
	go func() { // ingest the rest
		defer wg.Done()
		for start := half; start < len(events); start += 50 {
			if _, err := s.Append(ctx, "cli_a", events[start:min(start+50, len(events))]); err != nil {
				errs <- err
				return
			}
			if _, err := s.ProjectOnce(ctx); err != nil {
				errs <- err
				return
			}
		}
	}()
	go func() { // a reader that must never see an empty projection
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			var n int
			if err := pool.QueryRow(ctx, "SELECT count(*) FROM customer_order_history").Scan(&n); err != nil {
				errs <- err
				return
			}
			if n == 0 {
				errs <- errors.New("reader saw customer_order_history empty during a rebuild")
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		defer close(stop)
		if err := s.Rebuild(ctx, "", nil); err != nil {
			errs <- err
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if _, err := s.ProjectOnce(ctx); err != nil {
		t.Fatal(err)
	}
	live := checksums(t, pool)
	if err := s.Rebuild(ctx, "", nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(live, checksums(t, pool)); diff != "" {
		t.Errorf("projection after concurrent rebuild differs from a clean rebuild (-live +rebuilt):\n%s", diff)
	}
}

func TestAppendIsIdempotent(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	events := seedEvents(3, 3)
	first, err := s.Append(ctx, "cli_a", events)
	if err != nil {
		t.Fatal(err)
	}
	if first.Accepted != len(events) || first.Duplicates != 0 || first.Position != int64(len(events)) {
		t.Errorf("first append = %+v, want %d accepted at position %d", first, len(events), len(events))
	}
	again, err := s.Append(ctx, "cli_a", events)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(domain.AppendResult{Duplicates: len(events), Position: first.Position}, again); diff != "" {
		t.Errorf("replayed batch (-want +got):\n%s", diff)
	}
	// A batch mixing old and new events accepts only the new ones.
	extra := event("ord_x", 1, orderevents.TypeOrderPlaced, placed("cus_1", "mer_1", 1000), at(1))
	mixed, err := s.Append(ctx, "cli_a", append(slices.Clone(events[:2]), extra))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(domain.AppendResult{Accepted: 1, Duplicates: 2, Position: first.Position + 1}, mixed); diff != "" {
		t.Errorf("mixed batch (-want +got):\n%s", diff)
	}
	// Another tenant may use the same ids.
	other, err := s.Append(ctx, "cli_b", events)
	if err != nil {
		t.Fatal(err)
	}
	if other.Accepted != len(events) {
		t.Errorf("other client's append accepted %d, want %d", other.Accepted, len(events))
	}
	if _, err := s.ProjectOnce(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestAppendSequenceConflict(t *testing.T) {
	ctx := context.Background()
	s, pool := newStore(t)
	first := event("ord_1", 1, orderevents.TypeOrderPlaced, placed("cus_1", "mer_1", 1000), at(1))
	if _, err := s.Append(ctx, "cli_a", []orderevents.Event{first}); err != nil {
		t.Fatal(err)
	}
	clash := first
	clash.EventID = "evt_other"
	fresh := event("ord_2", 1, orderevents.TypeOrderPlaced, placed("cus_1", "mer_1", 1000), at(1))
	_, err := s.Append(ctx, "cli_a", []orderevents.Event{fresh, clash})
	if !errors.Is(err, domain.ErrSequenceConflict) {
		t.Fatalf("append of a reused sequence: err = %v, want ErrSequenceConflict", err)
	}
	if sc, ok := errors.AsType[*domain.SequenceConflictError](err); !ok || sc.OrderID != "ord_1" || sc.Sequence != 1 {
		t.Fatalf("append of a reused sequence: err = %#v, want one naming ord_1 sequence 1", err)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM order_events").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("log holds %d events after a rejected batch, want 1 (all or nothing)", n)
	}
	if _, err := pool.Exec(ctx, "UPDATE order_events SET type = 'x'"); err == nil {
		t.Error("order_events accepted an UPDATE; it must be append-only")
	}
}

func TestGapIsHeldThenReleased(t *testing.T) {
	ctx := context.Background()
	s, pool := newStore(t)
	e1 := event("ord_1", 1, orderevents.TypeOrderPlaced, placed("cus_1", "mer_1", 2500), at(1))
	e2 := event("ord_1", 2, orderevents.TypePaymentCaptured, orderevents.PaymentCaptured{AmountCents: 2500}, at(2))
	e3 := event("ord_1", 3, orderevents.TypeOrderShipped, orderevents.OrderShipped{Carrier: "ヤマト運輸", TrackingNumber: "T1"}, at(3))
	e4 := event("ord_1", 4, orderevents.TypeOrderRefunded, orderevents.OrderRefunded{AmountCents: 500}, at(4))

	status := func() (string, int64) {
		t.Helper()
		var st string
		var seq int64
		if err := pool.QueryRow(ctx, "SELECT status, last_sequence FROM customer_order_history WHERE order_id = 'ord_1'").Scan(&st, &seq); err != nil {
			t.Fatal(err)
		}
		return st, seq
	}
	held := func() []int64 {
		t.Helper()
		ps, err := s.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]int64, 0, 2*len(ps))
		for _, p := range ps {
			out = append(out, p.HeldEvents, p.HeldOrders)
		}
		return out
	}

	appendAll(t, s, "cli_a", []orderevents.Event{e3, e1}, 10, false)
	if st, seq := status(); st != "placed" || seq != 1 {
		t.Errorf("with sequence 2 missing: status %s at sequence %d, want placed at 1", st, seq)
	}
	if diff := cmp.Diff([]int64{1, 1, 1, 1}, held()); diff != "" {
		t.Errorf("held events and orders per projection (-want +got):\n%s", diff)
	}
	appendAll(t, s, "cli_a", []orderevents.Event{e4}, 10, false)
	if diff := cmp.Diff([]int64{2, 1, 2, 1}, held()); diff != "" {
		t.Errorf("held events and orders per projection (-want +got):\n%s", diff)
	}
	appendAll(t, s, "cli_a", []orderevents.Event{e2}, 10, false)
	if st, seq := status(); st != "refunded" || seq != 4 {
		t.Errorf("after the gap filled: status %s at sequence %d, want refunded at 4", st, seq)
	}
	if diff := cmp.Diff([]int64{0, 0, 0, 0}, held()); diff != "" {
		t.Errorf("held events and orders per projection (-want +got):\n%s", diff)
	}
	var carrier string
	var refunded int64
	if err := pool.QueryRow(ctx, "SELECT carrier, refunded_cents FROM customer_order_history").Scan(&carrier, &refunded); err != nil {
		t.Fatal(err)
	}
	if carrier != "ヤマト運輸" || refunded != 500 {
		t.Errorf("carrier %q refunded %d, want ヤマト運輸 500", carrier, refunded)
	}
}

func TestOpenDocument(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	day := func(d, h int) time.Time { return time.Date(2026, 3, d, h, 0, 0, 0, time.UTC) }
	events := []orderevents.Event{
		event("o1", 1, orderevents.TypeOrderPlaced, placedItems("cus_1", "mer_1", "EUR", 2, 1500), day(1, 10)),
		event("o1", 2, orderevents.TypePaymentCaptured, orderevents.PaymentCaptured{AmountCents: 3000}, day(1, 11)),
		event("o1", 3, orderevents.TypeOrderShipped, orderevents.OrderShipped{Carrier: "La Poste – Colissimo", TrackingNumber: "LP1"}, day(2, 9)),
		event("o1", 4, orderevents.TypeOrderRefunded, orderevents.OrderRefunded{AmountCents: 700}, day(5, 9)),
		event("o2", 1, orderevents.TypeOrderPlaced, placedItems("cus_1", "mer_1", "EUR", 1, 999), day(1, 9)),
		event("o2", 2, orderevents.TypeOrderCancelled, orderevents.OrderCancelled{Reason: "zu spät"}, day(1, 12)),
		event("o3", 1, orderevents.TypeOrderPlaced, placedItems("cus_1", "mer_1", "USD", 3, 100), day(31, 23)),
		event("o4", 1, orderevents.TypeOrderPlaced, placedItems("cus_1", "mer_2", "EUR", 1, 100), day(32, 0)), // 1 April 00:00: just out of period
		event("o5", 1, orderevents.TypeOrderPlaced, placedItems("cus_2", "mer_1", "EUR", 1, 5000), day(1, 8)),
	}
	res, err := s.Append(ctx, "cli_a", events)
	if err != nil {
		t.Fatal(err)
	}
	// The same customer id in another tenant must never show.
	if _, err := s.Append(ctx, "cli_b", events[:1]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ProjectOnce(ctx); err != nil {
		t.Fatal(err)
	}
	wantPos := res.Position + 1

	params := report.Params{CustomerID: "cus_1", From: "2026-03-01", To: "2026-03-31"}
	var gotOrders []report.OrderRow
	var gotDoc report.Document
	err = s.OpenDocument(ctx, "cli_a", report.TypeOrderHistory, params, 0, func(doc report.Document) error {
		gotDoc = doc
		for r, err := range doc.Orders {
			if err != nil {
				return err
			}
			gotOrders = append(gotOrders, r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ptr := func(t time.Time) *time.Time { return &t }
	wantOrders := []report.OrderRow{
		{OrderID: "o2", CustomerID: "cus_1", MerchantID: "mer_1", Status: "cancelled", PlacedAt: day(1, 9), CancelledAt: ptr(day(1, 12)), ItemCount: 1, Currency: "EUR", TotalCents: 999},
		{OrderID: "o1", CustomerID: "cus_1", MerchantID: "mer_1", Status: "refunded", PlacedAt: day(1, 10), PaidAt: ptr(day(1, 11)), ShippedAt: ptr(day(2, 9)), ItemCount: 2, Currency: "EUR", TotalCents: 3000, RefundedCents: 700, Carrier: "La Poste – Colissimo", TrackingNumber: "LP1"},
		{OrderID: "o3", CustomerID: "cus_1", MerchantID: "mer_1", Status: "placed", PlacedAt: day(31, 23), ItemCount: 3, Currency: "USD", TotalCents: 300},
	}
	if diff := cmp.Diff(wantOrders, gotOrders); diff != "" {
		t.Errorf("order rows (-want +got):\n%s", diff)
	}
	wantHeader := report.Header{SubjectLabel: "Customer", SubjectID: "cus_1", From: day(1, 0), To: day(31, 0), DataPosition: wantPos}
	if diff := cmp.Diff(wantHeader, gotDoc.Header); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	if gotDoc.RowCount != 3 || gotDoc.Type != report.TypeOrderHistory || gotDoc.MerchantDays != nil {
		t.Errorf("document: type %s, RowCount %d, MerchantDays set %v; want order_history, 3, false", gotDoc.Type, gotDoc.RowCount, gotDoc.MerchantDays != nil)
	}

	var gotDays []report.MerchantDayRow
	mparams := report.Params{MerchantID: "mer_1", From: "2026-03-01", To: "2026-03-31"}
	err = s.OpenDocument(ctx, "cli_a", report.TypeMerchantSales, mparams, 0, func(doc report.Document) error {
		gotDoc = doc
		for r, err := range doc.MerchantDays {
			if err != nil {
				return err
			}
			gotDays = append(gotDays, r)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantDays := []report.MerchantDayRow{
		// o1 (3000, refunded 700), o2 (cancelled, 999 leaves the money), o5 (5000).
		{MerchantID: "mer_1", Day: day(1, 0), Currency: "EUR", Orders: 3, Cancellations: 1, GrossCents: 8000, RefundsCents: 700, NetCents: 7300},
		{MerchantID: "mer_1", Day: day(31, 0), Currency: "USD", Orders: 1, GrossCents: 300, NetCents: 300},
	}
	if diff := cmp.Diff(wantDays, gotDays); diff != "" {
		t.Errorf("merchant day rows (-want +got):\n%s", diff)
	}
	if gotDoc.RowCount != 2 || gotDoc.Header.SubjectLabel != "Merchant" || gotDoc.Header.DataPosition != wantPos {
		t.Errorf("merchant document: RowCount %d, label %q, position %d; want 2, Merchant, %d", gotDoc.RowCount, gotDoc.Header.SubjectLabel, gotDoc.Header.DataPosition, wantPos)
	}

	// A known subject with nothing in the period is an empty report, not an error.
	empty := report.Params{CustomerID: "cus_1", From: "2025-01-01", To: "2025-01-31"}
	err = s.OpenDocument(ctx, "cli_a", report.TypeOrderHistory, empty, 0, func(doc report.Document) error {
		if doc.RowCount != 0 {
			return fmt.Errorf("RowCount %d, want 0", doc.RowCount)
		}
		return nil
	})
	if err != nil {
		t.Errorf("empty period: %v", err)
	}

	for _, tc := range []struct {
		client string
		typ    report.Type
		p      report.Params
	}{
		{"cli_a", report.TypeOrderHistory, report.Params{CustomerID: "cus_nobody", From: "2026-03-01", To: "2026-03-31"}},
		{"cli_a", report.TypeMerchantSales, report.Params{MerchantID: "mer_nobody", From: "2026-03-01", To: "2026-03-31"}},
		{"cli_b", report.TypeOrderHistory, report.Params{CustomerID: "cus_2", From: "2026-03-01", To: "2026-03-31"}}, // other tenant's customer
	} {
		err := s.OpenDocument(ctx, tc.client, tc.typ, tc.p, 0, func(report.Document) error { return nil })
		if !errors.Is(err, report.ErrUnknownSubject) {
			t.Errorf("OpenDocument(%s, %s, %+v) = %v, want ErrUnknownSubject", tc.client, tc.typ, tc.p, err)
		}
	}
}

func TestRunProjectorWakesOnNotify(t *testing.T) {
	s, pool := newStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.RunProjector(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunProjector: %v", err)
		}
	}()

	res, err := s.Append(ctx, "cli_a", seedEvents(5, 4))
	if err != nil {
		t.Fatal(err)
	}
	// Wait for the projector, bounded so a broken projector fails the test.
	deadline := time.Now().Add(20 * time.Second)
	for {
		pos, err := s.Position(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if pos >= res.Position {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("projector did not reach position %d (at %d)", res.Position, pos)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM customer_order_history").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 20 {
		t.Errorf("projected %d orders, want 20", n)
	}
}

// helpers building events by hand

func at(h int) time.Time { return time.Date(2026, 2, 1, h, 0, 0, 0, time.UTC) }

func placed(customer, merchant string, cents int64) orderevents.OrderPlaced {
	return placedItems(customer, merchant, "USD", 1, cents)
}

func placedItems(customer, merchant, currency string, qty, unit int64) orderevents.OrderPlaced {
	return orderevents.OrderPlaced{CustomerID: customer, MerchantID: merchant, Currency: currency,
		Items: []orderevents.Item{{SKU: "sku-1", Qty: qty, UnitPriceCents: unit}}, TotalCents: qty * unit}
}

func event(order string, seq int64, typ string, data any, at time.Time) orderevents.Event {
	b, err := jsonMarshal(data)
	if err != nil {
		panic(err)
	}
	version := orderevents.LatestSchemaVersion(typ)
	if _, ok := data.(orderevents.OrderPlacedV1); ok {
		version = orderevents.SchemaVersion1
	}
	return orderevents.Event{EventID: fmt.Sprintf("evt_%s_%d", order, seq), OrderID: order, Sequence: seq, Type: typ,
		SchemaVersion: version, OccurredAt: at, Data: b}
}
