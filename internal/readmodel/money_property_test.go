package readmodel_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/reportd/reportd/internal/orderevents"
	"github.com/reportd/reportd/internal/readmodel"
	"github.com/reportd/reportd/internal/report"
)

var moneySeed = flag.Uint64("money.seed", 0, "seed of TestMoneyAgreesEverywhere (0: a new one each run)")

// maxAmountMinor is the edge's bound on an amount (orderevents.MaxAmountMinor
// once the edge's validation lands); generated orders stay within it.
const maxAmountMinor = 1_000_000_000_000

// TestMoneyAgreesEverywhere generates random order histories (orders in
// several currencies, placed by OrderPlaced version 1 (no tax) or version 2
// (with or without tax), payments, cancellations, refunds, a few refunds
// beyond the total that must be parked, a few orders whose first event never
// arrives), appends them out of order through the real event path, projects,
// and checks that every report agrees: the order_history totals of every
// customer and the merchant_sales totals and days of every merchant (gross,
// refunds, net and tax), read from the rows, from the rendered CSV and from
// the rendered PDF's text, against each other and against a plain SQL sum
// over order_events. The merchant days are also read through the read-time
// time-zone fold (in Etc/UTC, so the same days) and through the as_of fold,
// which must give the same rows.
func TestMoneyAgreesEverywhere(t *testing.T) {
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Fatal("pdftotext is not installed; install it with: apt-get install -y poppler-utils")
	}
	seed := *moneySeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano()) //nolint:gosec // a seed, printed below
	}
	rounds := 2
	if *moneySeed != 0 {
		rounds = 1
	}
	for round := range rounds {
		s := seed + uint64(round) //nolint:gosec // round is small
		t.Run(fmt.Sprintf("seed=%d", s), func(t *testing.T) {
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("reproduce with: go test ./internal/readmodel -run TestMoneyAgreesEverywhere -money.seed=%d", s)
				}
			})
			checkMoney(t, s)
		})
	}
}

type subjectKey struct{ Client, Subject string }

type history struct {
	events    map[string][]orderevents.Event // by client
	customers map[subjectKey]bool
	merchants map[subjectKey]bool
}

func genHistory(rng *rand.Rand) history {
	h := history{events: map[string][]orderevents.Event{}, customers: map[subjectKey]bool{}, merchants: map[subjectKey]bool{}}
	currencies := []string{"EUR", "USD", "JPY", "KWD"}
	for _, client := range []string{"cli_a", "cli_b"} {
		orders := 20 + rng.IntN(20)
		for o := range orders {
			id := fmt.Sprintf("ord_%d", o)
			cust := fmt.Sprintf("cus_%d", rng.IntN(4))
			merch := fmt.Sprintf("mer_%d", rng.IntN(3))
			h.customers[subjectKey{client, cust}] = true
			h.merchants[subjectKey{client, merch}] = true
			at := time.Date(2026, 2, 1+rng.IntN(4), rng.IntN(24), rng.IntN(60), 0, 0, time.UTC)
			var items []orderevents.Item
			var total int64
			v1 := rng.IntN(3) == 0 // a version 1 order states no tax
			for i := range 1 + rng.IntN(3) {
				qty := 1 + rng.Int64N(5)
				unit := rng.Int64N(200_000)
				if rng.IntN(10) == 0 {
					unit = rng.Int64N(maxAmountMinor / 20)
				}
				it := orderevents.Item{SKU: fmt.Sprintf("sku-%d", i), Qty: qty, UnitPriceCents: unit}
				if !v1 && rng.IntN(3) > 0 {
					it.TaxCents = rng.Int64N(qty*unit/4 + 1)
				}
				items = append(items, it)
				total += qty*unit + it.TaxCents
			}
			cur := currencies[rng.IntN(len(currencies))]
			var placed any = orderevents.OrderPlaced{CustomerID: cust, MerchantID: merch, Currency: cur, Items: items, TotalCents: total}
			if v1 {
				p := orderevents.OrderPlacedV1{CustomerID: cust, MerchantID: merch, Currency: cur, TotalCents: total}
				for _, it := range items {
					p.Items = append(p.Items, orderevents.ItemV1{SKU: it.SKU, Qty: it.Qty, UnitPriceCents: it.UnitPriceCents})
				}
				placed = p
			}
			evs := []orderevents.Event{event(id, 1, orderevents.TypeOrderPlaced, placed, at)}
			var refunded int64
			for range rng.IntN(6) {
				at = at.Add(time.Duration(1+rng.IntN(600)) * time.Minute)
				seq := int64(len(evs) + 1)
				switch rng.IntN(5) {
				case 0:
					evs = append(evs, event(id, seq, orderevents.TypePaymentCaptured, orderevents.PaymentCaptured{AmountCents: total}, at))
				case 1:
					evs = append(evs, event(id, seq, orderevents.TypeOrderShipped, orderevents.OrderShipped{Carrier: "DHL", TrackingNumber: id}, at))
				case 2:
					evs = append(evs, event(id, seq, orderevents.TypeOrderCancelled, orderevents.OrderCancelled{Reason: "r"}, at))
				default:
					left := max(total-refunded, 0)
					amount := rng.Int64N(left + 1)
					if rng.IntN(12) == 0 {
						amount = left + 1 + rng.Int64N(1000) // beyond the total: parked
					}
					refunded += amount
					evs = append(evs, event(id, seq, orderevents.TypeOrderRefunded, orderevents.OrderRefunded{AmountCents: amount}, at))
				}
			}
			if rng.IntN(25) == 0 {
				evs = evs[1:] // OrderPlaced never arrives: the rest waits forever
			}
			h.events[client] = append(h.events[client], evs...)
		}
	}
	return h
}

