package report

import (
	"bytes"
	"context"
	"crypto/md5" //nolint:gosec // the PDF file identifier is a fingerprint, not a security control
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"

	"github.com/go-pdf/fpdf"
)

// PDF rendering in bounded memory.
//
// fpdf holds every page until Output: 200,000 orders cost ~630 MiB. So the
// renderer draws with fpdf in chunks of chunkPages pages. After each chunk it
// parses fpdf's output and streams the chunk's page content into one PDF
// (pdfobj.go), then drops the chunk. Two things are shared by all pages and
// written once, at the end:
//
//   - The fonts. fpdf writes UTF-8 text as Identity-H with CID = Unicode code
//     point, so a content stream does not depend on the font subset. The
//     subset is taken from the only chunk, or, for a multi-chunk report, from
//     a one-page "donor" document that draws every rune the report used.
//   - The page count. fpdf draws "Page N of " and a form XObject, written
//     last, draws M. M is therefore the true count, whatever RowCount said and
//     however long the totals turn out.
//
// Memory is one chunk plus an offset per PDF object (two per page).

// Layout, in millimetres on A4 portrait.
const (
	pageW      = 210.0
	pageH      = 297.0
	marginX    = 14.0
	marginTop  = 13.0
	bodyBottom = pageH - 19.0 // rows end above the footer rule
	footerY    = pageH - 13.0
	rowH       = 5.0
	headRowH   = 6.5
	cellMargin = 1.3
	tableSize  = 7.8 // points
	headSize   = 7.2 // points, table header row

	defaultChunkPages = 100
	pageCountName     = "RPgCount" // the XObject that draws M
	footerSize        = 7.0        // points
)

var reBaseFont = regexp.MustCompile(`/BaseFont\s*/([^\s/<>\[\]()]+)`)

var reFontEntry = regexp.MustCompile(`/([A-Za-z0-9_.+-]+)\s+(\d+)\s+0\s+R`)

// color is 0xRRGGBB.
type color uint32

const (
	colInk   color = 0x1F2937
	colMuted color = 0x6B7280
	colBrand color = 0x1F3A5F
	colWhite color = 0xFFFFFF
	colZebra color = 0xF1F4F8
	colRule  color = 0xC9D0DA
)

func (c color) rgb() (int, int, int) { return int(c >> 16), int(c >> 8 & 0xFF), int(c & 0xFF) }

// column is one table column.
type column struct {
	title string
	width float64
	align string // L, C or R
}

func orderColumns() []column {
	return []column{
		{"Order", 25, "L"}, {"Placed", 19, "L"}, {"Status", 16, "L"}, {"Items", 12, "R"},
		{"Currency", 14, "C"}, {"Total", 23, "R"}, {"Tax", 20, "R"}, {"Refunded", 21, "R"},
		{"Shipped / carrier", 32, "L"},
	}
}

func merchantColumns() []column {
	return []column{
		{"Day", 24, "L"}, {"Currency", 14, "C"}, {"Orders", 20, "R"}, {"Cancellations", 24, "R"},
		{"Gross", 25, "R"}, {"Refunds", 25, "R"}, {"Net", 25, "R"}, {"Tax", 25, "R"},
	}
}

func orderTotalsColumns() []column {
	return []column{
		{"Currency", 18, "L"}, {"Orders", 20, "R"}, {"Cancellations", 22, "R"}, {"With refund", 22, "R"},
		{"Gross", 25, "R"}, {"Refunds", 25, "R"}, {"Net", 25, "R"}, {"Tax", 25, "R"},
	}
}

func merchantTotalsColumns() []column {
	return []column{
		{"Currency", 16, "L"}, {"Days", 14, "R"}, {"Orders", 22, "R"}, {"Cancellations", 26, "R"},
		{"Gross", 26, "R"}, {"Refunds", 26, "R"}, {"Net", 26, "R"}, {"Tax", 26, "R"},
	}
}

