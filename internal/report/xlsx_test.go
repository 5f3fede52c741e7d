package report

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The XLSX tests read every file back with exceljs (testdata/xlsxread), an
// implementation independent of excelize, and look at what a spreadsheet
// user gets: cell types, number formats, panes, the filter and the totals.

const xlsxReaderDir = "testdata/xlsxread"

type xlsxBook struct {
	Properties map[string]string `json:"properties"`
	Sheets     []xlsxSheet       `json:"sheets"`
}

type xlsxSheet struct {
	Name  string `json:"name"`
	Views []struct {
		State       string `json:"state"`
		YSplit      int    `json:"y_split"`
		XSplit      int    `json:"x_split"`
		TopLeftCell string `json:"top_left_cell"`
	} `json:"views"`
	AutoFilter any           `json:"auto_filter"`
	Widths     []*float64    `json:"widths"`
	Rows       [][]xlsxValue `json:"rows"`
}

type xlsxValue struct {
	Type   string          `json:"type"` // exceljs ValueType: Null, Number, String, Date, …
	Value  json.RawMessage `json:"value"`
	NumFmt string          `json:"num_fmt"`
}

func (v xlsxValue) str() string {
	var s string
	_ = json.Unmarshal(v.Value, &s)
	return s
}

// cell returns the cell at a 1-based column of a 1-based row, Null if absent.
func (s xlsxSheet) cell(row, col int) xlsxValue {
	if row-1 < len(s.Rows) && col-1 < len(s.Rows[row-1]) {
		return s.Rows[row-1][col-1]
	}
	return xlsxValue{Type: "Null", Value: json.RawMessage("null")}
}

func (b xlsxBook) sheet(tb testing.TB, name string) xlsxSheet {
	tb.Helper()
	for _, s := range b.Sheets {
		if s.Name == name {
			return s
		}
	}
	tb.Fatalf("no sheet %q", name)
	return xlsxSheet{}
}

// readXLSX installs the pinned exceljs when needed and reads a file with it.
func readXLSX(tb testing.TB, data []byte) xlsxBook {
	tb.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		tb.Fatalf("node not found on PATH: the XLSX tests read files back with exceljs (scripts/test-deps.sh installs Node.js)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if _, err := os.Stat(filepath.Join(xlsxReaderDir, "node_modules", "exceljs")); err != nil {
		cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
		cmd.Dir = xlsxReaderDir
		if out, err := cmd.CombinedOutput(); err != nil {
			tb.Fatalf("npm ci in %s: %v\n%s", xlsxReaderDir, err, out)
		}
	}
	path := filepath.Join(tb.TempDir(), "report.xlsx")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, node, "read.js", path)
	cmd.Dir = xlsxReaderDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("exceljs cannot read the file: %v\n%s", err, stderr.String())
	}
	var b xlsxBook
	if err := json.Unmarshal(out, &b); err != nil {
		tb.Fatalf("decode exceljs output: %v", err)
	}
	return b
}

func renderXLSXBytes(tb testing.TB, doc Document) ([]byte, Stats) {
	tb.Helper()
	var buf bytes.Buffer
	st, err := Render(context.Background(), &buf, FormatXLSX, doc)
	if err != nil {
		tb.Fatalf("render xlsx: %v", err)
	}
	return buf.Bytes(), st
}