func checkMoney(t *testing.T, seed uint64) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	h := genHistory(rng)
	s, pool := newStore(t)

	// Out of order: each tenant's events shuffled, appended in random
	// batches, interleaved between tenants, projected now and then.
	queues := map[string][]orderevents.Event{}
	for c, evs := range h.events {
		q := slices.Clone(evs)
		rng.Shuffle(len(q), func(i, j int) { q[i], q[j] = q[j], q[i] })
		queues[c] = q
	}
	for len(queues["cli_a"])+len(queues["cli_b"]) > 0 {
		c := []string{"cli_a", "cli_b"}[rng.IntN(2)]
		q := queues[c]
		if len(q) == 0 {
			continue
		}
		n := min(len(q), 1+rng.IntN(40))
		mustAppend(t, s, c, q[:n]...)
		queues[c] = q[n:]
		if rng.IntN(3) == 0 {
			if _, err := s.ProjectOnce(ctx); err != nil {
				t.Fatalf("project: %v", err)
			}
		}
	}
	if _, err := s.ProjectOnce(ctx); err != nil {
		t.Fatalf("project: %v", err)
	}

	oracle, parkedWant := sqlOracle(t, pool)
	st, err := s.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range st {
		if p.Position != p.Head || p.ParkedEvents != parkedWant {
			t.Errorf("projection %s: position %d of %d, %d parked; want the head and %d parked (refunds beyond the total)",
				p.Name, p.Position, p.Head, p.ParkedEvents, parkedWant)
		}
	}

	period := func(p report.Params) report.Params { p.From, p.To = "2026-01-01", "2026-12-31"; return p }
	asOfAll := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)      // after every generated event
	byClient := map[string]map[string][2]report.CurrencyTotal{} // client -> currency -> [customers, merchants]
	add := func(client, cur string, i int, ct report.CurrencyTotal) {
		if byClient[client] == nil {
			byClient[client] = map[string][2]report.CurrencyTotal{}
		}
		pair := byClient[client][cur]
		a := pair[i]
		a.Orders += ct.Orders
		a.Cancellations += ct.Cancellations
		var err error
		if a.Amounts, err = a.Add(ct.Amounts); err != nil {
			t.Fatal(err)
		}
		pair[i] = a
		byClient[client][cur] = pair
	}

	for k := range h.customers {
		params := period(report.Params{CustomerID: k.Subject})
		rows := readRows(t, s, k.Client, report.TypeOrderHistory, params)
		want := oracle.customer[k]
		if rows == nil {
			if len(want) != 0 {
				t.Errorf("%s %s: no order_history, but the log has %v", k.Client, k.Subject, want)
			}
			continue
		}
		var fromRows report.Totals
		for _, r := range rows.orders {
			if err := fromRows.AddOrder(r); err != nil {
				t.Fatal(err)
			}
		}
		got := totalsMap(&fromRows)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s %s order_history totals vs SQL over order_events (-sql +report):\n%s", k.Client, k.Subject, diff)
		}
		var fromCSV report.Totals
		for _, r := range orderRowsFromCSV(t, render(t, s, k.Client, report.TypeOrderHistory, report.FormatCSV, params)) {
			if err := fromCSV.AddOrder(r); err != nil {
				t.Fatal(err)
			}
		}
		if diff := cmp.Diff(got, totalsMap(&fromCSV)); diff != "" {
			t.Errorf("%s %s order_history: CSV rows vs rows (-rows +csv):\n%s", k.Client, k.Subject, diff)
		}
		checkPDFTotals(t, render(t, s, k.Client, report.TypeOrderHistory, report.FormatPDF, params), &fromRows, false)
		for _, cur := range fromRows.Currencies() {
			add(k.Client, cur, 0, fromRows.Of(cur))
		}
	}

	for k := range h.merchants {
		params := period(report.Params{MerchantID: k.Subject})
		rows := readRows(t, s, k.Client, report.TypeMerchantSales, params)
		if rows == nil {
			if len(oracle.merchant[k]) != 0 {
				t.Errorf("%s %s: no merchant_sales, but the log has %v", k.Client, k.Subject, oracle.merchant[k])
			}
			continue
		}
		var fromRows report.Totals
		for _, d := range rows.days {
			if err := fromRows.AddDay(d); err != nil {
				t.Fatal(err)
			}
		}
		got := totalsMap(&fromRows)
		for cur, ct := range got {
			ct.Rows = 0 // days; the SQL counts orders, not days
			got[cur] = ct
		}
		if diff := cmp.Diff(oracle.merchant[k], got); diff != "" {
			t.Errorf("%s %s merchant_sales totals vs SQL over order_events (-sql +report):\n%s", k.Client, k.Subject, diff)
		}
		if diff := cmp.Diff(oracle.days[k], rows.days); diff != "" {
			t.Errorf("%s %s merchant_sales days vs SQL over order_events (-sql +report):\n%s", k.Client, k.Subject, diff)
		}
		csvDays := dayRowsFromCSV(t, render(t, s, k.Client, report.TypeMerchantSales, report.FormatCSV, params))
		if diff := cmp.Diff(rows.days, csvDays); diff != "" {
			t.Errorf("%s %s merchant_sales: CSV vs rows (-rows +csv):\n%s", k.Client, k.Subject, diff)
		}
		// The other two ways to a day row: regrouped from the orders at read
		// time (any zone but UTC; Etc/UTC has the same days) and folded from
		// the log as of a time after every event.
		local := params
		local.Timezone = "Etc/UTC"
		if diff := cmp.Diff(rows.days, readRows(t, s, k.Client, report.TypeMerchantSales, local).days); diff != "" {
			t.Errorf("%s %s merchant_sales: time-zone fold vs merchant_daily_sales (-table +fold):\n%s", k.Client, k.Subject, diff)
		}
		if diff := cmp.Diff(rows.days, readRowsAsOf(t, s, k.Client, params, asOfAll).days); diff != "" {
			t.Errorf("%s %s merchant_sales: as_of fold vs merchant_daily_sales (-table +as_of):\n%s", k.Client, k.Subject, diff)
		}
		checkPDFTotals(t, render(t, s, k.Client, report.TypeMerchantSales, report.FormatPDF, params), &fromRows, true)
		for _, cur := range fromRows.Currencies() {
			add(k.Client, cur, 1, fromRows.Of(cur))
		}
	}

	// Every order has one customer and one merchant: per tenant and
	// currency, the customers' reports and the merchants' reports add up to
	// the same money.
	for client, curs := range byClient {
		for cur, pair := range curs {
			if diff := cmp.Diff(pair[0], pair[1]); diff != "" {
				t.Errorf("%s %s: all customers' order_history vs all merchants' merchant_sales (-customers +merchants):\n%s", client, cur, diff)
			}
		}
	}
}