// pdfRenderer draws one document. It is used once.
type pdfRenderer struct {
	ctx        context.Context //nolint:containedctx // the renderer lives for one renderPDF call; its drawing methods check ctx between rows
	doc        Document
	chunkPages int
	loc        *Locale
	tz         *time.Location

	out                                                     *pdfOut
	objCatalog, objPages, objResources, objInfo, objPageCnt int
	pageObjs                                                []int
	mediaBox                                                []byte
	fontNames                                               map[string]string // font resource name -> BaseFont, of every chunk

	pdf    *fpdf.Fpdf // the current chunk, nil between chunks
	chunks int
	pages  int
	buf    bytes.Buffer

	style string                      // the current style and size of the primary face
	size  float64                     // points
	added map[*face]bool              // faces in the current chunk
	runes map[*face]map[rune]struct{} // per face, every rune drawn
	table []column                    // redrawn as header on a new page; nil outside tables
}

func renderPDF(ctx context.Context, w io.Writer, doc Document, chunkPages int) (Stats, error) {
	loc, tz, err := doc.Header.localeAndZone()
	if err != nil {
		return Stats{}, fmt.Errorf("render pdf: %w", err)
	}
	r := &pdfRenderer{
		ctx: ctx, doc: doc, chunkPages: max(chunkPages, 1), loc: loc, tz: tz,
		fontNames: map[string]string{},
		runes:     map[*face]map[rune]struct{}{faceRegular: {}, faceBold: {}},
	}
	// The deferred page count draws digits in the regular face.
	r.record(textRun{face: faceRegular, text: "0123456789"})
	r.out = newPDFOut(w, "1.4")
	r.objCatalog, r.objPages, r.objResources = r.out.alloc(), r.out.alloc(), r.out.alloc()
	r.objInfo, r.objPageCnt = r.out.alloc(), r.out.alloc()

	if r.doc.chartDays == nil { // called by tests without Render
		r.doc.chartDays = doc.MerchantDays
	}
	var st Stats
	switch doc.Type {
	case TypeOrderHistory:
		if doc.Orders == nil {
			return st, fmt.Errorf("render %s: no order rows", doc.Type)
		}
		st.Rows, err = r.orders()
	case TypeMerchantSales:
		if doc.MerchantDays == nil {
			return st, fmt.Errorf("render %s: no merchant rows", doc.Type)
		}
		st.Rows, err = r.merchantDays()
	default:
		return st, fmt.Errorf("render pdf: unknown report type %q", doc.Type)
	}
	if err != nil {
		return st, err
	}
	if err := r.finish(); err != nil {
		return st, err
	}
	st.Pages = r.pages
	return st, nil
}

// newFpdf returns an fpdf document set up the same way for every chunk, so
// that font resource names and page geometry agree between chunks, with the
// given faces (whole, not stand-ins). A chunk starts with the DejaVu faces;
// the fallback is added where a chunk first draws with it (useFace).
func newFpdf(faces ...*face) (*fpdf.Fpdf, error) {
	p := fpdf.New("P", "mm", "A4", "")
	p.SetCatalogSort(true)
	p.SetCompression(true)
	p.SetAutoPageBreak(false, 0)
	p.SetMargins(marginX, marginTop, marginX)
	p.SetCellMargin(cellMargin)
	for _, f := range faces {
		m, err := f.metrics()
		if err != nil {
			return nil, err
		}
		addFont(p, f, m.data)
	}
	if err := p.Error(); err != nil {
		return nil, fmt.Errorf("set up pdf fonts: %w", err)
	}
	return p, nil
}

// addPage starts a page, rolling over to a new chunk when this one is full.
func (r *pdfRenderer) addPage() error {
	if r.pdf != nil && r.pdf.PageNo() >= r.chunkPages {
		if _, err := r.flushChunk(); err != nil {
			return err
		}
	}
	if r.pdf == nil {
		p, err := newFpdf(faceRegular, faceBold)
		if err != nil {
			return err
		}
		r.pdf = p
		r.added = map[*face]bool{faceRegular: true, faceBold: true}
		r.chunks++
	}
	r.pdf.AddPage()
	r.pages++
	r.drawFooter()
	if r.pages == 1 {
		r.drawFirstHeader()
	} else {
		r.drawRunningHeader()
	}
	if r.table != nil {
		r.drawTableHeader()
	}
	return nil
}

