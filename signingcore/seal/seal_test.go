package seal

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"strings"
	"sync"
	"testing"

	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"

	"signet/errs"
	"signet/signingcore/font"
)

// mustGenerator returns a Generator on the bundled font.
func mustGenerator(t testing.TB) *Generator {
	t.Helper()
	f, err := font.Parse()
	if err != nil {
		t.Fatalf("font.Parse: %v", err)
	}
	g, err := New(f)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return g
}

// mustDecode decodes img's PNG, checks its size against img's fields and the
// colour of every inked pixel, and returns it as NRGBA.
func mustDecode(t *testing.T, img Image) *image.NRGBA {
	t.Helper()
	cfg, err := png.DecodeConfig(bytes.NewReader(img.PNG))
	if err != nil {
		t.Fatalf("png.DecodeConfig: %v", err)
	}
	if cfg.ColorModel != color.NRGBAModel {
		t.Errorf("PNG colour model = %v, want 8-bit non-premultiplied RGBA", cfg.ColorModel)
	}
	dec, err := png.Decode(bytes.NewReader(img.PNG))
	if err != nil {
		t.Fatalf("png.Decode: %v", err)
	}
	n, ok := dec.(*image.NRGBA)
	if !ok {
		t.Fatalf("decoded %T, want *image.NRGBA", dec)
	}
	if got := n.Bounds().Size(); got.X != img.Width || got.Y != img.Height {
		t.Errorf("PNG is %v, Image says %dx%d", got, img.Width, img.Height)
	}
	ink := Ink()
	var partial int
	for i := 0; i < len(n.Pix); i += 4 {
		p := n.Pix[i : i+4]
		if p[3] == 0 {
			continue
		}
		if p[0] != ink.R || p[1] != ink.G || p[2] != ink.B {
			t.Fatalf("pixel %d has colour %v, want the ink colour %v", i/4, p, ink)
		}
		if p[3] < 255 {
			partial++
		}
	}
	if partial == 0 {
		t.Error("no partially transparent pixels: the image is not anti-aliased")
	}
	return n
}

// alphaAt returns the alpha of the pixel at (x, y), rounded to pixels.
func alphaAt(img *image.NRGBA, x, y float64) uint8 {
	return img.NRGBAAt(int(math.Floor(x)), int(math.Floor(y))).A
}

// inked counts the pixels with alpha of at least 128 for which in returns true.
func inked(img *image.NRGBA, in func(x, y float64) bool) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if img.NRGBAAt(x, y).A >= 128 && in(float64(x)+0.5, float64(y)+0.5) {
				n++
			}
		}
	}
	return n
}

// checkCorners fails unless a k×k square in each corner is fully transparent.
func checkCorners(t *testing.T, img *image.NRGBA, k int) {
	t.Helper()
	b := img.Bounds()
	for _, c := range []image.Point{{0, 0}, {b.Dx() - k, 0}, {0, b.Dy() - k}, {b.Dx() - k, b.Dy() - k}} {
		for y := c.Y; y < c.Y+k; y++ {
			for x := c.X; x < c.X+k; x++ {
				if a := img.NRGBAAt(x, y).A; a != 0 {
					t.Fatalf("corner pixel (%d,%d) alpha = %d, want 0 (transparent background)", x, y, a)
				}
			}
		}
	}
}

// checkMargin fails unless the outermost row and column on every side are
// fully transparent (square seals draw their border right inside them).
func checkMargin(t *testing.T, img *image.NRGBA) {
	t.Helper()
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if x != b.Min.X && x != b.Max.X-1 && y != b.Min.Y && y != b.Max.Y-1 {
				continue
			}
			if a := img.NRGBAAt(x, y).A; a != 0 {
				t.Fatalf("edge pixel (%d,%d) alpha = %d, want 0 (transparent margin)", x, y, a)
			}
		}
	}
}

