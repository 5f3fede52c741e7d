package report

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"io/fs"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
)

// XLSX layout: two sheets.
//
//   - The data sheet ("Orders" or "Sales") is one table: a header row,
//     frozen, with an autofilter over the whole table, then one row per input
//     row in input order. Cells are typed: counts are numbers, timestamps and
//     days are date serials with a date format, amounts are numbers in major
//     units with a number format of the row's currency (its ISO 4217
//     exponent, and its symbol placed as the locale places it). Times are
//     wall-clock times in the report's time zone, which the column titles
//     name. Labels follow the locale; the sheet names stay "Orders",
//     "Sales" and "Summary", as tools address sheets by name.
//   - Number formats in a workbook are locale-independent: "#,##0.00"
//     always means grouped with two decimals, and the reader's spreadsheet
//     shows its own separators. The locale decides what a format can say:
//     the date order (dd.mm.yyyy for de-DE, yyyy/mm/dd for ja-JP) and where
//     the currency symbol goes ("€"#,##0.00 vs #,##0.00 "€").
//   - "Summary" holds what the PDF's header and totals hold: title, subject,
//     period, report id, generated at, data position, and the totals per
//     currency from Totals, so they equal the PDF's to the last digit.
//
// The data sheet streams through excelize's StreamWriter, which spills to a
// temp file past 16 MiB; File.Close removes it. The zip goes straight to w
// through our own ZipWriter, which also fixes every entry's time, so the
// same report renders to the same bytes.
//
// A spreadsheet holds a number as a double, exact to 15 significant digits.
// An amount with more digits is written as text rather than rounded.

const (
	xlsxSampleRows = 200 // rows held back to size the columns before streaming
	xlsxMinWidth   = 8.0
	xlsxMaxWidth   = 60.0
	xlsxMaxDigits  = 15

	xlsxTimeFmt  = " hh:mm:ss" // after the locale's date
	xlsxCountFmt = 3           // built-in "#,##0"
)

// xlsxEpoch stands in for a missing generated-at: zip times start in 1980.
var xlsxEpoch = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

var reCurrencyCode = regexp.MustCompile(`^[A-Z]{3}$`)

type xlsxKind int

const (
	kindText xlsxKind = iota
	kindCount
	kindAmount
	kindDateTime
	kindDate
)

type xlsxColumn struct {
	title string
	kind  xlsxKind
}

func orderXLSXColumns() []xlsxColumn {
	return []xlsxColumn{
		{"Order", kindText}, {"Customer", kindText}, {"Merchant", kindText}, {"Status", kindText},
		{"Placed at", kindDateTime}, {"Paid at", kindDateTime},
		{"Shipped at", kindDateTime}, {"Cancelled at", kindDateTime},
		{"Items", kindCount}, {"Currency", kindText},
		{"Total", kindAmount}, {"Refunded", kindAmount}, {"Net", kindAmount}, {"Tax", kindAmount},
		{"Carrier", kindText}, {"Tracking number", kindText},
	}
}

func merchantXLSXColumns() []xlsxColumn {
	return []xlsxColumn{
		{"Merchant", kindText}, {"Day", kindDate}, {"Currency", kindText},
		{"Orders", kindCount}, {"Cancellations", kindCount},
		{"Gross", kindAmount}, {"Refunds", kindAmount}, {"Net", kindAmount}, {"Tax", kindAmount},
	}
}

// xlsxCell is one typed value and the characters it shows, for the width.
type xlsxCell struct {
	cell  excelize.Cell
	width int
}

type xlsxRenderer struct {
	ctx  context.Context //nolint:containedctx // lives for one renderXLSX call; checked between rows
	doc  Document
	loc  *Locale
	tz   *time.Location
	meta *pdfRenderer // the PDF's wording of title, subject and period
	f    *excelize.File
	sw   *excelize.StreamWriter
	cols []xlsxColumn

	sheet                 string
	header, count, date   int // style ids
	dateTime, bold, title int
	amountStyles          map[string]int

	pending   [][]xlsxCell        // the sample, until the widths are set
	streaming bool                // the header is written; rows go straight out
	rows      int                 // data rows written to the sheet
	days      map[string]struct{} // distinct days of merchant_sales; at most one per day of the period
}

