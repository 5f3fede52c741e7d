package readmodel_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/reportd/reportd/internal/orderevents"
	"github.com/reportd/reportd/internal/readmodel"
	"github.com/reportd/reportd/internal/report"
)

var schemaSeed = flag.Uint64("schema.seed", 0, "seed of TestSchemaVersionsFoldAlike (0: a new one each run)")

// TestSchemaVersionsFoldAlike is the upcaster's property: random histories
// whose OrderPlaced events are a mix of schema versions 1 and 2 (in one order
// too: an order placed again under the other version) fold, through the real
// append and projector on Postgres, to the same read model as the history
// in which every OrderPlaced is version 2 (a v1 one becoming v2 with zero
// tax). The same holds for every reader: both projections, what they park
// and hold, the order as of any time, the as_of report, and the audit
// trail's upcast data.
func TestSchemaVersionsFoldAlike(t *testing.T) {
	seed := *schemaSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano()) //nolint:gosec // a seed, printed below
	}
	rounds := 2
	if *schemaSeed != 0 {
		rounds = 1
	}
	for round := range rounds {
		s := seed + uint64(round) //nolint:gosec // round is small
		t.Run(fmt.Sprintf("seed=%d", s), func(t *testing.T) {
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("reproduce with: go test ./internal/readmodel -run TestSchemaVersionsFoldAlike -schema.seed=%d", s)
				}
			})
			checkSchemaVersions(t, s)
		})
	}
}

// versionedHistory is one history twice: mixed (as clients sent it) and
// allV2 (the same events, every OrderPlaced as version 2).
type versionedHistory struct {
	mixed, allV2 map[string][]orderevents.Event // by client
	orders       []subjectKey                   // client and order id
	customers    []subjectKey
	v1, taxed    int // OrderPlaced events of version 1, and of version 2 with some tax
}

func genVersionedHistory(rng *rand.Rand) versionedHistory {
	h := versionedHistory{mixed: map[string][]orderevents.Event{}, allV2: map[string][]orderevents.Event{}}
	currencies := []string{"EUR", "USD", "JPY", "KWD"}
	seenCustomer := map[subjectKey]bool{}
	for _, client := range []string{"cli_a", "cli_b"} {
		for o := range 15 + rng.IntN(15) {
			id := fmt.Sprintf("ord_%d", o)
			h.orders = append(h.orders, subjectKey{client, id})
			cust, merch := fmt.Sprintf("cus_%d", rng.IntN(3)), fmt.Sprintf("mer_%d", rng.IntN(3))
			if k := (subjectKey{client, cust}); !seenCustomer[k] {
				seenCustomer[k] = true
				h.customers = append(h.customers, k)
			}
			cur := currencies[rng.IntN(len(currencies))]
			at := time.Date(2026, 2, 1+rng.IntN(4), rng.IntN(24), rng.IntN(60), 0, 0, time.UTC)
			var total int64
			var mixed, allV2 []orderevents.Event
			place := func(seq int64) {
				v1 := rng.IntN(2) == 0
				var items []orderevents.Item
				total = 0
				for i := range 1 + rng.IntN(3) {
					it := orderevents.Item{SKU: fmt.Sprintf("sku-%d", i), Qty: 1 + rng.Int64N(5), UnitPriceCents: rng.Int64N(200_000)}
					if !v1 && rng.IntN(3) > 0 {
						it.TaxCents = rng.Int64N(it.Qty*it.UnitPriceCents/4 + 1)
					}
					items = append(items, it)
					total += it.Qty*it.UnitPriceCents + it.TaxCents
				}
				v2 := orderevents.OrderPlaced{CustomerID: cust, MerchantID: merch, Currency: cur, Items: items, TotalCents: total}
				as2 := event(id, seq, orderevents.TypeOrderPlaced, v2, at)
				allV2 = append(allV2, as2)
				switch {
				case v1:
					h.v1++
					v1Data := orderevents.OrderPlacedV1{CustomerID: cust, MerchantID: merch, Currency: cur, TotalCents: total}
					for _, it := range items {
						v1Data.Items = append(v1Data.Items, orderevents.ItemV1{SKU: it.SKU, Qty: it.Qty, UnitPriceCents: it.UnitPriceCents})
					}
					mixed = append(mixed, event(id, seq, orderevents.TypeOrderPlaced, v1Data, at))
				default:
					if total > 0 && slices.ContainsFunc(items, func(it orderevents.Item) bool { return it.TaxCents > 0 }) {
						h.taxed++
					}
					mixed = append(mixed, as2)
				}
			}
			place(1)
			var refunded int64
			for range rng.IntN(6) {
				at = at.Add(time.Duration(1+rng.IntN(600)) * time.Minute)
				seq := int64(len(allV2) + 1)
				var e orderevents.Event
				switch rng.IntN(6) {
				case 0:
					place(seq) // placed again, maybe under the other version
					refunded = 0
					continue
				case 1:
					e = event(id, seq, orderevents.TypePaymentCaptured, orderevents.PaymentCaptured{AmountCents: total}, at)
				case 2:
					e = event(id, seq, orderevents.TypeOrderShipped, orderevents.OrderShipped{Carrier: "DHL", TrackingNumber: id}, at)
				case 3:
					e = event(id, seq, orderevents.TypeOrderCancelled, orderevents.OrderCancelled{Reason: "r"}, at)
				default:
					amount := rng.Int64N(max(total-refunded, 0) + 1)
					if rng.IntN(10) == 0 {
						amount = total + 1 // beyond the total: parked, in both histories
					}
					refunded += amount
					e = event(id, seq, orderevents.TypeOrderRefunded, orderevents.OrderRefunded{AmountCents: amount}, at)
				}
				mixed, allV2 = append(mixed, e), append(allV2, e)
			}
			if rng.IntN(20) == 0 && len(mixed) > 1 { // a gap: what follows is held
				mixed, allV2 = slices.Delete(mixed, 1, 2), slices.Delete(allV2, 1, 2)
			}
			h.mixed[client] = append(h.mixed[client], mixed...)
			h.allV2[client] = append(h.allV2[client], allV2...)
		}
	}
	return h
}