func TestSizes(t *testing.T) {
	g := mustGenerator(t)
	tests := []struct {
		name       string
		draw       func() (Image, error)
		wantW      int
		wantH      int
		wantSquare bool
	}{
		{"公章 default 42mm 300dpi", func() (Image, error) { return g.Official(Official{Name: "北京某某科技有限公司"}) }, 496, 496, true},
		{"公章 40mm", func() (Image, error) {
			return g.Official(Official{Name: "北京某某科技有限公司", DiameterMM: 40})
		}, 472, 472, true},
		{"公章 42mm 600dpi", func() (Image, error) { return g.Official(Official{Name: "北京某某科技有限公司", DPI: 600}) }, 992, 992, true},
		{"法人章 default 20mm", func() (Image, error) { return g.LegalRep(LegalRep{Name: "张三丰"}) }, 236, 236, true},
		{"法人章 18mm 150dpi", func() (Image, error) { return g.LegalRep(LegalRep{Name: "张三丰", SideMM: 18, DPI: 150}) }, 106, 106, true},
		{"个人章 default", func() (Image, error) { return g.Personal(Personal{Name: "李小明"}) }, 0, 142, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := tt.draw()
			if err != nil {
				t.Fatalf("draw: %v", err)
			}
			dec := mustDecode(t, img)
			if tt.wantW != 0 && img.Width != tt.wantW {
				t.Errorf("width = %d, want %d", img.Width, tt.wantW)
			}
			if img.Height != tt.wantH {
				t.Errorf("height = %d, want %d", img.Height, tt.wantH)
			}
			if !tt.wantSquare && img.Width <= img.Height {
				t.Errorf("personal seal is %dx%d, want wider than tall for a 3-character name", img.Width, img.Height)
			}
			checkMargin(t, dec)
		})
	}
}

func TestOfficial(t *testing.T) {
	g := mustGenerator(t)
	tests := []struct {
		name  string
		spec  Official
		horiz bool
	}{
		{"short name", Official{Name: "某某公司"}, false},
		{"typical", Official{Name: "北京某某科技有限公司"}, false},
		{"contract seal", Official{Name: "杭州天谷信息科技有限公司", Horizontal: "合同专用章"}, true},
		{"longest name with code", Official{Name: strings.Repeat("国", MaxOfficialName), Horizontal: "财务专用章", Bottom: "3101150012345"}, true},
		{"ASCII and parentheses", Official{Name: "ABC（中国）投资有限公司 (Beijing)"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := g.Official(tt.spec)
			if err != nil {
				t.Fatalf("Official: %v", err)
			}
			dec := mustDecode(t, img)
			s := float64(img.Width)
			c := s / 2
			outer := s/2 - 1
			rim := offRim * s
			// polar is the alpha at radius r, deg degrees clockwise from the top.
			polar := func(r, deg float64) uint8 {
				sn, cs := math.Sincos(radians(deg))
				return alphaAt(dec, c+r*sn, c-r*cs)
			}
			// Outside the circle: transparent, also near the rim.
			for deg := 0.0; deg < 360; deg += 15 {
				if a := polar(outer+1.5, deg); a != 0 {
					t.Errorf("alpha just outside the rim at %v° = %d, want 0", deg, a)
				}
				if a := polar(outer-rim/2, deg); a != 255 {
					t.Errorf("alpha in the middle of the rim at %v° = %d, want 255", deg, a)
				}
				if a := polar(outer-rim-offRimGap*s/2, deg); a != 0 {
					t.Errorf("alpha between rim and text at %v° = %d, want 0", deg, a)
				}
			}
			checkCorners(t, dec, int(0.1*s))

			// The star: opaque centre and points, centred.
			if a := alphaAt(dec, c, c); a != 255 {
				t.Errorf("star centre alpha = %d, want 255", a)
			}
			star := offStar * s
			for deg := 0.0; deg < 360; deg += 72 {
				if a := polar(star*0.9, deg); a != 255 {
					t.Errorf("star point at %v° alpha = %d, want 255", deg, a)
				}
				if a := polar(star*0.9, deg+36); a != 0 {
					t.Errorf("between star points at %v° alpha = %d, want 0", deg+36, a)
				}
			}
			var sx, sy, sn float64
			b := dec.Bounds()
			for y := b.Min.Y; y < b.Max.Y; y++ {
				for x := b.Min.X; x < b.Max.X; x++ {
					px, py := float64(x)+0.5, float64(y)+0.5
					if math.Hypot(px-c, py-c) <= star+1 {
						a := float64(dec.NRGBAAt(x, y).A)
						sx, sy, sn = sx+a*px, sy+a*py, sn+a
					}
				}
			}
			if dx, dy := sx/sn-c, sy/sn-c; math.Hypot(dx, dy) > 0.5 {
				t.Errorf("star centroid is off the centre by (%.2f, %.2f) px", dx, dy)
			}

			// The name band: ink over the top, balanced left and right, none
			// at the bottom (the name runs along the upper arc only).
			textTop := outer - rim - offRimGap*s
			textBottom := textTop - nameHeight(MaxOfficialName)*s
			inBand := func(lo, hi float64) func(x, y float64) bool {
				return func(x, y float64) bool {
					r := math.Hypot(x-c, y-c)
					deg := math.Mod(math.Atan2(x-c, c-y)*180/math.Pi+360, 360)
					return r >= textBottom && r <= textTop && deg >= lo && deg < hi
				}
			}
			band := math.Pi * (textTop*textTop - textBottom*textBottom)
			top := inked(dec, inBand(315, 360)) + inked(dec, inBand(0, 45))
			if frac := float64(top) / (band / 4); frac < 0.15 {
				t.Errorf("ink over the top of the name band = %.1f%%, want at least 15%%", 100*frac)
			}
			left, right := inked(dec, inBand(200, 360)), inked(dec, inBand(0, 160))
			if ratio := float64(left) / float64(right); ratio < 0.6 || ratio > 1.6 {
				t.Errorf("name ink left/right of the top = %d/%d, want balanced (text centred on the top)", left, right)
			}
			if tt.spec.Bottom == "" {
				if n := inked(dec, inBand(165, 195)); n != 0 {
					t.Errorf("%d inked pixels at the bottom of the name band, want 0", n)
				}
			} else if n := inked(dec, inBand(170, 190)); n == 0 {
				t.Error("no ink along the lower arc, want the 下弦文")
			}

			// The line under the star.
			hy := c + offHorizY*s
			hh := offHorizH * s / 2
			n := inked(dec, func(x, y float64) bool { return y > hy-hh && y < hy+hh && math.Abs(x-c) < 0.15*s })
			if got := n > 0; got != tt.horiz {
				t.Errorf("ink under the star = %d pixels, want present = %v", n, tt.horiz)
			}
		})
	}
}

