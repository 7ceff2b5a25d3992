package verify

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"testing"
	"time"

	"github.com/digitorus/pdf"
	"github.com/digitorus/pdfsign/sign"
)

// TestPeerSigner verifies a signature written by another implementation,
// digitorus/pdfsign (SubFilter adbe.pkcs7.detached, its own CMS encoder),
// with a platform certificate, then a platform signature after it.
func TestPeerSigner(t *testing.T) {
	p := newPlatform(t)
	key, chain := p.person(t, "王小明", "ec")
	in := makePDF(1, false)
	rdr, err := pdf.NewReader(bytes.NewReader(in), int64(len(in)))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = sign.Sign(bytes.NewReader(in), &out, rdr, int64(len(in)), sign.SignData{
		Signature: sign.SignDataSignature{
			Info:     sign.SignDataSignatureInfo{Name: "Wang", Reason: "agree", Date: p.clock.Now()},
			CertType: sign.ApprovalSignature,
		},
		Signer:            key,
		DigestAlgorithm:   crypto.SHA256,
		Certificate:       chain[0],
		CertificateChains: [][]*x509.Certificate{chain},
	})
	if err != nil {
		t.Fatalf("pdfsign: %v", err)
	}
	peer := out.Bytes()
	rep := mustVerify(t, peer, p.options())
	if rep.Verdict != VerdictValid || len(rep.Signatures) != 1 {
		t.Fatalf("got %s", describe(rep))
	}
	s := rep.Signatures[0]
	if s.SubFilter != "adbe.pkcs7.detached" || !s.Integrity.DigestOK || !s.Integrity.SignatureOK || s.Timestamp != nil || s.SigningTimeTrusted {
		t.Errorf("peer signature: %+v", s)
	}
	p.clock.Advance(time.Minute)
	key2, chain2 := p.person(t, "李四", "ec")
	both := p.sign(t, peer, key2, chain2, "乙方", 1)
	rep = mustVerify(t, both, p.options())
	if rep.Verdict != VerdictValid || len(rep.Signatures) != 2 || rep.Signatures[0].Coverage.ChangesAfter != ModificationSignaturesOnly {
		t.Fatalf("after a platform signature: %s", describe(rep))
	}
	tampered := bytes.Replace(both, []byte("100000 yuan"), []byte("900000 yuan"), 1)
	rep = mustVerify(t, tampered, p.options())
	if rep.Verdict != VerdictInvalid || rep.Signatures[0].Status != StatusInvalid || rep.Signatures[1].Status != StatusInvalid {
		t.Errorf("tampered: %s", describe(rep))
	}
}
