package report

import _ "embed"

// The PDF embeds DejaVu Sans (Bitstream Vera licence, fonts/LICENSE) so that
// names such as "Zoë Łukasz Straße" render the same on every machine.

//go:embed fonts/DejaVuSans.ttf
var fontRegular []byte

//go:embed fonts/DejaVuSans-Bold.ttf
var fontBold []byte

const (
	fontFamily = "dejavu"
	// regularBaseFont is how fpdf names the embedded regular face; the
	// stitcher uses it to find the font for the deferred page count.
	regularBaseFont = "/utf8" + fontFamily
)
