package report

import (
	"bytes"
	"compress/zlib"
	"context"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode"
	"unicode/utf16"

	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
)

// scriptNames are names in the scripts the data holds. rtl marks those
// that fpdf cannot shape or reorder: they must draw real glyphs, but their
// extracted text is not compared.
var scriptNames = []struct {
	name string
	rtl  bool
}{
	{name: "Zoë Łukasz Straße Ørsted Çağrı"},  // Latin with diacritics
	{name: "Почта России — Служба доставки"},  // Cyrillic
	{name: "ΕΛΤΑ Ταχυμεταφορές"},              // Greek
	{name: "ヤマト運輸 クロネコ便"},                     // Japanese kana and kanji
	{name: "顺丰速运 中国邮政"},                       // Chinese
	{name: "우체국택배 한진택배"},                      // Korean hangul
	{name: "株式会社ヤマト、「宅急便」。"},                  // CJK punctuation
	{name: "البريد السعودي", rtl: true},       // Arabic
	{name: "דואר ישראל", rtl: true},           // Hebrew
	{name: "DHL 日本 Почта Ελλάδα 서울 Ångström"}, // all in one cell
}

func scriptOrders(n int) []OrderRow {
	rows := testOrders(n)
	for i := range rows {
		s := scriptNames[i%len(scriptNames)]
		rows[i].Carrier = s.name
		rows[i].TrackingNumber = "TRK-" + s.name
		if rows[i].ShippedAt == nil {
			rows[i].ShippedAt = &rows[i].PlacedAt
		}
	}
	return rows
}

// TestRenderPDFScripts renders rows in every script and checks, in the
// embedded font programs themselves, that every character drawn has a real
// glyph, and that the text layer gives back what went in.
func TestRenderPDFScripts(t *testing.T) {
	rows := scriptOrders(len(scriptNames) * 3)
	rows[1].OrderID = "ord_東京_001"
	doc := orderDoc(t, rows)
	doc.Header.ClientName = "Nordlicht 株式会社 카페"
	pdf, _ := renderPDFBytes(t, doc, defaultChunkPages)
	tool(t, pdf, "qpdf", "--check")

	drawn := checkGlyphs(t, pdf)
	text := squash(rawText(t, pdf))
	want := []string{"ord_東京_001", "Nordlicht 株式会社 카페"}
	for _, s := range scriptNames {
		if !s.rtl {
			want = append(want, s.name)
		}
		for _, c := range s.name {
			if !drawn[c] && !unicode.IsSpace(c) {
				t.Errorf("%q (U+%04X) of %q is not drawn", c, c, s.name)
			}
		}
	}
	for _, w := range want {
		if !strings.Contains(text, squash(w)) {
			t.Errorf("pdftotext lacks %q", w)
		}
	}
	if fonts := tool(t, pdf, "pdffonts"); !strings.Contains(fonts, fallbackFamily) {
		t.Errorf("no fallback font embedded:\n%s", fonts)
	}
}

// TestRenderPDFScriptsChunked draws CJK only on later pages, so that the
// first chunks have no fallback font and the stitcher must take it from the
// donor subset.
func TestRenderPDFScriptsChunked(t *testing.T) {
	rows := testOrders(150)
	late := scriptOrders(len(scriptNames))
	for i, r := range late {
		rows[140+i%10].Carrier = r.Carrier
	}
	whole, _ := renderPDFBytes(t, orderDoc(t, rows), 1000)
	chunked, _ := renderPDFBytes(t, orderDoc(t, rows), 1)
	tool(t, chunked, "qpdf", "--check")
	checkGlyphs(t, chunked)
	if got, want := textOf(t, chunked), textOf(t, whole); got != want {
		t.Errorf("chunked text differs from whole text:\n%s", cmpLines(want, got))
	}
	for name, pdf := range map[string][]byte{"whole": whole, "chunked": chunked} {
		if n := strings.Count(tool(t, pdf, "pdffonts"), "CID TrueType"); n != 3 {
			t.Errorf("%s: %d embedded fonts, want 3 (DejaVu regular and bold, fallback)", name, n)
		}
	}
}

// TestRenderPDFLatinHasNoFallback keeps plain reports as small as before:
// the 3.4 MB fallback is not even subset into them.
func TestRenderPDFLatinHasNoFallback(t *testing.T) {
	pdf, _ := renderPDFBytes(t, orderDoc(t, testOrders(50)), defaultChunkPages)
	if fonts := tool(t, pdf, "pdffonts"); strings.Contains(fonts, fallbackFamily) {
		t.Errorf("a Latin-only report embeds the fallback font:\n%s", fonts)
	}
	checkGlyphs(t, pdf)
}