func checkSchemaVersions(t *testing.T, seed uint64) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, seed^0x2545f4914f6cdd1d))
	h := genVersionedHistory(rng)
	if h.v1 == 0 || h.taxed == 0 {
		t.Fatalf("the history has %d v1 and %d taxed v2 OrderPlaced events; the property needs both", h.v1, h.taxed)
	}
	mixed, mixedPool := newStore(t)
	allV2, allV2Pool := newStore(t)

	// Both stores get the same events in the same shuffled batches, so log
	// positions match too; they are projected at the same points.
	order := map[string][]int{}
	for c, evs := range h.mixed {
		order[c] = rng.Perm(len(evs))
	}
	for len(order["cli_a"])+len(order["cli_b"]) > 0 {
		c := []string{"cli_a", "cli_b"}[rng.IntN(2)]
		q := order[c]
		if len(q) == 0 {
			continue
		}
		n := min(len(q), 1+rng.IntN(30))
		var a, b []orderevents.Event
		for _, i := range q[:n] {
			a, b = append(a, h.mixed[c][i]), append(b, h.allV2[c][i])
		}
		mustAppend(t, mixed, c, a...)
		mustAppend(t, allV2, c, b...)
		order[c] = q[n:]
		if rng.IntN(3) == 0 {
			project(t, mixed, allV2)
		}
	}
	project(t, mixed, allV2)

	if diff := cmp.Diff(readModel(t, allV2Pool), readModel(t, mixedPool)); diff != "" {
		t.Errorf("read model (-all v2 +mixed versions):\n%s", diff)
	}

	// The order as of now and as of a time inside the history.
	mid := time.Date(2026, 2, 3, 0, 0, 0, 0, time.UTC)
	far := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, k := range h.orders {
		for _, at := range []time.Time{mid, far} {
			want, wantErr := allV2.OrderAsOf(ctx, k.Client, k.Subject, at)
			got, gotErr := mixed.OrderAsOf(ctx, k.Client, k.Subject, at)
			if (wantErr == nil) != (gotErr == nil) {
				t.Fatalf("%s %s as of %s: error %v, want %v", k.Client, k.Subject, at, gotErr, wantErr)
			}
			if diff := cmp.Diff(comparableSnapshot(want), comparableSnapshot(got)); diff != "" {
				t.Errorf("%s %s as of %s (-all v2 +mixed):\n%s", k.Client, k.Subject, at, diff)
			}
		}
	}

	// The as_of report folds the log with the same upcast.
	params := report.Params{From: "2026-01-01", To: "2026-12-31"}
	for _, k := range h.customers {
		p := params
		p.CustomerID = k.Subject
		want := clientAsOfRows(t, allV2, k.Client, p, far)
		if diff := cmp.Diff(want, clientAsOfRows(t, mixed, k.Client, p, far)); diff != "" {
			t.Errorf("%s %s order_history as of %s (-all v2 +mixed):\n%s", k.Client, k.Subject, far, diff)
		}
		if diff := cmp.Diff(readRows(t, allV2, k.Client, report.TypeOrderHistory, p).orders, want); diff != "" {
			t.Errorf("%s %s order_history: live vs as_of (-live +as_of):\n%s", k.Client, k.Subject, diff)
		}
	}

	// The audit trail shows each event as stored and, for a v1 one, the
	// upcast data, which reads as the all-v2 history's event.
	for _, k := range h.orders {
		got, err := mixed.OrderEvents(ctx, k.Client, k.Subject, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		want, err := allV2.OrderEvents(ctx, k.Client, k.Subject, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s %s: %d events in the audit trail, want %d", k.Client, k.Subject, len(got), len(want))
		}
		for i, g := range got {
			w := want[i]
			if w.SchemaVersion != orderevents.LatestSchemaVersion(w.Type) || w.Upcast != nil {
				t.Errorf("%s %s seq %d of the all-v2 history: version %d, upcast %s; want the latest, no upcast", k.Client, k.Subject, w.Sequence, w.SchemaVersion, w.Upcast)
			}
			data := g.Data
			if g.SchemaVersion < orderevents.LatestSchemaVersion(g.Type) {
				if g.UpcastVersion != w.SchemaVersion || g.Upcast == nil {
					t.Fatalf("%s %s seq %d: v%d event without its upcast (v%d, %s)", k.Client, k.Subject, g.Sequence, g.SchemaVersion, g.UpcastVersion, g.Upcast)
				}
				data = g.Upcast
			}
			gd, err := orderevents.Decode(g.Type, w.SchemaVersion, data)
			if err != nil {
				t.Fatal(err)
			}
			wd, err := orderevents.Decode(w.Type, w.SchemaVersion, w.Data)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(wd, gd); diff != "" {
				t.Errorf("%s %s seq %d: audit trail data (-all v2 +mixed, upcast):\n%s", k.Client, k.Subject, g.Sequence, diff)
			}
		}
	}
}