// oracleTotals are the SQL's answers, in the shapes the reports give.
type oracleTotals struct {
	customer map[subjectKey]map[string]report.CurrencyTotal
	merchant map[subjectKey]map[string]report.CurrencyTotal
	days     map[subjectKey][]report.MerchantDayRow
}

// sqlOracle sums the money straight from order_events, by the README's
// rules, with nothing of the projector: an order's events count up to its
// first missing sequence and up to (not including) the first refund that
// takes its refunds beyond its total (that one is parked); a cancelled
// order counts in orders and cancellations but adds no money, tax included;
// an order's tax is the sum of its items' tax_cents (none in version 1),
// whatever was refunded. It also returns how many events must be parked.
func sqlOracle(tb testing.TB, pool *pgxpool.Pool) (oracleTotals, int64) {
	tb.Helper()
	ctx := context.Background()
	const orders = `
		WITH contiguous AS (
			SELECT client_id, order_id, sequence, type, occurred_at, data
			FROM (SELECT e.*, row_number() OVER (PARTITION BY client_id, order_id ORDER BY sequence) AS n FROM order_events e) x
			WHERE sequence = n),
		running AS (
			SELECT c.*, sum(CASE WHEN type = 'OrderRefunded' THEN (data->>'amount_cents')::numeric ELSE 0 END)
			            OVER (PARTITION BY client_id, order_id ORDER BY sequence) AS refunded
			FROM contiguous c),
		placed AS (
			SELECT client_id, order_id, data->>'customer_id' AS customer_id, data->>'merchant_id' AS merchant_id,
			       data->>'currency' AS currency, (data->>'total_cents')::numeric AS total,
			       (SELECT coalesce(sum((i->>'tax_cents')::numeric), 0) FROM jsonb_array_elements(data->'items') i) AS tax,
			       (occurred_at AT TIME ZONE 'UTC')::date AS day
			FROM contiguous WHERE type = 'OrderPlaced'),
		cut AS (
			SELECT r.client_id, r.order_id, min(r.sequence) AS sequence
			FROM running r JOIN placed p USING (client_id, order_id)
			WHERE r.refunded > p.total GROUP BY 1, 2),
		folded AS (
			SELECT p.client_id, p.order_id, p.customer_id, p.merchant_id, p.currency, p.total, p.tax, p.day,
			       bool_or(r.type = 'OrderCancelled') AS cancelled, max(r.refunded) AS refunded
			FROM placed p
			JOIN running r USING (client_id, order_id)
			LEFT JOIN cut c USING (client_id, order_id)
			WHERE c.sequence IS NULL OR r.sequence < c.sequence
			GROUP BY 1, 2, 3, 4, 5, 6, 7, 8)
		SELECT client_id, customer_id, merchant_id, currency, day,
		       count(*), count(*) FILTER (WHERE cancelled),
		       coalesce(sum(total) FILTER (WHERE NOT cancelled), 0)::text,
		       coalesce(sum(refunded) FILTER (WHERE NOT cancelled), 0)::text,
		       coalesce(sum(tax) FILTER (WHERE NOT cancelled), 0)::text,
		       count(*) FILTER (WHERE refunded > 0),
		       (SELECT count(*) FROM cut)
		FROM folded GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5`
	rows, err := pool.Query(ctx, orders)
	if err != nil {
		tb.Fatalf("oracle: %v", err)
	}
	defer rows.Close()
	o := oracleTotals{
		customer: map[subjectKey]map[string]report.CurrencyTotal{},
		merchant: map[subjectKey]map[string]report.CurrencyTotal{},
		days:     map[subjectKey][]report.MerchantDayRow{},
	}
	addTo := func(m map[subjectKey]map[string]report.CurrencyTotal, k subjectKey, cur string, c report.CurrencyTotal) {
		if m[k] == nil {
			m[k] = map[string]report.CurrencyTotal{}
		}
		x := m[k][cur]
		x.Rows += c.Rows
		x.Orders += c.Orders
		x.Cancellations += c.Cancellations
		x.WithRefund += c.WithRefund
		x.Gross += c.Gross
		x.Refunds += c.Refunds
		x.Net += c.Net
		x.Tax += c.Tax
		m[k][cur] = x
	}
	var parked int64
	dayIndex := map[subjectKey]map[string]int{}
	for rows.Next() {
		var client, customer, merchant, cur, grossS, refundsS, taxS string
		var day time.Time
		var n, cancelled, withRefund int64
		if err := rows.Scan(&client, &customer, &merchant, &cur, &day, &n, &cancelled, &grossS, &refundsS, &taxS, &withRefund, &parked); err != nil {
			tb.Fatalf("oracle: %v", err)
		}
		gross, refunds, tax := fitInt64(tb, grossS), fitInt64(tb, refundsS), fitInt64(tb, taxS)
		c := report.CurrencyTotal{Rows: n, Orders: n, Cancellations: cancelled, WithRefund: withRefund,
			Amounts: report.Amounts{Gross: gross, Refunds: refunds, Net: gross - refunds, Tax: tax}}
		addTo(o.customer, subjectKey{client, customer}, cur, c)
		c.Rows, c.WithRefund = 0, 0 // merchant_sales counts days and no refunded orders
		mk := subjectKey{client, merchant}
		addTo(o.merchant, mk, cur, c)
		if dayIndex[mk] == nil {
			dayIndex[mk] = map[string]int{}
		}
		dk := day.Format(time.DateOnly) + cur
		i, ok := dayIndex[mk][dk]
		if !ok {
			i = len(o.days[mk])
			dayIndex[mk][dk] = i
			o.days[mk] = append(o.days[mk], report.MerchantDayRow{MerchantID: merchant, Day: day, Currency: cur})
		}
		d := &o.days[mk][i]
		d.Orders += int(n)
		d.Cancellations += int(cancelled)
		d.GrossCents += gross
		d.RefundsCents += refunds
		d.NetCents += gross - refunds
		d.TaxCents += tax
	}
	if err := rows.Err(); err != nil {
		tb.Fatalf("oracle: %v", err)
	}
	for k := range o.days {
		slices.SortFunc(o.days[k], func(a, b report.MerchantDayRow) int {
			return cmpOr(a.Day.Compare(b.Day), strings.Compare(a.Currency, b.Currency))
		})
	}
	return o, parked
}