func renderXLSX(ctx context.Context, w io.Writer, doc Document) (st Stats, err error) {
	loc, tz, err := doc.Header.localeAndZone()
	if err != nil {
		return st, fmt.Errorf("render xlsx: %w", err)
	}
	r := &xlsxRenderer{ctx: ctx, doc: doc, loc: loc, tz: tz, meta: &pdfRenderer{doc: doc, loc: loc, tz: tz},
		amountStyles: map[string]int{}, days: map[string]struct{}{}}
	switch doc.Type {
	case TypeOrderHistory:
		if doc.Orders == nil {
			return st, fmt.Errorf("render %s: no order rows", doc.Type)
		}
		r.sheet, r.cols = "Orders", orderXLSXColumns()
	case TypeMerchantSales:
		if doc.MerchantDays == nil {
			return st, fmt.Errorf("render %s: no merchant rows", doc.Type)
		}
		r.sheet, r.cols = "Sales", merchantXLSXColumns()
	default:
		return st, fmt.Errorf("render xlsx: unknown report type %q", doc.Type)
	}

	r.f = excelize.NewFile()
	defer func() {
		// Removes the stream's temp file, whatever happened.
		if cerr := r.f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close xlsx: %w", cerr)
		}
	}()
	if err := r.setUp(); err != nil {
		return st, err
	}

	var totals Totals
	switch doc.Type {
	case TypeOrderHistory:
		err = r.orders(&totals)
	case TypeMerchantSales:
		err = r.merchantDays(&totals)
	}
	if err != nil {
		return Stats{Rows: r.rows + len(r.pending)}, err
	}
	if err := r.startStreaming(); err != nil {
		return st, err
	}
	last, err := excelize.CoordinatesToCellName(len(r.cols), r.rows+1)
	if err != nil {
		return st, fmt.Errorf("render xlsx: %w", err)
	}
	if err := r.f.AutoFilter(r.sheet, "A1:"+last, nil); err != nil {
		return st, fmt.Errorf("render xlsx autofilter: %w", err)
	}
	if err := r.sw.Flush(); err != nil {
		return st, fmt.Errorf("render xlsx sheet: %w", err)
	}
	if err := r.summary(&totals); err != nil {
		return st, err
	}
	if err := r.write(w); err != nil {
		return st, err
	}
	return Stats{Rows: r.rows}, nil
}

func (r *xlsxRenderer) setUp() error {
	f := r.f
	if err := f.SetSheetName("Sheet1", r.sheet); err != nil {
		return fmt.Errorf("set up xlsx: %w", err)
	}
	if _, err := f.NewSheet("Summary"); err != nil {
		return fmt.Errorf("set up xlsx: %w", err)
	}
	h := r.doc.Header
	generated := xlsxTime(h.GeneratedAt).Format(time.RFC3339)
	// excelize's SetDocProps writes core.xml with a default namespace, which
	// some readers (exceljs) cannot parse; write it the way Office does.
	f.Pkg.Store("docProps/core.xml", coreProperties([][2]string{
		{"dc:title", r.meta.docTitle()},
		{"dc:subject", r.meta.subjectLine()},
		{"dc:creator", "reportd"},
		{"dc:description", fmt.Sprintf("data position %d", h.DataPosition)},
		{"dc:identifier", h.ReportID},
		{"cp:lastModifiedBy", "reportd"},
		{"cp:category", string(r.doc.Type)},
	}, generated))
	if err := f.SetAppProps(&excelize.AppProperties{Application: "reportd"}); err != nil {
		return fmt.Errorf("set up xlsx properties: %w", err)
	}

	styles := []struct {
		id *int
		s  excelize.Style
	}{
		{&r.header, excelize.Style{
			Font:   &excelize.Font{Bold: true, Color: "FFFFFF"},
			Fill:   excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"1F3A5F"}},
			Border: []excelize.Border{{Type: "bottom", Color: "1F2937", Style: 1}},
		}},
		{&r.count, excelize.Style{NumFmt: xlsxCountFmt}},
		{&r.dateTime, excelize.Style{CustomNumFmt: new(r.loc.xlsxDate() + xlsxTimeFmt)}},
		{&r.date, excelize.Style{CustomNumFmt: new(r.loc.xlsxDate())}},
		{&r.bold, excelize.Style{Font: &excelize.Font{Bold: true}}},
		{&r.title, excelize.Style{Font: &excelize.Font{Bold: true, Size: 14, Color: "1F3A5F"}}},
	}
	for _, s := range styles {
		id, err := f.NewStyle(&s.s)
		if err != nil {
			return fmt.Errorf("set up xlsx styles: %w", err)
		}
		*s.id = id
	}

	sw, err := f.NewStreamWriter(r.sheet)
	if err != nil {
		return fmt.Errorf("set up xlsx sheet: %w", err)
	}
	r.sw = sw
	if err := sw.SetPanes(&excelize.Panes{
		Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft",
		Selection: []excelize.Selection{{SQRef: "A2", ActiveCell: "A2", Pane: "bottomLeft"}},
	}); err != nil {
		return fmt.Errorf("set up xlsx panes: %w", err)
	}
	return nil
}

