package accounts

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"strings"
	"time"

	"golang.org/x/image/draw"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"

	"signet/ent/captcha"
	"signet/errs"
	"signet/viewer"
)

// captchaAlphabet leaves out characters people confuse (0/O, 1/I/L).
const captchaAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

// Captcha is an image challenge: show PNG, send Key and the typed answer.
type Captcha struct {
	Key       string
	PNG       []byte
	ExpiresAt time.Time
}

// DataURL returns the PNG as a data: URL for an <img> tag.
func (c Captcha) DataURL() string {
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(c.PNG)
}

// NewCaptcha draws a 4-character captcha and stores the hash of its answer.
// It lives Policy.CaptchaTTL and can be used once.
func (s *Service) NewCaptcha(ctx context.Context) (Captcha, error) {
	answer, err := s.captchaText()
	if err != nil {
		return Captcha{}, err
	}
	keyRaw := make([]byte, 18)
	if _, err := io.ReadFull(s.rand, keyRaw); err != nil {
		return Captcha{}, fmt.Errorf("captcha key: %w", err)
	}
	key := base64.RawURLEncoding.EncodeToString(keyRaw)
	img, err := drawCaptcha(answer, s.rand)
	if err != nil {
		return Captcha{}, err
	}
	hash, err := s.hashSecret(strings.ToUpper(answer))
	if err != nil {
		return Captcha{}, err
	}
	now := s.now()
	c, err := s.db.Captcha.Create().SetKey(key).SetAnswerHash(hash).
		SetCreatedAt(now).SetExpiresAt(now.Add(s.policy.CaptchaTTL)).Save(viewer.System(ctx))
	if err != nil {
		return Captcha{}, fmt.Errorf("save captcha: %w", err)
	}
	return Captcha{Key: key, PNG: img, ExpiresAt: c.ExpiresAt}, nil
}

// ConsumeCaptcha checks an answer (case-insensitive) and uses the captcha up
// whether or not it matches.
func (s *Service) ConsumeCaptcha(ctx context.Context, key, answer string) error {
	sys := viewer.System(ctx)
	bad := errs.InvalidField("captchaAnswer", "图形验证码错误，请重新输入")
	if key == "" || answer == "" {
		return errs.InvalidField("captchaAnswer", "请输入图形验证码")
	}
	c, err := s.db.Captcha.Query().Where(captcha.Key(key)).Only(sys)
	if err != nil {
		return errs.InvalidField("captchaAnswer", "图形验证码已失效，请刷新后重试")
	}
	now := s.now()
	n, err := s.db.Captcha.Update().Where(captcha.ID(c.ID), captcha.UsedAtIsNil()).SetUsedAt(now).Save(sys)
	if err != nil {
		return fmt.Errorf("use captcha: %w", err)
	}
	if n == 0 || !now.Before(c.ExpiresAt) {
		return errs.InvalidField("captchaAnswer", "图形验证码已失效，请刷新后重试")
	}
	if !checkSecret(c.AnswerHash, strings.ToUpper(strings.TrimSpace(answer))) {
		return bad
	}
	return nil
}

// randomCaptchaText picks four characters uniformly from captchaAlphabet.
func (s *Service) randomCaptchaText() (string, error) {
	const n = len(captchaAlphabet)
	limit := 256 - 256%n // reject bytes past the last full alphabet cycle
	out := make([]byte, 0, 4)
	var b [1]byte
	for len(out) < 4 {
		if _, err := io.ReadFull(s.rand, b[:]); err != nil {
			return "", fmt.Errorf("captcha text: %w", err)
		}
		if int(b[0]) < limit {
			out = append(out, captchaAlphabet[int(b[0])%n])
		}
	}
	return string(out), nil
}

// drawCaptcha renders text at 120x44 with jittered, scaled glyphs, noise
// curves and speckles.
func drawCaptcha(text string, r io.Reader) ([]byte, error) {
	const w, h = 120, 44
	rnd := func(n int) int {
		var b [1]byte
		_, _ = io.ReadFull(r, b[:])
		return int(b[0]) % n
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), &image.Uniform{color.RGBA{0xF4, 0xF6, 0xFA, 0xFF}}, image.Point{}, draw.Src)
	face := basicfont.Face7x13
	for i, ch := range text {
		// Draw the glyph small, then scale it up into its cell with jitter.
		glyph := image.NewRGBA(image.Rect(0, 0, 9, 15))
		col := color.RGBA{uint8(20 + rnd(90)), uint8(40 + rnd(80)), uint8(100 + rnd(120)), 0xFF}
		d := font.Drawer{Dst: glyph, Src: image.NewUniform(col), Face: face, Dot: fixed.P(1, 12)}
		d.DrawString(string(ch))
		cw := 22 + rnd(5)
		ch2 := 30 + rnd(6)
		x0 := 8 + i*27 + rnd(4)
		y0 := 3 + rnd(h-ch2-4)
		dst := image.Rect(x0, y0, x0+cw, y0+ch2)
		draw.CatmullRom.Scale(img, dst, glyph, glyph.Bounds(), draw.Over, nil)
	}
	// Two noise curves across the text.
	for range 2 {
		col := color.RGBA{uint8(rnd(160)), uint8(rnd(160)), uint8(rnd(200)), 0xFF}
		amp := float64(4 + rnd(8))
		phase := float64(rnd(100)) / 16
		y := float64(10 + rnd(h-20))
		for x := 0; x < w; x++ {
			yy := int(y + amp*math.Sin(float64(x)/14+phase))
			for t := 0; t < 2; t++ {
				if yy+t >= 0 && yy+t < h {
					img.Set(x, yy+t, col)
				}
			}
		}
	}
	for range 120 {
		img.Set(rnd(w), rnd(h), color.RGBA{uint8(rnd(255)), uint8(rnd(255)), uint8(rnd(255)), 0xFF})
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("captcha png: %w", err)
	}
	return buf.Bytes(), nil
}
