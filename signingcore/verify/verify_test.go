package verify

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"

	"signet/errs"
	"signet/signingcore/cms"
	"signet/signingcore/cms/cmstest"
	"signet/signingcore/pades"
	"signet/signingcore/pki"
)

func TestValidSingleSignature(t *testing.T) {
	p := newPlatform(t)
	key, chain := p.person(t, "王小明", "ec")
	pdf := p.sign(t, makePDF(2, false), key, chain, "甲方签名", 2)
	rep := mustVerify(t, pdf, p.options())
	if rep.Verdict != VerdictValid || rep.Summary != "文件完整，所有签名有效" || len(rep.Signatures) != 1 {
		t.Fatalf("got %s", describe(rep))
	}
	s := rep.Signatures[0]
	checks := []struct {
		what string
		ok   bool
	}{
		{"status valid", s.Status == StatusValid},
		{"kind", s.Kind == KindSignature},
		{"field name", s.FieldName == "甲方签名"},
		{"subfilter", s.SubFilter == "ETSI.CAdES.detached"},
		{"byte range", s.Integrity.ByteRangeOK},
		{"digest", s.Integrity.DigestOK},
		{"signature", s.Integrity.SignatureOK},
		{"signing certificate attribute", s.Integrity.SigningCertificateOK},
		{"algorithms", s.Integrity.DigestAlgorithm == "SHA-256" && s.Integrity.SignatureAlgorithm == "ECDSA"},
		{"whole file", s.Coverage.WholeFile && s.Coverage.ChangesAfter == ModificationNone && s.Coverage.LaterRevisions == 0},
		{"revision 2", s.Coverage.Revision == 2 && rep.Revisions == 2},
		{"seal on page 2", s.Seal.Page == 2 && s.Seal.Visible && s.Seal.HasAppearance && len(s.Seal.Rect) == 4},
		{"signer", s.Signer != nil && s.Signer.CommonName == "王小明" && strings.HasPrefix(s.Signer.SubjectSerialNumber, "U-") && s.Signer.Serial == chain[0].SerialNumber.Text(16)},
		{"chain", len(s.Chain) == 2 && s.Chain[1].SHA256 == fingerprint(p.root.Raw)},
		{"trusted", s.Trusted},
		{"revocation good", s.Revocation.Status == RevocationGood},
		{"timestamp", s.Timestamp != nil && s.Timestamp.Valid && s.Timestamp.Trusted && s.Timestamp.ImprintOK},
		{"signing time from timestamp", s.SigningTimeTrusted && s.SigningTime.Equal(p.clock.Now())},
		{"claimed time", s.ClaimedTime != nil},
		{"name and reason", s.Name == "王小明" && s.Reason == "同意签署" && s.Location == "北京"},
		{"pages", rep.Pages == 2},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: failed\n%s\n%+v", c.what, describe(rep), s)
		}
	}
}

func TestThreeSignaturesSignaturesOnly(t *testing.T) {
	p := newPlatform(t)
	pdf := makePDF(1, false)
	for i, name := range []string{"王小明", "李四", "张三"} {
		key, chain := p.person(t, name, "ec")
		p.clock.Advance(time.Minute)
		pdf = p.sign(t, pdf, key, chain, fmt.Sprintf("签名%d", i+1), 1)
	}
	rep := mustVerify(t, pdf, p.options())
	if rep.Verdict != VerdictValid || len(rep.Signatures) != 3 {
		t.Fatalf("got %s", describe(rep))
	}
	wantChanges := []Modification{ModificationSignaturesOnly, ModificationSignaturesOnly, ModificationNone}
	for i, s := range rep.Signatures {
		if s.Status != StatusValid || s.Coverage.ChangesAfter != wantChanges[i] || s.Coverage.LaterRevisions != 2-i {
			t.Errorf("signature %d: status %s, changes %s, later revisions %d; want valid, %s, %d\n%s",
				i+1, s.Status, s.Coverage.ChangesAfter, s.Coverage.LaterRevisions, wantChanges[i], 2-i, describe(rep))
		}
		// Every later signature is listed as an allowed change, nothing else.
		var added []string
		for _, c := range s.Coverage.Changes {
			if !c.Allowed || c.Kind != ChangeSignature {
				t.Errorf("signature %d: unexpected change %+v", i+1, c)
			}
			added = append(added, c.Description)
		}
		if len(added) != 2-i {
			t.Errorf("signature %d: changes %v, want %d later signatures", i+1, added, 2-i)
		}
	}
	if !strings.Contains(rep.Signatures[0].Summary, "仅追加了签名") {
		t.Errorf("first signature summary %q", rep.Signatures[0].Summary)
	}
}