// amountStyle is the number format of one currency: its exponent's decimals
// and its symbol where the locale puts it, e.g. `"€"#,##0.00` (en-US),
// `#,##0.00 "€"` (de-DE) or `"￥"#,##0` (ja-JP).
func (r *xlsxRenderer) amountStyle(cur string) (int, error) {
	if id, ok := r.amountStyles[cur]; ok {
		return id, nil
	}
	code := "#,##0"
	if exp := minorUnits(cur); exp > 0 {
		code += "." + strings.Repeat("0", exp)
	}
	if reCurrencyCode.MatchString(cur) {
		sym := `"` + strings.ReplaceAll(r.loc.Symbol(cur), `"`, "") + `"`
		if r.loc.data.currencyAfter {
			code += ` ` + sym
		} else {
			code = sym + code
		}
	}
	id, err := r.f.NewStyle(&excelize.Style{CustomNumFmt: &code})
	if err != nil {
		return 0, fmt.Errorf("xlsx style for %q: %w", cur, err)
	}
	r.amountStyles[cur] = id
	return id, nil
}

// colTitle is a column's title in the locale; a time column names the
// zone its times are in, e.g. "Placed at (Europe/Berlin)".
func (r *xlsxRenderer) colTitle(c xlsxColumn) string {
	if c.kind == kindDateTime {
		return r.zoned(c.title)
	}
	return r.loc.T(c.title)
}

func (r *xlsxRenderer) zoned(label string) string {
	return r.loc.T(label) + " (" + r.tz.String() + ")"
}

func (r *xlsxRenderer) textCell(s string) xlsxCell {
	if s == "" {
		return xlsxCell{} // no cell at all, so that it counts as blank
	}
	return xlsxCell{excelize.Cell{Value: s}, utf8.RuneCountInString(s)}
}

func (r *xlsxRenderer) countCell(n int64) xlsxCell {
	return xlsxCell{excelize.Cell{StyleID: r.count, Value: n}, len(formatCount(n))}
}

func (r *xlsxRenderer) timeCell(t *time.Time) xlsxCell {
	if t == nil || t.IsZero() {
		return xlsxCell{}
	}
	// A serial has no zone: write the wall clock of the report's zone.
	l := t.In(r.tz)
	wall := time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
	return xlsxCell{excelize.Cell{StyleID: r.dateTime, Value: wall}, len(r.loc.xlsxDate() + xlsxTimeFmt)}
}

func (r *xlsxRenderer) dayCell(t time.Time) xlsxCell {
	if t.IsZero() {
		return xlsxCell{}
	}
	return xlsxCell{excelize.Cell{StyleID: r.date, Value: t.UTC()}, len(r.loc.xlsxDate())}
}

// amountCell is an amount in major units. The cell holds the decimal itself
// (excelize prints a float64 back with up to 15 significant digits, which
// round-trip exactly), so no amount is ever off by a rounding.
func (r *xlsxRenderer) amountCell(cents int64, cur string) (xlsxCell, error) {
	s := DecimalString(cents, cur)
	width := len(FormatAmount(cents, cur)) + 1 + len(cur)
	if significantDigits(s) > xlsxMaxDigits {
		return xlsxCell{excelize.Cell{Value: s}, width}, nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return xlsxCell{}, fmt.Errorf("amount %q: %w", s, err)
	}
	style, err := r.amountStyle(cur)
	if err != nil {
		return xlsxCell{}, err
	}
	return xlsxCell{excelize.Cell{StyleID: style, Value: v}, width}, nil
}