// TestRenderPDFLongNamesWrap: a name too long for its column shrinks and
// wraps inside a taller row; none of it is cut.
func TestRenderPDFLongNamesWrap(t *testing.T) {
	long := []string{
		"Transportes Intercontinentais de Mercadorias São João da Boa Vista e Companhia Limitada, Filial Nº 12",
		strings.Repeat("国際物流株式会社東京本社営業部第一課", 5) + "配送センター",
		"Международная транспортно-экспедиционная компания «Северный путь» и партнёры, филиал № 7, Санкт-Петербург",
		"Supercalifragilisticexpialidociousdeliveryservicesinternationalwithoutanyspacesatall0123456789ABC",
	}
	rows := testOrders(len(long) + 2)
	for i, name := range long {
		rows[i].Carrier = name
	}
	doc := orderDoc(t, rows)
	doc.Header.ClientName = "Nordlicht Café und Konditorei Gesellschaft mit beschränkter Haftung, Zweigniederlassung Hamburg-Altona"
	pdf, st := renderPDFBytes(t, doc, defaultChunkPages)
	tool(t, pdf, "qpdf", "--check")
	checkGlyphs(t, pdf)
	text := squash(rawText(t, pdf))
	for _, name := range append(long, doc.Header.ClientName) {
		if len([]rune(name)) < 90 {
			t.Fatalf("test name %q is too short to need wrapping", name)
		}
		if !strings.Contains(text, squash(name)) {
			t.Errorf("pdftotext lacks the whole of %q", name)
		}
	}
	if st.Pages != 1 {
		t.Errorf("%d pages, want 1", st.Pages)
	}
}

