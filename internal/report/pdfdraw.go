package report

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// This file draws the statement: header, table, totals and summary. Every
// piece of text goes through cell or drawCell (fontstext.go), which pick a
// font for each rune and record the runes for the font subset (see pdf.go).

// Table text shrinks down to tableFloor points before it wraps; header
// values down to infoFloor.
const (
	tableFloor = 6.5
	infoFloor  = 7.0
	headFloor  = 5.5
	labelFloor = 6.0
)

func (r *pdfRenderer) setFont(style string, size float64) {
	r.style, r.size = style, size
	r.pdf.SetFont(fontFamily, style, size)
}

func (r *pdfRenderer) textColor(c color) { r.pdf.SetTextColor(c.rgb()) }
func (r *pdfRenderer) fillColor(c color) { r.pdf.SetFillColor(c.rgb()) }
func (r *pdfRenderer) drawColor(c color) { r.pdf.SetDrawColor(c.rgb()) }

// cell draws one line of text in the current style and size in a box of
// width w at the current position and moves right, shortening the text with
// an ellipsis if it is too long. Right-aligned cells hold counts and
// amounts, which must never lose digits: a long one shrinks to fit instead.
// border is fpdf's border string ("", "T", …).
func (r *pdfRenderer) cell(w, h float64, text, align string, fill bool, border string) { //nolint:unparam // the parameters of fpdf's CellFormat, which callers expect
	floor := 0.0
	if align == "R" {
		floor = amountFloorPt
	}
	r.drawCell(w, h, h, r.layoutText(text, r.style, r.size, floor, w, false), align, fill, border)
}

// amountFloorPt is the smallest size an amount shrinks to; at 1 pt even
// int64's 19 digits with separators fit the narrowest amount column.
const amountFloorPt = 1.0

func (r *pdfRenderer) rule(y float64) {
	r.drawColor(colRule)
	r.pdf.SetLineWidth(0.2)
	r.pdf.Line(marginX, y, pageW-marginX, y)
}

// drawFooter draws "Page N of " with fpdf and places the page-count XObject
// right after it.
func (r *pdfRenderer) drawFooter() {
	h := r.doc.Header
	r.rule(footerY)
	r.setFont("", footerSize)
	r.textColor(colMuted)
	y := footerY + 1.2
	r.pdf.SetXY(marginX, y)
	left := r.loc.T("Report %s", h.ReportID)
	if !h.GeneratedAt.IsZero() {
		left += " · " + r.loc.T("generated %s", r.stamp(h.GeneratedAt))
	}
	r.cell(130, 4, left, "L", false, "")

	const boxW = 30.0
	label := r.loc.T("Page %d of ", r.pages)
	x := pageW - marginX - boxW
	r.pdf.SetXY(x, y)
	r.cell(boxW, 4, label, "L", false, "")
	_, unit := r.pdf.GetFontSize()
	k := r.pdf.GetConversionRatio()
	// Measured the way it was drawn, rune by rune in its face: a label in
	// a fallback script is not as wide as DejaVu would make it.
	lt := r.layoutText(label, "", footerSize, 0, boxW, false)
	bx := x + cellMargin + lt.lines[0].width(lt.size)
	by := y + 0.5*4 + 0.3*unit // fpdf's baseline for a vertically centred cell
	cr, cg, cb := colMuted.rgb()
	r.pdf.RawWriteStr(fmt.Sprintf("q %.3f %.3f %.3f rg 1 0 0 1 %.2f %.2f cm /%s Do Q",
		float64(cr)/255, float64(cg)/255, float64(cb)/255, bx*k, (pageH-by)*k, pageCountName))
}