// canonical is a decimal string as a JSON number prints it: no trailing
// fraction zeros.
func canonical(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

// wantAmount checks an amount cell: a number whose value is the decimal
// exactly, formatted with the currency's exponent and code.
func wantAmount(tb testing.TB, where string, v xlsxValue, cents int64, cur string) {
	tb.Helper()
	if v.Type != "Number" {
		tb.Errorf("%s: type %s, want Number", where, v.Type)
		return
	}
	if got, want := string(v.Value), canonical(DecimalString(cents, cur)); got != want {
		tb.Errorf("%s: value %s, want %s", where, got, want)
	}
	if got, want := v.NumFmt, amountFormat(cur); got != want {
		tb.Errorf("%s: number format %q, want %q", where, got, want)
	}
}

func amountFormat(cur string) string {
	f := map[int]string{0: "#,##0", 2: "#,##0.00", 3: "#,##0.000", 4: "#,##0.0000"}[minorUnits(cur)]
	if regexp.MustCompile(`^[A-Z]{3}$`).MatchString(cur) {
		f = `"` + enUS.Symbol(cur) + `"` + f // en-US puts the symbol first
	}
	return f
}

// The en-US (default) date formats of XLSX cells.
const (
	xlsxDateFmt     = "m/d/yyyy"
	xlsxDateTimeFmt = "m/d/yyyy hh:mm:ss"
)

func wantTime(tb testing.TB, where string, v xlsxValue, t *time.Time, numFmt string) {
	tb.Helper()
	if t == nil {
		if v.Type != "Null" {
			tb.Errorf("%s: %s %s, want an empty cell", where, v.Type, v.Value)
		}
		return
	}
	if v.Type != "Date" || v.NumFmt != numFmt {
		tb.Errorf("%s: %s with format %q, want a Date with %q", where, v.Type, v.NumFmt, numFmt)
		return
	}
	if got, want := v.str(), t.UTC().Format("2006-01-02T15:04:05.000Z"); got != want {
		tb.Errorf("%s: %s, want %s", where, got, want)
	}
}

func wantText(tb testing.TB, where string, v xlsxValue, s string) {
	tb.Helper()
	if s == "" {
		if v.Type != "Null" {
			tb.Errorf("%s: %s %s, want an empty cell", where, v.Type, v.Value)
		}
		return
	}
	if v.Type != "String" || v.str() != s {
		tb.Errorf("%s: %s %s, want the string %q", where, v.Type, v.Value, s)
	}
}

func wantCount(tb testing.TB, where string, v xlsxValue, n int64) {
	tb.Helper()
	if v.Type != "Number" || string(v.Value) != strconv.FormatInt(n, 10) || v.NumFmt != "#,##0" {
		tb.Errorf("%s: %s %s %q, want the number %d with format #,##0", where, v.Type, v.Value, v.NumFmt, n)
	}
}

func wantTable(tb testing.TB, s xlsxSheet, header []string, rows int) {
	tb.Helper()
	if len(s.Views) != 1 || s.Views[0].State != "frozen" || s.Views[0].YSplit != 1 || s.Views[0].XSplit != 0 || s.Views[0].TopLeftCell != "A2" {
		tb.Errorf("%s: views %+v, want the header row frozen", s.Name, s.Views)
	}
	last := string(rune('A' + len(header) - 1))
	if got, want := strings.ReplaceAll(fmt.Sprint(s.AutoFilter), "$", ""), fmt.Sprintf("A1:%s%d", last, rows+1); got != want {
		tb.Errorf("%s: autofilter %v, want %s", s.Name, s.AutoFilter, want)
	}
	var got []string
	for i := range header {
		if c := s.cell(1, i+1); c.Type == "String" {
			got = append(got, c.str())
		}
	}
	if diff := cmp.Diff(header, got); diff != "" {
		tb.Errorf("%s: header row (-want +got):\n%s", s.Name, diff)
	}
	if len(s.Rows) != rows+1 {
		tb.Errorf("%s: %d rows, want a header and %d data rows", s.Name, len(s.Rows), rows)
	}
	if len(s.Widths) != len(header) {
		tb.Fatalf("%s: %d column widths, want %d", s.Name, len(s.Widths), len(header))
	}
	for i, w := range s.Widths {
		if w == nil || *w < float64(len(header[i])) || *w > xlsxMaxWidth {
			tb.Errorf("%s: column %d (%s) width %v, want at least its title and at most %v", s.Name, i+1, header[i], w, xlsxMaxWidth)
		}
	}
}

// summaryTotals returns the Summary sheet's totals rows, from the header
// row that starts with "Currency" to the first row that does not name one.
func summaryTotals(tb testing.TB, s xlsxSheet, cols int) [][]xlsxValue {
	tb.Helper()
	for i := range s.Rows {
		if s.cell(i+1, 1).str() != "Currency" {
			continue
		}
		var out [][]xlsxValue
		for r := i + 2; r <= len(s.Rows); r++ {
			if c := s.cell(r, 1); c.Type != "String" || !regexp.MustCompile(`^[A-Z]{3}$`).MatchString(c.str()) {
				break
			}
			row := make([]xlsxValue, cols)
			for c := range row {
				row[c] = s.cell(r, c+1)
			}
			out = append(out, row)
		}
		return out
	}
	tb.Fatalf("Summary has no totals table")
	return nil
}

// toCents turns a number cell back into minor units by its decimal text,
// never through a float.
func toCents(tb testing.TB, v xlsxValue, cur string) int64 {
	tb.Helper()
	s := string(v.Value)
	whole, frac, _ := strings.Cut(s, ".")
	exp := minorUnits(cur)
	if len(frac) > exp {
		tb.Fatalf("amount %s has more decimals than %s's %d", s, cur, exp)
	}
	n, err := strconv.ParseInt(whole+frac+strings.Repeat("0", exp-len(frac)), 10, 64)
	if err != nil {
		tb.Fatalf("amount %s: %v", s, err)
	}
	return n
}

// wantPDFLine checks that the PDF's text has a line with exactly these
// cells, in order.
func wantPDFLine(tb testing.TB, pdfText string, cells ...string) {
	tb.Helper()
	parts := make([]string, len(cells))
	for i, c := range cells {
		parts[i] = regexp.QuoteMeta(c)
	}
	if !regexp.MustCompile(`(?m)^\s*` + strings.Join(parts, `\s+`) + `\s*$`).MatchString(pdfText) {
		tb.Errorf("the PDF has no totals line %q", strings.Join(cells, " | "))
	}
}

func TestRenderXLSXOrderHistory(t *testing.T) {
	rows := testOrders(70)
	rows[3].Carrier = strings.Repeat("Very long carrier name ", 5) // wider than the cap
	rows[5].Carrier = "=HYPERLINK(\"http://x\")"                   // text, never a formula
	data, st := renderXLSXBytes(t, orderDoc(t, rows))
	if st != (Stats{Rows: 70}) {
		t.Errorf("stats %+v, want 70 rows and no pages", st)
	}
	b := readXLSX(t, data)
	if got := []string{b.Sheets[0].Name, b.Sheets[1].Name}; !cmp.Equal(got, []string{"Orders", "Summary"}) || len(b.Sheets) != 2 {
		t.Fatalf("sheets %v, want Orders and Summary", got)
	}
	s := b.sheet(t, "Orders")
	header := []string{"Order", "Customer", "Merchant", "Status", "Placed at (UTC)", "Paid at (UTC)", "Shipped at (UTC)",
		"Cancelled at (UTC)", "Items", "Currency", "Total", "Refunded", "Net", "Tax", "Carrier", "Tracking number"}
	wantTable(t, s, header, len(rows))
	if w := s.Widths[14]; w == nil || *w != xlsxMaxWidth {
		t.Errorf("carrier width %v, want the cap %v", w, xlsxMaxWidth)
	}
	for i, o := range rows {
		r := i + 2
		at := func(c int) (string, xlsxValue) { return fmt.Sprintf("row %d col %d", r, c), s.cell(r, c) }
		w, v := at(1)
		wantText(t, w, v, o.OrderID)
		w, v = at(4)
		wantText(t, w, v, o.Status)
		w, v = at(5)
		wantTime(t, w, v, &o.PlacedAt, xlsxDateTimeFmt)
		w, v = at(6)
		wantTime(t, w, v, o.PaidAt, xlsxDateTimeFmt)
		w, v = at(7)
		wantTime(t, w, v, o.ShippedAt, xlsxDateTimeFmt)
		w, v = at(8)
		wantTime(t, w, v, o.CancelledAt, xlsxDateTimeFmt)
		w, v = at(9)
		wantCount(t, w, v, int64(o.ItemCount))
		w, v = at(10)
		wantText(t, w, v, o.Currency)
		a, err := OrderAmounts(o)
		if err != nil {
			t.Fatal(err)
		}
		w, v = at(11)
		wantAmount(t, w, v, o.TotalCents, o.Currency)
		w, v = at(12)
		wantAmount(t, w, v, o.RefundedCents, o.Currency)
		w, v = at(13)
		wantAmount(t, w, v, a.Net, o.Currency)
		w, v = at(14)
		wantAmount(t, w, v, o.TaxCents, o.Currency) // the order's own, as Total
		w, v = at(15)
		wantText(t, w, v, o.Carrier)
		w, v = at(16)
		wantText(t, w, v, o.TrackingNumber)
	}

	sum := b.sheet(t, "Summary")
	h := testHeader(TypeOrderHistory)
	meta := map[string]xlsxValue{}
	for r := 2; r <= len(sum.Rows); r++ {
		meta[sum.cell(r, 1).str()] = sum.cell(r, 2)
	}
	wantText(t, "title", sum.cell(1, 1), "Order history")
	wantText(t, "Customer", meta["Customer"], h.SubjectID)
	wantText(t, "Client", meta["Client"], h.ClientName)
	wantText(t, "Report ID", meta["Report ID"], h.ReportID)
	wantTime(t, "From", meta["From"], &h.From, xlsxDateFmt)
	wantTime(t, "To", meta["To"], &h.To, xlsxDateFmt)
	wantTime(t, "Generated at", meta["Generated at (UTC)"], &h.GeneratedAt, xlsxDateTimeFmt)
	if v := meta["Data position"]; v.Type != "Number" || string(v.Value) != "1200" {
		t.Errorf("data position %s %s, want the number 1200", v.Type, v.Value)
	}
	wantCount(t, "Rows", meta["Rows"], 70)

	// The totals are Totals' exactly, and the PDF of the same rows prints
	// the same figures.
	var totals Totals
	for _, o := range rows {
		if err := totals.AddOrder(o); err != nil {
			t.Fatal(err)
		}
	}
	pdf, _ := renderPDFBytes(t, orderDoc(t, rows), defaultChunkPages)
	text := textOf(t, pdf)
	// Each row's Net follows OrderAmounts, so the column sums to the total.
	netByCur := map[string]int64{}
	for r := 2; r <= len(rows)+1; r++ {
		cur := s.cell(r, 10).str()
		netByCur[cur] += toCents(t, s.cell(r, 13), cur)
	}
	got := summaryTotals(t, sum, 6)
	if len(got) != len(totals.Currencies()) || len(got) < 3 {
		t.Fatalf("%d totals rows, want one for each of %v", len(got), totals.Currencies())
	}
	for i, cur := range totals.Currencies() {
		row, tt := got[i], totals.Of(cur)
		wantText(t, "totals currency", row[0], cur)
		wantCount(t, cur+" orders", row[1], tt.Orders)
		wantAmount(t, cur+" gross", row[2], tt.Gross, cur)
		wantAmount(t, cur+" refunds", row[3], tt.Refunds, cur)
		wantAmount(t, cur+" net", row[4], tt.Net, cur)
		wantAmount(t, cur+" tax", row[5], tt.Tax, cur)
		if netByCur[cur] != tt.Net {
			t.Errorf("%s: the Net column sums to %d, the total is %d", cur, netByCur[cur], tt.Net)
		}
		wantPDFLine(t, text, cur, formatCount(tt.Orders), formatCount(tt.Cancellations), formatCount(tt.WithRefund),
			FormatMoney(toCents(t, row[2], cur), cur), FormatMoney(toCents(t, row[3], cur), cur), FormatMoney(toCents(t, row[4], cur), cur),
			FormatMoney(toCents(t, row[5], cur), cur))
	}

	p := b.Properties
	if p["title"] != "Order history: Customer cus_42, 1/1/2026 – 3/31/2026" || p["created"] != "2026-04-01T09:30:00.000Z" ||
		p["modified"] != p["created"] || p["creator"] != "reportd" ||
		!strings.Contains(p["subject"], "rep_test0001") || !strings.Contains(p["subject"], "data position 1200") {
		t.Errorf("document properties %v", p)
	}
}

func TestRenderXLSXMerchantSales(t *testing.T) {
	rows := testDays(30)
	data, st := renderXLSXBytes(t, merchantDoc(t, rows))
	if st != (Stats{Rows: 30}) {
		t.Errorf("stats %+v", st)
	}
	b := readXLSX(t, data)
	s := b.sheet(t, "Sales")
	wantTable(t, s, []string{"Merchant", "Day", "Currency", "Orders", "Cancellations", "Gross", "Refunds", "Net", "Tax"}, len(rows))
	for i, d := range rows {
		r := i + 2
		w := func(c int) string { return fmt.Sprintf("row %d col %d", r, c) }
		wantText(t, w(1), s.cell(r, 1), d.MerchantID)
		wantTime(t, w(2), s.cell(r, 2), &d.Day, xlsxDateFmt)
		wantText(t, w(3), s.cell(r, 3), d.Currency)
		wantCount(t, w(4), s.cell(r, 4), int64(d.Orders))
		wantCount(t, w(5), s.cell(r, 5), int64(d.Cancellations))
		wantAmount(t, w(6), s.cell(r, 6), d.GrossCents, d.Currency)
		wantAmount(t, w(7), s.cell(r, 7), d.RefundsCents, d.Currency)
		wantAmount(t, w(8), s.cell(r, 8), d.NetCents, d.Currency)
		wantAmount(t, w(9), s.cell(r, 9), d.TaxCents, d.Currency)
	}

	var totals Totals
	for _, d := range rows {
		if err := totals.AddDay(d); err != nil {
			t.Fatal(err)
		}
	}
	pdf, _ := renderPDFBytes(t, merchantDoc(t, rows), defaultChunkPages)
	text := textOf(t, pdf)
	got := summaryTotals(t, b.sheet(t, "Summary"), 8)
	if len(got) != 3 {
		t.Fatalf("%d totals rows, want 3", len(got))
	}
	for i, cur := range totals.Currencies() {
		row, tt := got[i], totals.Of(cur)
		wantText(t, "totals currency", row[0], cur)
		wantCount(t, cur+" days", row[1], tt.Rows)
		wantCount(t, cur+" orders", row[2], tt.Orders)
		wantCount(t, cur+" cancellations", row[3], tt.Cancellations)
		wantAmount(t, cur+" gross", row[4], tt.Gross, cur)
		wantAmount(t, cur+" refunds", row[5], tt.Refunds, cur)
		wantAmount(t, cur+" net", row[6], tt.Net, cur)
		wantAmount(t, cur+" tax", row[7], tt.Tax, cur)
		wantPDFLine(t, text, cur, formatCount(tt.Rows), formatCount(tt.Orders), formatCount(tt.Cancellations),
			FormatMoney(toCents(t, row[4], cur), cur), FormatMoney(toCents(t, row[5], cur), cur), FormatMoney(toCents(t, row[6], cur), cur),
			FormatMoney(toCents(t, row[7], cur), cur))
	}
}

func TestRenderXLSXEmpty(t *testing.T) {
	for _, tc := range []struct {
		doc   Document
		sheet string
		cols  int
		msg   string
	}{
		{orderDoc(t, nil), "Orders", 16, "No orders in this period."},
		{merchantDoc(t, nil), "Sales", 9, "No sales in this period."},
	} {
		data, st := renderXLSXBytes(t, tc.doc)
		if st != (Stats{}) {
			t.Errorf("%s: stats %+v", tc.sheet, st)
		}
		b := readXLSX(t, data)
		s := b.sheet(t, tc.sheet)
		if len(s.Rows) != 1 || len(s.Rows[0]) != tc.cols {
			t.Errorf("%s: rows %v, want the header alone", tc.sheet, s.Rows)
		}
		if got := strings.ReplaceAll(fmt.Sprint(s.AutoFilter), "$", ""); !strings.HasPrefix(got, "A1:") || !strings.HasSuffix(got, "1") {
			t.Errorf("%s: autofilter %v, want the header row", tc.sheet, s.AutoFilter)
		}
		found := false
		for r := range b.sheet(t, "Summary").Rows {
			found = found || b.sheet(t, "Summary").cell(r+1, 1).str() == tc.msg
		}
		if !found {
			t.Errorf("%s: the Summary does not say %q", tc.sheet, tc.msg)
		}
	}
}

// TestRenderXLSXAmounts covers the exponents and the amounts a double cannot
// hold: those become text with every digit, never a rounded number.
func TestRenderXLSXAmounts(t *testing.T) {
	rows := testOrders(6)
	rows[0].Currency, rows[0].TotalCents, rows[0].RefundedCents = "KWD", 1234567, 0         // 1234.567
	rows[1].Currency, rows[1].TotalCents, rows[1].RefundedCents = "JPY", 98765, 0           // 98765
	rows[2].Currency, rows[2].TotalCents, rows[2].RefundedCents = "CLF", 10, 0              // 0.0010
	rows[3].Currency, rows[3].TotalCents, rows[3].RefundedCents = "EUR", 10, 0              // 0.10
	rows[4].Currency, rows[4].TotalCents, rows[4].RefundedCents = "eur", 999999999999999, 0 // 15 digits: still a number
	huge := int64(1234567890123456789)                                                      // 19 digits
	rows[5].Currency, rows[5].TotalCents, rows[5].RefundedCents = "USD", huge, 0
	for i := range rows {
		rows[i].CancelledAt, rows[i].TaxCents = nil, 0
	}
	data, _ := renderXLSXBytes(t, orderDoc(t, rows))
	s := readXLSX(t, data).sheet(t, "Orders")
	for i, o := range rows[:5] {
		wantAmount(t, fmt.Sprintf("row %d total", i+2), s.cell(i+2, 11), o.TotalCents, o.Currency)
	}
	if v := s.cell(7, 11); v.Type != "String" || v.str() != "12345678901234567.89" {
		t.Errorf("19-digit amount: %s %s, want the exact decimal as text", v.Type, v.Value)
	}
}

// TestRenderXLSXTempFiles renders past excelize's 16 MiB in-memory buffer,
// so the sheet spills to a temp file, and checks that the file is gone after
// a render that succeeded, one canceled midway, and one whose writer failed.
func TestRenderXLSXTempFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("renders 40,000 rows three times")
	}
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	rows := testOrders(40000) // about 590 bytes of sheet XML each: past 16 MiB at ~28,500
	leftovers := func() []string {
		es, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		names := make([]string, 0, len(es))
		for _, e := range es {
			names = append(names, e.Name())
		}
		return names
	}

	spy := &tempSpy{list: leftovers}
	if _, err := Render(context.Background(), spy, FormatXLSX, orderDoc(t, rows)); err != nil {
		t.Fatal(err)
	}
	if len(spy.seen) == 0 {
		t.Errorf("no temp file while the zip was written: the test no longer exercises the spill")
	}
	if l := leftovers(); len(l) > 0 {
		t.Errorf("temp files left after a render: %v", l)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	doc := orderDoc(t, rows)
	inner := doc.Orders
	doc.Orders = func(yield func(OrderRow, error) bool) {
		n := 0
		for o, err := range inner {
			if n++; n == 35000 {
				if len(leftovers()) == 0 {
					t.Errorf("no temp file after 35,000 rows")
				}
				cancel()
			}
			if !yield(o, err) {
				return
			}
		}
	}
	if _, err := Render(ctx, io.Discard, FormatXLSX, doc); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled render: %v, want context.Canceled", err)
	}
	if l := leftovers(); len(l) > 0 {
		t.Errorf("temp files left after a canceled render: %v", l)
	}

	boom := errors.New("upload broke")
	if _, err := Render(context.Background(), failingWriter{boom}, FormatXLSX, orderDoc(t, rows)); !errors.Is(err, boom) {
		t.Errorf("render into a failing writer: %v, want its error", err)
	}
	if l := leftovers(); len(l) > 0 {
		t.Errorf("temp files left after a failed write: %v", l)
	}
}

type tempSpy struct {
	list func() []string
	seen []string
	n    int
}

func (s *tempSpy) Write(p []byte) (int, error) {
	if s.n == 0 {
		s.seen = s.list()
	}
	s.n += len(p)
	return len(p), nil
}

type failingWriter struct{ err error }

func (w failingWriter) Write([]byte) (int, error) { return 0, w.err }

func TestXLSXNames(t *testing.T) {
	if got := FormatXLSX.ContentType(); got != "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" {
		t.Errorf("content type %q", got)
	}
	if got := Filename(orderDoc(t, nil), FormatXLSX); got != "order-history_cus_42_2026-01-01_2026-03-31.xlsx" {
		t.Errorf("filename %q", got)
	}
	if errs := ValidateRequest(TypeOrderHistory, FormatXLSX, Params{CustomerID: "c", From: "2026-01-01", To: "2026-01-02"}, 0); errs != nil {
		t.Errorf("xlsx request rejected: %v", errs)
	}
}
