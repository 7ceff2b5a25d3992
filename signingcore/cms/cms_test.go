package cms_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"signet/signingcore/cms"
	"signet/signingcore/cms/cmstest"
)

// signDetached makes a detached CMS signature over content.
func signDetached(t *testing.T, key crypto.Signer, chain []*x509.Certificate, content []byte) []byte {
	t.Helper()
	md := sha256.Sum256(content)
	attrs, err := cms.SignedAttributes(cms.OIDData, md[:], chain[0])
	if err != nil {
		t.Fatalf("SignedAttributes: %v", err)
	}
	d := sha256.Sum256(attrs)
	sig, err := key.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	der, err := cms.Build(cms.SignedDataParams{SignedAttrs: attrs, Signature: sig, Certificates: chain})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return der
}

func TestBuildParseVerifyAndOpenSSL(t *testing.T) {
	openssl := cmstest.LookPath(t, "openssl", "openssl")
	p := cmstest.New(t)
	content := []byte("%PDF-1.7 signed byte ranges 合同")
	ec := cmstest.MustECKey(t)
	rsaKey := cmstest.MustRSAKey(t, 2048)
	tests := []struct {
		name string
		key  crypto.Signer
	}{
		{"ecdsa p-256", ec},
		{"rsa 2048", rsaKey},
	}
	dir := t.TempDir()
	root := cmstest.WritePEM(t, dir, "root.pem", p.Root)
	contentPath := filepath.Join(dir, "content.bin")
	if err := os.WriteFile(contentPath, content, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cert := p.Signer(t, "张三", tc.key)
			der := signDetached(t, tc.key, []*x509.Certificate{cert, p.Root}, content)
			// Zero padding, as in a PDF placeholder, is ignored.
			sd, err := cms.Parse(append(bytes.Clone(der), make([]byte, 100)...))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(sd.Certificates) != 2 || sd.Content != nil || !sd.ContentType.Equal(cms.OIDData) {
				t.Errorf("parsed: %d certs, content %v, type %v", len(sd.Certificates), sd.Content, sd.ContentType)
			}
			got, err := sd.Verify(content)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !got.Equal(cert) {
				t.Errorf("Verify returned %v, want the signer certificate", got.Subject)
			}
			if _, err := sd.Verify([]byte("other content")); err == nil {
				t.Error("Verify accepted other content")
			}
			// The signing-certificate-v2 attribute names the signer by hash.
			ess, ok := cms.FindAttribute(sd.Signers[0].SignedAttrs, cms.OIDAttrSigningCertificateV2)
			h := sha256.Sum256(cert.Raw)
			if !ok || !bytes.Contains(ess, h[:]) {
				t.Error("signing-certificate-v2 missing or without the certificate hash")
			}
			if _, ok := cms.FindAttribute(sd.Signers[0].SignedAttrs, cms.OIDAttrSigningTime); ok {
				t.Error("signing-time must not be a signed attribute in PAdES baseline")
			}
			sigPath := filepath.Join(dir, "sig.der")
			if err := os.WriteFile(sigPath, der, 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(openssl, "cms", "-verify", "-binary", "-inform", "DER", "-in", sigPath,
				"-content", contentPath, "-CAfile", root, "-purpose", "any", "-out", os.DevNull).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "Verification successful") {
				t.Fatalf("openssl cms -verify: %v\n%s", err, out)
			}
		})
	}
}

func TestNormalizeSignature(t *testing.T) {
	ec := cmstest.MustECKey(t)
	other := cmstest.MustECKey(t)
	rsaKey := cmstest.MustRSAKey(t, 2048)
	digest := sha256.Sum256([]byte("signed attributes"))
	derSig, _ := ecdsa.SignASN1(rand.Reader, ec, digest[:])
	r, s, _ := ecdsa.Sign(rand.Reader, ec, digest[:])
	raw := append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	otherSig, _ := ecdsa.SignASN1(rand.Reader, other, digest[:])
	rsaSig, _ := rsaKey.Sign(rand.Reader, digest[:], crypto.SHA256)
	tests := []struct {
		name    string
		pub     crypto.PublicKey
		sig     []byte
		wantErr bool
	}{
		{"ecdsa der", &ec.PublicKey, derSig, false},
		{"ecdsa raw r||s", &ec.PublicKey, raw, false},
		{"ecdsa other key", &ec.PublicKey, otherSig, true},
		{"ecdsa garbage", &ec.PublicKey, []byte("nonsense"), true},
		{"rsa pkcs1v15", &rsaKey.PublicKey, rsaSig, false},
		{"rsa with ecdsa sig", &rsaKey.PublicKey, derSig, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cms.NormalizeSignature(tc.pub, digest[:], tc.sig)
			if (err != nil) != tc.wantErr {
				t.Fatalf("got err %v, want error %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if k, ok := tc.pub.(*ecdsa.PublicKey); ok && !ecdsa.VerifyASN1(k, digest[:], got) {
				t.Error("normalized ECDSA signature is not valid DER")
			}
		})
	}
}

func TestAttributesAreSortedDER(t *testing.T) {
	a1, _ := cms.NewAttribute(asn1.ObjectIdentifier{1, 2, 3}, []byte{1})
	a2, _ := cms.NewAttribute(asn1.ObjectIdentifier{1, 2}, []byte{2})
	x, err := cms.MarshalAttributes([]cms.Attribute{a1, a2})
	if err != nil {
		t.Fatal(err)
	}
	y, err := cms.MarshalAttributes([]cms.Attribute{a2, a1})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(x, y) {
		t.Error("attribute order changes the DER SET encoding")
	}
	parsed, err := cms.ParseAttributes(x)
	if err != nil || len(parsed) != 2 {
		t.Fatalf("ParseAttributes: %v, %d attributes", err, len(parsed))
	}
}