// ensure starts a new page unless h more millimetres fit on this one.
func (r *pdfRenderer) ensure(h float64) error {
	if r.pdf.GetY()+h <= bodyBottom {
		return nil
	}
	return r.addPage()
}

// flushChunk writes the current chunk's pages to the output and drops it.
func (r *pdfRenderer) flushChunk() (*pdfFile, error) {
	r.buf.Reset()
	if err := r.pdf.Output(&r.buf); err != nil {
		return nil, fmt.Errorf("render pdf chunk %d: %w", r.chunks, err)
	}
	r.pdf = nil
	f, err := parsePDF(r.buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("read pdf chunk %d: %w", r.chunks, err)
	}
	pagesDict, kids, err := pageTree(f)
	if err != nil {
		return nil, fmt.Errorf("read pdf chunk %d: %w", r.chunks, err)
	}
	if r.mediaBox == nil {
		box, ok := dictEntry(pagesDict, "MediaBox")
		if !ok {
			return nil, fmt.Errorf("read pdf chunk %d: no MediaBox", r.chunks)
		}
		r.mediaBox = slices.Clone(box)
	}
	fonts, err := fontResources(f, kids[0])
	if err != nil {
		return nil, fmt.Errorf("read pdf chunk %d: %w", r.chunks, err)
	}
	// Chunks name a font alike (fpdf derives the name from the font), but
	// only a chunk that drew with the fallback has it.
	for name, obj := range fonts {
		if r.fontNames[name] == "" {
			base, err := baseFont(f, obj)
			if err != nil {
				return nil, fmt.Errorf("read pdf chunk %d: %w", r.chunks, err)
			}
			r.fontNames[name] = base
		}
	}
	for _, kid := range kids {
		page, _, err := f.object(kid)
		if err != nil {
			return nil, fmt.Errorf("read pdf chunk %d: %w", r.chunks, err)
		}
		c, ok := dictRef(page, "Contents")
		if !ok {
			return nil, fmt.Errorf("read pdf chunk %d: page %d has no single /Contents", r.chunks, kid)
		}
		value, stream, err := f.object(c)
		if err != nil {
			return nil, fmt.Errorf("read pdf chunk %d: %w", r.chunks, err)
		}
		if stream == nil || len(refs(value)) > 0 {
			return nil, fmt.Errorf("read pdf chunk %d: unexpected content object %d", r.chunks, c)
		}
		nc, np := r.out.alloc(), r.out.alloc()
		r.out.object(nc, value, stream)
		r.out.object(np, fmt.Appendf(nil, "<</Type /Page /Parent %d 0 R /Resources %d 0 R /Contents %d 0 R>>",
			r.objPages, r.objResources, nc), nil)
		r.pageObjs = append(r.pageObjs, np)
	}
	if r.out.err != nil {
		return nil, fmt.Errorf("write pdf: %w", r.out.err)
	}
	return f, nil
}