func cmpOr(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

func fitInt64(tb testing.TB, s string) int64 {
	tb.Helper()
	n, ok := new(big.Int).SetString(s, 10)
	if !ok || !n.IsInt64() {
		tb.Fatalf("oracle sum %s does not fit int64; generated amounts are bounded", s)
	}
	return n.Int64()
}

func totalsMap(t *report.Totals) map[string]report.CurrencyTotal {
	out := map[string]report.CurrencyTotal{}
	for _, cur := range t.Currencies() {
		out[cur] = t.Of(cur)
	}
	return out
}

type docRows struct {
	orders []report.OrderRow
	days   []report.MerchantDayRow
}

// readRows reads a report's rows, or nil for an unknown subject.
func readRows(tb testing.TB, s *readmodel.Store, clientID string, typ report.Type, p report.Params) *docRows {
	tb.Helper()
	return collectRows(tb, clientID, typ, func(fn func(report.Document) error) error {
		return s.OpenDocument(context.Background(), clientID, typ, p, 0, fn)
	})
}

// readRowsAsOf is readRows of the merchant_sales report as of asOf.
func readRowsAsOf(tb testing.TB, s *readmodel.Store, clientID string, p report.Params, asOf time.Time) *docRows {
	tb.Helper()
	return collectRows(tb, clientID, report.TypeMerchantSales, func(fn func(report.Document) error) error {
		return s.OpenDocumentAsOf(context.Background(), clientID, report.TypeMerchantSales, p, asOf, 0, fn)
	})
}

func collectRows(tb testing.TB, clientID string, typ report.Type, open func(func(report.Document) error) error) *docRows {
	tb.Helper()
	out := &docRows{}
	err := open(func(doc report.Document) error {
		if doc.Orders != nil {
			for r, err := range doc.Orders {
				if err != nil {
					return err
				}
				out.orders = append(out.orders, r)
			}
		}
		if doc.MerchantDays != nil {
			for r, err := range doc.MerchantDays {
				if err != nil {
					return err
				}
				out.days = append(out.days, r)
			}
		}
		return nil
	})
	if errors.Is(err, report.ErrUnknownSubject) {
		return nil
	}
	if err != nil {
		tb.Fatalf("read %s for %s: %v", typ, clientID, err)
	}
	return out
}

func render(tb testing.TB, s *readmodel.Store, clientID string, typ report.Type, f report.Format, p report.Params) []byte {
	tb.Helper()
	out, err := renderReport(tb, s, clientID, typ, f, p)
	if err != nil {
		tb.Fatalf("render %s %s for %s: %v", typ, f, clientID, err)
	}
	return out
}

// minorOf reads a CSV amount ("1234.56", "1234", "0.001") back into minor
// units; the CSV always writes the currency's full exponent.
func minorOf(tb testing.TB, s string) int64 {
	tb.Helper()
	n, err := strconv.ParseInt(strings.Replace(s, ".", "", 1), 10, 64)
	if err != nil {
		tb.Fatalf("csv amount %q: %v", s, err)
	}
	return n
}

func csvRecords(tb testing.TB, data []byte) [][]string {
	tb.Helper()
	recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
	if err != nil || len(recs) == 0 {
		tb.Fatalf("parse csv: %v\n%s", err, data)
	}
	return recs[1:]
}

// orderRowsFromCSV keeps what the money rules need of each order line.
func orderRowsFromCSV(tb testing.TB, data []byte) []report.OrderRow {
	tb.Helper()
	var out []report.OrderRow
	for _, r := range csvRecords(tb, data) {
		o := report.OrderRow{OrderID: r[0], Status: r[3], Currency: r[9], TotalCents: minorOf(tb, r[10]), RefundedCents: minorOf(tb, r[11]),
			TaxCents: minorOf(tb, r[14])}
		if r[7] != "" {
			c, err := time.Parse(time.RFC3339, r[7])
			if err != nil {
				tb.Fatal(err)
			}
			o.CancelledAt = &c
		}
		out = append(out, o)
	}
	return out
}

func dayRowsFromCSV(tb testing.TB, data []byte) []report.MerchantDayRow {
	tb.Helper()
	var out []report.MerchantDayRow
	for _, r := range csvRecords(tb, data) {
		day, err := time.Parse(time.DateOnly, r[1])
		if err != nil {
			tb.Fatal(err)
		}
		orders, err1 := strconv.Atoi(r[3])
		cancellations, err2 := strconv.Atoi(r[4])
		if err := errors.Join(err1, err2); err != nil {
			tb.Fatal(err)
		}
		out = append(out, report.MerchantDayRow{MerchantID: r[0], Day: day, Currency: r[2], Orders: orders, Cancellations: cancellations,
			GrossCents: minorOf(tb, r[5]), RefundsCents: minorOf(tb, r[6]), NetCents: minorOf(tb, r[7]), TaxCents: minorOf(tb, r[8])})
	}
	return out
}

// checkPDFTotals reads the "Totals by currency" table out of the PDF's text
// layer and compares every line with the totals of the rows.
func checkPDFTotals(tb testing.TB, pdf []byte, want *report.Totals, merchant bool) {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "r.pdf")
	if err := os.WriteFile(path, pdf, 0o600); err != nil {
		tb.Fatal(err)
	}
	text, err := exec.Command("pdftotext", "-layout", "-enc", "UTF-8", path, "-").Output()
	if err != nil {
		tb.Fatalf("pdftotext: %v", err)
	}
	_, after, ok := strings.Cut(string(text), "Totals by currency")
	if !ok {
		tb.Fatalf("no totals in the PDF:\n%s", text)
	}
	after, _, _ = strings.Cut(after, "Summary")
	got := map[string]string{}
	for line := range strings.Lines(after) {
		f := strings.Fields(line)
		if len(f) > 1 && len(f[0]) == 3 && strings.ToUpper(f[0]) == f[0] {
			got[f[0]] = strings.Join(f, " ")
		}
	}
	wantLines := map[string]string{}
	for _, cur := range want.Currencies() {
		t := want.Of(cur)
		counts := fmt.Sprintf("%d %d %d", t.Orders, t.Cancellations, t.WithRefund)
		if merchant {
			counts = fmt.Sprintf("%d %d %d", t.Rows, t.Orders, t.Cancellations)
		}
		wantLines[cur] = fmt.Sprintf("%s %s %s %s %s %s", cur, counts,
			report.FormatMoney(t.Gross, cur), report.FormatMoney(t.Refunds, cur), report.FormatMoney(t.Net, cur), report.FormatMoney(t.Tax, cur))
	}
	if diff := cmp.Diff(wantLines, got); diff != "" {
		tb.Errorf("PDF totals vs the rows' totals (-rows +pdf):\n%s", diff)
	}
}
