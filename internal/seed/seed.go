package seed

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/reportd/reportd/internal/domain"
	"github.com/reportd/reportd/internal/orderevents"
)

// Appender is where seeded events go: readmodel.Store in production.
type Appender interface {
	Append(ctx context.Context, clientID string, events []orderevents.Event) (domain.AppendResult, error)
}

// Options shape the generated data. Zero values take defaults: 10
// customers, 5 orders each, one merchant per 4 customers (at least 3),
// and the first quarter of 2026.
type Options struct {
	Customers, OrdersPerCustomer, Merchants int
	Seed                                    int64
	From, To                                time.Time
}

// Summary names what was generated.
type Summary struct {
	Customers []string `json:"customers"`
	Merchants []string `json:"merchants"`
	Orders    int      `json:"orders"`
}

// shuffleWindow is how far apart (in arrival order) two events may swap, so
// some events arrive before the ones they follow.
const shuffleWindow = 64

// Run generates the data for opt and appends it for clientID in batches of
// at most orderevents.MaxBatch, reporting progress to progress. The same
// Seed gives the same events, so running it twice only adds duplicates.
func Run(ctx context.Context, app Appender, clientID string, opt Options, progress io.Writer) (Summary, error) {
	events, sum := Events(opt)
	var accepted, dups int
	for start := 0; start < len(events); start += orderevents.MaxBatch {
		end := min(start+orderevents.MaxBatch, len(events))
		res, err := app.Append(ctx, clientID, events[start:end])
		if err != nil {
			return sum, fmt.Errorf("seed events %d-%d: %w", start, end, err)
		}
		accepted += res.Accepted
		dups += res.Duplicates
		fmt.Fprintf(progress, "seed: %d/%d events appended (%d new, %d duplicates), log position %d\n",
			end, len(events), accepted, dups, res.Position)
	}
	return sum, nil
}

type currencyRange struct {
	code     string
	min, max int64 // unit price in minor units
	taxBP    int64 // tax on a line, in basis points of its price (a typical VAT or sales-tax rate)
}