func significantDigits(s string) int {
	n := 0
	for _, c := range strings.TrimLeft(strings.TrimLeft(s, "-"), "0.") {
		if c >= '0' && c <= '9' {
			n++
		}
	}
	return n
}

// add queues a data row: into the sample until the widths are known, then
// straight to the sheet.
func (r *xlsxRenderer) add(row []xlsxCell) error {
	if r.streaming {
		return r.writeRow(row)
	}
	r.pending = append(r.pending, row)
	if len(r.pending) < xlsxSampleRows {
		return nil
	}
	return r.startStreaming()
}

// startStreaming sizes the columns from the header and the sample (a column
// must be sized before its first row), then writes the header and the
// sample; from then on rows stream.
func (r *xlsxRenderer) startStreaming() error {
	if r.streaming {
		return nil
	}
	// excelize lists each new <col> before the ones set earlier, and Excel
	// wants them in column order: so set them from the last.
	for i, c := range slices.Backward(r.cols) {
		w := utf8.RuneCountInString(r.colTitle(c)) + 3 // bold, plus the filter button
		for _, row := range r.pending {
			w = max(w, row[i].width)
		}
		width := min(max(float64(w)+2, xlsxMinWidth), xlsxMaxWidth)
		if err := r.sw.SetColWidth(i+1, i+1, width); err != nil {
			return fmt.Errorf("render xlsx column widths: %w", err)
		}
	}
	head := make([]any, len(r.cols))
	for i, c := range r.cols {
		head[i] = excelize.Cell{StyleID: r.header, Value: r.colTitle(c)}
	}
	if err := r.sw.SetRow("A1", head); err != nil {
		return fmt.Errorf("render xlsx header: %w", err)
	}
	r.streaming = true
	pending := r.pending
	r.pending = nil
	for _, row := range pending {
		if err := r.writeRow(row); err != nil {
			return err
		}
	}
	return nil
}

func (r *xlsxRenderer) writeRow(row []xlsxCell) error {
	values := make([]any, len(row))
	for i, c := range row {
		if c.cell.Value != nil {
			values[i] = c.cell
		}
	}
	cell, err := excelize.CoordinatesToCellName(1, r.rows+2)
	if err != nil {
		return fmt.Errorf("render xlsx row %d: %w", r.rows+1, err)
	}
	if err := r.sw.SetRow(cell, values); err != nil {
		return fmt.Errorf("render xlsx row %d: %w", r.rows+1, err)
	}
	r.rows++
	return nil
}

// checkRow honours ctx between rows.
func (r *xlsxRenderer) checkRow(err error) error {
	n := r.rows + len(r.pending)
	if err != nil {
		return fmt.Errorf("read row %d: %w", n+1, err)
	}
	if err := r.ctx.Err(); err != nil {
		return fmt.Errorf("render xlsx: %w", err)
	}
	return nil
}

func (r *xlsxRenderer) orders(totals *Totals) error {
	for o, err := range r.doc.Orders {
		if err := r.checkRow(err); err != nil {
			return err
		}
		n := r.rows + len(r.pending) + 1
		if err := totals.AddOrder(o); err != nil {
			return fmt.Errorf("add order row %d: %w", n, err)
		}
		a, err := OrderAmounts(o)
		if err != nil {
			return fmt.Errorf("add order row %d: %w", n, err)
		}
		row := []xlsxCell{
			r.textCell(o.OrderID), r.textCell(o.CustomerID), r.textCell(o.MerchantID), r.textCell(o.Status),
			r.timeCell(&o.PlacedAt), r.timeCell(o.PaidAt), r.timeCell(o.ShippedAt), r.timeCell(o.CancelledAt),
			r.countCell(int64(o.ItemCount)), r.textCell(o.Currency),
		}
		// Total, Refunded and Tax are the order's own, as in the CSV; Net is
		// what the money rule makes of them.
		for _, cents := range []int64{o.TotalCents, o.RefundedCents, a.Net, o.TaxCents} {
			c, err := r.amountCell(cents, o.Currency)
			if err != nil {
				return fmt.Errorf("order row %d: %w", n, err)
			}
			row = append(row, c)
		}
		row = append(row, r.textCell(o.Carrier), r.textCell(o.TrackingNumber))
		if err := r.add(row); err != nil {
			return err
		}
	}
	return nil
}

