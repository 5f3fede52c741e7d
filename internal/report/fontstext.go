package report

import (
	"math"
	"strings"
	"unicode"
)

// This file lays text out in the embedded fonts (fonts.go): it splits text
// into runs by the face that has each rune's glyph, measures them, shrinks,
// wraps or shortens text to fit a cell, and draws the runs.
//
// Arabic and Hebrew are drawn with DejaVu's glyphs in logical order: fpdf
// cannot shape or reorder them, so they come out as unjoined letters, left
// to right (the README says so).

const (
	ptPerMM = 72 / 25.4
	leading = 1.25 // line height of wrapped text, in font sizes
	// maxLines bounds a wrapped cell, so that no row outgrows a page; the
	// last line of longer text ends in an ellipsis.
	maxLines = 12
)

// A textRun is a piece of text drawn with one face.
type textRun struct {
	face *face
	text string
	w    int // advance in 1/1000 em
}

// A textLine is one line of text, split into runs.
type textLine struct {
	runs []textRun
	w    int // advance in 1/1000 em
}

// width is the line's width in millimetres at size points, as fpdf's
// GetStringWidth computes it.
func (l textLine) width(size float64) float64 { return float64(l.w) * size / ptPerMM / 1000 }

func (l textLine) String() string {
	var b strings.Builder
	for _, run := range l.runs {
		b.WriteString(run.text)
	}
	return b.String()
}

// cellLines is text laid out for a cell: one or more lines at one size.
type cellLines struct {
	lines []textLine
	style string
	size  float64 // points
}

func lineHeight(size float64) float64 { return size / ptPerMM * leading }

// height is the height of a cell whose first line takes minH: each further
// line adds one line height.
func (t cellLines) height(minH float64) float64 {
	return minH + float64(max(len(t.lines)-1, 0))*lineHeight(t.size)
}

// metrics returns a face's metrics. A face that cannot be read (only a
// broken build could embed one) fails the document through fpdf's error and
// covers nothing meanwhile.
func (r *pdfRenderer) metrics(f *face) *faceMetrics {
	m, err := f.metrics()
	if err != nil {
		r.pdf.SetError(err)
		return &faceMetrics{missing: 500}
	}
	return m
}

// runeFace picks the first face of the style that has a glyph for c; with
// none, the style's own face draws its .notdef glyph.
func (r *pdfRenderer) runeFace(c rune, fs []*face) (*face, *faceMetrics) {
	for _, f := range fs {
		if m := r.metrics(f); m.covers(c) {
			return f, m
		}
	}
	return fs[0], r.metrics(fs[0])
}

// splitRuns splits text into runs of runes that share a face. The choice
// depends on the rune alone, so a line's width is the sum of its runes'.
func (r *pdfRenderer) splitRuns(text, style string) textLine {
	fs := faces(style)
	primary := r.metrics(fs[0])
	var l textLine
	var cur *face
	start, w := 0, 0
	for i, c := range text {
		f, m := fs[0], primary
		if !primary.covers(c) {
			f, m = r.runeFace(c, fs)
		}
		if f != cur {
			if cur != nil {
				l.runs = append(l.runs, textRun{face: cur, text: text[start:i], w: w})
			}
			cur, start, w = f, i, 0
		}
		cw := m.width(c)
		w += cw
		l.w += cw
	}
	if cur != nil {
		l.runs = append(l.runs, textRun{face: cur, text: text[start:], w: w})
	}
	return l
}

// layoutText fits text into a cell w millimetres wide at size points. Too
// long, it shrinks down to floor points (no shrinking when floor is 0), and
// then wraps onto more lines, or with wrap false is shortened with an
// ellipsis.
func (r *pdfRenderer) layoutText(text, style string, size, floor, w float64, wrap bool) cellLines {
	text = clean(text)
	room := w - 2*cellMargin
	line := r.splitRuns(text, style)
	t := cellLines{lines: []textLine{line}, style: style, size: size}
	if line.width(size) <= room {
		return t
	}
	if floor > 0 && floor < size {
		// Width is proportional to size: the largest size (to 0.1 pt) that fits.
		s := math.Floor(size*room/line.width(size)*10) / 10
		if s >= floor {
			t.size = s
			return t
		}
		t.size = floor
	}
	if wrap {
		t.lines = r.wrap(text, style, t.size, room, maxLines+1)
		if len(t.lines) > maxLines {
			last := t.lines[maxLines-1].String() + " " + t.lines[maxLines].String()
			t.lines = t.lines[:maxLines]
			t.lines[maxLines-1] = r.shorten(last, style, t.size, room)
		}
	} else {
		t.lines[0] = r.shorten(text, style, t.size, room)
	}
	return t
}

