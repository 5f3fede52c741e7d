package readmodel_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/reportd/reportd/internal/orderevents"
	"github.com/reportd/reportd/internal/readmodel"
	"github.com/reportd/reportd/internal/report"
)

var asOfSeed = flag.Uint64("asof.seed", 0, "seed of TestAsOfEqualsTheReportBuiltThen (0: a new one each run)")

// TestAsOfEqualsTheReportBuiltThen is the as_of contract as a property: for
// random histories appended in occurrence order, the report built live at T
// (from the projections) and the report built later with as_of T (folded
// from the log, after more events that occurred after T) are the same
// files, byte for byte, in every type and format, once the header fields
// that say when and from what position it was built are set alike.
func TestAsOfEqualsTheReportBuiltThen(t *testing.T) {
	seed := *asOfSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano()) // a seed, printed below
	}
	rounds := 3
	if *asOfSeed != 0 {
		rounds = 1
	}
	for round := range rounds {
		s := seed + uint64(round)
		t.Run(fmt.Sprintf("seed=%d", s), func(t *testing.T) {
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("reproduce with: go test ./internal/readmodel -run TestAsOfEqualsTheReportBuiltThen -asof.seed=%d", s)
				}
			})
			checkAsOf(t, s)
		})
	}
}

// asOfHistory makes orders with increasing occurred_at per order: payments,
// shipments, cancellations, refunds (some beyond the total, so parked), some
// gaps in sequence (held), and repeated OrderPlaced events (a misplacement
// the order history must still sort right).
func asOfHistory(rng *rand.Rand) (events []orderevents.Event, customers, merchants []string) {
	currencies := []string{"EUR", "USD", "JPY"}
	customers, merchants = []string{"cus_0", "cus_1", "cus_2"}, []string{"mer_0", "mer_1"}
	for o := range 30 + rng.IntN(30) {
		id := fmt.Sprintf("ord_%d", o)
		at := time.Date(2026, 2, 1+rng.IntN(5), rng.IntN(24), rng.IntN(60), rng.IntN(60), 0, time.UTC)
		placedEvent := func(seq int64) orderevents.Event {
			qty, unit := 1+rng.Int64N(4), rng.Int64N(100_000)
			var tax int64
			if rng.IntN(2) == 0 { // some orders carry tax (version 2), the rest none
				tax = rng.Int64N(qty*unit/5 + 1)
			}
			return event(id, seq, orderevents.TypeOrderPlaced, orderevents.OrderPlaced{
				CustomerID: customers[rng.IntN(len(customers))], MerchantID: merchants[rng.IntN(len(merchants))],
				Currency: currencies[rng.IntN(len(currencies))],
				Items:    []orderevents.Item{{SKU: "sku", Qty: qty, UnitPriceCents: unit, TaxCents: tax}}, TotalCents: qty*unit + tax}, at)
		}
		evs := []orderevents.Event{placedEvent(1)}
		seq := int64(1)
		for range rng.IntN(6) {
			at = at.Add(time.Duration(1+rng.IntN(900)) * time.Minute)
			seq++
			if rng.IntN(15) == 0 {
				seq++ // a gap: this and the rest are held
			}
			switch rng.IntN(6) {
			case 0:
				evs = append(evs, event(id, seq, orderevents.TypePaymentCaptured, orderevents.PaymentCaptured{AmountCents: 1}, at))
			case 1:
				evs = append(evs, event(id, seq, orderevents.TypeOrderShipped, orderevents.OrderShipped{Carrier: "DHL", TrackingNumber: id}, at))
			case 2:
				evs = append(evs, event(id, seq, orderevents.TypeOrderCancelled, orderevents.OrderCancelled{Reason: "r"}, at))
			case 3:
				if rng.IntN(4) == 0 {
					e := placedEvent(seq) // placed again, possibly on another day
					e.OccurredAt = at
					evs = append(evs, e)
					continue
				}
				fallthrough
			default:
				amount := rng.Int64N(60_000)
				if rng.IntN(10) == 0 {
					amount = 1 << 40 // beyond any total: parked
				}
				evs = append(evs, event(id, seq, orderevents.TypeOrderRefunded, orderevents.OrderRefunded{AmountCents: amount}, at))
			}
		}
		events = append(events, evs...)
	}
	slices.SortStableFunc(events, func(a, b orderevents.Event) int { return a.OccurredAt.Compare(b.OccurredAt) })
	return events, customers, merchants
}

