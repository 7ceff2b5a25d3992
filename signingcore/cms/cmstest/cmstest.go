// Package cmstest builds a small certificate hierarchy for tests of the
// signing packages: a root CA, a time-stamping authority certificate (with the
// critical timeStamping EKU OpenSSL insists on) and signer certificates with
// P-256 or RSA keys. It also writes the PEM files and the NSS database that
// openssl and poppler's pdfsig need to trust the root.
//
// It exists so cms, tsa and pades can be tested without the platform CA.
package cmstest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// PKI is a test hierarchy: Root signs TSA and every signer certificate.
type PKI struct {
	Root    *x509.Certificate
	RootKey crypto.Signer
	TSA     *x509.Certificate
	TSAKey  crypto.Signer
	serial  int64
}

// New creates a root CA and a TSA certificate with fresh P-256 keys.
func New(t testing.TB) *PKI {
	t.Helper()
	p := &PKI{serial: 1}
	rootKey := MustECKey(t)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(p.serial),
		Subject:               pkix.Name{CommonName: "Signet 测试根 CA", Organization: []string{"Signet Test"}, Country: []string{"CN"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, rootKey.Public(), rootKey)
	if err != nil {
		t.Fatalf("create root: %v", err)
	}
	p.Root, err = x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse root: %v", err)
	}
	p.RootKey = rootKey

	p.TSAKey = MustECKey(t)
	ekuDER, err := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	if err != nil {
		t.Fatalf("marshal eku: %v", err)
	}
	p.TSA = p.issue(t, &x509.Certificate{
		Subject:  pkix.Name{CommonName: "Signet 测试时间戳服务", Organization: []string{"Signet Test"}, Country: []string{"CN"}},
		KeyUsage: x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{
			Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: ekuDER,
		}},
	}, p.TSAKey.Public())
	return p
}

// MustECKey returns a new P-256 key.
func MustECKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	return k
}

// MustRSAKey returns a new RSA key of the given size.
func MustRSAKey(t testing.TB, bits int) *rsa.PrivateKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatalf("generate rsa key: %v", err)
	}
	return k
}

func (p *PKI) issue(t testing.TB, tmpl *x509.Certificate, pub crypto.PublicKey) *x509.Certificate {
	t.Helper()
	p.serial++
	now := time.Now()
	tmpl.SerialNumber = big.NewInt(p.serial)
	tmpl.NotBefore = now.Add(-time.Hour)
	tmpl.NotAfter = now.Add(2 * 365 * 24 * time.Hour)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.Root, pub, p.RootKey)
	if err != nil {
		t.Fatalf("create certificate %q: %v", tmpl.Subject.CommonName, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}
	return c
}

// Signer issues a document-signing certificate for commonName and key.
func (p *PKI) Signer(t testing.TB, commonName string, key crypto.Signer) *x509.Certificate {
	t.Helper()
	return p.issue(t, &x509.Certificate{
		Subject:  pkix.Name{CommonName: commonName, Organization: []string{"Signet Test"}, Country: []string{"CN"}},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
	}, key.Public())
}

// WritePEM writes certs as PEM to dir/name and returns the path.
func WritePEM(t testing.TB, dir, name string, certs ...*x509.Certificate) string {
	t.Helper()
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return path
}

// LookPath returns the path of an external tool or fails the test naming the
// Debian package that provides it.
func LookPath(t testing.TB, tool, debianPackage string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		t.Fatalf("%s not found: install the Debian package %s (make test installs it): %v", tool, debianPackage, err)
	}
	return p
}

// NSSDB creates an NSS database in dir (a new temporary directory when dir
// is empty) that trusts the root, for `pdfsig -nssdir sql:DIR`. It returns
// "sql:DIR".
func (p *PKI) NSSDB(t testing.TB, dir string) string {
	t.Helper()
	certutil := LookPath(t, "certutil", "libnss3-tools")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatalf("nss db dir: %v", err)
	}
	rootPEM := WritePEM(t, dir, "root.pem", p.Root)
	for _, args := range [][]string{
		{"-N", "-d", "sql:" + dir, "--empty-password"},
		{"-A", "-d", "sql:" + dir, "-n", "signet-test-root", "-t", "CT,C,C", "-i", rootPEM},
	} {
		if out, err := exec.Command(certutil, args...).CombinedOutput(); err != nil {
			t.Fatalf("certutil %v: %v\n%s", args, err, out)
		}
	}
	return "sql:" + dir
}
