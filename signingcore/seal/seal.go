// Package seal draws the seal images that appear on signed contracts: the
// enterprise official seal (公章, also as 合同专用章 and other special-purpose
// seals), the legal representative's square seal (法定代表人章) and a personal
// name seal (个人签名章).
//
// Images are red on a transparent background, anti-aliased, and sized from a
// physical size in millimetres and a resolution in dots per inch (300 dpi by
// default, so a 42 mm 公章 is 496 pixels wide). Text is drawn from glyph
// outlines of one CJK font (normally signingcore/font's bundled font): a
// character the font has no glyph for is refused with an errs.Invalid error
// naming it, never drawn as a box. ASCII letters, digits and punctuation are
// drawn with their full-width forms (A as Ａ), as Chinese seals do and because
// the bundled font has no ASCII glyphs; the middle dot in minority names (·) is
// drawn as ・.
package seal

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/image/font/opentype"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"

	"signet/errs"
)

// Default physical sizes and resolution.
const (
	// DefaultDPI is the resolution used when a spec leaves DPI zero.
	DefaultDPI = 300
	// DefaultOfficialDiameterMM is the diameter of a 公章 (GA 241-2000 allows
	// 38–45 mm for enterprises; 42 mm is the common choice).
	DefaultOfficialDiameterMM = 42
	// DefaultLegalRepSideMM is the side of a square 法定代表人章.
	DefaultLegalRepSideMM = 20
	// DefaultPersonalHeightMM is the height of a personal name seal.
	DefaultPersonalHeightMM = 12
)

// Limits on the input, chosen so every accepted seal stays legible.
const (
	// MaxOfficialName is the longest enterprise name drawn on a 公章's arc.
	MaxOfficialName = 25
	// MaxOfficialHorizontal is the longest text under the star (横向文).
	MaxOfficialHorizontal = 10
	// MaxOfficialBottom is the longest text along the lower arc (下弦文).
	MaxOfficialBottom = 20
	// MaxLegalRepName is the longest name on a 法定代表人章 (a 2×4 grid).
	MaxLegalRepName = 8
	// MaxPersonalName is the longest name on a personal seal.
	MaxPersonalName = 15

	minMM, maxMM   = 5, 100
	minDPI, maxDPI = 72, 1200
)

// The ink colour of every seal, #E60012: the 印泥 red of printed seals.
const (
	inkR, inkG, inkB = 0xE6, 0x00, 0x12
)

// Ink returns the colour seals are drawn in (fully opaque; anti-aliased edges
// keep the colour and lower the alpha).
func Ink() color.NRGBA { return color.NRGBA{R: inkR, G: inkG, B: inkB, A: 0xFF} }

// Image is a rendered seal.
type Image struct {
	// PNG is the encoded image: 8-bit RGBA (non-premultiplied), transparent
	// background.
	PNG []byte
	// Width and Height are the image's size in pixels.
	Width, Height int
	// DPI is the resolution the size was computed for; Width/DPI inches is
	// the physical width.
	DPI float64
}

// Generator draws seals with one font. It holds no mutable state and is safe
// for concurrent use.
type Generator struct {
	font *sfnt.Font
	// ref is the ink box of a reference ideograph (国) in font units, Y down:
	// every character is scaled so that this box fills its cell, which makes
	// ideographs fill their cells evenly while narrow ones (一, 。) stay small.
	ref box
}

// box is an axis-aligned rectangle in float coordinates.
type box struct{ minX, minY, maxX, maxY float64 }

func (b box) w() float64  { return b.maxX - b.minX }
func (b box) h() float64  { return b.maxY - b.minY }
func (b box) cx() float64 { return (b.minX + b.maxX) / 2 }
func (b box) cy() float64 { return (b.minY + b.maxY) / 2 }

// New returns a Generator that draws with f, which must contain CJK
// ideographs (signingcore/font's Parse returns a suitable font).
func New(f *opentype.Font) (*Generator, error) {
	if f == nil {
		return nil, fmt.Errorf("seal: new generator: nil font")
	}
	g := &Generator{font: f}
	var buf sfnt.Buffer
	gi, err := f.GlyphIndex(&buf, '国')
	if err != nil {
		return nil, fmt.Errorf("seal: new generator: %w", err)
	}
	if gi == 0 {
		return nil, fmt.Errorf("seal: new generator: font has no CJK ideographs")
	}
	segs, err := f.LoadGlyph(&buf, gi, g.ppem(), nil)
	if err != nil {
		return nil, fmt.Errorf("seal: new generator: load reference glyph: %w", err)
	}
	g.ref = segmentsBox(segs)
	if g.ref.w() <= 0 || g.ref.h() <= 0 {
		return nil, fmt.Errorf("seal: new generator: empty reference glyph")
	}
	return g, nil
}

// ppem loads glyphs at one pixel per font unit, so segment coordinates are
// font units (with 1/64 precision).
func (g *Generator) ppem() fixed.Int26_6 {
	return fixed.I(int(g.font.UnitsPerEm()))
}

// glyph is one character to draw: its glyph index, or blank for a space.
// Characters typed as ASCII are drawn with full-width glyphs but set
// proportionally (narrow, with their ink width), so "ABC" and digits do not
// look spaced out.
type glyph struct {
	index sfnt.GlyphIndex
	blank bool
	// width is the advance in cells: 1 for CJK, less for narrow characters.
	width float64
	// shift moves a narrow character's ink to the centre of its advance, in
	// font units.
	shift float64
}

