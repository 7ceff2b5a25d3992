package seal

import (
	"fmt"
	"image"
	"math"

	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/vector"
)

// affine maps (x, y) to (a*x + b*y + c, d*x + e*y + f). Coordinates are
// image coordinates: X right, Y down, so a positive rotation is clockwise on
// screen.
type affine struct{ a, b, c, d, e, f float64 }

func identity() affine { return affine{a: 1, e: 1} }

func translate(x, y float64) affine { return affine{a: 1, c: x, e: 1, f: y} }

func scale(sx, sy float64) affine { return affine{a: sx, e: sy} }

// rotate turns by theta radians, clockwise on screen.
func rotate(theta float64) affine {
	s, c := math.Sincos(theta)
	return affine{a: c, b: -s, d: s, e: c}
}

// then returns the transform that applies m first and n second.
func (m affine) then(n affine) affine {
	return affine{
		a: n.a*m.a + n.b*m.d,
		b: n.a*m.b + n.b*m.e,
		c: n.a*m.c + n.b*m.f + n.c,
		d: n.d*m.a + n.e*m.d,
		e: n.d*m.b + n.e*m.e,
		f: n.d*m.c + n.e*m.f + n.f,
	}
}

func (m affine) apply(x, y float64) (float32, float32) {
	return float32(m.a*x + m.b*y + m.c), float32(m.d*x + m.e*y + m.f)
}

// canvas accumulates filled shapes into one anti-aliased coverage mask.
// Shapes must not overlap each other with opposite windings; within a shape,
// the non-zero rule applies (a hole is a contour wound the other way).
type canvas struct {
	w, h int
	r    *vector.Rasterizer
	open bool // a path is open and needs closing before the next MoveTo
}

func newCanvas(w, h int) *canvas {
	return &canvas{w: w, h: h, r: vector.NewRasterizer(w, h)}
}

func (c *canvas) moveTo(x, y float32) {
	if c.open {
		c.r.ClosePath()
	}
	c.r.MoveTo(x, y)
	c.open = true
}

func (c *canvas) close() {
	if c.open {
		c.r.ClosePath()
		c.open = false
	}
}

// mask renders everything drawn so far.
func (c *canvas) mask() *image.Alpha {
	c.close()
	m := image.NewAlpha(image.Rect(0, 0, c.w, c.h))
	c.r.Draw(m, m.Bounds(), image.Opaque, image.Point{})
	return m
}

// circle adds a circle of radius rad around (cx, cy), clockwise on screen
// when cw is true. A ring is a circle plus a smaller one wound the other way.
func (c *canvas) circle(cx, cy, rad float64, cw bool) {
	const k = 0.5522847498 // cubic Bézier handle length for a quarter circle
	dir := 1.0
	if !cw {
		dir = -1
	}
	// Quarter by quarter from the top: (0,-1) → (dir,0) → (0,1) → (-dir,0).
	pts := [4][2]float64{{0, -1}, {dir, 0}, {0, 1}, {-dir, 0}}
	c.moveTo(float32(cx), float32(cy-rad))
	for i := range 4 {
		p0, p1 := pts[i], pts[(i+1)%4]
		// The tangent at p is p rotated a quarter turn in the drawing direction.
		t0 := [2]float64{-p0[1] * dir, p0[0] * dir}
		t1 := [2]float64{-p1[1] * dir, p1[0] * dir}
		c.r.CubeTo(
			float32(cx+rad*(p0[0]+k*t0[0])), float32(cy+rad*(p0[1]+k*t0[1])),
			float32(cx+rad*(p1[0]-k*t1[0])), float32(cy+rad*(p1[1]-k*t1[1])),
			float32(cx+rad*p1[0]), float32(cy+rad*p1[1]),
		)
	}
	c.close()
}

// rect adds an axis-aligned rectangle, clockwise on screen when cw is true.
func (c *canvas) rect(x0, y0, x1, y1 float64, cw bool) {
	c.moveTo(float32(x0), float32(y0))
	if cw {
		c.r.LineTo(float32(x1), float32(y0))
		c.r.LineTo(float32(x1), float32(y1))
		c.r.LineTo(float32(x0), float32(y1))
	} else {
		c.r.LineTo(float32(x0), float32(y1))
		c.r.LineTo(float32(x1), float32(y1))
		c.r.LineTo(float32(x1), float32(y0))
	}
	c.close()
}