func (r *xlsxRenderer) merchantDays(totals *Totals) error {
	for d, err := range r.doc.MerchantDays {
		if err := r.checkRow(err); err != nil {
			return err
		}
		n := r.rows + len(r.pending) + 1
		if err := totals.AddDay(d); err != nil {
			return fmt.Errorf("add merchant row %d: %w", n, err)
		}
		r.days[d.Day.UTC().Format(dayLayout)] = struct{}{}
		row := []xlsxCell{
			r.textCell(d.MerchantID), r.dayCell(d.Day), r.textCell(d.Currency),
			r.countCell(int64(d.Orders)), r.countCell(int64(d.Cancellations)),
		}
		for _, cents := range []int64{d.GrossCents, d.RefundsCents, d.NetCents, d.TaxCents} {
			c, err := r.amountCell(cents, d.Currency)
			if err != nil {
				return fmt.Errorf("merchant row %d: %w", n, err)
			}
			row = append(row, c)
		}
		if err := r.add(row); err != nil {
			return err
		}
	}
	return nil
}

// summary fills the Summary sheet: what the report is, and its totals per
// currency, as the PDF prints them.
func (r *xlsxRenderer) summary(totals *Totals) error {
	const sheet = "Summary"
	h := r.doc.Header
	rows := [][]xlsxCell{
		{{excelize.Cell{StyleID: r.title, Value: r.meta.title()}, 0}},
		{r.textCell(r.meta.subjectLabel()), r.textCell(h.SubjectID)},
		{r.textCell(r.loc.T("From")), r.dayCell(h.From)},
		{r.textCell(r.loc.T("To")), r.dayCell(h.To)},
		{r.textCell(r.loc.T("Time zone")), r.textCell(r.tz.String())},
		{r.textCell(r.loc.T("Locale")), r.textCell(r.loc.Tag())},
		{r.textCell(r.loc.T("Client")), r.textCell(h.ClientName)},
		{r.textCell(r.loc.T("Report ID")), r.textCell(h.ReportID)},
		{r.textCell(r.zoned("Generated at")), r.timeCell(&h.GeneratedAt)},
		{r.textCell(r.loc.T("Data position")), {excelize.Cell{Value: h.DataPosition}, 0}},
		{r.textCell(r.loc.T("Rows")), r.countCell(int64(r.rows))},
		nil,
		{{excelize.Cell{StyleID: r.title, Value: r.loc.T("Totals by currency")}, 0}},
	}

	curs := totals.Currencies()
	head := []string{"Currency", "Orders", "Gross", "Refunds", "Net", "Tax"}
	if r.doc.Type == TypeMerchantSales {
		head = []string{"Currency", "Days", "Orders", "Cancellations", "Gross", "Refunds", "Net", "Tax"}
	}
	headRow := make([]xlsxCell, len(head))
	for i, t := range head {
		headRow[i] = xlsxCell{excelize.Cell{StyleID: r.header, Value: r.loc.T(t)}, 0}
	}
	if len(curs) == 0 {
		msg := "No orders in this period."
		if r.doc.Type == TypeMerchantSales {
			msg = "No sales in this period."
		}
		rows = append(rows, []xlsxCell{r.textCell(r.loc.T(msg))})
	} else {
		rows = append(rows, headRow)
	}
	var orders, cancellations int64
	for _, cur := range curs {
		t := totals.Of(cur)
		orders += t.Orders
		cancellations += t.Cancellations
		row := []xlsxCell{r.textCell(cur)}
		if r.doc.Type == TypeMerchantSales {
			row = append(row, r.countCell(t.Rows), r.countCell(t.Orders), r.countCell(t.Cancellations))
		} else {
			row = append(row, r.countCell(t.Orders))
		}
		for _, cents := range []int64{t.Gross, t.Refunds, t.Net, t.Tax} {
			c, err := r.amountCell(cents, cur)
			if err != nil {
				return fmt.Errorf("total %s: %w", cur, err)
			}
			row = append(row, c)
		}
		rows = append(rows, row)
	}
	if len(curs) > 1 {
		// Amounts in different currencies do not add up; the counts do.
		all := []xlsxCell{{excelize.Cell{StyleID: r.bold, Value: r.loc.T("All currencies")}, 0}, r.countCell(orders)}
		if r.doc.Type == TypeMerchantSales {
			all = append(all[:1], r.countCell(int64(len(r.days))), r.countCell(orders), r.countCell(cancellations))
		}
		rows = append(rows, all)
	}

	for i, row := range rows {
		for j, c := range row {
			if c.cell.Value == nil {
				continue
			}
			ref, err := excelize.CoordinatesToCellName(j+1, i+1)
			if err != nil {
				return fmt.Errorf("render xlsx summary: %w", err)
			}
			if err := r.f.SetCellValue(sheet, ref, c.cell.Value); err != nil {
				return fmt.Errorf("render xlsx summary %s: %w", ref, err)
			}
			if c.cell.StyleID != 0 {
				if err := r.f.SetCellStyle(sheet, ref, ref, c.cell.StyleID); err != nil {
					return fmt.Errorf("render xlsx summary %s: %w", ref, err)
				}
			}
		}
	}
	if err := r.f.SetColWidth(sheet, "A", "A", 24); err != nil {
		return fmt.Errorf("render xlsx summary: %w", err)
	}
	if err := r.f.SetColWidth(sheet, "B", "G", 20); err != nil {
		return fmt.Errorf("render xlsx summary: %w", err)
	}
	return nil
}