// finish flushes the last chunk and writes the shared objects.
func (r *pdfRenderer) finish() error {
	last, err := r.flushChunk()
	if err != nil {
		return err
	}
	// Each font the pages name is copied from a document whose subset holds
	// every rune the report drew with it: the only chunk, or, when there
	// were several, a donor. The fallback always comes from a donor of its
	// own, as the chunks carry only its stand-in (see face.standIn); later
	// sources take precedence.
	srcs := []*pdfFile{last}
	if r.chunks > 1 {
		donor, err := r.donor(faceRegular, faceBold)
		if err != nil {
			return err
		}
		srcs[0] = donor
	}
	if _, ok := r.runes[faceFallback]; ok {
		donor, err := r.donor(faceFallback)
		if err != nil {
			return err
		}
		srcs = append(srcs, donor)
	}
	type fontObj struct {
		file *pdfFile
		obj  int
	}
	byBase := map[string]fontObj{}
	for _, src := range srcs {
		fonts, err := firstPageFonts(src)
		if err != nil {
			return err
		}
		for _, obj := range fonts {
			base, err := baseFont(src, obj)
			if err != nil {
				return err
			}
			byBase[base] = fontObj{src, obj}
		}
	}

	names := make([]string, 0, len(r.fontNames))
	for name := range r.fontNames {
		names = append(names, name)
	}
	slices.Sort(names)
	var fontDict bytes.Buffer
	regular, regularObj := "", 0
	for _, name := range names {
		base := r.fontNames[name]
		src, ok := byBase[base]
		if !ok {
			return fmt.Errorf("write pdf fonts: no subset of %s for /%s", base, name)
		}
		mapped, err := r.copyGraph(src.file, src.obj)
		if err != nil {
			return err
		}
		fmt.Fprintf(&fontDict, "/%s %d 0 R ", name, mapped[src.obj])
		if base == regularBaseFont {
			regular, regularObj = name, mapped[src.obj]
		}
	}
	if regular == "" {
		return fmt.Errorf("write pdf fonts: no %s among %v", regularBaseFont, names)
	}

	r.out.object(r.objResources, fmt.Appendf(nil,
		"<</ProcSet [/PDF /Text /ImageB /ImageC /ImageI] /Font <<%s>> /XObject <</%s %d 0 R>>>>",
		fontDict.Bytes(), pageCountName, r.objPageCnt), nil)

	content := fmt.Appendf(nil, "BT /%s %.2f Tf 0 0 Td <%s> Tj ET", regular, footerSize, utf16Hex(strconv.Itoa(r.pages)))
	r.out.object(r.objPageCnt, fmt.Appendf(nil,
		"<</Type /XObject /Subtype /Form /BBox [0 -5 120 20] /Resources <</Font <</%s %d 0 R>>>> /Length %d>>",
		regular, regularObj, len(content)), content)

	var kids bytes.Buffer
	for i, p := range r.pageObjs {
		if i > 0 && i%16 == 0 {
			kids.WriteByte('\n')
		}
		fmt.Fprintf(&kids, "%d 0 R ", p)
	}
	r.out.object(r.objPages, fmt.Appendf(nil, "<</Type /Pages /Kids [%s] /Count %d /MediaBox %s>>",
		kids.Bytes(), len(r.pageObjs), r.mediaBox), nil)
	r.out.object(r.objInfo, r.info(), nil)
	r.out.object(r.objCatalog, fmt.Appendf(nil, "<</Type /Catalog /Pages %d 0 R>>", r.objPages), nil)

	h := r.doc.Header
	id := md5.Sum(fmt.Appendf(nil, "%s|%d|%s|%d", h.ReportID, h.DataPosition, h.GeneratedAt.UTC().Format(time.RFC3339Nano), r.pages)) //nolint:gosec // the PDF file identifier is a fingerprint of the inputs, not a security control
	if err := r.out.finish(r.objCatalog, r.objInfo, id[:]); err != nil {
		return fmt.Errorf("write pdf: %w", err)
	}
	return nil
}

// addFont adds a face to one document from its own copy of the font
// program: fpdf's subsetter appends into the bytes it was given (hmtx
// reads on fonts with fewer metrics than glyphs, such as the fallback), so
// a program shared between documents would be written to by concurrent
// renders.
func addFont(p *fpdf.Fpdf, f *face, data []byte) {
	p.AddUTF8FontFromBytes(f.family, f.style, bytes.Clone(data))
}