func (r *pdfRenderer) drawFirstHeader() {
	h := r.doc.Header
	y := marginTop
	r.pdf.SetXY(marginX, y)
	r.setFont("B", 18)
	r.textColor(colBrand)
	r.cell(110, 9, r.title(), "L", false, "")

	if h.ClientName != "" {
		// Shrunk, then shortened: the info block below has it in full.
		r.pdf.SetXY(pageW-marginX-72, y)
		r.setFont("B", 11)
		r.textColor(colInk)
		r.drawCell(72, 5.5, 5.5, r.layoutText(h.ClientName, "B", 11, 8, 72, false), "R", false, "")
	}
	r.pdf.SetXY(pageW-marginX-72, y+5.5)
	r.setFont("", 7.5)
	r.textColor(colMuted)
	r.cell(72, 4, r.loc.T("Prepared by reportd"), "R", false, "")

	y += 10.5
	r.pdf.SetXY(marginX, y)
	r.setFont("", 9.5)
	r.cell(pageW-2*marginX, 5, r.subjectLabel()+" "+h.SubjectID+"  ·  "+r.period(), "L", false, "")
	y += 7.5
	r.rule(y)
	y += 2.5

	left := [][2]string{
		{r.subjectLabel(), h.SubjectID},
		{r.loc.T("Period"), r.period()},
		{r.loc.T("Report ID"), h.ReportID},
	}
	right := [][2]string{
		{r.loc.T("Client"), h.ClientName},
		{r.loc.T("Generated"), r.stamp(h.GeneratedAt)},
		{r.loc.T("Data position"), r.loc.Count(h.DataPosition)},
	}
	for i := range left {
		y += max(r.infoPair(marginX, y, left[i]), r.infoPair(marginX+96, y, right[i]))
	}
	y += 2
	r.rule(y)
	r.pdf.SetXY(marginX, y+5)
}

// infoPair draws a label and its value, which wraps rather than being cut,
// and returns the height it took.
func (r *pdfRenderer) infoPair(x, y float64, kv [2]string) float64 {
	const lineH = 4.8
	r.pdf.SetXY(x, y)
	r.setFont("", 8)
	r.textColor(colMuted)
	// A translated label may be long ("Position des données"): it shrinks.
	r.drawCell(26, lineH, lineH, r.layoutText(kv[0], "", 8, labelFloor, 26, false), "L", false, "")
	r.setFont("", 8.5)
	r.textColor(colInk)
	t := r.layoutText(kv[1], "", 8.5, infoFloor, 60, true)
	h := t.height(lineH)
	r.drawCell(60, h, lineH, t, "L", false, "")
	return h
}

func (r *pdfRenderer) drawRunningHeader() {
	h := r.doc.Header
	r.pdf.SetXY(marginX, marginTop)
	r.setFont("B", 8)
	r.textColor(colBrand)
	r.drawCell(40, 4.5, 4.5, r.layoutText(r.title(), "B", 8, labelFloor, 40, false), "L", false, "")
	r.setFont("", 8)
	r.textColor(colMuted)
	line := r.subjectLabel() + " " + h.SubjectID + "  ·  " + r.period()
	r.drawCell(92, 4.5, 4.5, r.layoutText(line, "", 8, labelFloor, 92, false), "L", false, "")
	r.cell(pageW-2*marginX-132, 4.5, h.ClientName, "R", false, "")
	r.rule(marginTop + 6)
	r.pdf.SetXY(marginX, marginTop+9)
}

func (r *pdfRenderer) drawTableHeader() {
	y := r.pdf.GetY()
	r.pdf.SetX(marginX)
	r.setFont("B", headSize)
	r.textColor(colWhite)
	r.fillColor(colBrand)
	for _, c := range r.table {
		// A translated title may be longer than the English one: it
		// shrinks a little before it is shortened.
		t := r.layoutText(r.loc.T(c.title), "B", headSize, headFloor, c.width, false)
		r.drawCell(c.width, headRowH, headRowH, t, c.align, true, "")
	}
	r.pdf.SetXY(marginX, y+headRowH)
}

// row draws one table row, starting a page first when it does not fit.
// Text too long for its column shrinks, then wraps, and the row grows to
// hold it: nothing in a row is cut.
func (r *pdfRenderer) row(cells []string, shade, bold bool, border string) error {
	style := ""
	if bold {
		style = "B"
	}
	texts := make([]cellLines, len(r.table))
	h := rowH
	for i, c := range r.table {
		if c.align == "R" {
			// Counts and amounts: a number split over two lines misreads.
			texts[i] = r.layoutText(cells[i], style, tableSize, amountFloorPt, c.width, false)
		} else {
			texts[i] = r.layoutText(cells[i], style, tableSize, tableFloor, c.width, true)
		}
		h = max(h, texts[i].height(rowH))
	}
	if err := r.ensure(h); err != nil {
		return err
	}
	y := r.pdf.GetY()
	r.pdf.SetX(marginX)
	r.setFont(style, tableSize)
	r.textColor(colInk)
	r.fillColor(colZebra)
	r.drawColor(colInk)
	r.pdf.SetLineWidth(0.3)
	for i, c := range r.table {
		r.drawCell(c.width, h, rowH, texts[i], c.align, shade, border)
	}
	r.pdf.SetXY(marginX, y+h)
	return nil
}

