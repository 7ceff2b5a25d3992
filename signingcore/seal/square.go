package seal

import (
	"fmt"
	"math"

	"golang.org/x/image/font/sfnt"
)

// LegalRep describes a legal representative's square seal (法定代表人章).
//
// The characters are set in two rows, read in columns from right to left as
// seal script is: a 3-character name 张三丰 becomes 张三 in the right column and
// 丰印 in the left; a 2-character name gets a tall 印 filling the left column;
// a 4-character name fills the 2×2 grid without 印. Longer names (up to
// MaxLegalRepName) get more, narrower columns, with 印 added when the count is
// odd.
type LegalRep struct {
	// Name is the person's name. Required, at most MaxLegalRepName characters.
	Name string
	// SideMM is the physical side; zero means DefaultLegalRepSideMM.
	SideMM float64
	// DPI is the resolution; zero means DefaultDPI.
	DPI float64
}

// Proportions of the square seals, as fractions of the side (height for the
// personal seal).
const (
	sqBorder = 0.075 // border width
	sqPad    = 0.045 // between border and characters
	sqFill   = 0.94  // part of a cell a character fills
	sqBold   = 0.012 // stroke thickening, as a fraction of cell height
)

// LegalRep draws a legal representative's square seal. Invalid input returns
// an errs.Invalid error with a Chinese message.
func (g *Generator) LegalRep(spec LegalRep) (Image, error) {
	dpi := orDefault(spec.DPI, DefaultDPI)
	size, err := pixels(orDefault(spec.SideMM, DefaultLegalRepSideMM), dpi, "SideMM")
	if err != nil {
		return Image{}, err
	}
	var buf sfnt.Buffer
	name, err := g.text(&buf, spec.Name, "Name", "姓名", true, MaxLegalRepName)
	if err != nil {
		return Image{}, err
	}
	cells := name
	if len(name) <= 3 || len(name)%2 == 1 {
		yin, err := g.text(&buf, "印", "Name", "姓名", true, 1)
		if err != nil {
			return Image{}, err
		}
		cells = append(cells, yin...)
	}
	cols := (len(cells) + 1) / 2

	c := newCanvas(size, size)
	s := float64(size)
	bw := sqBorder * s
	c.frame(1, 1, s-1, s-1, bw)
	inset := 1 + bw + sqPad*s
	cw := (s - 2*inset) / float64(cols)
	ch := (s - 2*inset) / 2
	for i, gl := range cells {
		col, row := i/2, i%2
		x := s - inset - (float64(col)+0.5)*cw // columns from the right
		y, h := inset+(float64(row)+0.5)*ch, ch
		if row == 0 && i == len(cells)-1 {
			y, h = s/2, 2*ch // a lone last character fills its column
		}
		if err := c.glyph(g, &buf, gl, cw*sqFill, h*sqFill, sqBold*ch, translate(x, y)); err != nil {
			return Image{}, err
		}
	}
	img, err := encode(c.mask(), dpi)
	if err != nil {
		return Image{}, fmt.Errorf("seal: legal representative: %w", err)
	}
	return img, nil
}

// Personal describes a personal name seal (个人签名章): the name in one line
// inside a rectangular border, like the name seals of e-signature platforms.
// Its width follows the name's length.
type Personal struct {
	// Name is the person's name. Required, at most MaxPersonalName
	// characters.
	Name string
	// HeightMM is the physical height; zero means DefaultPersonalHeightMM.
	HeightMM float64
	// DPI is the resolution; zero means DefaultDPI.
	DPI float64
}

// Personal draws a personal name seal. Invalid input returns an errs.Invalid
// error with a Chinese message.
func (g *Generator) Personal(spec Personal) (Image, error) {
	dpi := orDefault(spec.DPI, DefaultDPI)
	height, err := pixels(orDefault(spec.HeightMM, DefaultPersonalHeightMM), dpi, "HeightMM")
	if err != nil {
		return Image{}, err
	}
	var buf sfnt.Buffer
	name, err := g.text(&buf, spec.Name, "Name", "姓名", true, MaxPersonalName)
	if err != nil {
		return Image{}, err
	}
	h := float64(height)
	bw := sqBorder * h
	inset := 1 + bw + 1.6*sqPad*h
	ch := h - 2*inset // character cell height
	cw := ch * 0.92
	centres, length := layout(name)
	width := int(math.Ceil(2*inset + cw*length))
	width = max(width, height) // never narrower than square

	c := newCanvas(width, height)
	w := float64(width)
	c.frame(1, 1, w-1, h-1, bw)
	for i, gl := range name {
		m := translate(w/2+centres[i]*cw, h/2)
		if err := c.glyph(g, &buf, gl, cw*sqFill, ch*sqFill, sqBold*ch, m); err != nil {
			return Image{}, err
		}
	}
	img, err := encode(c.mask(), dpi)
	if err != nil {
		return Image{}, fmt.Errorf("seal: personal: %w", err)
	}
	return img, nil
}