// donor renders a one-page document that draws, in the given faces, every
// rune the report drew with them, so that its font subsets cover every
// chunk.
func (r *pdfRenderer) donor(faces ...*face) (*pdfFile, error) {
	p, err := newFpdf(faces...)
	if err != nil {
		return nil, err
	}
	p.AddPage()
	for _, f := range faces {
		p.SetFont(f.family, f.style, 8)
		rs := make([]rune, 0, len(r.runes[f]))
		for c := range r.runes[f] {
			rs = append(rs, c)
		}
		slices.Sort(rs)
		for len(rs) > 0 {
			n := min(len(rs), 80)
			p.Cell(0, 4, string(rs[:n]))
			p.Ln(4)
			rs = rs[n:]
		}
	}
	var buf bytes.Buffer
	if err := p.Output(&buf); err != nil {
		return nil, fmt.Errorf("render pdf font subset: %w", err)
	}
	f, err := parsePDF(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("read pdf font subset: %w", err)
	}
	return f, nil
}

func firstPageFonts(f *pdfFile) (map[string]int, error) {
	_, kids, err := pageTree(f)
	if err != nil {
		return nil, fmt.Errorf("read pdf fonts: %w", err)
	}
	fonts, err := fontResources(f, kids[0])
	if err != nil {
		return nil, fmt.Errorf("read pdf fonts: %w", err)
	}
	return fonts, nil
}

// baseFont returns the /BaseFont of a font object: fpdf's "utf8" + family
// + style, the same in every document, unlike the resource name.
func baseFont(f *pdfFile, obj int) (string, error) {
	v, _, err := f.object(obj)
	if err != nil {
		return "", fmt.Errorf("read pdf fonts: %w", err)
	}
	m := reBaseFont.FindSubmatch(v)
	if m == nil {
		return "", fmt.Errorf("read pdf fonts: font %d has no /BaseFont", obj)
	}
	return string(m[1]), nil
}

// copyGraph copies the objects reachable from root into the output,
// renumbered, and returns the old-to-new object numbers.
func (r *pdfRenderer) copyGraph(f *pdfFile, root int) (map[int]int, error) {
	mapped := map[int]int{}
	var order []int
	queue := []int{root}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if _, ok := mapped[n]; ok {
			continue
		}
		mapped[n] = r.out.alloc()
		order = append(order, n)
		v, _, err := f.object(n)
		if err != nil {
			return nil, fmt.Errorf("copy pdf fonts: %w", err)
		}
		queue = append(queue, refs(v)...)
	}
	for _, n := range order {
		v, s, _ := f.object(n)
		r.out.object(mapped[n], renumber(v, mapped), s)
	}
	return mapped, nil
}

// pageTree returns the root Pages dictionary and its kids of an fpdf file
// (fpdf writes a flat page tree).
func pageTree(f *pdfFile) (pagesDict []byte, kids []int, err error) {
	root, ok := dictRef(f.trailer, "Root")
	if !ok {
		return nil, nil, errors.New("trailer has no /Root")
	}
	catalog, _, err := f.object(root)
	if err != nil {
		return nil, nil, err
	}
	pages, ok := dictRef(catalog, "Pages")
	if !ok {
		return nil, nil, errors.New("catalog has no /Pages")
	}
	if pagesDict, _, err = f.object(pages); err != nil {
		return nil, nil, err
	}
	k, ok := dictEntry(pagesDict, "Kids")
	if !ok {
		return nil, nil, errors.New("page tree has no /Kids")
	}
	if kids = refs(k); len(kids) == 0 {
		return nil, nil, errors.New("page tree is empty")
	}
	return pagesDict, kids, nil
}

// fontResources maps the font resource names of a page to their objects.
func fontResources(f *pdfFile, page int) (map[string]int, error) {
	p, _, err := f.object(page)
	if err != nil {
		return nil, err
	}
	res, ok := dictRef(p, "Resources")
	if !ok {
		return nil, fmt.Errorf("page %d has no indirect /Resources", page)
	}
	rd, _, err := f.object(res)
	if err != nil {
		return nil, err
	}
	fd, ok := dictEntry(rd, "Font")
	if !ok {
		return nil, fmt.Errorf("resources %d have no /Font", res)
	}
	out := map[string]int{}
	for _, m := range reFontEntry.FindAllSubmatch(fd, -1) {
		var n int
		_, _ = fmt.Sscan(string(m[2]), &n)
		out[string(m[1])] = n
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("resources %d list no fonts", res)
	}
	return out, nil
}

