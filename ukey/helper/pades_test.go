package helper_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"signet/signingcore/pades"
	"signet/signingcore/verify"
	"signet/ukey"
	"signet/ukey/ukeytest"
)

// TestHelperSignsAPAdESDigest shows the building blocks of UKey contract
// signing fit: pades.Signer.Prepare gives the digest, the page sends it to
// the helper in a sign_digest request (with the contract's name and
// fingerprint), the helper signs on the token, and pades.Signer.Complete
// embeds the signature; the PDF verifies against the platform root.
func TestHelperSignsAPAdESDigest(t *testing.T) {
	f := start(t, ukeytest.ECP256, true)
	c := f.mustDial()
	f.pair(c)

	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/pdfcpu/pdfcpu").Output()
	if err != nil {
		t.Fatal(err)
	}
	pdf, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "pkg", "testdata", "Acroforms2.pdf"))
	if err != nil {
		t.Fatal(err)
	}
	signer := pades.NewSigner(pades.Config{})
	chain := append([]*x509.Certificate{f.cert.Certificate}, f.cert.Chain...)
	p, err := signer.Prepare(pdf, pades.Request{Page: 1, Chain: chain})
	if err != nil {
		t.Fatal(err)
	}
	r := c.do(ukey.Request{Type: ukey.TypeSignDigest, Certificate: ukey.Fingerprint(f.cert.DER()), Hash: ukey.HashSHA256,
		Digest: base64.StdEncoding.EncodeToString(p.Digest), ContractName: "测试合同", Fingerprint: "ABCD1234"})
	if r.Type != ukey.TypeSignature {
		t.Fatalf("helper: %+v %+v", r, r.Error)
	}
	sig, _ := base64.StdEncoding.DecodeString(r.Signature)
	signed, err := signer.Complete(context.Background(), p, sig, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := verify.Verify(signed, verify.Options{Roots: chain[len(chain)-1:]})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != verify.VerdictValid || len(rep.Signatures) != 1 {
		t.Fatalf("verification: %s %v", rep.Verdict, rep.Reasons)
	}
}
