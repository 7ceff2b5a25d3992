package app_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strings"
	"testing"
	"time"

	"signet/internal/apitest"
	"signet/internal/dbtest"
	"signet/pairing"
)

// testSignature is a 400×200 transparent PNG with a black stroke and its
// stroke JSON.
func testSignature(t *testing.T) (string, string) {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, 400, 200))
	var pts []pairing.Point
	for x := 20; x < 380; x++ {
		y := 100 + (x%40 - 20)
		for d := -2; d <= 2; d++ {
			img.Set(x, y+d, color.Black)
		}
		if x%20 == 0 {
			pts = append(pts, pairing.Point{X: float64(x), Y: float64(y), T: float64(x)})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	st, _ := json.Marshal(pairing.Strokes{Width: 400, Height: 200, Strokes: [][]pairing.Point{pts}})
	return "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()), string(st)
}

const (
	createPairing = `mutation { createHandwritingPairing { pairing { id status expiresAt } token url qrImageURL } }`
	submitHW      = `mutation($in: SubmitHandwritingInput!) { submitHandwriting(input: $in) { status message } }`
	pairingInfoQ  = `query($t: String!) { pairingInfo(token: $t) { status message ownerName } }`
)

// TestPairingAPI goes through QR handwriting as the pages do: the PC creates
// a pairing and fetches the QR image, subscribes pairingUpdated; the phone,
// anonymous, reads pairingInfo and submits; the PC's subscription delivers
// the signature; reuse, another user's seals and expiry are refused.
func TestPairingAPI(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		s := apitest.Start(t, b, apitest.Options{})
		alice := s.Register("13800000001", passA)
		bob := s.Register("13800000002", passA)
		verifyRealName(t, s, alice, "王小明", "11010519491231002X", "13800000001")

		if r := s.Do("", createPairing, nil); r.Code() != "UNAUTHENTICATED" {
			t.Fatalf("anonymous create: %+v", r)
		}
		var c struct {
			CreateHandwritingPairing struct {
				Pairing                struct{ ID, Status string }
				Token, URL, QRImageURL string
			}
		}
		s.MustDo(alice, createPairing, nil, &c)
		tk := c.CreateHandwritingPairing
		if tk.Pairing.Status != "WAITING" || !strings.HasSuffix(tk.URL, "/p/"+tk.Token) || tk.QRImageURL != "/files/pairing/"+tk.Token+"/qr.png" {
			t.Fatalf("ticket %+v", tk)
		}
		code, body := s.Get(tk.QRImageURL)
		if code != http.StatusOK || !bytes.HasPrefix(body, []byte("\x89PNG")) {
			t.Fatalf("QR image: %d %.40q", code, body)
		}
		if code, _ := s.Get("/files/pairing/nope/qr.png"); code != http.StatusNotFound {
			t.Fatalf("unknown token's QR: %d", code)
		}

		sub := subscribe(t, s, alice, `subscription($id: ID!) { pairingUpdated(id: $id) { id status seal { id kind imageDataURL } } }`,
			map[string]any{"id": tk.Pairing.ID})
		if d := sub.next(); d["pairingUpdated"].(map[string]any)["status"] != "WAITING" {
			t.Fatalf("first update %v", d)
		}
		bsub := subscribe(t, s, bob, `subscription($id: ID!) { pairingUpdated(id: $id) { id status } }`, map[string]any{"id": tk.Pairing.ID})
		if msg := bsub.refused(); !strings.Contains(msg, "不存在") {
			t.Fatalf("bob's subscription: %s", msg)
		}

		var info struct {
			PairingInfo struct{ Status, OwnerName string }
		}
		s.MustDo("", pairingInfoQ, map[string]any{"t": tk.Token}, &info)
		if info.PairingInfo.Status != "WAITING" || info.PairingInfo.OwnerName != "*小明" {
			t.Fatalf("info %+v", info)
		}
		pngData, strokes := testSignature(t)
		in := map[string]any{"token": tk.Token, "png": pngData, "strokes": strokes}
		if r := s.Do("", submitHW, map[string]any{"in": map[string]any{"token": tk.Token, "png": "bm90IGEgcG5n", "strokes": strokes}}); r.Code() != "INVALID_ARGUMENT" {
			t.Fatalf("bad PNG: %+v", r)
		}
		start := time.Now()
		var sr struct{ SubmitHandwriting struct{ Status string } }
		s.MustDo("", submitHW, map[string]any{"in": in}, &sr)
		d := sub.until("COMPLETED", func(d map[string]any) bool { return d["pairingUpdated"].(map[string]any)["status"] == "COMPLETED" })
		if el := time.Since(start); el > time.Second {
			t.Errorf("the PC heard of the capture after %v", el)
		}
		seal := d["pairingUpdated"].(map[string]any)["seal"].(map[string]any)
		if seal["kind"] != "handwritten" || !strings.HasPrefix(seal["imageDataURL"].(string), "data:image/png;base64,") {
			t.Fatalf("seal %v", seal)
		}
		if r := s.Do("", submitHW, map[string]any{"in": in}); r.Code() != "CONFLICT" || !strings.Contains(r.Message(), "已使用") {
			t.Fatalf("reuse: %+v", r)
		}
		if code, _ := s.Get(tk.QRImageURL); code == http.StatusOK {
			t.Fatal("a used token still has a QR image")
		}

		// Personal seals: alice's name seal and her signature; bob cannot touch them.
		var mine struct {
			MyPersonalSeals []struct {
				ID, Kind  string
				IsDefault bool
			}
		}
		s.MustDo(alice, `{ myPersonalSeals { id kind isDefault } }`, nil, &mine)
		if len(mine.MyPersonalSeals) != 2 || mine.MyPersonalSeals[1].ID != seal["id"] {
			t.Fatalf("alice's seals %+v", mine)
		}
		for _, q := range []string{`mutation($id: ID!) { setDefaultPersonalSeal(id: $id) { id } }`, `mutation($id: ID!) { deletePersonalSeal(id: $id) }`} {
			if r := s.Do(bob, q, map[string]any{"id": seal["id"]}); r.Code() != "NOT_FOUND" {
				t.Fatalf("bob %s: %+v", q, r)
			}
		}
		s.MustDo(alice, `mutation($id: ID!) { setDefaultPersonalSeal(id: $id) { id isDefault } }`, map[string]any{"id": seal["id"]}, nil)
		s.MustDo(alice, `mutation($id: ID!) { deletePersonalSeal(id: $id) }`, map[string]any{"id": seal["id"]}, nil)
		s.MustDo(alice, `{ myPersonalSeals { id kind isDefault } }`, nil, &mine)
		if len(mine.MyPersonalSeals) != 1 || !mine.MyPersonalSeals[0].IsDefault {
			t.Fatalf("after delete %+v", mine)
		}

		// Expiry follows the server's clock.
		s.MustDo(alice, createPairing, nil, &c)
		s.Clock.Advance(pairing.DefaultTTL + time.Second)
		s.MustDo("", pairingInfoQ, map[string]any{"t": c.CreateHandwritingPairing.Token}, &info)
		if info.PairingInfo.Status != "EXPIRED" {
			t.Fatalf("expired info %+v", info)
		}
		if r := s.Do("", submitHW, map[string]any{"in": map[string]any{"token": c.CreateHandwritingPairing.Token, "png": pngData, "strokes": strokes}}); r.Code() != "FORBIDDEN" || !strings.Contains(r.Message(), "已过期") {
			t.Fatalf("expired submit: %+v", r)
		}
	})
}