// write zips the workbook straight into w. excelize's File.Write would
// build the whole zip in a bytes.Buffer first; its ZipWriter hook gets that
// buffer, which we ignore in favour of w, so the buffer stays empty.
func (r *xlsxRenderer) write(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	zw := &xlsxZip{zw: zip.NewWriter(bw), modified: xlsxTime(r.doc.Header.GeneratedAt)}
	r.f.SetZipWriter(func(io.Writer) excelize.ZipWriter { return zw })
	if err := r.f.Write(io.Discard); err != nil {
		return fmt.Errorf("write xlsx: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write xlsx: %w", err)
	}
	return nil
}

// coreProperties is docProps/core.xml with the given elements and dates.
func coreProperties(elems [][2]string, date string) []byte {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString(`<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties"` +
		` xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/"` +
		` xmlns:dcmitype="http://purl.org/dc/dcmitype/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">`)
	for _, e := range elems {
		b.WriteString("<" + e[0] + ">")
		_ = xml.EscapeText(&b, []byte(clean(e[1]))) // writes to a bytes.Buffer: cannot fail
		b.WriteString("</" + e[0] + ">")
	}
	for _, name := range []string{"dcterms:created", "dcterms:modified"} {
		b.WriteString("<" + name + ` xsi:type="dcterms:W3CDTF">` + date + "</" + name + ">")
	}
	b.WriteString("</cp:coreProperties>")
	return b.Bytes()
}

// xlsxTime is the time stamped into the file: the report's generated-at,
// in whole seconds (zip and core.xml keep no more).
func xlsxTime(t time.Time) time.Time {
	t = t.UTC().Truncate(time.Second)
	if t.Before(xlsxEpoch) {
		return xlsxEpoch
	}
	return t
}

// xlsxZip is excelize's ZipWriter with a fixed modification time on every
// entry instead of none (which some readers show as 1979 or "now").
type xlsxZip struct {
	zw       *zip.Writer
	modified time.Time
}

func (z *xlsxZip) Create(name string) (io.Writer, error) {
	w, err := z.zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: z.modified})
	if err != nil {
		return nil, fmt.Errorf("zip %s: %w", name, err)
	}
	return w, nil
}

func (z *xlsxZip) AddFS(fsys fs.FS) error { return z.zw.AddFS(fsys) }

func (z *xlsxZip) Close() error { return z.zw.Close() }
