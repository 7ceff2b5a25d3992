package pairing

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"

	"signet/errs"
)

// Limits of a capture.
const (
	// MaxPNG bounds the submitted image.
	MaxPNG = 512 << 10
	// MaxStrokes bounds the stroke JSON.
	MaxStrokes = 512 << 10
	// MaxPoints bounds the number of points over all strokes.
	MaxPoints            = 20000
	MinWidth, MaxWidth   = 100, 2000
	MinHeight, MaxHeight = 50, 1200
	// MinInk is the least number of drawn (non-blank) pixels.
	MinInk = 40
)

// Capture describes a validated signature image.
type Capture struct {
	Width, Height int
	Ink           int
	points        int
}

// ValidatePNG checks a submitted signature: a PNG of at most MaxPNG bytes,
// of sane dimensions, with some ink on it (pixels neither transparent nor
// near white).
func ValidatePNG(b []byte) (*Capture, error) {
	if len(b) == 0 {
		return nil, errs.InvalidField("png", "请先书写签名")
	}
	if len(b) > MaxPNG {
		return nil, errs.InvalidField("png", "签名图片过大（最大512KB），请清屏后重新书写")
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return nil, errs.InvalidField("png", "签名图片不是有效的PNG图片")
	}
	if cfg.Width < MinWidth || cfg.Width > MaxWidth || cfg.Height < MinHeight || cfg.Height > MaxHeight {
		return nil, errs.InvalidField("png", "签名图片尺寸不符合要求")
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return nil, errs.InvalidField("png", "签名图片不是有效的PNG图片")
	}
	ink := countInk(img)
	if ink < MinInk {
		return nil, errs.InvalidField("png", "未检测到签名笔迹，请书写后再提交")
	}
	return &Capture{Width: cfg.Width, Height: cfg.Height, Ink: ink}, nil
}

func countInk(img image.Image) int {
	r := img.Bounds()
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			cr, cg, cb, ca := img.At(x, y).RGBA()
			if ca < 0x4000 {
				continue
			}
			if cr > 0xe000 && cg > 0xe000 && cb > 0xe000 {
				continue
			}
			n++
		}
	}
	return n
}

// Point is one sampled position of a stroke: x, y in the image's pixels and
// t in milliseconds since the pad was shown (non-decreasing within a stroke).
type Point struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
	T float64 `json:"t"`
	// P is the pen pressure (0..1) when the device reports one.
	P float64 `json:"p,omitempty"`
}

// Strokes is the submitted stroke data: the pad's size and the strokes.
type Strokes struct {
	Width   float64   `json:"width"`
	Height  float64   `json:"height"`
	Strokes [][]Point `json:"strokes"`
}

// ValidateStrokes checks the stroke JSON against the image of w×h pixels:
// at least one stroke, at most MaxPoints points, every point within the
// image, times non-negative and non-decreasing within a stroke.
func ValidateStrokes(b []byte, w, h int) error {
	_, err := parseStrokes(b, w, h)
	return err
}

func parseStrokes(b []byte, w, h int) (int, error) {
	bad := func(msg string) (int, error) { return 0, errs.InvalidField("strokes", msg) }
	if len(b) == 0 {
		return bad("缺少笔迹数据")
	}
	if len(b) > MaxStrokes {
		return bad("笔迹数据过大")
	}
	var s Strokes
	if err := json.Unmarshal(b, &s); err != nil {
		return bad("笔迹数据格式不正确")
	}
	if len(s.Strokes) == 0 {
		return bad("未检测到签名笔迹，请书写后再提交")
	}
	n := 0
	for _, st := range s.Strokes {
		if len(st) == 0 {
			return bad("笔迹数据格式不正确")
		}
		prev := -1.0
		for _, p := range st {
			n++
			if p.X < 0 || p.Y < 0 || p.X > float64(w) || p.Y > float64(h) {
				return bad("笔迹超出签名区域")
			}
			if p.T < 0 || p.T < prev || p.P < 0 || p.P > 1 {
				return bad("笔迹时间数据不正确")
			}
			prev = p.T
		}
	}
	if n > MaxPoints {
		return bad("笔迹点数过多，请清屏后重新书写")
	}
	if n < 2 {
		return bad("未检测到签名笔迹，请书写后再提交")
	}
	return n, nil
}