func checkAsOf(t *testing.T, seed uint64) {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	events, customers, merchants := asOfHistory(rng)
	s, _ := newStore(t)

	cut := len(events)/4 + rng.IntN(len(events)/2)
	asOf := events[cut-1].OccurredAt
	for cut < len(events) && !events[cut].OccurredAt.After(asOf) {
		cut++ // every event that occurred by T arrived by T
	}
	appendInBatches(t, s, rng, events[:cut])
	if _, err := s.ProjectOnce(ctx); err != nil {
		t.Fatalf("project: %v", err)
	}

	type build struct {
		typ     report.Type
		params  report.Params
		subject string
	}
	builds := make([]build, 0, 2*len(customers)+2*len(merchants))
	for _, c := range customers {
		builds = append(builds, build{report.TypeOrderHistory, report.Params{CustomerID: c, From: "2026-02-02", To: "2026-02-04"}, c})
		builds = append(builds, build{report.TypeOrderHistory, report.Params{CustomerID: c, From: "2026-01-01", To: "2026-12-31"}, c})
	}
	for _, m := range merchants {
		builds = append(builds, build{report.TypeMerchantSales, report.Params{MerchantID: m, From: "2026-02-02", To: "2026-02-04"}, m})
		builds = append(builds, build{report.TypeMerchantSales, report.Params{MerchantID: m, From: "2026-01-01", To: "2026-12-31"}, m})
		// Local days: the live report regroups at read time, the as_of fold
		// buckets as it folds; both must agree.
		builds = append(builds, build{report.TypeMerchantSales, report.Params{MerchantID: m, From: "2026-02-02", To: "2026-02-04", Timezone: "Pacific/Kiritimati", Locale: "de-DE"}, m})
	}
	if len(customers) > 0 {
		c := customers[0]
		builds = append(builds, build{report.TypeOrderHistory, report.Params{CustomerID: c, From: "2026-02-02", To: "2026-02-04", Timezone: "America/Los_Angeles"}, c})
	}
	formats := []report.Format{report.FormatCSV, report.FormatPDF, report.FormatXLSX}
	live := map[string][]byte{}
	for _, b := range builds {
		for _, f := range formats {
			live[fmt.Sprint(b, f)] = renderNormalized(t, func(fn func(report.Document) error) error {
				return s.OpenDocument(ctx, "cli_a", b.typ, b.params, 0, fn)
			}, f)
		}
	}

	// Later events, occurred after T, arrive; the projections move on.
	appendInBatches(t, s, rng, events[cut:])
	if _, err := s.ProjectOnce(ctx); err != nil {
		t.Fatalf("project: %v", err)
	}
	for _, b := range builds {
		for _, f := range formats {
			want := live[fmt.Sprint(b, f)]
			got := renderNormalized(t, func(fn func(report.Document) error) error {
				return s.OpenDocumentAsOf(ctx, "cli_a", b.typ, b.params, asOf, 0, fn)
			}, f)
			if bytes.Equal(want, got) {
				continue
			}
			if f == report.FormatCSV {
				t.Errorf("%s %s %s..%s as of %s: CSV differs from the live report (-live +as_of):\n%s",
					b.typ, b.subject, b.params.From, b.params.To, asOf.Format(time.RFC3339), cmp.Diff(string(want), string(got)))
			} else {
				t.Errorf("%s %s %s..%s as of %s: %s differs from the live report (%d vs %d bytes)",
					b.typ, b.subject, b.params.From, b.params.To, asOf.Format(time.RFC3339), f, len(want), len(got))
			}
		}
	}
}

// appendInBatches appends events in their order, a random few at a time.
func appendInBatches(tb testing.TB, s *readmodel.Store, rng *rand.Rand, events []orderevents.Event) {
	tb.Helper()
	for len(events) > 0 {
		n := min(len(events), 1+rng.IntN(10))
		mustAppend(tb, s, "cli_a", events[:n]...)
		events = events[n:]
	}
}