// startTable draws a section title and a table header, kept together with
// its rows when they fit on a page.
func (r *pdfRenderer) startTable(title string, cols []column, rows int) error {
	r.table = nil
	if err := r.section(title, headRowH+float64(rows)*rowH); err != nil {
		return err
	}
	r.table = cols
	r.drawTableHeader()
	return nil
}

// section draws a bold title with room for keep millimetres below it; a
// block taller than a page just starts on a fresh one.
func (r *pdfRenderer) section(title string, keep float64) error {
	if err := r.ensure(min(10+keep, bodyBottom-marginTop-20)); err != nil {
		return err
	}
	r.pdf.SetXY(marginX, r.pdf.GetY()+3)
	r.setFont("B", 10)
	r.textColor(colBrand)
	r.cell(pageW-2*marginX, 6, title, "L", false, "")
	r.pdf.SetXY(marginX, r.pdf.GetY()+7)
	return nil
}

func (r *pdfRenderer) emptyRow(msg string) error {
	if err := r.ensure(rowH * 2); err != nil {
		return err
	}
	r.pdf.SetX(marginX)
	r.setFont("", 9)
	r.textColor(colMuted)
	r.cell(pageW-2*marginX, rowH*2, msg, "C", false, "")
	r.pdf.SetXY(marginX, r.pdf.GetY()+rowH*2)
	return nil
}

// keyValues draws label/value lines for the summary block.
func (r *pdfRenderer) keyValues(lines [][2]string) error {
	for _, kv := range lines {
		if err := r.ensure(rowH); err != nil {
			return err
		}
		y := r.pdf.GetY()
		r.pdf.SetX(marginX)
		r.setFont("", 8.5)
		r.textColor(colMuted)
		r.cell(50, rowH, kv[0], "L", false, "")
		r.textColor(colInk)
		r.cell(40, rowH, kv[1], "R", false, "")
		r.pdf.SetXY(marginX, y+rowH)
	}
	return nil
}

