package seal

import (
	"fmt"
	"math"

	"golang.org/x/image/font/sfnt"
)

// Official describes an enterprise's round seal (公章). With Horizontal set
// to "合同专用章" it is the contract seal; other special-purpose seals (财务专用章,
// 人事专用章 …) work the same way.
type Official struct {
	// Name is the enterprise name, drawn clockwise along the upper arc with
	// every character upright toward the rim. Required, at most
	// MaxOfficialName characters; spacing and width adapt to its length.
	Name string
	// Horizontal is the optional line under the star (横向文), such as
	// "合同专用章". At most MaxOfficialHorizontal characters.
	Horizontal string
	// Bottom is the optional text along the lower arc (下弦文), usually the
	// seal's 13-digit registration code. At most MaxOfficialBottom characters.
	Bottom string
	// DiameterMM is the physical diameter; zero means
	// DefaultOfficialDiameterMM.
	DiameterMM float64
	// DPI is the resolution; zero means DefaultDPI.
	DPI float64
}

// Proportions of a 公章, as fractions of its diameter, after GA 241-2000's
// 42 mm seal: a 1.2–1.5 mm rim, 14 mm star, characters about 6.5 mm tall.
const (
	offRim        = 0.034 // rim width
	offRimGap     = 0.024 // between rim and arc text
	offNameH      = 0.145 // arc text height for names up to offNameLong characters
	offNameHLong  = 0.112 // arc text height at MaxOfficialName characters
	offNameLong   = 14
	offNameAspect = 0.78  // width/height of an arc character (seal type is tall)
	offNameTrack  = 0.20  // spacing between arc characters, as a fraction of width
	offMinSpan    = 160.0 // degrees the arc text covers at least (short names)
	offMaxSpan    = 270.0 // degrees it covers at most
	offMaxSpanLow = 244.0 // at most, when there is text along the lower arc
	offStar       = 0.165 // star outer radius
	offStarDY     = 0.0   // star centre below the seal centre
	offHorizH     = 0.100 // 横向文 height
	offHorizMaxW  = 0.50  // 横向文 total width at most
	offHorizY     = 0.222 // 横向文 centre below the seal centre
	offBottomH    = 0.058 // 下弦文 height
	offBottomPad  = 0.020 // between rim and 下弦文
	offBold       = 0.010 // stroke thickening, as a fraction of character height
)

// Official draws an enterprise round seal. Invalid input (an empty or too
// long name, a character the font cannot draw, a size out of range) returns
// an errs.Invalid error with a Chinese message.
func (g *Generator) Official(spec Official) (Image, error) {
	dpi := orDefault(spec.DPI, DefaultDPI)
	size, err := pixels(orDefault(spec.DiameterMM, DefaultOfficialDiameterMM), dpi, "DiameterMM")
	if err != nil {
		return Image{}, err
	}
	var buf sfnt.Buffer
	name, err := g.text(&buf, spec.Name, "Name", "企业名称", true, MaxOfficialName)
	if err != nil {
		return Image{}, err
	}
	horiz, err := g.text(&buf, spec.Horizontal, "Horizontal", "横向文", false, MaxOfficialHorizontal)
	if err != nil {
		return Image{}, err
	}
	bottom, err := g.text(&buf, spec.Bottom, "Bottom", "下弦文", false, MaxOfficialBottom)
	if err != nil {
		return Image{}, err
	}

	c := newCanvas(size, size)
	s := float64(size)
	cx, cy := s/2, s/2
	outer := s/2 - 1 // one pixel of transparent margin keeps the rim's edge anti-aliased
	rim := offRim * s
	c.circle(cx, cy, outer, true)
	c.circle(cx, cy, outer-rim, false)

	c.star(cx, cy+offStarDY*s, offStar*s)

	textTop := outer - rim - offRimGap*s
	nameH := nameHeight(len(name)) * s
	maxSpan := offMaxSpan
	if len(bottom) > 0 {
		maxSpan = offMaxSpanLow
	}
	if len(horiz) > 0 {
		h := offHorizH * s
		centres, length := layout(horiz)
		w := math.Min(h*0.92, offHorizMaxW*s/length) // cell pitch
		for i, gl := range horiz {
			m := translate(cx+centres[i]*w, cy+offHorizY*s)
			if err := c.glyph(g, &buf, gl, w*0.94, h, offBold*h, m); err != nil {
				return Image{}, err
			}
		}
		// Keep the ends of the name clear of the line under the star.
		maxSpan = math.Min(maxSpan, spanAbove(w*length/2, offHorizY*s-h/2, offHorizY*s+h/2, textTop-nameH, nameH*offNameAspect/2))
	}
	if err := g.arc(c, &buf, name, cx, cy, textTop, nameH, maxSpan, true); err != nil {
		return Image{}, err
	}
	if len(bottom) > 0 {
		h := offBottomH * s
		// Lower-arc characters have their feet toward the rim.
		if err := g.arc(c, &buf, bottom, cx, cy, outer-rim-offBottomPad*s, h, 360-maxSpan-30, false); err != nil {
			return Image{}, err
		}
	}
	img, err := encode(c.mask(), dpi)
	if err != nil {
		return Image{}, fmt.Errorf("seal: official: %w", err)
	}
	return img, nil
}

