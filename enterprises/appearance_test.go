package enterprises_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"testing"

	"signet/ent"
	"signet/ent/certificate"
	entseal "signet/ent/seal"
	"signet/enterprises"
	"signet/enterprises/enterprisestest"
	"signet/errs"
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

// TestSealForSigning: the signing pipeline's one read of a seal gives its
// certificate with it (the columns certs.SignerOf reads, as ent reads
// them, which SignerOf accepts), leaves the PNG out when the seal carries its encoding and
// reads the PNG when it does not; a seal without a certificate has none;
// no seal is NotFound. A revoked certificate read that way is refused.
func TestSealForSigning(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		s := start(t, b)
		ctx := context.Background()
		sys := viewer.System(ctx)
		db := s.App.DB.Client
		u, err := db.User.Create().SetPhone("13800000078").SetName("周七").Save(sys)
		if err != nil {
			t.Fatal(err)
		}
		c, err := s.App.Certs.IssuePerson(sys, u.ID, "周七", enterprisestest.IDNumber("19800101", 78))
		if err != nil {
			t.Fatal(err)
		}
		img := image.NewNRGBA(image.Rect(0, 0, 40, 40))
		img.SetNRGBA(3, 3, color.NRGBA{R: 0xd0, A: 0xff})
		var pngData bytes.Buffer
		if err := png.Encode(&pngData, img); err != nil {
			t.Fatal(err)
		}
		create := func(name string, cert bool) *ent.Seal {
			q := db.Seal.Create().SetUserID(u.ID).SetKind(entseal.KindPersonal).SetName(name).SetImage(pngData.Bytes()).
				SetWidth(40).SetHeight(40).SetSource(entseal.SourceGenerated)
			if cert {
				q.SetCertificateID(c.ID)
			}
			return q.SaveX(sys)
		}
		bound, bare := create("签名", true), create("无证书", false)

		sl, err := enterprises.SealForSigning(ctx, s.App.DB, bound.ID)
		if err != nil {
			t.Fatal(err)
		}
		if sl.Image != nil || !bytes.Equal(sl.Appearance, bound.Appearance) || len(sl.Appearance) == 0 {
			t.Errorf("encoded seal: PNG %d bytes, appearance %d bytes (want none and %d)", len(sl.Image), len(sl.Appearance), len(bound.Appearance))
		}
		if sl.Name != bound.Name || sl.CertificateID == nil || *sl.CertificateID != c.ID {
			t.Errorf("seal read as %+v", sl)
		}
		got, want := sl.Edges.Certificate, db.Certificate.GetX(sys, c.ID)
		if got == nil || got.ID != want.ID || !bytes.Equal(got.Der, want.Der) || got.KeyURI != want.KeyURI ||
			got.Status != want.Status || got.Custody != want.Custody || got.NotAfter == nil || !got.NotAfter.Equal(*want.NotAfter) {
			t.Fatalf("its certificate read as %+v, want %+v", got, want)
		}
		sg, err := s.App.Certs.SignerWith(ctx, c.ID, got)
		if err != nil || sg.CertificateID != c.ID {
			t.Fatalf("signer of the certificate read with the seal: %v", err)
		}

		if _, err := s.App.DB.SQL.ExecContext(ctx, `UPDATE seals SET appearance = NULL`); err != nil {
			t.Fatal(err)
		}
		if sl, err := enterprises.SealForSigning(ctx, s.App.DB, bound.ID); err != nil || !bytes.Equal(sl.Image, pngData.Bytes()) || sl.Appearance != nil {
			t.Errorf("seal without its encoding: PNG %d bytes, appearance %d bytes, %v", len(sl.Image), len(sl.Appearance), err)
		}
		if sl, err := enterprises.SealForSigning(ctx, s.App.DB, bare.ID); err != nil || sl.Edges.Certificate != nil || sl.CertificateID != nil {
			t.Errorf("seal without a certificate: %v", err)
		}
		if _, err := enterprises.SealForSigning(ctx, s.App.DB, bare.ID+1000); !ent.IsNotFound(err) {
			t.Errorf("no seal: %v", err)
		}

		db.Certificate.UpdateOneID(c.ID).SetStatus(certificate.StatusRevoked).ExecX(sys)
		sl, err = enterprises.SealForSigning(ctx, s.App.DB, bound.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.App.Certs.SignerWith(ctx, c.ID, sl.Edges.Certificate); errs.CodeOf(err) != errs.Conflict {
			t.Errorf("revoked certificate read with the seal: %v, want Conflict", err)
		}
	})
}