// TestArcTransform checks the orientation of arc text: upper characters have
// their heads toward the rim and read clockwise; lower characters have their
// feet toward the rim and read counter-clockwise, so both read left to right.
func TestArcTransform(t *testing.T) {
	const cx, cy, mid, half = 100.0, 100.0, 60.0, 10.0
	radius := func(m affine, x, y float64) float64 {
		px, py := m.apply(x, y)
		return math.Hypot(float64(px)-cx, float64(py)-cy)
	}
	for _, deg := range []float64{-120, -45, 0, 30, 135} {
		for _, upper := range []bool{true, false} {
			m := arcTransform(cx, cy, mid, radians(deg), upper)
			head, feet := radius(m, 0, -half), radius(m, 0, half)
			if upper && !(math.Abs(head-(mid+half)) < 1e-3 && math.Abs(feet-(mid-half)) < 1e-3) {
				t.Errorf("upper at %v°: head at r=%.2f, feet at r=%.2f; want %v and %v", deg, head, feet, mid+half, mid-half)
			}
			if !upper && !(math.Abs(head-(mid-half)) < 1e-3 && math.Abs(feet-(mid+half)) < 1e-3) {
				t.Errorf("lower at %v°: head at r=%.2f, feet at r=%.2f; want %v and %v", deg, head, feet, mid-half, mid+half)
			}
			// Reading direction: the character's right side lies further
			// along the text. On screen, upper text moves right over the top
			// (x grows at the top), lower text moves right under the bottom.
			lx, _ := m.apply(-half, 0)
			rx, _ := m.apply(half, 0)
			if deg == 0 && rx <= lx {
				t.Errorf("upper=%v at 0°: right side x=%.1f, left side x=%.1f, want left to right", upper, rx, lx)
			}
			cxOf := func(theta float64) float64 {
				x, _ := arcTransform(cx, cy, mid, radians(theta), upper).apply(0, 0)
				return float64(x)
			}
			if deg == 0 && cxOf(10) <= cxOf(-10) {
				t.Errorf("upper=%v: a later character is not to the right of an earlier one", upper)
			}
		}
	}
}

// quadrantInk returns the ink inside a square seal's border per quadrant:
// top-right, bottom-right, top-left, bottom-left (the reading order).
func quadrantInk(img *image.NRGBA) [4]int {
	s := float64(img.Bounds().Dx())
	in := 1 + sqBorder*s + 1
	var q [4]int
	for i := range q {
		right, bottom := i < 2, i%2 == 1
		q[i] = inked(img, func(x, y float64) bool {
			if x < in || y < in || x > s-in || y > s-in {
				return false
			}
			return (x > s/2) == right && (y > s/2) == bottom
		})
	}
	return q
}

