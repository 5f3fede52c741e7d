package report

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/go-pdf/fpdf"
	"golang.org/x/image/font"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
)

// The PDF embeds its fonts so that a report renders the same on every
// machine, whatever is installed there:
//
//   - DejaVu Sans (Bitstream Vera licence, fonts/LICENSE), regular and bold:
//     Latin, Greek, Cyrillic, and the letters of Arabic and Hebrew.
//   - Droid Sans Fallback (Apache-2.0, fonts/LICENSE.DroidSansFallback),
//     regular only: Chinese, Japanese kana and kanji, Korean hangul. It is
//     3.4 MB, so it is stored gzipped, unpacked and parsed once per process
//     on first use, and added to a PDF only when the PDF draws one of its
//     glyphs. fonts/update-fallback.sh rebuilds it from Debian's package.
//
// Each rune is drawn with the first of the style's faces that has a glyph
// for it (see splitRuns).

//go:embed fonts/DejaVuSans.ttf
var fontRegular []byte

//go:embed fonts/DejaVuSans-Bold.ttf
var fontBold []byte

//go:embed fonts/DroidSansFallback.ttf.gz
var fontFallbackGzip []byte

const (
	fontFamily     = "dejavu"
	fallbackFamily = "droidfallback"
	// regularBaseFont is how fpdf names the embedded regular face; the
	// stitcher uses it to find the font for the deferred page count.
	regularBaseFont = "utf8" + fontFamily
)

// A face is one font file as fpdf knows it (family and style) and the
// metrics the layout needs, read once per process.
type face struct {
	family, style string
	metrics       func() (*faceMetrics, error)
	// standIn, when set, is what a chunk embeds instead of the whole font:
	// the font cut down to a space. fpdf parses a font in every document it
	// is added to, which for the 3.4 MB fallback costs more than a chunk of
	// Latin pages, while a chunk needs the font only for its name: the text
	// is placed with our own metrics, and the stitcher takes the glyphs from
	// one donor subset per report (see finish). Cut once per process.
	standIn func() ([]byte, error)
}

// faceMetrics covers the Basic Multilingual Plane, all that clean lets
// through.
type faceMetrics struct {
	data    []byte
	covered [0x10000 / 64]uint64 // bit c: the cmap maps rune c to a glyph
	widths  [0x10000]uint16      // advance in 1/1000 em, rounded as fpdf rounds it
	missing int                  // fpdf's width for a rune without a glyph
}

var (
	faceRegular  = newFace(fontFamily, "", func() ([]byte, error) { return fontRegular, nil })
	faceBold     = newFace(fontFamily, "B", func() ([]byte, error) { return fontBold, nil })
	faceFallback = withStandIn(newFace(fallbackFamily, "", func() ([]byte, error) { return gunzip(fontFallbackGzip) }))
	// allFaces is the order in which the donor document draws them.
	allFaces = []*face{faceRegular, faceBold, faceFallback}
)

// faces lists, in order of preference, the faces that draw text of a
// style. The fallback has no bold, so bold CJK is drawn regular.
func faces(style string) []*face {
	if style == "B" {
		return []*face{faceBold, faceFallback}
	}
	return []*face{faceRegular, faceFallback}
}

func newFace(family, style string, load func() ([]byte, error)) *face {
	return &face{family: family, style: style, metrics: sync.OnceValues(func() (*faceMetrics, error) {
		data, err := load()
		if err != nil {
			return nil, fmt.Errorf("load font %s%s: %w", family, style, err)
		}
		m, err := readMetrics(data)
		if err != nil {
			return nil, fmt.Errorf("read font %s%s: %w", family, style, err)
		}
		return m, nil
	})}
}

func withStandIn(f *face) *face {
	f.standIn = sync.OnceValues(func() ([]byte, error) {
		m, err := f.metrics()
		if err != nil {
			return nil, err
		}
		return fpdf.UTF8CutFont(m.data, " "), nil
	})
	return f
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

// readMetrics looks every BMP rune up in the font's cmap and records its
// advance the way fpdf's UTF-8 font parser does, so that the layout measures
// text exactly as fpdf will place it.
func readMetrics(data []byte) (*faceMetrics, error) {
	f, err := sfnt.Parse(data)
	if err != nil {
		return nil, err
	}
	var buf sfnt.Buffer
	upem := float64(f.UnitsPerEm())
	ppem := fixed.I(int(f.UnitsPerEm())) // advances come out in font units
	width := func(g sfnt.GlyphIndex) (int, error) {
		adv, err := f.GlyphAdvance(&buf, g, ppem, font.HintingNone)
		if err != nil {
			return 0, fmt.Errorf("advance of glyph %d: %w", g, err)
		}
		return int(math.Round(1000 / upem * float64(adv) / 64)), nil
	}
	m := &faceMetrics{data: data}
	if m.missing, err = width(0); err != nil {
		return nil, err
	}
	if m.missing == 0 {
		m.missing = 500
	}
	for c := rune(1); c < 0x10000; c++ {
		g, err := f.GlyphIndex(&buf, c)
		if err != nil {
			return nil, fmt.Errorf("cmap lookup of U+%04X: %w", c, err)
		}
		if g == 0 {
			continue
		}
		w, err := width(g)
		if err != nil {
			return nil, err
		}
		m.covered[c/64] |= 1 << (c % 64)
		m.widths[c] = uint16(min(max(w, 0), math.MaxUint16))
	}
	return m, nil
}

func (m *faceMetrics) covers(c rune) bool {
	return c >= 0 && c < 0x10000 && m.covered[c/64]&(1<<(c%64)) != 0
}

// width is the advance of c in 1/1000 em.
func (m *faceMetrics) width(c rune) int {
	if !m.covers(c) {
		return m.missing
	}
	return int(m.widths[c])
}