func TestTamperOneByte(t *testing.T) {
	p := newPlatform(t)
	key, chain := p.person(t, "王小明", "ec")
	pdf := p.sign(t, makePDF(1, false), key, chain, "", 1)
	i := bytes.Index(pdf, []byte("100000 yuan"))
	tampered := bytes.Clone(pdf)
	tampered[i] = '9' // 900000 yuan
	rep := mustVerify(t, tampered, p.options())
	s := rep.Signatures[0]
	if rep.Verdict != VerdictInvalid || s.Status != StatusInvalid || s.Integrity.DigestOK || !s.Integrity.ByteRangeOK {
		t.Fatalf("got %s", describe(rep))
	}
	if rep.Summary != "文件已被篡改，签名无效" || !strings.Contains(s.Problems[0], "摘要不匹配") {
		t.Errorf("summary %q, problems %v", rep.Summary, s.Problems)
	}
	// The untouched file still verifies: the flip is what broke it.
	if rep := mustVerify(t, pdf, p.options()); rep.Verdict != VerdictValid {
		t.Errorf("original: %s", describe(rep))
	}
}

func TestTamperSignatureValue(t *testing.T) {
	p := newPlatform(t)
	key, chain := p.person(t, "王小明", "ec")
	pdf := p.sign(t, makePDF(1, false), key, chain, "", 1)
	infos, err := pades.ExtractSignatures(pdf)
	if err != nil || len(infos) != 1 {
		t.Fatalf("ExtractSignatures: %v, %d", err, len(infos))
	}
	// Flip one bit of the ECDSA signature value inside /Contents.
	der := bytes.Clone(infos[0].Contents)
	sd, err := cms.Parse(der)
	if err != nil {
		t.Fatalf("cms.Parse: %v", err)
	}
	sig := sd.Signers[0].Signature
	j := bytes.Index(der, sig)
	der[j+len(sig)-1] ^= 1
	tampered := bytes.Replace(pdf, []byte(strings.ToUpper(hex.EncodeToString(infos[0].Contents))), []byte(strings.ToUpper(hex.EncodeToString(der))), 1)
	if bytes.Equal(tampered, pdf) {
		tampered = bytes.Replace(pdf, []byte(hex.EncodeToString(infos[0].Contents)), []byte(hex.EncodeToString(der)), 1)
	}
	if bytes.Equal(tampered, pdf) {
		t.Fatal("could not find the signature value in the file")
	}
	rep := mustVerify(t, tampered, p.options())
	s := rep.Signatures[0]
	if rep.Verdict != VerdictInvalid || s.Integrity.SignatureOK || !s.Integrity.DigestOK {
		t.Fatalf("got %s", describe(rep))
	}
}

func TestContentChangedAfterSigning(t *testing.T) {
	p := newPlatform(t)
	key, chain := p.person(t, "王小明", "ec")
	signed := p.sign(t, makePDF(2, false), key, chain, "", 1)
	next := nextObject(t, signed)
	page1 := objectText(t, signed, 5) // 4 content, 5 page 1
	extra := "BT /F1 18 Tf 72 700 Td (Amount changed to 900000 yuan) Tj ET"
	cases := []struct {
		name string
		objs map[int]string
		want string
	}{
		{"new page content", map[int]string{
			next: fmt.Sprintf("<</Length %d>>\nstream\n%s\nendstream", len(extra), extra),
			5:    strings.Replace(page1, "/Contents 4 0 R", fmt.Sprintf("/Contents[4 0 R %d 0 R]", next), 1),
		}, "第 1 页被修改（/Contents）"},
		{"content stream rewritten", map[int]string{
			4: fmt.Sprintf("<</Length %d>>\nstream\n%s\nendstream", len(extra), extra),
		}, "第 1 页的内容被修改"},
		{"new page", map[int]string{
			next: fmt.Sprintf("<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Contents 4 0 R>>"),
			2:    fmt.Sprintf("<</Type/Pages/Kids[5 0 R 7 0 R %d 0 R]/Count 3>>", next),
		}, "页数由 2 页变为 3 页"},
		{"font replaced", map[int]string{
			3: "<</Type/Font/Subtype/Type1/BaseFont/Courier>>",
		}, "对象 3（字体）被修改"},
		{"object deleted", map[int]string{
			3: "",
		}, "对象 3（字体）被删除"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pdf := appendUpdate(t, signed, c.objs)
			rep := mustVerify(t, pdf, p.options())
			s := rep.Signatures[0]
			if rep.Verdict != VerdictInvalid || s.Coverage.ChangesAfter != ModificationChanged || s.Coverage.WholeFile || s.Coverage.LaterRevisions != 1 {
				t.Fatalf("got %s", describe(rep))
			}
			// The signed revision itself is intact.
			if !s.Integrity.DigestOK || !s.Integrity.SignatureOK || !s.Integrity.ByteRangeOK {
				t.Errorf("integrity %+v", s.Integrity)
			}
			if rep.Summary != "签名后文件被修改，签名失效" {
				t.Errorf("summary %q", rep.Summary)
			}
			found := false
			for _, ch := range s.Coverage.Changes {
				found = found || (ch.Description == c.want && !ch.Allowed)
			}
			if !found {
				t.Errorf("want change %q, got %+v", c.want, s.Coverage.Changes)
			}
		})
	}
}