func project(tb testing.TB, stores ...*readmodel.Store) {
	tb.Helper()
	for _, s := range stores {
		if _, err := s.ProjectOnce(context.Background()); err != nil {
			tb.Fatalf("project: %v", err)
		}
	}
}

// readModel dumps every projection table, and what the projector holds and
// parks, row by row in key order (parked errors left out: they quote data).
func readModel(tb testing.TB, pool *pgxpool.Pool) map[string][]string {
	tb.Helper()
	out := map[string][]string{}
	for name, q := range map[string]string{
		"customer_order_history": "SELECT t::text FROM customer_order_history t ORDER BY client_id, order_id",
		"merchant_sales_orders":  "SELECT t::text FROM merchant_sales_orders t ORDER BY client_id, order_id",
		"merchant_daily_sales":   "SELECT t::text FROM merchant_daily_sales t ORDER BY client_id, merchant_id, day, currency",
		"projection_held":        "SELECT t::text FROM projection_held t ORDER BY projection, client_id, order_id, sequence",
		"projection_parked":      "SELECT (projection, client_id, order_id, sequence, position)::text FROM projection_parked ORDER BY 1",
		"projection_checkpoints": "SELECT (name, position)::text FROM projection_checkpoints ORDER BY 1",
	} {
		rows, err := pool.Query(context.Background(), q)
		if err != nil {
			tb.Fatalf("dump %s: %v", name, err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				tb.Fatalf("dump %s: %v", name, err)
			}
			out[name] = append(out[name], s)
		}
		if err := rows.Err(); err != nil {
			tb.Fatalf("dump %s: %v", name, err)
		}
	}
	if len(out["customer_order_history"]) == 0 {
		tb.Fatal("the read model is empty")
	}
	return out
}

// comparableSnapshot leaves out of a snapshot what is the stored event
// itself (its data and version differ between the histories by design).
func comparableSnapshot(s readmodel.OrderSnapshot) readmodel.OrderSnapshot {
	if s.Parked != nil {
		p := *s.Parked
		p.Data, p.SchemaVersion, p.Upcast, p.UpcastVersion, p.RecordedAt = nil, 0, nil, 0, time.Time{}
		s.Parked = &p
	}
	return s
}

func clientAsOfRows(tb testing.TB, s *readmodel.Store, clientID string, p report.Params, asOf time.Time) []report.OrderRow {
	tb.Helper()
	var out []report.OrderRow
	err := s.OpenDocumentAsOf(context.Background(), clientID, report.TypeOrderHistory, p, asOf, 0, func(doc report.Document) error {
		for r, err := range doc.Orders {
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("open order_history of %s as of %s: %v", p.CustomerID, asOf, err)
	}
	return out
}
