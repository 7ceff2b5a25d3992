package pades

import (
	"bytes"
	"compress/zlib"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"sync"

	"signet/errs"
)

// sealImage is a seal PNG encoded once as PDF image data: deflated RGB
// samples and, when the image is not fully opaque, a deflated alpha channel
// for the /SMask.
type sealImage struct {
	width, height int
	rgb           []byte // zlib-compressed 8-bit RGB
	alpha         []byte // zlib-compressed 8-bit gray; nil when opaque
}

// imageCache keeps encoded seal images keyed by the SHA-256 of the PNG
// bytes, so a seal used on many documents is decoded and deflated once. It
// holds at most max entries and evicts the oldest.
type imageCache struct {
	mu    sync.Mutex
	max   int
	items map[[32]byte]*sealImage
	order [][32]byte
}

func newImageCache(max int) *imageCache {
	return &imageCache{max: max, items: make(map[[32]byte]*sealImage)}
}

// get returns the encoded image for pngData, encoding it on a miss.
func (c *imageCache) get(pngData []byte) (*sealImage, error) {
	key := sha256.Sum256(pngData)
	c.mu.Lock()
	img, ok := c.items[key]
	c.mu.Unlock()
	if ok {
		return img, nil
	}
	img, err := encodeSeal(pngData)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[key]; !ok {
		if c.max > 0 && len(c.order) >= c.max {
			delete(c.items, c.order[0])
			c.order = c.order[1:]
		}
		c.items[key] = img
		c.order = append(c.order, key)
	}
	return img, nil
}

// EncodeAppearance turns a seal's PNG into what a signature's appearance is
// drawn from: its colour and alpha planes, deflated. Decoding and deflating
// a 400×400 seal takes several milliseconds of CPU — more than the rest of
// a signature — so a seal's encoding is made once, stored with the seal,
// and passed as Request.EncodedAppearance; the Signer's own cache (for
// Request.Appearance) holds only a few dozen seals, and a platform's
// signers use thousands.
//
// The encoding is opaque: "SGAP", a version byte, the width, the height and
// the colour plane's length as uvarints, the colour plane, then the alpha
// plane (empty when the image is opaque).
func EncodeAppearance(pngData []byte) ([]byte, error) {
	img, err := encodeSeal(pngData)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, 5+3*binary.MaxVarintLen64+len(img.rgb)+len(img.alpha))
	out = append(out, appearanceMagic...)
	out = binary.AppendUvarint(out, uint64(img.width))
	out = binary.AppendUvarint(out, uint64(img.height))
	out = binary.AppendUvarint(out, uint64(len(img.rgb)))
	out = append(out, img.rgb...)
	return append(out, img.alpha...), nil
}

// appearanceMagic starts EncodeAppearance's output (format version 1).
const appearanceMagic = "SGAP\x01"

// decodeAppearance reads EncodeAppearance's output; the planes point into b.
func decodeAppearance(b []byte) (*sealImage, error) {
	bad := errs.New(errs.Invalid, "印章图片的编码无效，请重新保存印章")
	rest, ok := bytes.CutPrefix(b, []byte(appearanceMagic))
	if !ok {
		return nil, bad
	}
	var vals [3]uint64
	for i := range vals {
		v, n := binary.Uvarint(rest)
		if n <= 0 {
			return nil, bad
		}
		vals[i], rest = v, rest[n:]
	}
	w, h, n := vals[0], vals[1], vals[2]
	if w == 0 || h == 0 || w > 4096 || h > 4096 || n == 0 || n > uint64(len(rest)) {
		return nil, bad
	}
	img := &sealImage{width: int(w), height: int(h), rgb: rest[:n:n]}
	if len(rest) > int(n) {
		img.alpha = rest[n:]
	}
	return img, nil
}

// encodeSeal decodes a PNG and deflates its colour and alpha planes.
func encodeSeal(pngData []byte) (*sealImage, error) {
	src, err := png.Decode(bytes.NewReader(pngData))
	if err != nil {
		return nil, errs.Wrap(err, errs.Invalid, "印章图片不是有效的 PNG 图片")
	}
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	if w == 0 || h == 0 || w > 4096 || h > 4096 {
		return nil, errs.New(errs.Invalid, "印章图片尺寸无效（最大 4096×4096 像素）")
	}
	rgb := make([]byte, 0, w*h*3)
	alpha := make([]byte, 0, w*h)
	opaque := true
	switch m := src.(type) {
	case *image.NRGBA:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			row := m.Pix[m.PixOffset(b.Min.X, y):m.PixOffset(b.Max.X, y)]
			for i := 0; i < len(row); i += 4 {
				rgb = append(rgb, row[i], row[i+1], row[i+2])
				alpha = append(alpha, row[i+3])
				opaque = opaque && row[i+3] == 0xff
			}
		}
	default:
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				c := color.NRGBAModel.Convert(src.At(x, y)).(color.NRGBA)
				rgb = append(rgb, c.R, c.G, c.B)
				alpha = append(alpha, c.A)
				opaque = opaque && c.A == 0xff
			}
		}
	}
	img := &sealImage{width: w, height: h}
	if img.rgb, err = deflate(rgb); err != nil {
		return nil, err
	}
	if !opaque {
		if img.alpha, err = deflate(alpha); err != nil {
			return nil, err
		}
	}
	return img, nil
}

func deflate(b []byte) ([]byte, error) {
	var out bytes.Buffer
	zw, err := zlib.NewWriterLevel(&out, zlib.DefaultCompression)
	if err != nil {
		return nil, fmt.Errorf("deflate: %w", err)
	}
	if _, err := zw.Write(b); err != nil {
		return nil, fmt.Errorf("deflate: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("deflate: %w", err)
	}
	return out.Bytes(), nil
}

// writeAppearance writes the image XObject (with its SMask) and the form
// XObject that draws it, fitted and centred in a w×h box, and returns the
// form's object number.
func (u *update) writeAppearance(img *sealImage, w, h float64) int {
	var smask int
	if img.alpha != nil {
		smask = u.alloc()
		u.writeStream(smask, fmt.Sprintf("/Type/XObject/Subtype/Image/Width %d/Height %d/ColorSpace/DeviceGray/BitsPerComponent 8/Filter/FlateDecode", img.width, img.height), img.alpha)
	}
	im := u.alloc()
	d := fmt.Sprintf("/Type/XObject/Subtype/Image/Width %d/Height %d/ColorSpace/DeviceRGB/BitsPerComponent 8/Filter/FlateDecode", img.width, img.height)
	if smask != 0 {
		d += fmt.Sprintf("/SMask %d 0 R", smask)
	}
	u.writeStream(im, d, img.rgb)

	scale := min(w/float64(img.width), h/float64(img.height))
	dw, dh := float64(img.width)*scale, float64(img.height)*scale
	content := fmt.Sprintf("q %s 0 0 %s %s %s cm /Im0 Do Q", num(dw), num(dh), num((w-dw)/2), num((h-dh)/2))
	form := u.alloc()
	u.writeStream(form, fmt.Sprintf("/Type/XObject/Subtype/Form/BBox[0 0 %s %s]/Resources<</XObject<</Im0 %d 0 R>>>>", num(w), num(h), im), []byte(content))
	return form
}