// advance is the width gl takes in a line, in cells.
func (gl glyph) advance() float64 { return gl.width }

// Proportional setting of narrow (ASCII) characters, in cells.
const (
	narrowGap   = 0.16 // space between two narrow characters' ink
	narrowSpace = 0.40 // an ASCII space
)

// layout returns the centre of each character relative to the centre of the
// line, and the line's length, both in cells.
func layout(text []glyph) (centres []float64, length float64) {
	for _, gl := range text {
		length += gl.advance()
	}
	centres = make([]float64, len(text))
	x := -length / 2
	for i, gl := range text {
		centres[i] = x + gl.advance()/2
		x += gl.advance()
	}
	return centres, length
}

// fold maps a rune to the one drawn for it: ASCII to full width, spaces to
// the ideographic space, middle dots to U+30FB.
func fold(r rune) rune {
	switch {
	case unicode.IsSpace(r):
		return '\u3000'
	case r >= 0x21 && r <= 0x7E:
		return r - 0x21 + 0xFF01
	case r == '\u00B7', r == '\u2022', r == '\u2027', r == '\u2219', r == '\u22C5':
		return '\u30FB'
	}
	return r
}

// text validates s (a seal's text in field, described to the user as what)
// and returns its glyphs. Leading and trailing spaces are dropped, inner runs
// of spaces become one blank cell. required refuses empty text; max is the
// longest accepted length in characters.
func (g *Generator) text(buf *sfnt.Buffer, s, field, what string, required bool, max int) ([]glyph, error) {
	if !utf8.ValidString(s) {
		return nil, errs.InvalidField(field, what+"包含无效字符")
	}
	s = strings.Join(strings.Fields(s), " ")
	n := utf8.RuneCountInString(s)
	if n == 0 {
		if required {
			return nil, errs.InvalidField(field, what+"不能为空")
		}
		return nil, nil
	}
	if n > max {
		return nil, errs.InvalidField(field, fmt.Sprintf("%s过长（%d 个字），最多 %d 个字", what, n, max))
	}
	out := make([]glyph, 0, n)
	for _, r := range s {
		f := fold(r)
		narrow := r < utf8.RuneSelf
		if f == '\u3000' {
			w := 1.0
			if narrow {
				w = narrowSpace
			}
			out = append(out, glyph{blank: true, width: w})
			continue
		}
		gi, err := g.font.GlyphIndex(buf, f)
		if err != nil {
			return nil, fmt.Errorf("seal: glyph index of %U: %w", f, err)
		}
		if gi == 0 {
			return nil, unsupported(field, r)
		}
		segs, err := g.font.LoadGlyph(buf, gi, g.ppem(), nil)
		if err != nil || len(segs) == 0 {
			// Colour (emoji) glyphs, and glyphs with no outline for a
			// character that is not a space, would draw as nothing.
			return nil, unsupported(field, r)
		}
		gl := glyph{index: gi, width: 1}
		if narrow {
			ink := segmentsBox(segs)
			gl.width = min(1, ink.w()/g.ref.w()+narrowGap)
			gl.shift = ink.cx() - g.ref.cx()
		}
		out = append(out, gl)
	}
	return out, nil
}

// unsupported is the error for a character the font cannot draw. Invisible
// characters and combining marks are named by code point.
func unsupported(field string, r rune) error {
	if unicode.IsGraphic(r) && !unicode.In(r, unicode.Mn, unicode.Me) {
		return errs.InvalidField(field, fmt.Sprintf("字体无法绘制“%c”，请联系客服", r))
	}
	return errs.InvalidField(field, fmt.Sprintf("字体无法绘制字符 U+%04X，请联系客服", r))
}

// pixels converts a physical length to pixels, validating the inputs.
func pixels(mm, dpi float64, field string) (int, error) {
	if math.IsNaN(mm) || mm < minMM || mm > maxMM {
		return 0, errs.InvalidField(field, fmt.Sprintf("印章尺寸须在 %d 至 %d 毫米之间", minMM, maxMM))
	}
	if math.IsNaN(dpi) || dpi < minDPI || dpi > maxDPI {
		return 0, errs.InvalidField("DPI", fmt.Sprintf("分辨率须在 %d 至 %d dpi 之间", minDPI, maxDPI))
	}
	return int(math.Round(mm / 25.4 * dpi)), nil
}

// orDefault returns v, or def when v is zero.
func orDefault(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}

// encode paints mask in the ink colour and encodes it as PNG.
func encode(mask *image.Alpha, dpi float64) (Image, error) {
	b := mask.Bounds()
	img := image.NewNRGBA(b)
	for i, a := range mask.Pix {
		if a == 0 {
			continue
		}
		p := img.Pix[4*i : 4*i+4 : 4*i+4]
		p[0], p[1], p[2], p[3] = inkR, inkG, inkB, a
	}
	var out bytes.Buffer
	// Default compression: BestSpeed saves nothing measurable here (row
	// filtering dominates) and makes the PNG about 12% larger.
	if err := png.Encode(&out, img); err != nil {
		return Image{}, fmt.Errorf("seal: encode png: %w", err)
	}
	return Image{PNG: out.Bytes(), Width: b.Dx(), Height: b.Dy(), DPI: dpi}, nil
}