// info is the document information dictionary. The dates come from the
// header, so the same report renders to the same bytes.
func (r *pdfRenderer) info() []byte {
	h := r.doc.Header
	var b bytes.Buffer
	fmt.Fprintf(&b, "<</Title %s /Author %s /Creator %s /Producer %s /Subject %s",
		pdfText(r.docTitle()), pdfText("reportd"), pdfText("reportd"), pdfText("reportd (fpdf)"), pdfText(r.subjectLine()))
	if !h.GeneratedAt.IsZero() {
		d := pdfText("D:" + h.GeneratedAt.UTC().Format("20060102150405") + "Z")
		fmt.Fprintf(&b, " /CreationDate %s /ModDate %s", d, d)
	}
	b.WriteString(">>")
	return b.Bytes()
}

func (r *pdfRenderer) title() string {
	if t := clean(r.doc.Header.Title); t != "" {
		return r.loc.Label(t)
	}
	if r.doc.Type == TypeMerchantSales {
		return r.loc.T("Merchant sales")
	}
	return r.loc.T("Order history")
}

func (r *pdfRenderer) subjectLabel() string {
	if l := clean(r.doc.Header.SubjectLabel); l != "" {
		return r.loc.Label(l)
	}
	if r.doc.Type == TypeMerchantSales {
		return r.loc.T("Merchant")
	}
	return r.loc.T("Customer")
}

func (r *pdfRenderer) docTitle() string {
	return fmt.Sprintf("%s: %s %s, %s", r.title(), r.subjectLabel(), clean(r.doc.Header.SubjectID), r.period())
}

func (r *pdfRenderer) subjectLine() string {
	h := r.doc.Header
	s := fmt.Sprintf("%s report %s", r.title(), clean(h.ReportID))
	if h.ClientName != "" {
		s += " for " + clean(h.ClientName)
	}
	return s + fmt.Sprintf(", data position %d", h.DataPosition)
}

// period is the report's days in the locale's date form, with the time
// zone they are days of unless that is UTC.
func (r *pdfRenderer) period() string {
	h := r.doc.Header
	if h.From.IsZero() && h.To.IsZero() {
		return r.loc.T("all time")
	}
	s := r.day(h.From)
	if to := r.day(h.To); to != s {
		s += " – " + to
	}
	if r.tz != time.UTC {
		s += " (" + r.tz.String() + ")"
	}
	return s
}

func (r *pdfRenderer) day(t time.Time) string {
	if t.IsZero() {
		return "…"
	}
	return r.loc.Date(t)
}

func (r *pdfRenderer) stamp(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return r.loc.Stamp(t, r.tz)
}

// pdfText encodes a PDF text string: literal for printable ASCII, else
// UTF-16BE with a byte-order mark.
func pdfText(s string) string {
	ascii := true
	for _, c := range s {
		if c < 0x20 || c > 0x7e {
			ascii = false
			break
		}
	}
	if ascii {
		r := strings.NewReplacer(`\`, `\\`, `(`, `\(`, `)`, `\)`)
		return "(" + r.Replace(s) + ")"
	}
	return "<FEFF" + utf16Hex(s) + ">"
}

func utf16Hex(s string) string {
	var b strings.Builder
	for _, u := range utf16.Encode([]rune(s)) {
		fmt.Fprintf(&b, "%04X", u)
	}
	return b.String()
}

// clean makes client data safe to draw: no control characters, and only the
// Basic Multilingual Plane, which is all fpdf's CID mapping covers.
func clean(s string) string {
	return strings.Map(func(c rune) rune {
		switch {
		case c == '\t' || c == '\n' || c == '\r':
			return ' '
		case unicode.IsControl(c):
			return -1
		case c > 0xFFFF:
			return '\uFFFD'
		}
		return c
	}, s)
}