func TestLegalRep(t *testing.T) {
	g := mustGenerator(t)
	for _, name := range []string{"王五", "张三丰", "欧阳娜娜", "买买提·艾力", "阿卜杜热合曼买买"} {
		t.Run(name, func(t *testing.T) {
			img, err := g.LegalRep(LegalRep{Name: name})
			if err != nil {
				t.Fatalf("LegalRep: %v", err)
			}
			dec := mustDecode(t, img)
			s := float64(img.Width)
			bw := sqBorder * s
			for _, p := range [][2]float64{{1 + bw/2, s / 2}, {s / 2, 1 + bw/2}, {s - 1 - bw/2, s / 3}, {s / 3, s - 1 - bw/2}} {
				if a := alphaAt(dec, p[0], p[1]); a != 255 {
					t.Errorf("border at (%.0f,%.0f) alpha = %d, want 255", p[0], p[1], a)
				}
			}
			if a := alphaAt(dec, 1+bw+1.5, 1+bw+1.5); a != 0 {
				t.Errorf("just inside the border alpha = %d, want 0", a)
			}
			for i, n := range quadrantInk(dec) {
				if n == 0 {
					t.Errorf("quadrant %d of the grid is empty", i)
				}
			}
		})
	}
}

// TestReadingOrder uses characters with one to four strokes' worth of ink, so
// the order of ink amounts reveals where each character was placed.
func TestReadingOrder(t *testing.T) {
	g := mustGenerator(t)
	img, err := g.LegalRep(LegalRep{Name: "一二三田"})
	if err != nil {
		t.Fatalf("LegalRep: %v", err)
	}
	q := quadrantInk(mustDecode(t, img))
	if !(q[0] < q[1] && q[1] < q[2] && q[2] < q[3]) {
		t.Errorf("法人章 ink top-right, bottom-right, top-left, bottom-left = %v, want increasing (一二三田 read in columns from the right)", q)
	}

	img, err = g.Personal(Personal{Name: "一二三"})
	if err != nil {
		t.Fatalf("Personal: %v", err)
	}
	dec := mustDecode(t, img)
	w := float64(img.Width)
	var third [3]int
	for i := range third {
		third[i] = inked(dec, func(x, y float64) bool {
			bw := sqBorder*float64(img.Height) + 2
			return x > w*float64(i)/3 && x < w*float64(i+1)/3 && x > bw && x < w-bw && y > bw && y < float64(img.Height)-bw
		})
	}
	if !(third[0] < third[1] && third[1] < third[2]) {
		t.Errorf("个人章 ink left, middle, right = %v, want increasing (一二三 left to right)", third)
	}
}

func TestPersonalWidthFollowsName(t *testing.T) {
	g := mustGenerator(t)
	var prev int
	for _, name := range []string{"李明", "李小明", "欧阳小明", "阿卜杜热合曼·买买提"} {
		img, err := g.Personal(Personal{Name: name})
		if err != nil {
			t.Fatalf("Personal(%q): %v", name, err)
		}
		checkMargin(t, mustDecode(t, img))
		if img.Width <= prev {
			t.Errorf("Personal(%q) width = %d, want more than %d for a shorter name", name, img.Width, prev)
		}
		prev = img.Width
	}
}

