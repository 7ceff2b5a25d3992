package enterprises_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"testing"

	entseal "signet/ent/seal"
	"signet/enterprises"
	"signet/internal/dbtest"
	"signet/signingcore/pades"
	"signet/viewer"
)

// TestEncodeSealAppearances: a seal stored before seals carried their
// appearance gets it (the one the Seal hook makes for a new seal); one whose
// image is not a PNG stays without; a second run finds nothing to do.
func TestEncodeSealAppearances(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		s := start(t, b)
		ctx := context.Background()
		sys := viewer.System(ctx)
		db := s.App.DB.Client
		u, err := db.User.Create().SetPhone("13800000077").Save(sys)
		if err != nil {
			t.Fatal(err)
		}
		img := image.NewNRGBA(image.Rect(0, 0, 40, 40))
		for i := range 40 {
			img.SetNRGBA(i, i, color.NRGBA{R: 0xd0, A: 0xff})
		}
		var pngData bytes.Buffer
		if err := png.Encode(&pngData, img); err != nil {
			t.Fatal(err)
		}
		want, err := pades.EncodeAppearance(pngData.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		create := func(name string, image []byte) int {
			sl, err := db.Seal.Create().SetUserID(u.ID).SetKind(entseal.KindPersonal).SetName(name).SetImage(image).
				SetWidth(40).SetHeight(40).SetSource(entseal.SourceGenerated).Save(sys)
			if err != nil {
				t.Fatal(err)
			}
			return sl.ID
		}
		old, broken := create("旧印章", pngData.Bytes()), create("坏图片", []byte("not a png"))
		if sl := db.Seal.GetX(sys, old); !bytes.Equal(sl.Appearance, want) {
			t.Fatalf("a new seal's appearance: %d bytes, want %d", len(sl.Appearance), len(want))
		}
		// As stored before the column existed.
		if _, err := s.App.DB.SQL.ExecContext(ctx, `UPDATE seals SET appearance = NULL`); err != nil {
			t.Fatal(err)
		}
		n, err := enterprises.EncodeSealAppearances(ctx, db)
		if err != nil || n != 1 {
			t.Fatalf("encoded %d (%v), want 1", n, err)
		}
		if sl := db.Seal.GetX(sys, old); !bytes.Equal(sl.Appearance, want) {
			t.Errorf("the old seal's appearance: %d bytes, want %d", len(sl.Appearance), len(want))
		}
		if sl := db.Seal.GetX(sys, broken); sl.Appearance != nil {
			t.Errorf("a seal whose image is not a PNG got an appearance of %d bytes", len(sl.Appearance))
		}
		if n, err := enterprises.EncodeSealAppearances(ctx, db); err != nil || n != 0 {
			t.Errorf("a second run encoded %d (%v)", n, err)
		}
	})
}