func TestEarlierSignatureRewritten(t *testing.T) {
	p := newPlatform(t)
	key, chain := p.person(t, "王小明", "ec")
	signed := p.sign(t, makePDF(1, false), key, chain, "甲方", 1)
	v, err := readView(signed)
	if err != nil {
		t.Fatal(err)
	}
	f := v.signatureFields()[0]
	// A later revision swaps the signer's name in the signature dictionary.
	d := f.value.Clone().(types.Dict)
	d["Name"] = types.StringLiteral("Mallory")
	pdf := appendUpdate(t, signed, map[int]string{f.valueNum: d.PDFString()})
	rep := mustVerify(t, pdf, p.options())
	s := rep.Signatures[0]
	if rep.Verdict != VerdictInvalid || s.Coverage.ChangesAfter != ModificationChanged {
		t.Fatalf("got %s", describe(rep))
	}
}

func TestFormFillAllowed(t *testing.T) {
	p := newPlatform(t)
	key, chain := p.person(t, "王小明", "ec")
	signed := p.sign(t, makePDF(1, true), key, chain, "", 1)
	field := 6 // 3 font, 4 content, 5 page, 6 text field
	text := objectText(t, signed, field)
	pdf := appendUpdate(t, signed, map[int]string{field: strings.Replace(text, "(ACME Ltd)", "(Example Co)", 1)})
	rep := mustVerify(t, pdf, p.options())
	s := rep.Signatures[0]
	if rep.Verdict != VerdictValid || s.Coverage.ChangesAfter != ModificationSignaturesOnly {
		t.Fatalf("got %s", describe(rep))
	}
	if len(s.Coverage.Changes) != 1 || s.Coverage.Changes[0].Kind != ChangeFormFill || !strings.Contains(s.Summary, "表单填写") {
		t.Errorf("changes %+v, summary %q", s.Coverage.Changes, s.Summary)
	}
	// Changing the field's rectangle is not filling it in.
	moved := appendUpdate(t, signed, map[int]string{field: strings.Replace(text, "/Rect[72 600 300 620]", "/Rect[72 100 300 120]", 1)})
	if rep := mustVerify(t, moved, p.options()); rep.Verdict != VerdictInvalid {
		t.Errorf("moved field: %s", describe(rep))
	}
}

func TestForeignCA(t *testing.T) {
	p := newPlatform(t)
	f := newForeign(t)
	key := cmstest.MustECKey(t)
	cert := f.pki.Signer(t, "Foreign Signer", key)
	pdf := signWith(t, pades.NewSigner(pades.Config{}), f.tsa, makePDF(1, false), key, []*x509.Certificate{cert, f.pki.Root}, "", 1)
	rep := mustVerify(t, pdf, p.options())
	s := rep.Signatures[0]
	if rep.Verdict != VerdictNotPlatform || rep.Summary != "非本平台签署的文件" || s.Status != StatusUntrusted || s.Trusted {
		t.Fatalf("got %s", describe(rep))
	}
	// Cryptographically the signature is fine, and the timestamp too.
	if !s.Integrity.DigestOK || !s.Integrity.SignatureOK || s.Timestamp == nil || !s.Timestamp.Valid || s.Timestamp.Trusted {
		t.Errorf("integrity %+v timestamp %+v", s.Integrity, s.Timestamp)
	}
	if s.Signer == nil || s.Signer.CommonName != "Foreign Signer" {
		t.Errorf("signer %+v", s.Signer)
	}
	// Trusting the foreign root makes it valid: the verdict follows the roots.
	rep = mustVerify(t, pdf, Options{Roots: []*x509.Certificate{f.pki.Root}})
	if rep.Verdict != VerdictValid {
		t.Errorf("with the foreign root trusted: %s", describe(rep))
	}
	// A platform signature after the foreign one: valid, with a note.
	pkey, pchain := p.person(t, "王小明", "ec")
	both := p.sign(t, pdf, pkey, pchain, "", 1)
	rep = mustVerify(t, both, p.options())
	if rep.Verdict != VerdictValid || !strings.Contains(rep.Summary, "另有 1 个非本平台签名") {
		t.Errorf("mixed: %s", describe(rep))
	}
}