// frame adds a rectangular border of width bw inside (x0, y0)-(x1, y1).
func (c *canvas) frame(x0, y0, x1, y1, bw float64) {
	c.rect(x0, y0, x1, y1, true)
	c.rect(x0+bw, y0+bw, x1-bw, y1-bw, false)
}

// star adds a five-pointed star with one point up, centred on (cx, cy), with
// outer radius rad. The inner radius makes the classic pentagram outline.
func (c *canvas) star(cx, cy, rad float64) {
	inner := rad * math.Sin(math.Pi/10) / math.Sin(7*math.Pi/10)
	for i := range 10 {
		rr := rad
		if i%2 == 1 {
			rr = inner
		}
		s, co := math.Sincos(float64(i) * math.Pi / 5)
		x, y := float32(cx+rr*s), float32(cy-rr*co)
		if i == 0 {
			c.moveTo(x, y)
		} else {
			c.r.LineTo(x, y)
		}
	}
	c.close()
}

// segmentsBox returns the bounding box of a glyph's control points.
func segmentsBox(segs sfnt.Segments) box {
	b := box{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}
	for _, s := range segs {
		n := 1
		switch s.Op {
		case sfnt.SegmentOpQuadTo:
			n = 2
		case sfnt.SegmentOpCubeTo:
			n = 3
		}
		for _, p := range s.Args[:n] {
			x, y := float64(p.X)/64, float64(p.Y)/64
			b.minX, b.maxX = math.Min(b.minX, x), math.Max(b.maxX, x)
			b.minY, b.maxY = math.Min(b.minY, y), math.Max(b.maxY, y)
		}
	}
	return b
}

// cellTransform maps font units to a cell of size w×h whose centre is the
// origin: the reference ideograph's ink box fills the cell exactly.
func (g *Generator) cellTransform(w, h float64) affine {
	return translate(-g.ref.cx(), -g.ref.cy()).then(scale(w/g.ref.w(), h/g.ref.h()))
}

// glyph draws gl into a w×h cell centred on the origin, then moved by m.
// bold > 0 thickens the strokes by about 2*bold pixels: the outline is drawn
// again shifted bold pixels in eight directions, and the non-zero rule makes
// the union (the font is a regular weight; engraved seal type is heavier).
func (c *canvas) glyph(g *Generator, buf *sfnt.Buffer, gl glyph, w, h, bold float64, m affine) error {
	if gl.blank {
		return nil
	}
	segs, err := g.font.LoadGlyph(buf, gl.index, g.ppem(), nil)
	if err != nil {
		return fmt.Errorf("seal: load glyph %d: %w", gl.index, err)
	}
	base := translate(-gl.shift, 0).then(g.cellTransform(w, h)).then(m)
	copies := 1
	if bold > 0 {
		copies = 9
	}
	for k := range copies {
		t := base
		if k > 0 {
			s, co := math.Sincos(float64(k) * math.Pi / 4)
			t = base.then(translate(bold*co, bold*s))
		}
		c.outline(segs, t)
	}
	return nil
}

// outline adds a glyph's contours, in font units, transformed by t.
func (c *canvas) outline(segs sfnt.Segments, t affine) {
	pt := func(i int, s sfnt.Segment) (float32, float32) {
		return t.apply(float64(s.Args[i].X)/64, float64(s.Args[i].Y)/64)
	}
	for _, s := range segs {
		switch s.Op {
		case sfnt.SegmentOpMoveTo:
			c.moveTo(pt(0, s))
		case sfnt.SegmentOpLineTo:
			c.r.LineTo(pt(0, s))
		case sfnt.SegmentOpQuadTo:
			x1, y1 := pt(0, s)
			x2, y2 := pt(1, s)
			c.r.QuadTo(x1, y1, x2, y2)
		case sfnt.SegmentOpCubeTo:
			x1, y1 := pt(0, s)
			x2, y2 := pt(1, s)
			x3, y3 := pt(2, s)
			c.r.CubeTo(x1, y1, x2, y2, x3, y3)
		}
	}
	c.close()
}