// renderNormalized renders a report with the header fields that say when and
// at which position it was built fixed, so two builds of the same data
// compare byte for byte. An unknown subject renders as "unknown".
func renderNormalized(tb testing.TB, open func(fn func(report.Document) error) error, f report.Format) []byte {
	tb.Helper()
	var buf bytes.Buffer
	err := open(func(doc report.Document) error {
		doc.Header.ReportID, doc.Header.ClientName = "rep_1", "Client A"
		doc.Header.Title = "Report"
		doc.Header.GeneratedAt = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		doc.Header.DataPosition = 0
		_, err := report.Render(context.Background(), &buf, f, doc)
		return err
	})
	if errors.Is(err, report.ErrUnknownSubject) {
		return []byte("unknown")
	}
	if err != nil {
		tb.Fatalf("render %s: %v", f, err)
	}
	return buf.Bytes()
}

// An event that occurred before T but arrived after the live report at T is
// in a later as_of T report: as_of is about occurrence time only, the report
// as the log now says things stood at T (README, openapi.yaml).
func TestAsOfIncludesLateArrivingEvents(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	asOf := at(12)
	mustAppend(t, s, "cli_a",
		event("ord_1", 1, orderevents.TypeOrderPlaced, placed("cus_1", "mer_1", 10_000), at(9)),
		event("ord_2", 1, orderevents.TypeOrderPlaced, placed("cus_1", "mer_1", 5_000), at(10)))
	if _, err := s.ProjectOnce(ctx); err != nil {
		t.Fatal(err)
	}
	p := report.Params{CustomerID: "cus_1", From: "2026-02-01", To: "2026-02-01"}
	before := asOfRows(t, s, p, asOf)

	// Recorded now, occurred at 11:00 (before T); and one after T.
	mustAppend(t, s, "cli_a",
		event("ord_1", 2, orderevents.TypeOrderRefunded, orderevents.OrderRefunded{AmountCents: 2_500}, at(11)),
		event("ord_2", 2, orderevents.TypeOrderCancelled, orderevents.OrderCancelled{Reason: "r"}, at(13)))
	after := asOfRows(t, s, p, asOf)

	summary := func(rows []report.OrderRow) []string {
		out := make([]string, 0, len(rows))
		for _, r := range rows {
			out = append(out, fmt.Sprintf("%s %s total=%d refunded=%d", r.OrderID, r.Status, r.TotalCents, r.RefundedCents))
		}
		return out
	}
	if diff := cmp.Diff([]string{"ord_1 placed total=10000 refunded=0", "ord_2 placed total=5000 refunded=0"}, summary(before)); diff != "" {
		t.Errorf("as of T before the late event (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"ord_1 refunded total=10000 refunded=2500", "ord_2 placed total=5000 refunded=0"}, summary(after)); diff != "" {
		t.Errorf("as of T after the late event (-want +got):\n%s", diff)
	}
}

func asOfRows(tb testing.TB, s *readmodel.Store, p report.Params, asOf time.Time) []report.OrderRow {
	tb.Helper()
	var out []report.OrderRow
	err := s.OpenDocumentAsOf(context.Background(), "cli_a", report.TypeOrderHistory, p, asOf, 0, func(doc report.Document) error {
		for r, err := range doc.Orders {
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		if doc.RowCount != len(out) {
			return fmt.Errorf("RowCount %d, %d rows", doc.RowCount, len(out))
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("open as of %s: %v", asOf, err)
	}
	return out
}

// A subject none of whose orders was placed by T is unknown at T, and
// min_position is checked against the log itself.
func TestAsOfUnknownSubjectAndMinPosition(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	pos := mustAppend(t, s, "cli_a", event("ord_1", 1, orderevents.TypeOrderPlaced, placed("cus_1", "mer_1", 100), at(9)))
	p := report.Params{CustomerID: "cus_1", From: "2026-02-01", To: "2026-02-01"}
	noop := func(report.Document) error { return nil }
	if err := s.OpenDocumentAsOf(ctx, "cli_a", report.TypeOrderHistory, p, at(8), 0, noop); !errors.Is(err, report.ErrUnknownSubject) {
		t.Errorf("as of before the first order: %v, want ErrUnknownSubject", err)
	}
	// Nothing is projected: as_of does not need the projections.
	if err := s.OpenDocumentAsOf(ctx, "cli_a", report.TypeOrderHistory, p, at(9), pos, noop); err != nil {
		t.Errorf("as of with min_position %d, unprojected: %v", pos, err)
	}
	if err := s.OpenDocumentAsOf(ctx, "cli_a", report.TypeOrderHistory, p, at(9), pos+1, noop); !errors.Is(err, report.ErrBehind) {
		t.Errorf("as of with min_position %d beyond the log: %v, want ErrBehind", pos+1, err)
	}
}