func TestUnsigned(t *testing.T) {
	p := newPlatform(t)
	rep := mustVerify(t, makePDF(3, true), p.options())
	if rep.Verdict != VerdictNotPlatform || len(rep.Signatures) != 0 || rep.Summary != "文件未签名，非本平台签署的文件" || rep.Pages != 3 {
		t.Fatalf("got %s", describe(rep))
	}
}

func TestRevokedSigner(t *testing.T) {
	ctx := context.Background()
	t.Run("revoked before signing", func(t *testing.T) {
		p := newPlatform(t)
		key, chain := p.person(t, "王小明", "ec")
		p.clock.Advance(time.Minute)
		if err := p.ca.Revoke(ctx, pki.SerialHex(chain[0].SerialNumber), pki.ReasonKeyCompromise); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		p.clock.Advance(time.Minute)
		pdf := p.sign(t, makePDF(1, false), key, chain, "", 1)
		rep := mustVerify(t, pdf, p.options())
		s := rep.Signatures[0]
		if rep.Verdict != VerdictInvalid || s.Revocation.Status != RevocationRevoked || !strings.Contains(s.Problems[0], "早于签署时间") {
			t.Fatalf("got %s", describe(rep))
		}
	})
	t.Run("revoked after signing", func(t *testing.T) {
		p := newPlatform(t)
		key, chain := p.person(t, "王小明", "ec")
		pdf := p.sign(t, makePDF(1, false), key, chain, "", 1)
		p.clock.Advance(time.Hour)
		if err := p.ca.Revoke(ctx, pki.SerialHex(chain[0].SerialNumber), pki.ReasonKeyCompromise); err != nil {
			t.Fatalf("Revoke: %v", err)
		}
		rep := mustVerify(t, pdf, p.options())
		s := rep.Signatures[0]
		if rep.Verdict != VerdictValid || s.Revocation.Status != RevocationRevoked || s.Revocation.RevokedAt == nil {
			t.Fatalf("got %s", describe(rep))
		}
		if len(s.Notes) == 0 || !strings.Contains(strings.Join(s.Notes, ";"), "晚于签署时间") {
			t.Errorf("notes %v", s.Notes)
		}
		// Without a time-stamp the signing time is not proven: the same
		// revocation then makes the signature invalid.
		bare := signWith(t, p.signer, nil, makePDF(1, false), key, chain, "", 1)
		rep = mustVerify(t, bare, p.options())
		if rep.Verdict != VerdictInvalid || rep.Signatures[0].SigningTimeTrusted {
			t.Errorf("without time-stamp: %s", describe(rep))
		}
	})
}

