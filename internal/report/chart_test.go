package report

import (
	"context"
	"io"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// TestNewBuckets: the smallest unit that fits maxBars, and where each bar
// starts.
func TestNewBuckets(t *testing.T) {
	type got struct {
		Unit   bucketUnit
		Count  int
		Starts []string // of the first, second and last bar
	}
	tests := []struct {
		name     string
		from, to time.Time
		want     got
	}{
		{"one day", day(2026, 3, 5), day(2026, 3, 5), got{unitDay, 1, []string{"2026-03-05", "2026-03-06", "2026-03-05"}}},
		{"a quarter is daily", day(2026, 1, 1), day(2026, 3, 31), got{unitDay, 90, []string{"2026-01-01", "2026-01-02", "2026-03-31"}}},
		{"93 days are daily", day(2026, 1, 1), day(2026, 4, 3), got{unitDay, 93, []string{"2026-01-01", "2026-01-02", "2026-04-03"}}},
		{"94 days are weekly", day(2026, 1, 1), day(2026, 4, 4), got{unitWeek, 14, []string{"2026-01-01", "2026-01-08", "2026-04-02"}}},
		{"a year is weekly", day(2025, 1, 1), day(2025, 12, 31), got{unitWeek, 53, []string{"2025-01-01", "2025-01-08", "2025-12-31"}}},
		{"three years are monthly", day(2024, 1, 15), day(2026, 12, 31), got{unitMonth, 36, []string{"2024-01-15", "2024-02-01", "2026-12-01"}}},
		{"ten years are yearly", day(2017, 6, 1), day(2026, 12, 31), got{unitYear, 10, []string{"2017-06-01", "2018-01-01", "2026-01-01"}}},
		{"to before from is one day", day(2026, 3, 5), day(2026, 3, 1), got{unitDay, 1, []string{"2026-03-05", "2026-03-06", "2026-03-05"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBuckets(tt.from, tt.to, maxBars)
			g := got{Unit: b.unit, Count: b.count}
			for _, i := range []int{0, 1, b.count - 1} {
				g.Starts = append(g.Starts, b.start(i).Format(dayLayout))
			}
			if diff := cmp.Diff(tt.want, g); diff != "" {
				t.Errorf("buckets (-want +got):\n%s", diff)
			}
			// Every day of the period falls in the bar that starts on or
			// before it, and before the next one.
			for d := tt.from; !d.After(tt.to); d = d.AddDate(0, 0, 1) {
				i := b.index(d)
				if i < 0 || i >= b.count || b.start(i).After(d) || (i+1 < b.count && !b.start(i+1).After(d)) {
					t.Fatalf("%s is in bar %d of %d, which starts %s", d.Format(dayLayout), i, b.count, b.start(i).Format(dayLayout))
				}
			}
		})
	}
}

func TestNiceAxis(t *testing.T) {
	type axis struct {
		Step  int64
		Ticks int
	}
	tests := []struct {
		name      string
		top, unit int64
		want      axis
	}{
		{"empty", 0, 100, axis{100, 1}},
		{"under one unit", 37, 100, axis{100, 1}},
		{"EUR 3,999.99", 399999, 100, axis{100000, 4}},
		{"EUR 4,000.01", 400001, 100, axis{100000, 5}},
		{"EUR 5,000.01", 500001, 100, axis{200000, 3}},
		{"JPY 15,062", 15062, 1, axis{5000, 4}},
		{"KWD 1.234", 1234, 1000, axis{1000, 2}},
		{"EUR 10^16", 1e18, 100, axis{1e18, 1}},
		{"the int64 limit", math.MaxInt64, 100, axis{math.MaxInt64, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			step, ticks := niceAxis(tt.top, tt.unit, chartTicks)
			if diff := cmp.Diff(tt.want, axis{step, ticks}); diff != "" {
				t.Errorf("niceAxis(%d, %d) (-want +got):\n%s", tt.top, tt.unit, diff)
			}
			if step*int64(ticks) < tt.top && tt.top > 0 && step*int64(ticks) > 0 {
				t.Errorf("the axis ends at %d, below the top %d", step*int64(ticks), tt.top)
			}
		})
	}
}

// TestSalesBars: days add up per currency into their bars with the money
// rule's sums, and a day outside the period is left out.
func TestSalesBars(t *testing.T) {
	var s salesByCurrency
	rows := []MerchantDayRow{
		{Day: day(2026, 1, 1), Currency: "EUR", Orders: 2, GrossCents: 1000, RefundsCents: 100, NetCents: 900},
		{Day: day(2026, 1, 1), Currency: "USD", Orders: 1, GrossCents: 500, NetCents: 500},
		{Day: day(2026, 1, 7), Currency: "EUR", Orders: 1, Cancellations: 1, GrossCents: 300, NetCents: 300},
		{Day: day(2026, 1, 8), Currency: "EUR", Orders: 4, GrossCents: 2000, RefundsCents: 2000},
		{Day: day(2027, 1, 8), Currency: "EUR", Orders: 1, GrossCents: 1, NetCents: 1},
	}
	for _, r := range rows {
		if err := s.add(r); err != nil {
			t.Fatal(err)
		}
	}
	b := chartBuckets{from: day(2026, 1, 1), unit: unitWeek, count: 2}
	got, err := s.bars("EUR", b)
	if err != nil {
		t.Fatal(err)
	}
	want := []Amounts{{Gross: 1300, Refunds: 100, Net: 1200}, {Gross: 2000, Refunds: 2000}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("EUR bars (-want +got):\n%s", diff)
	}
	if s.orders != 9 || s.cancelled != 1 || len(s.distinctDays) != 4 {
		t.Errorf("orders %d, cancellations %d, days %d; want 9, 1, 4", s.orders, s.cancelled, len(s.distinctDays))
	}
}

// chartDays is a quarter of daily sales in two currencies, with refunds.
func chartDays() []MerchantDayRow {
	out := make([]MerchantDayRow, 0, 2*90)
	for i := range 90 {
		d := testFrom.AddDate(0, 0, i)
		wave := int64((i*37)%23 + (i*i)%7)
		for _, cur := range []string{"EUR", "USD"} {
			gross := 180000 + wave*21000 + int64(i)*900
			if cur == "USD" {
				gross = 90000 + wave*9000
			}
			refunds := gross * int64(i%5) / 40
			out = append(out, MerchantDayRow{MerchantID: "mer_7", Day: d, Currency: cur, Orders: 12 + int(wave),
				Cancellations: i % 3, GrossCents: gross, RefundsCents: refunds, NetCents: gross - refunds,
				TaxCents: gross * int64(i%3) / 12})
		}
	}
	return out
}

// TestRenderMerchantChart: a merchant_sales PDF opens with one chart per
// currency, in the report's locale, then the summary, then the table; with
// -update it renders docs/sample-chart.png from its first page.
func TestRenderMerchantChart(t *testing.T) {
	doc := merchantDoc(t, chartDays())
	doc.Header.Locale = "de-DE"
	pdf, st := renderPDFBytes(t, doc, defaultChunkPages)
	text := textOf(t, pdf)
	first, _, _ := strings.Cut(text, "\f")
	want := []string{"Umsatz pro Tag in EUR", "Umsatz pro Tag in USD", "Netto", "Erstattungen", "Zusammenfassung",
		"01.01.2026", "0 €", "Tage mit Umsatz"}
	for _, w := range want {
		if !strings.Contains(first, w) {
			t.Errorf("page 1 lacks %q:\n%s", w, first)
		}
	}
	flatText := flat(text)
	if i, j := strings.Index(flatText, "Zusammenfassung"), strings.Index(flatText, "Umsätze"); i < 0 || j < i {
		t.Errorf("the summary (at %d) does not come before the table (at %d)", i, j)
	}
	if st.Rows != 180 {
		t.Errorf("rows %d, want 180", st.Rows)
	}
	if *update {
		writeSamplePNG(t, pdf, filepath.Join("..", "..", "docs", "sample-chart"))
	}
}

// TestRenderMerchantChartLongPeriod: the longest period (REPORT_MAX_RANGE,
// three years) is drawn by month, and "all time" by the days there are.
func TestRenderMerchantChartLongPeriod(t *testing.T) {
	rows := make([]MerchantDayRow, 0, 3*365)
	for i := range 3 * 365 {
		rows = append(rows, MerchantDayRow{MerchantID: "mer_7", Day: testFrom.AddDate(0, 0, i), Currency: "EUR",
			Orders: 3, GrossCents: int64(10000 + i*37%5000), NetCents: int64(10000 + i*37%5000)})
	}
	doc := merchantDoc(t, rows)
	doc.Header.To = testFrom.AddDate(3, 0, -1)
	pdf, _ := renderPDFBytes(t, doc, defaultChunkPages)
	if text := textOf(t, pdf); !strings.Contains(text, "Sales per month in EUR") {
		t.Errorf("a three-year chart is not monthly:\n%s", text[:min(len(text), 3000)])
	}

	doc = merchantDoc(t, rows[:40])
	doc.Header.From, doc.Header.To = time.Time{}, time.Time{}
	pdf, _ = renderPDFBytes(t, doc, defaultChunkPages)
	if text := textOf(t, pdf); !strings.Contains(text, "Sales per day in EUR") || !strings.Contains(text, "2/9/2026") {
		t.Errorf("an all-time chart does not span its 40 days:\n%s", text[:min(len(text), 3000)])
	}
}

// TestRenderCallsProgressPerRow: every format reports each row once, in
// order, though the merchant_sales PDF reads its rows twice.
func TestRenderCallsProgressPerRow(t *testing.T) {
	for _, f := range []Format{FormatPDF, FormatCSV, FormatXLSX} {
		for _, doc := range []Document{orderDoc(t, testOrders(45)), merchantDoc(t, testDays(45))} {
			var got []int
			doc.Progress = func(n int) { got = append(got, n) }
			st, err := Render(context.Background(), io.Discard, f, doc)
			if err != nil {
				t.Fatal(err)
			}
			want := make([]int, 45)
			for i := range want {
				want[i] = i + 1
			}
			if diff := cmp.Diff(want, got); diff != "" || st.Rows != 45 {
				t.Errorf("%s %s: %d rows, progress calls (-want +got):\n%s", f, doc.Type, st.Rows, diff)
			}
		}
	}
}