func TestRefused(t *testing.T) {
	g := mustGenerator(t)
	official := func(s Official) func() error { return func() error { _, err := g.Official(s); return err } }
	legal := func(s LegalRep) func() error { return func() error { _, err := g.LegalRep(s); return err } }
	personal := func(s Personal) func() error { return func() error { _, err := g.Personal(s); return err } }
	tests := []struct {
		name      string
		draw      func() error
		wantField string
		wantMsg   string
	}{
		{"emoji in name", official(Official{Name: "北京😀科技有限公司"}), "Name", "字体无法绘制“😀”，请联系客服"},
		{"character newer than the font", official(Official{Name: "鿏元素有限公司"}), "Name", "字体无法绘制“鿏”，请联系客服"},
		{"Extension B character", legal(LegalRep{Name: "王𠀀"}), "Name", "字体无法绘制“𠀀”，请联系客服"},
		{"zero-width joiner", personal(Personal{Name: "张\u200d三"}), "Name", "字体无法绘制字符 U+200D，请联系客服"},
		{"variation selector", personal(Personal{Name: "张三\ufe0f"}), "Name", "字体无法绘制字符 U+FE0F，请联系客服"},
		{"emoji in horizontal text", official(Official{Name: "某某公司", Horizontal: "合同🖊章"}), "Horizontal", "字体无法绘制“🖊”，请联系客服"},
		{"emoji in bottom text", official(Official{Name: "某某公司", Bottom: "12345✨"}), "Bottom", "字体无法绘制“✨”，请联系客服"},
		{"invalid UTF-8", personal(Personal{Name: "张\xff三"}), "Name", "姓名包含无效字符"},
		{"empty enterprise name", official(Official{Name: ""}), "Name", "企业名称不能为空"},
		{"blank enterprise name", official(Official{Name: " \u3000\t"}), "Name", "企业名称不能为空"},
		{"empty legal representative", legal(LegalRep{}), "Name", "姓名不能为空"},
		{"enterprise name too long", official(Official{Name: strings.Repeat("国", MaxOfficialName+1)}), "Name", "企业名称过长（26 个字），最多 25 个字"},
		{"horizontal text too long", official(Official{Name: "某某公司", Horizontal: strings.Repeat("章", MaxOfficialHorizontal+1)}), "Horizontal", "横向文过长（11 个字），最多 10 个字"},
		{"legal representative too long", legal(LegalRep{Name: "阿卜杜热合曼买买提"}), "Name", "姓名过长（9 个字），最多 8 个字"},
		{"personal too long", personal(Personal{Name: strings.Repeat("明", MaxPersonalName+1)}), "Name", "姓名过长（16 个字），最多 15 个字"},
		{"diameter too small", official(Official{Name: "某某公司", DiameterMM: 2}), "DiameterMM", "印章尺寸须在 5 至 100 毫米之间"},
		{"diameter NaN", official(Official{Name: "某某公司", DiameterMM: math.NaN()}), "DiameterMM", "印章尺寸须在 5 至 100 毫米之间"},
		{"side negative", legal(LegalRep{Name: "张三", SideMM: -20}), "SideMM", "印章尺寸须在 5 至 100 毫米之间"},
		{"DPI too high", personal(Personal{Name: "张三", DPI: 10000}), "DPI", "分辨率须在 72 至 1200 dpi 之间"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.draw()
			e := errs.As(err)
			if e == nil || e.Code != errs.Invalid {
				t.Fatalf("error = %v, want an errs.Invalid error", err)
			}
			if e.Field != tt.wantField || e.Message != tt.wantMsg {
				t.Errorf("error field %q message %q, want field %q message %q", e.Field, e.Message, tt.wantField, tt.wantMsg)
			}
		})
	}
}

func TestDeterministicAndConcurrent(t *testing.T) {
	g := mustGenerator(t)
	spec := Official{Name: "杭州天谷信息科技有限公司", Horizontal: "合同专用章"}
	want, err := g.Official(spec)
	if err != nil {
		t.Fatalf("Official: %v", err)
	}
	var wg sync.WaitGroup
	got := make([]Image, 4)
	errc := make([]error, 4)
	for i := range got {
		wg.Go(func() { got[i], errc[i] = g.Official(spec) })
	}
	wg.Wait()
	for i := range got {
		if errc[i] != nil {
			t.Fatalf("concurrent Official %d: %v", i, errc[i])
		}
		if !bytes.Equal(got[i].PNG, want.PNG) {
			t.Errorf("concurrent Official %d produced different bytes", i)
		}
	}
}

func TestNewRefusesFontWithoutCJK(t *testing.T) {
	if _, err := New(nil); err == nil {
		t.Error("New(nil) succeeded, want an error")
	}
	latin, err := opentype.Parse(goregular.TTF)
	if err != nil {
		t.Fatalf("parse Go Regular: %v", err)
	}
	if _, err := New(latin); err == nil || !strings.Contains(err.Error(), "no CJK") {
		t.Errorf("New(Go Regular) error = %v, want one saying the font has no CJK ideographs", err)
	}
}

func BenchmarkOfficial(b *testing.B) {
	g := mustGenerator(b)
	spec := Official{Name: "杭州天谷信息科技有限公司", Horizontal: "合同专用章"}
	var size int
	for b.Loop() {
		img, err := g.Official(spec)
		if err != nil {
			b.Fatal(err)
		}
		size = len(img.PNG)
	}
	b.ReportMetric(float64(size), "png-bytes")
}

func BenchmarkLegalRep(b *testing.B) {
	g := mustGenerator(b)
	for b.Loop() {
		if _, err := g.LegalRep(LegalRep{Name: "张三丰"}); err != nil {
			b.Fatal(err)
		}
	}
}
