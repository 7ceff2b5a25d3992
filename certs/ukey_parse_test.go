package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"
)

// TestParseCertificateKeepsDER checks that DER input is parsed as given:
// certificates whose last byte is a whitespace value (0x09–0x0d, 0x20) must
// not be trimmed; PEM may have surrounding whitespace.
func TestParseCertificateKeepsDER(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	found := 0
	for serial := int64(1); serial < 5000 && found < 3; serial++ {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "测试"},
			NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1e9, 0)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
		if err != nil {
			t.Fatal(err)
		}
		if last := der[len(der)-1]; last != ' ' && (last < 0x09 || last > 0x0d) {
			continue
		}
		found++
		if _, err := parseCertificate(der); err != nil {
			t.Fatalf("DER ending in %#x refused: %v", der[len(der)-1], err)
		}
		p := append([]byte("\n  "), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
		if _, err := parseCertificate(append(p, "\n\n"...)); err != nil {
			t.Fatalf("PEM with whitespace refused: %v", err)
		}
	}
	if found == 0 {
		t.Fatal("no certificate ending in a whitespace byte was produced")
	}
}