// shorten cuts text and appends an ellipsis so that it fits room
// millimetres.
func (r *pdfRenderer) shorten(text, style string, size, room float64) textLine {
	rs := []rune(text)
	cut := func(n int) textLine {
		return r.splitRuns(strings.TrimRight(string(rs[:n]), " ")+"…", style)
	}
	// The longest prefix that fits, by binary search: the width grows with
	// the prefix. cut(lo) fits, or lo is 0; cut(hi) does not.
	lo, hi := 0, len(rs)
	for lo+1 < hi {
		mid := (lo + hi) / 2
		if cut(mid).width(size) <= room {
			lo = mid
		} else {
			hi = mid
		}
	}
	if lo == 0 && cut(0).width(size) > room {
		return textLine{}
	}
	return cut(lo)
}

// wrap breaks text into at most limit lines no wider than room
// millimetres: after a space, dash or slash, around CJK characters (which
// need no spaces), and inside a word only when the word alone is too wide.
func (r *pdfRenderer) wrap(text, style string, size, room float64, limit int) []textLine {
	rs := []rune(text)
	fs := faces(style)
	ws := make([]int, len(rs))
	for i, c := range rs {
		_, m := r.runeFace(c, fs)
		ws[i] = m.width(c)
	}
	roomEm := room * ptPerMM * 1000 / size // room in 1/1000 em
	var lines []textLine
	start := 0
	for len(lines) < limit {
		for start < len(rs) && rs[start] == ' ' {
			start++
		}
		if start == len(rs) {
			break
		}
		end, brk, w := start, -1, 0
		for end < len(rs) {
			if end > start && canBreakBefore(rs, end) {
				brk = end
			}
			if end > start && float64(w+ws[end]) > roomEm {
				break
			}
			w += ws[end]
			end++
		}
		if end < len(rs) && brk > start {
			end = brk
		}
		lines = append(lines, r.splitRuns(strings.TrimRight(string(rs[start:end]), " "), style))
		start = end
	}
	if len(lines) == 0 {
		lines = append(lines, textLine{})
	}
	return lines
}

func canBreakBefore(rs []rune, i int) bool {
	prev, c := rs[i-1], rs[i]
	switch {
	case prev == ' ' || prev == '-' || prev == '/':
		return c != ' '
	case c == ' ':
		return false
	}
	return isCJK(prev) || isCJK(c)
}

func isCJK(c rune) bool {
	return c >= 0x2E80 && unicode.In(c, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul)
}

// useFace selects a face for drawing, adding it (or its stand-in) to the
// current fpdf chunk on first use, so that a document embeds only the fonts
// it draws with.
func (r *pdfRenderer) useFace(f *face, size float64) {
	if !r.added[f] {
		data := r.metrics(f).data
		if f.standIn != nil {
			var err error
			if data, err = f.standIn(); err != nil {
				r.pdf.SetError(err)
			}
		}
		addFont(r.pdf, f, data)
		r.added[f] = true
	}
	r.pdf.SetFont(f.family, f.style, size)
}

// record notes the runes drawn with each face, for the donor subset.
func (r *pdfRenderer) record(run textRun) {
	set := r.runes[run.face]
	if set == nil {
		set = map[rune]struct{}{}
		r.runes[run.face] = set
	}
	for _, c := range run.text {
		set[c] = struct{}{}
	}
}

// drawCell draws laid-out text in a box w by h at the current position and
// moves right. The first line is centred in the top minH millimetres, the
// others follow below it. border is fpdf's border string ("", "T", …).
func (r *pdfRenderer) drawCell(w, h, minH float64, t cellLines, align string, fill bool, border string) {
	if len(t.lines) == 1 && h == minH && t.size == r.size {
		// The common cases, nothing or one run in the current font: fpdf
		// does it all.
		switch runs := t.lines[0].runs; {
		case len(runs) == 0:
			r.pdf.CellFormat(w, h, "", border, 0, align, fill, 0, "")
			return
		case len(runs) == 1 && runs[0].face == faces(r.style)[0]:
			r.record(runs[0])
			r.pdf.CellFormat(w, h, runs[0].text, border, 0, align, fill, 0, "")
			return
		}
	}
	x, y := r.pdf.GetXY()
	r.pdf.CellFormat(w, h, "", border, 0, "", fill, 0, "")
	lh := lineHeight(t.size)
	for i, l := range t.lines {
		lw := l.width(t.size)
		tx := x + cellMargin
		switch align {
		case "R":
			tx = x + w - cellMargin - lw
		case "C":
			tx = x + (w-lw)/2
		}
		// fpdf's baseline for text centred in a line: middle + 0.3 em.
		base := y + minH/2 + float64(i)*lh + 0.3*t.size/ptPerMM
		for _, run := range l.runs {
			r.useFace(run.face, t.size)
			r.pdf.Text(tx, base, run.text)
			r.record(run)
			tx += textLine{w: run.w}.width(t.size)
		}
	}
	r.pdf.SetFont(fontFamily, r.style, r.size)
	r.pdf.SetXY(x+w, y)
}