// Events generates the events of opt in arrival order (mostly by time, with
// local reordering) without appending them.
func Events(opt Options) ([]orderevents.Event, Summary) {
	opt.Customers = cmp.Or(opt.Customers, 10)
	opt.OrdersPerCustomer = cmp.Or(opt.OrdersPerCustomer, 5)
	opt.Merchants = cmp.Or(opt.Merchants, max(3, opt.Customers/4))
	if opt.From.IsZero() {
		opt.From = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if opt.To.IsZero() || !opt.To.After(opt.From) {
		opt.To = opt.From.AddDate(0, 3, 0)
	}
	rng := rand.New(rand.NewPCG(uint64(opt.Seed), 0x5eed5eed))   //nolint:gosec // demo data must be reproducible from the seed, not unpredictable
	tag := strconv.FormatUint(uint64(opt.Seed)&0xffffffffff, 36) //nolint:gosec // only the seed's low 40 bits name the run

	currencies := []currencyRange{
		{"USD", 199, 25000, 800}, {"EUR", 150, 22000, 1900}, {"GBP", 120, 20000, 2000},
		{"JPY", 300, 40000, 1000}, {"CHF", 200, 26000, 810}, {"SEK", 1500, 250000, 2500},
	}
	carriers := []string{"DHL Express", "UPS", "Royal Mail", "La Poste – Colissimo", "ヤマト運輸",
		"Correos España", "Poczta Polska — Kurier", "PostNord Sverige"}
	reasons := []string{"Customer changed their mind", "Kunde hat storniert – Lieferung zu spät",
		"Adresse introuvable", "在庫切れ", "Payment declined", "Article défectueux à la réception"}
	products := []string{"mug", "tee", "hoodie", "poster", "sticker", "notebook", "cap", "tote"}

	sum := Summary{Orders: opt.Customers * opt.OrdersPerCustomer}
	for i := 1; i <= opt.Customers; i++ {
		sum.Customers = append(sum.Customers, "cus_"+strconv.Itoa(i))
	}
	// Each merchant sells in one currency; every third also in a second.
	merchantCur := make([][]currencyRange, opt.Merchants)
	for i := range opt.Merchants {
		sum.Merchants = append(sum.Merchants, "mer_"+strconv.Itoa(i+1))
		merchantCur[i] = []currencyRange{currencies[i%len(currencies)]}
		if i%3 == 2 {
			merchantCur[i] = append(merchantCur[i], currencies[(i+1)%len(currencies)])
		}
	}

	span := opt.To.Sub(opt.From)
	events := make([]orderevents.Event, 0, sum.Orders*4)
	n := 0
	for c, customer := range sum.Customers {
		for range opt.OrdersPerCustomer {
			n++
			orderID := fmt.Sprintf("ord_%s_%d", tag, n)
			// Customers favour a few merchants.
			m := (c*7 + rng.IntN(3)) % opt.Merchants
			if rng.IntN(5) == 0 {
				m = rng.IntN(opt.Merchants)
			}
			cur := merchantCur[m][rng.IntN(len(merchantCur[m]))]
			placed := opt.From.Add(time.Duration(rng.Int64N(int64(span)))).Truncate(time.Second)

			nItems := 1 + rng.IntN(4)
			items := make([]orderevents.Item, 0, nItems)
			var total int64
			for range nItems {
				it := orderevents.Item{
					SKU:            fmt.Sprintf("%s-%s-%03d", products[rng.IntN(len(products))], cur.code, rng.IntN(200)),
					Qty:            1 + rng.Int64N(3),
					UnitPriceCents: cur.min + rng.Int64N(cur.max-cur.min),
				}
				// Tax is on top of the line's price and inside the total, as
				// OrderPlaced v2 defines it; rounded half up to the minor unit.
				price := it.Qty * it.UnitPriceCents
				it.TaxCents = (price*cur.taxBP + 5000) / 10000
				total += price + it.TaxCents
				items = append(items, it)
			}

			seq := int64(0)
			at := placed
			add := func(typ string, data any) {
				seq++
				b, _ := json.Marshal(data) //nolint:errchkjson // plain structs always marshal
				events = append(events, orderevents.Event{
					EventID: fmt.Sprintf("evt_%s_%d_%d", tag, n, seq), OrderID: orderID,
					Sequence: seq, Type: typ, SchemaVersion: orderevents.LatestSchemaVersion(typ), OccurredAt: at, Data: b,
				})
			}
			later := func(lo, hi time.Duration) {
				at = at.Add(lo + time.Duration(rng.Int64N(int64(hi-lo)))).Truncate(time.Second)
			}

			add(orderevents.TypeOrderPlaced, orderevents.OrderPlaced{
				CustomerID: customer, MerchantID: sum.Merchants[m], Currency: cur.code, Items: items, TotalCents: total,
			})
			switch r := rng.IntN(100); {
			case r < 10: // never paid (yet)
			case r < 18: // cancelled before payment
				later(10*time.Minute, 24*time.Hour)
				add(orderevents.TypeOrderCancelled, orderevents.OrderCancelled{Reason: reasons[rng.IntN(len(reasons))]})
			case r < 23: // paid, cancelled and refunded in full
				later(time.Minute, time.Hour)
				add(orderevents.TypePaymentCaptured, orderevents.PaymentCaptured{AmountCents: total})
				later(time.Hour, 48*time.Hour)
				add(orderevents.TypeOrderCancelled, orderevents.OrderCancelled{Reason: reasons[rng.IntN(len(reasons))]})
				later(time.Hour, 72*time.Hour)
				add(orderevents.TypeOrderRefunded, orderevents.OrderRefunded{AmountCents: total})
			default:
				later(time.Minute, time.Hour)
				add(orderevents.TypePaymentCaptured, orderevents.PaymentCaptured{AmountCents: total})
				if rng.IntN(10) == 0 {
					break // paid, not shipped yet
				}
				later(6*time.Hour, 96*time.Hour)
				add(orderevents.TypeOrderShipped, orderevents.OrderShipped{
					Carrier:        carriers[rng.IntN(len(carriers))],
					TrackingNumber: fmt.Sprintf("TRK%010d", rng.Int64N(1e10)),
				})
				if rng.IntN(8) == 0 { // partial refund after delivery
					later(48*time.Hour, 20*24*time.Hour)
					add(orderevents.TypeOrderRefunded, orderevents.OrderRefunded{AmountCents: 1 + rng.Int64N(total/2+1)})
				}
			}
		}
	}

	// Upstream emits roughly in time order; a stable sort keeps each order's
	// equal-time events in sequence, then local swaps make some arrive early.
	slices.SortStableFunc(events, func(a, b orderevents.Event) int { return a.OccurredAt.Compare(b.OccurredAt) })
	for start := 0; start < len(events); start += shuffleWindow {
		w := events[start:min(start+shuffleWindow, len(events))]
		rng.Shuffle(len(w), func(i, j int) { w[i], w[j] = w[j], w[i] })
	}
	return events, sum
}