// checkRow honours ctx between rows.
func (r *pdfRenderer) checkRow(n int, err error) error {
	if err != nil {
		return fmt.Errorf("read row %d: %w", n+1, err)
	}
	if err := r.ctx.Err(); err != nil {
		return fmt.Errorf("render pdf: %w", err)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (r *pdfRenderer) orders() (int, error) {
	if err := r.addPage(); err != nil {
		return 0, err
	}
	r.table = orderColumns()
	r.drawTableHeader()

	var totals Totals
	byStatus := map[string]int64{}
	n := 0
	for o, err := range r.doc.Orders {
		if err := r.checkRow(n, err); err != nil {
			return n, err
		}
		if err := totals.AddOrder(o); err != nil {
			return n, fmt.Errorf("add order row %d: %w", n+1, err)
		}
		byStatus[o.Status]++

		var shipped string
		switch {
		case o.ShippedAt != nil && o.Carrier != "":
			shipped = r.loc.LocalDate(*o.ShippedAt, r.tz) + " · " + o.Carrier
		case o.ShippedAt != nil:
			shipped = r.loc.LocalDate(*o.ShippedAt, r.tz)
		default:
			shipped = o.Carrier
		}
		refunded := "—"
		if o.RefundedCents != 0 {
			refunded = r.loc.Amount(o.RefundedCents, o.Currency)
		}
		cells := []string{
			o.OrderID, r.loc.LocalDate(o.PlacedAt, r.tz), r.statusLabel(o.Status), r.loc.Count(int64(o.ItemCount)),
			o.Currency, r.loc.Amount(o.TotalCents, o.Currency), r.loc.Amount(o.TaxCents, o.Currency), refunded, shipped,
		}
		if err := r.row(cells, n%2 == 1, false, ""); err != nil {
			return n, err
		}
		n++
	}
	r.table = nil
	if n == 0 {
		return 0, r.emptyRow(r.loc.T("No orders in this period."))
	}

	curs := totals.Currencies()
	if err := r.startTable(r.loc.T("Totals by currency"), orderTotalsColumns(), len(curs)+1); err != nil {
		return n, err
	}
	var all, cancelled, refunded int64
	for i, cur := range curs {
		t := totals.Of(cur)
		all, cancelled, refunded = all+t.Orders, cancelled+t.Cancellations, refunded+t.WithRefund
		cells := []string{cur, r.loc.Count(t.Orders), r.loc.Count(t.Cancellations), r.loc.Count(t.WithRefund),
			r.loc.Money(t.Gross, cur), r.loc.Money(t.Refunds, cur), r.loc.Money(t.Net, cur), r.loc.Money(t.Tax, cur)}
		if err := r.row(cells, i%2 == 1, false, ""); err != nil {
			return n, err
		}
	}
	if len(curs) > 1 {
		// Amounts in different currencies do not add up; the counts do.
		cells := []string{r.loc.T("All currencies"), r.loc.Count(all), r.loc.Count(cancelled), r.loc.Count(refunded), "", "", "", ""}
		if err := r.row(cells, false, true, "T"); err != nil {
			return n, err
		}
	}
	r.table = nil

	lines := [][2]string{{r.loc.T("Orders"), r.loc.Count(all)}}
	for _, s := range orderedStatuses(byStatus) {
		lines = append(lines, [2]string{"   " + r.statusLabel(s), r.loc.Count(byStatus[s])})
	}
	var refundedOrders int64
	for _, cur := range curs {
		refundedOrders += totals.Of(cur).WithRefund
	}
	lines = append(lines, [2]string{r.loc.T("Orders with a refund"), r.loc.Count(refundedOrders)})
	for _, cur := range curs {
		if t := totals.Of(cur); t.Refunds != 0 {
			lines = append(lines, [2]string{"   " + r.loc.T("Refunded in %s", cur), r.loc.Money(t.Refunds, cur)})
		}
	}
	if err := r.section(r.loc.T("Summary"), float64(len(lines))*rowH); err != nil {
		return n, err
	}
	return n, r.keyValues(lines)
}

func (r *pdfRenderer) merchantDays() (int, error) {
	// First pass: the per-day sums behind the charts and the summary that
	// open the document.
	var sales salesByCurrency
	n := 0
	for d, err := range r.doc.chartDays {
		if err := r.checkRow(n, err); err != nil {
			return n, err
		}
		if err := sales.add(d); err != nil {
			return n, fmt.Errorf("add merchant row %d: %w", n+1, err)
		}
		n++
	}
	if err := r.addPage(); err != nil {
		return 0, err
	}
	if n == 0 {
		r.table = merchantColumns()
		r.drawTableHeader()
		r.table = nil
		return 0, r.emptyRow(r.loc.T("No sales in this period."))
	}
	if err := r.opening(&sales); err != nil {
		return 0, err
	}

	// Second pass: the table, a row per day and currency.
	if err := r.startTable(r.loc.T("Sales"), merchantColumns(), min(n, 3)); err != nil {
		return 0, err
	}
	n = 0
	for d, err := range r.doc.MerchantDays {
		if err := r.checkRow(n, err); err != nil {
			return n, err
		}
		cells := []string{
			r.loc.Date(d.Day), d.Currency, r.loc.Count(int64(d.Orders)), r.loc.Count(int64(d.Cancellations)),
			r.loc.Amount(d.GrossCents, d.Currency), r.loc.Amount(d.RefundsCents, d.Currency), r.loc.Amount(d.NetCents, d.Currency),
			r.loc.Amount(d.TaxCents, d.Currency),
		}
		if err := r.row(cells, n%2 == 1, false, ""); err != nil {
			return n, err
		}
		n++
	}
	r.table = nil

	curs := sales.totals.Currencies()
	if err := r.startTable(r.loc.T("Totals by currency"), merchantTotalsColumns(), len(curs)+1); err != nil {
		return n, err
	}
	if err := r.merchantTotalRows(&sales.totals, int64(len(sales.distinctDays))); err != nil {
		return n, err
	}
	r.table = nil
	return n, nil
}

// orderedStatuses lists the lifecycle statuses first, then any others.
func orderedStatuses(m map[string]int64) []string {
	known := []string{"placed", "paid", "shipped", "cancelled", "refunded"}
	var out []string
	for _, s := range known {
		if _, ok := m[s]; ok {
			out = append(out, s)
		}
	}
	for _, s := range sortedKeys(m) {
		if !slices.Contains(known, s) {
			out = append(out, s)
		}
	}
	return out
}

// statusLabel is a lifecycle status in the locale's words; any other
// status (there are none today) is shown capitalised.
func (r *pdfRenderer) statusLabel(s string) string {
	if s == "" {
		return "—"
	}
	if _, ok := translations[s]; ok {
		return r.loc.T(s)
	}
	c, size := utf8.DecodeRuneInString(s)
	return strings.ToUpper(string(c)) + s[size:]
}