// TestLayoutWrap checks the line breaking on its own.
func TestLayoutWrap(t *testing.T) {
	r := &pdfRenderer{}
	p, err := newFpdf(faceRegular, faceBold)
	if err != nil {
		t.Fatal(err)
	}
	r.pdf = p
	tests := []struct {
		text string
		w    float64 // cell width in mm
		want []string
	}{
		{"short", 40, []string{"short"}},
		{"alpha beta gamma delta epsilon zeta eta theta", 30, []string{"alpha beta gamma", "delta epsilon zeta eta", "theta"}},
		{"ヤマト運輸ヤマト運輸ヤマト運輸", 20, []string{"ヤマト運輸ヤマ", "ト運輸ヤマト運", "輸"}},
		{"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 20, []string{"xxxxxxxxxxxx", "xxxxxxxxxxxx", "xxxxxxxxxxxx", "xxxx"}},
		{"DHL-Express/Freight", 15, []string{"DHL-", "Express/", "Freight"}},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			lay := r.layoutText(tt.text, "", tableSize, tableFloor, tt.w, true)
			var got []string
			for _, l := range lay.lines {
				got = append(got, l.String())
				if w := l.width(lay.size); w > tt.w-2*cellMargin+1e-9 {
					t.Errorf("line %q is %.2f mm wide in a %.2f mm cell", l.String(), w, tt.w)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("lines = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestFaceWidthsMatchFpdf: the layout measures with its own tables, which
// must agree with fpdf's, or alignment and fitting would be off.
func TestFaceWidthsMatchFpdf(t *testing.T) {
	p, err := newFpdf(faceRegular, faceBold)
	if err != nil {
		t.Fatal(err)
	}
	m, err := faceFallback.metrics()
	if err != nil {
		t.Fatal(err)
	}
	p.AddUTF8FontFromBytes(faceFallback.family, faceFallback.style, m.data)
	r := &pdfRenderer{pdf: p}
	samples := []string{"Zoë Łukasz Straße 0123456789 …—·", "Почта ΕΛΤΑ", "ヤマト運輸 顺丰 우체국 、。", "\u0e01\u0e02 ☃"}
	for _, f := range allFaces {
		p.SetFont(f.family, f.style, 10)
		for _, s := range samples {
			var l textLine
			m := r.metrics(f)
			for _, c := range s {
				l.w += m.width(c)
			}
			if got, want := l.width(10), p.GetStringWidth(s); math.Abs(got-want) > 1e-9 {
				t.Errorf("%s%s %q: width %.4f mm, fpdf says %.4f", f.family, f.style, s, got, want)
			}
		}
	}
	if err := p.Error(); err != nil {
		t.Fatal(err)
	}
}

// rawText is the text layer in drawing order, in which a wrapped cell's
// lines follow each other.
func rawText(t *testing.T, pdf []byte) string {
	t.Helper()
	return tool(t, pdf, "pdftotext", "-raw", "-enc", "UTF-8", "PDF", "-")
}

// squash drops all white space, so that text compares whatever the line
// breaks.
func squash(s string) string { return strings.Join(strings.Fields(s), "") }

func cmpLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range min(len(w), len(g)) {
		if w[i] != g[i] {
			return fmt.Sprintf("line %d: want %q, got %q", i+1, w[i], g[i])
		}
	}
	return fmt.Sprintf("want %d lines, got %d", len(w), len(g))
}

// checkGlyphs reads every string the pages draw and looks each character
// up in the font program embedded for it (FontFile2, through CIDToGIDMap):
// a character mapped to glyph 0 (.notdef) or to an empty glyph is an error.
// It returns the characters drawn.
func checkGlyphs(t *testing.T, pdf []byte) map[rune]bool {
	t.Helper()
	f, err := parsePDF(pdf)
	if err != nil {
		t.Fatal(err)
	}
	_, kids, err := pageTree(f)
	if err != nil {
		t.Fatal(err)
	}
	fonts := map[int]*embeddedFont{}
	drawn := map[rune]bool{}
	check := func(where string, resources map[string]int, content []byte) {
		for _, op := range textOps(t, content) {
			obj, ok := resources[op.font]
			if !ok {
				t.Fatalf("%s: font /%s is not in the resources", where, op.font)
			}
			ef := fonts[obj]
			if ef == nil {
				ef = readEmbeddedFont(t, f, obj)
				fonts[obj] = ef
			}
			for _, c := range op.text {
				drawn[c] = true
				if msg := ef.check(c); msg != "" {
					t.Errorf("%s: %q (U+%04X) in %s %s", where, c, c, ef.name, msg)
				}
			}
		}
	}
	for i, kid := range kids {
		res, err := fontResources(f, kid)
		if err != nil {
			t.Fatal(err)
		}
		page, _, _ := f.object(kid)
		c, _ := dictRef(page, "Contents")
		check(fmt.Sprintf("page %d", i+1), res, streamOf(t, f, c))
	}
	// The page count is drawn by a form XObject with its own resources.
	page, _, _ := f.object(kids[0])
	res, _, err := f.object(mustRef(t, page, "Resources"))
	if err != nil {
		t.Fatal(err)
	}
	xobjects, _ := dictEntry(res, "XObject")
	n := mustRef(t, xobjects, pageCountName)
	form, _, _ := f.object(n)
	formRes, _ := dictEntry(form, "Resources")
	formFonts, _ := dictEntry(formRes, "Font")
	names := map[string]int{}
	for _, m := range reFontEntry.FindAllSubmatch(formFonts, -1) {
		_, _ = fmt.Sscan(string(m[2]), &n)
		names[string(m[1])] = n
	}
	check("page count", names, streamOf(t, f, mustRef(t, xobjects, pageCountName)))
	return drawn
}

func mustRef(t *testing.T, dict []byte, key string) int {
	t.Helper()
	n, ok := dictRef(dict, key)
	if !ok {
		t.Fatalf("no /%s in %s", key, dict)
	}
	return n
}

// streamOf returns the decoded stream of object n.
func streamOf(t *testing.T, f *pdfFile, n int) []byte {
	t.Helper()
	value, stream, err := f.object(n)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(value, []byte("/FlateDecode")) {
		return stream
	}
	zr, err := zlib.NewReader(bytes.NewReader(stream))
	if err != nil {
		t.Fatalf("object %d: %v", n, err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("object %d: %v", n, err)
	}
	return out
}

type embeddedFont struct {
	name   string
	cidGID []byte // CIDToGIDMap: two bytes per CID
	font   *sfnt.Font
	buf    sfnt.Buffer
}

// readEmbeddedFont follows a Type0 font to its CIDFontType2 descendant,
// its CIDToGIDMap and its FontFile2.
func readEmbeddedFont(t *testing.T, f *pdfFile, obj int) *embeddedFont {
	t.Helper()
	top, _, err := f.object(obj)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(top, []byte("/Type0")) || !bytes.Contains(top, []byte("/Identity-H")) {
		t.Fatalf("font %d is not an Identity-H Type0 font: %s", obj, top)
	}
	name := string(reBaseFont.FindSubmatch(top)[1])
	arr, ok := dictEntry(top, "DescendantFonts")
	if !ok || len(refs(arr)) != 1 {
		t.Fatalf("font %d: no single descendant", obj)
	}
	cid, _, err := f.object(refs(arr)[0])
	if err != nil {
		t.Fatal(err)
	}
	desc, _, err := f.object(mustRef(t, cid, "FontDescriptor"))
	if err != nil {
		t.Fatal(err)
	}
	prog := streamOf(t, f, mustRef(t, desc, "FontFile2"))
	sf, err := sfnt.Parse(prog)
	if err != nil {
		t.Fatalf("font %s: embedded FontFile2 does not parse: %v", name, err)
	}
	return &embeddedFont{name: name, cidGID: streamOf(t, f, mustRef(t, cid, "CIDToGIDMap")), font: sf}
}

// check says what is wrong with the glyph drawn for c, if anything.
func (ef *embeddedFont) check(c rune) string {
	if int(c)*2+1 >= len(ef.cidGID) {
		return "is beyond CIDToGIDMap"
	}
	gid := sfnt.GlyphIndex(ef.cidGID[c*2])<<8 | sfnt.GlyphIndex(ef.cidGID[c*2+1])
	if gid == 0 {
		return "maps to .notdef"
	}
	segs, err := ef.font.LoadGlyph(&ef.buf, gid, fixed.I(1000), nil)
	if err != nil {
		return fmt.Sprintf("glyph %d does not load: %v", gid, err)
	}
	if len(segs) == 0 && !unicode.IsSpace(c) {
		return fmt.Sprintf("glyph %d is empty", gid)
	}
	return ""
}

// textOp is one string a content stream draws, with the font it is drawn in.
type textOp struct {
	font string
	text []rune
}

// textOps reads the text-showing operators (Tj and TJ) of a content stream
// as fpdf writes them: Identity-H strings of UTF-16BE code units, which
// here equal the Unicode code points (fpdf draws only the BMP).
func textOps(t *testing.T, content []byte) []textOp {
	t.Helper()
	var ops []textOp
	var font string
	var operands [][]byte // strings and names since the last operator
	for i := 0; i < len(content); {
		c := content[i]
		switch {
		case isPDFSpace(c):
			i++
		case c == '(':
			s, end := readLiteral(content, i)
			operands = append(operands, s)
			i = end
		case c == '<':
			end := bytes.IndexByte(content[i:], '>')
			var s []byte
			_, _ = fmt.Sscanf(string(content[i+1:i+end]), "%x", &s)
			operands = append(operands, s)
			i += end + 1
		case c == '/':
			j := i + 1
			for j < len(content) && !isPDFSpace(content[j]) && !strings.ContainsRune("/[]()<>", rune(content[j])) {
				j++
			}
			operands = append(operands, content[i:j])
			i = j
		case c == '[' || c == ']':
			i++
		default:
			j := i
			for j < len(content) && !isPDFSpace(content[j]) && !strings.ContainsRune("/[]()<>", rune(content[j])) {
				j++
			}
			switch string(content[i:j]) {
			case "Tf":
				for _, o := range operands {
					if o[0] == '/' {
						font = string(o[1:])
					}
				}
			case "Tj", "TJ":
				var us []uint16
				for _, o := range operands {
					if len(o) > 0 && o[0] == '/' {
						continue
					}
					if len(o)%2 != 0 {
						t.Fatalf("odd-length Identity-H string %q", o)
					}
					for k := 0; k < len(o); k += 2 {
						us = append(us, uint16(o[k])<<8|uint16(o[k+1]))
					}
				}
				ops = append(ops, textOp{font: font, text: utf16.Decode(us)})
			}
			if isOperator(content[i:j]) {
				operands = operands[:0]
			}
			i = max(j, i+1)
		}
	}
	return ops
}

func isOperator(tok []byte) bool {
	c := tok[0]
	return (c < '0' || c > '9') && c != '-' && c != '+' && c != '.'
}

// readLiteral decodes the literal string that starts at content[i].
func readLiteral(content []byte, i int) ([]byte, int) {
	var out []byte
	depth := 0
	for i < len(content) {
		c := content[i]
		switch {
		case c == '\\' && i+1 < len(content):
			i++
			switch e := content[i]; e {
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			default:
				if e >= '0' && e <= '7' {
					v, n := 0, 0
					for n < 3 && i < len(content) && content[i] >= '0' && content[i] <= '7' {
						v = v*8 + int(content[i]-'0')
						i++
						n++
					}
					out = append(out, byte(v))
					continue
				}
				out = append(out, e)
			}
		case c == '(':
			if depth > 0 {
				out = append(out, c)
			}
			depth++
		case c == ')':
			depth--
			if depth == 0 {
				return out, i + 1
			}
			out = append(out, c)
		default:
			out = append(out, c)
		}
		i++
	}
	return out, i
}

// FuzzLayoutText: whatever the text, wrapping neither panics nor loses a
// character, and no line is wider than its cell unless it is one character.
func FuzzLayoutText(f *testing.F) {
	f.Add("ヤマト運輸 Почта ΕΛΤΑ 우체국", 42.0, false)
	f.Add("Supercalifragilisticexpialidocious-delivery/services", 12.0, true)
	f.Add("  \t\x00\u200b\ufeff\U0001F600 ", 3.0, false)
	p, err := newFpdf(faceRegular, faceBold)
	if err != nil {
		f.Fatal(err)
	}
	r := &pdfRenderer{pdf: p}
	f.Fuzz(func(t *testing.T, text string, w float64, bold bool) {
		if math.IsNaN(w) || math.IsInf(w, 0) {
			return
		}
		w = 3 + math.Mod(math.Abs(w), 200) // a cell 3 to 203 mm wide
		style := ""
		if bold {
			style = "B"
		}
		lay := r.layoutText(text, style, tableSize, tableFloor, w, true)
		var got strings.Builder
		for _, l := range lay.lines {
			got.WriteString(l.String())
			if lw := l.width(lay.size); lw > w-2*cellMargin+1e-9 && len([]rune(l.String())) > 1 {
				t.Errorf("line %q is %.2f mm wide in a %.2f mm cell", l.String(), lw, w)
			}
		}
		if len(lay.lines) < maxLines && squash(got.String()) != squash(clean(text)) {
			t.Errorf("lines %q lose text of %q", got.String(), clean(text))
		}
		if err := p.Error(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestRenderPDFOddText renders text that is empty, blank, invisible,
// beyond the BMP, combining, right to left or huge, and checks the PDF
// is sound.
func TestRenderPDFOddText(t *testing.T) {
	odd := []string{
		"", "   ", "\t\n\r", "\x00\x07\u200b\ufeff", "😀 emoji 🚚", "e\u0301 a\u0308 (combining)",
		"مرحبا بالعالم שלום עולם", "\uffff\ufffe", "\u0e01\u0e32\u0e23\u0e02\u0e19\u0e2a\u0e48\u0e07 (Thai)",
		strings.Repeat("ヤマト運輸", 400), strings.Repeat("very long carrier name ", 200),
	}
	rows := testOrders(len(odd))
	for i, s := range odd {
		rows[i].Carrier = s
		rows[i].OrderID = s
		rows[i].Status = s
	}
	doc := orderDoc(t, rows)
	doc.Header.ClientName = strings.Join(odd[:9], " ")
	pdf, st := renderPDFBytes(t, doc, 1)
	tool(t, pdf, "qpdf", "--check")
	if got := info(t, pdf, "Pages"); got != strconv.Itoa(st.Pages) {
		t.Errorf("pdfinfo Pages = %s, Render said %d", got, st.Pages)
	}
}

// TestRenderPDFConcurrent: workers render side by side, sharing the parsed
// metrics and the font bytes, which must stay read-only (run with -race).
func TestRenderPDFConcurrent(t *testing.T) {
	rows := scriptOrders(40)
	want, _ := renderPDFBytes(t, orderDoc(t, rows), 1)
	var wg sync.WaitGroup
	got := make([][]byte, 4)
	for i := range got {
		wg.Go(func() {
			var buf bytes.Buffer
			doc := Document{Type: TypeOrderHistory, Header: testHeader(TypeOrderHistory), RowCount: len(rows), Orders: seq(t, rows)}
			if _, err := renderPDF(context.Background(), &buf, doc, 1); err != nil {
				t.Errorf("render %d: %v", i, err)
			}
			got[i] = buf.Bytes()
		})
	}
	wg.Wait()
	for i, g := range got {
		if !bytes.Equal(g, want) {
			t.Errorf("concurrent render %d differs from the one before", i)
		}
	}
}

// Rendering must never write to the font programs every render shares:
// fpdf's subsetter appends into the bytes it is given (hmtx reads past the
// metrics of fonts such as the fallback), so each document gets a copy.
func TestRenderPDFLeavesSharedFontProgramsUntouched(t *testing.T) {
	var before [][]byte
	for _, f := range allFaces {
		m, err := f.metrics()
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, bytes.Clone(m.data))
	}
	renderPDFBytes(t, orderDoc(t, scriptOrders(40)), 1)
	for i, f := range allFaces {
		m, _ := f.metrics()
		if !bytes.Equal(m.data, before[i]) {
			t.Errorf("rendering changed the shared font program of %s %q", f.family, f.style)
		}
	}
}