func TestDocumentTimestampAndDSS(t *testing.T) {
	p := newPlatform(t)
	key, chain := p.enterprise(t, "深圳示例科技有限公司", "91440300708461136T")
	pdf := p.sign(t, makePDF(1, false), key, chain, "公章", 1)
	ocspDER, err := p.ca.OCSPForCertificate(context.Background(), chain[0])
	if err != nil {
		t.Fatalf("OCSPForCertificate: %v", err)
	}
	crl, err := p.ca.CRL(context.Background())
	if err != nil {
		t.Fatalf("CRL: %v", err)
	}
	pdf, err = p.signer.AddValidationData(pdf, [][]byte{chain[0].Raw, chain[1].Raw, chain[2].Raw}, [][]byte{crl}, [][]byte{ocspDER})
	if err != nil {
		t.Fatalf("AddValidationData: %v", err)
	}
	p.clock.Advance(time.Minute)
	pdf, err = p.signer.AddDocumentTimestamp(context.Background(), pdf, p.tsa)
	if err != nil {
		t.Fatalf("AddDocumentTimestamp: %v", err)
	}
	rep := mustVerify(t, pdf, p.options())
	if rep.Verdict != VerdictValid || len(rep.Signatures) != 2 {
		t.Fatalf("got %s", describe(rep))
	}
	sig, ts := rep.Signatures[0], rep.Signatures[1]
	if sig.Signer.OrganizationIdentifier != "NTRCN-91440300708461136T" || sig.Signer.Organization != "深圳示例科技有限公司" {
		t.Errorf("enterprise signer %+v", sig.Signer)
	}
	kinds := map[string]bool{}
	for _, c := range sig.Coverage.Changes {
		kinds[c.Kind] = c.Allowed
	}
	if sig.Coverage.ChangesAfter != ModificationSignaturesOnly || !kinds[ChangeDSS] || !kinds[ChangeSignature] || sig.Coverage.LaterRevisions != 2 {
		t.Errorf("signature changes: %+v", sig.Coverage)
	}
	if ts.Kind != KindDocTimestamp || ts.Status != StatusValid || ts.Timestamp == nil || !ts.Timestamp.Valid || !ts.Timestamp.Trusted ||
		!ts.Timestamp.Time.Equal(p.clock.Now()) || ts.Signer == nil || ts.Coverage.ChangesAfter != ModificationNone || ts.Summary != "文档时间戳有效" {
		t.Errorf("document time-stamp: %s\n%+v", describe(rep), ts)
	}
	// A byte flipped in the signed area breaks the document time-stamp too.
	i := bytes.Index(pdf, []byte("100000 yuan"))
	tampered := bytes.Clone(pdf)
	tampered[i] = '9'
	rep = mustVerify(t, tampered, p.options())
	if rep.Verdict != VerdictInvalid || rep.Signatures[1].Status != StatusInvalid || rep.Signatures[1].Integrity.DigestOK {
		t.Errorf("tampered: %s", describe(rep))
	}
}

func TestRSASigner(t *testing.T) {
	p := newPlatform(t)
	key, chain := p.person(t, "王小明", "rsa")
	pdf := p.sign(t, makePDF(1, false), key, chain, "", 1)
	rep := mustVerify(t, pdf, p.options())
	if rep.Verdict != VerdictValid || rep.Signatures[0].Integrity.SignatureAlgorithm != "RSA" || rep.Signatures[0].Signer.KeyAlgorithm != "RSA 2048" {
		t.Fatalf("got %s", describe(rep))
	}
}

func TestRejectsBadInput(t *testing.T) {
	p := newPlatform(t)
	pdf := makePDF(1, false)
	cases := map[string][]byte{
		"empty":     nil,
		"not a pdf": []byte("PK\x03\x04 this is a zip file, not a PDF document at all"),
		"truncated": pdf[:len(pdf)/3],
		"garbage":   append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte("\x00\xff garbage "), 100)...),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			rep, err := Verify(in, p.options())
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("got %v, %v; want an errs.Invalid error", rep, err)
			}
		})
	}
}

func TestExpiredCertificateWithTimestamp(t *testing.T) {
	p := newPlatform(t)
	key, chain := p.person(t, "王小明", "ec")
	stamped := p.sign(t, makePDF(1, false), key, chain, "", 1)
	bare := signWith(t, p.signer, nil, makePDF(1, false), key, chain, "", 1)
	// Two years later the one-year certificate has expired.
	p.clock.Advance(2 * 365 * 24 * time.Hour)
	rep := mustVerify(t, stamped, p.options())
	if rep.Verdict != VerdictValid || !rep.Signatures[0].SigningTimeTrusted {
		t.Errorf("time-stamped: %s", describe(rep))
	}
	rep = mustVerify(t, bare, p.options())
	s := rep.Signatures[0]
	if rep.Verdict != VerdictInvalid || !s.Trusted || !strings.Contains(strings.Join(s.Problems, ";"), "不在有效期内") {
		t.Errorf("without time-stamp: %s", describe(rep))
	}
}

func TestTrailingBytesWithoutChanges(t *testing.T) {
	p := newPlatform(t)
	key, chain := p.person(t, "王小明", "ec")
	pdf := append(p.sign(t, makePDF(1, false), key, chain, "", 1), "\n% trailing comment\n"...)
	rep := mustVerify(t, pdf, p.options())
	s := rep.Signatures[0]
	if rep.Verdict != VerdictValid || s.Coverage.WholeFile || s.Coverage.ChangesAfter != ModificationNone || len(s.Notes) == 0 {
		t.Fatalf("got %s", describe(rep))
	}
}
