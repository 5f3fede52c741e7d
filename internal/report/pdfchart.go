package report

import "strconv"

// This file draws the opening of a merchant_sales PDF: one bar chart of
// sales per currency, drawn as vector graphics (rectangles and lines), and
// the summary block. Each bar is the gross of its day (or week, month,
// year); its dark part is the net, its light top the refunds.

// Chart layout, in millimetres.
const (
	chartTitleH = 7.0
	chartPlotH  = 34.0
	chartLabelH = 6.0
	chartGap    = 4.0
	chartAxisW  = 22.0 // the value labels left of the plot
	chartTicks  = 5
	chartFont   = 6.0 // points
	chartMaxBar = 8.0 // the widest bar
)

const colRefund color = 0xAFC2DA

// chartHeight is the height of one chart, with the gap below it.
const chartHeight = chartTitleH + chartPlotH + chartLabelH + chartGap

// opening draws the charts and the summary of a merchant_sales report from
// its first pass.
func (r *pdfRenderer) opening(s *salesByCurrency) error {
	from, to := r.doc.Header.From, r.doc.Header.To
	if from.IsZero() || to.IsZero() {
		from, to = s.first, s.last // "all time": the days there are
	}
	b := newBuckets(from, to, maxBars)
	for _, cur := range s.totals.Currencies() {
		bars, err := s.bars(cur, b)
		if err != nil {
			return err
		}
		if err := r.chart(cur, b, bars); err != nil {
			return err
		}
	}
	return r.merchantSummary(s)
}

// chart draws one currency's bars.
func (r *pdfRenderer) chart(cur string, b chartBuckets, bars []Amounts) error {
	if err := r.ensure(chartHeight); err != nil {
		return err
	}
	y := r.pdf.GetY()
	x0, x1 := marginX+chartAxisW, pageW-marginX

	// Title and legend.
	r.pdf.SetXY(marginX, y)
	r.setFont("B", 9)
	r.textColor(colBrand)
	r.cell(110, chartTitleH-1, r.loc.T(chartTitles[b.unit], cur), "L", false, "")
	r.setFont("", 7)
	lx := x1 - 64
	for _, l := range []struct {
		c     color
		label string
	}{{colBrand, r.loc.T("Net")}, {colRefund, r.loc.T("Refunds")}} {
		r.fillColor(l.c)
		r.pdf.Rect(lx, y+1.8, 2.6, 2.6, "F")
		r.pdf.SetXY(lx+3, y)
		r.textColor(colMuted)
		r.cell(28, chartTitleH-1, l.label, "L", false, "")
		lx += 32
	}

	// Value axis: gridlines at each step, labelled in whole units.
	var top int64
	for _, a := range bars {
		top = max(top, a.Gross, a.Net) // net never exceeds gross from the projector; the axis holds it if it did
	}
	unit := minorUnit(cur)
	step, ticks := niceAxis(top, unit, chartTicks)
	axisTop := step * int64(ticks)
	plotTop := y + chartTitleH
	plotBottom := plotTop + chartPlotH
	r.setFont("", chartFont)
	r.pdf.SetLineWidth(0.15)
	for i := 0; i <= ticks; i++ {
		v := step * int64(i)
		ty := plotBottom - chartPlotH*float64(i)/float64(ticks)
		r.drawColor(colRule)
		r.pdf.Line(x0, ty, x1, ty)
		r.pdf.SetXY(marginX, ty-2)
		r.textColor(colMuted)
		r.cell(chartAxisW-1.5, 4, r.loc.MoneyUnits(v/unit, cur), "R", false, "")
	}

	// Bars: gross in the light colour, net over it.
	pitch := (x1 - x0) / float64(len(bars))
	barW := min(pitch*0.72, chartMaxBar)
	for i, a := range bars {
		if a.Gross <= 0 && a.Net <= 0 {
			continue
		}
		x := x0 + float64(i)*pitch + (pitch-barW)/2
		gh := max(0, chartPlotH*float64(a.Gross)/float64(axisTop))
		nh := max(0, chartPlotH*float64(a.Net)/float64(axisTop))
		if gh > nh {
			r.fillColor(colRefund)
			r.pdf.Rect(x, plotBottom-gh, barW, gh-nh, "F")
		}
		if nh > 0 {
			r.fillColor(colBrand)
			r.pdf.Rect(x, plotBottom-nh, barW, nh, "F")
		}
	}
	r.drawColor(colInk)
	r.pdf.SetLineWidth(0.25)
	r.pdf.Line(x0, plotBottom, x1, plotBottom)

	// Day axis: the first day of every k-th bar, k chosen so the labels
	// never touch.
	const labelW = 17.0
	every := max(1, int((labelW+1)/pitch)+1)
	if pitch >= labelW+1 {
		every = 1
	}
	r.textColor(colMuted)
	for i := 0; i < len(bars); i += every {
		cx := x0 + (float64(i)+0.5)*pitch
		lx := min(max(cx-labelW/2, x0-2), x1-labelW+2)
		r.pdf.SetXY(lx, plotBottom+0.6)
		r.cell(labelW, 4, r.barLabel(b, i), "C", false, "")
	}
	r.pdf.SetXY(marginX, plotBottom+chartLabelH+chartGap)
	return nil
}

// barLabel names a bar by its first day; a year's bar by its year.
func (r *pdfRenderer) barLabel(b chartBuckets, i int) string {
	start := b.start(i)
	if b.unit == unitYear {
		return strconv.Itoa(start.Year())
	}
	return r.loc.Date(start)
}

// merchantSummary draws the summary block: the totals per currency and
// the report's key figures, all from the money rule's checked sums.
func (r *pdfRenderer) merchantSummary(s *salesByCurrency) error {
	curs := s.totals.Currencies()
	if err := r.startTable(r.loc.T("Summary"), merchantTotalsColumns(), len(curs)+1); err != nil {
		return err
	}
	if err := r.merchantTotalRows(&s.totals, int64(len(s.distinctDays))); err != nil {
		return err
	}
	r.table = nil
	lines := [][2]string{
		{r.loc.T("Days with sales"), r.loc.Count(int64(len(s.distinctDays)))},
		{r.loc.T("Orders"), r.loc.Count(s.orders)},
		{r.loc.T("Cancellations"), r.loc.Count(s.cancelled)},
	}
	for _, cur := range curs {
		lines = append(lines, [2]string{r.loc.T("Net sales in %s", cur), r.loc.Money(s.totals.Of(cur).Net, cur)})
	}
	r.pdf.SetXY(marginX, r.pdf.GetY()+2)
	return r.keyValues(lines)
}

// merchantTotalRows draws one row per currency and, with several, a row of
// the counts that add up across them.
func (r *pdfRenderer) merchantTotalRows(totals *Totals, days int64) error {
	var orders, cancellations int64
	curs := totals.Currencies()
	for i, cur := range curs {
		t := totals.Of(cur)
		orders += t.Orders
		cancellations += t.Cancellations
		cells := []string{cur, r.loc.Count(t.Rows), r.loc.Count(t.Orders), r.loc.Count(t.Cancellations),
			r.loc.Money(t.Gross, cur), r.loc.Money(t.Refunds, cur), r.loc.Money(t.Net, cur), r.loc.Money(t.Tax, cur)}
		if err := r.row(cells, i%2 == 1, false, ""); err != nil {
			return err
		}
	}
	if len(curs) > 1 {
		cells := []string{r.loc.T("All"), r.loc.Count(days), r.loc.Count(orders), r.loc.Count(cancellations), "", "", "", ""}
		if err := r.row(cells, false, true, "T"); err != nil {
			return err
		}
	}
	return nil
}