// nameHeight is the arc text height for a name of n characters: full size up
// to offNameLong characters, then shrinking linearly to offNameHLong.
func nameHeight(n int) float64 {
	if n <= offNameLong {
		return offNameH
	}
	t := float64(n-offNameLong) / float64(MaxOfficialName-offNameLong)
	return offNameH + t*(offNameHLong-offNameH)
}

// arc draws text along a circle centred on (cx, cy). top is the radius of the
// text's outer edge and h its height. upper text runs clockwise over the top
// with the characters' tops toward the rim; lower text runs counter-clockwise
// under the bottom with their feet toward the rim, so both read left to
// right. The text is centred on the top (or bottom) and covers at most
// maxSpan degrees; upper text covers at least offMinSpan.
func (g *Generator) arc(c *canvas, buf *sfnt.Buffer, text []glyph, cx, cy, top, h, maxSpan float64, upper bool) error {
	centres, length := layout(text)
	mid := top - h/2     // radius of the characters' centres
	inner := top - 0.8*h // where neighbours come closest (near their feet)
	if !upper {
		inner = top - 0.2*h // lower text: their heads come closest
	}
	w := h * offNameAspect
	pitch := w * (1 + offNameTrack) / mid // radians per cell
	minSpan, maxSpanR := radians(offMinSpan), radians(maxSpan)
	switch {
	case pitch*length > maxSpanR:
		// Long text: squeeze the characters so that neighbours keep a gap
		// where the arc is tightest.
		pitch = maxSpanR / length
		w = math.Min(w, pitch*inner/(1+offNameTrack))
	case upper && pitch*length < minSpan && len(text) > 1:
		// Short names are spread over the arc, as engravers do, but never
		// further apart than a character and a half.
		pitch = math.Min(minSpan/length, 2.5*w/mid)
	}
	bold := offBold * h
	for i, gl := range text {
		m := arcTransform(cx, cy, mid, centres[i]*pitch, upper)
		if err := c.glyph(g, buf, gl, w, h, bold, m); err != nil {
			return err
		}
	}
	return nil
}

// spanAbove returns the widest span, in degrees, that arc text centred on the
// top can cover without reaching a box centred under the seal's centre: the
// box reaches halfW to each side and from top to bottom (pixels below the
// centre); the arc text's inner edge is at radius inner and its characters
// are 2*halfChar wide there. A box wholly inside the inner radius sets no
// limit (360).
func spanAbove(halfW, top, bottom, inner, halfChar float64) float64 {
	var y float64 // the highest point of the box's side at or beyond inner
	switch {
	case math.Hypot(halfW, top) >= inner:
		y = top
	case math.Hypot(halfW, bottom) >= inner:
		y = math.Sqrt(inner*inner - halfW*halfW)
	default:
		return 360
	}
	alpha := math.Atan2(halfW, -y) // from the top, clockwise
	const margin = 0.035           // radians, about 2°
	return 2 * (alpha - halfChar/inner - margin) * 180 / math.Pi
}

// arcTransform places an upright character cell centred on the origin on a
// circle of radius mid around (cx, cy), theta radians along the text from
// the top (upper) or the bottom (lower), turned so that its vertical axis
// points away from the centre (upper) or toward it (lower).
func arcTransform(cx, cy, mid, theta float64, upper bool) affine {
	if upper {
		return translate(0, -mid).then(rotate(theta)).then(translate(cx, cy))
	}
	return translate(0, mid).then(rotate(-theta)).then(translate(cx, cy))
}

func radians(deg float64) float64 { return deg * math.Pi / 180 }
