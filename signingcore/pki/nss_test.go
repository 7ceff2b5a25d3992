package pki

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Poppler's pdfsig validates a signer certificate through NSS for the
// "email signer" usage, so that is what the end-entity EKU must satisfy.
// certutil -V asks NSS exactly that question.
func TestNSSAcceptsSigningCertificates(t *testing.T) {
	certutil, err := exec.LookPath("certutil")
	if err != nil {
		t.Fatalf("certutil not found (Debian package libnss3-tools; `make test` installs it): %v", err)
	}
	ctx := context.Background()
	e := newTestEnv(t)
	chain, err := e.ca.Chain()
	if err != nil {
		t.Fatal(err)
	}
	files := t.TempDir()
	db := "sql:" + t.TempDir()
	run := func(wantFail bool, args ...string) string {
		t.Helper()
		out, err := exec.Command(certutil, append(args, "-d", db)...).CombinedOutput()
		if (err != nil) != wantFail {
			t.Fatalf("certutil %s: err = %v, want failure %v\n%s", strings.Join(args, " "), err, wantFail, out)
		}
		return string(out)
	}
	run(false, "-N", "--empty-password")
	run(false, "-A", "-n", "root", "-t", "CT,C,C", "-i", mustWritePEM(t, files, "root.pem", chain[1]))
	run(false, "-A", "-n", "issuing", "-t", ",,", "-i", mustWritePEM(t, files, "issuing.pem", chain[0]))

	person := mustIssuePerson(t, e.ca, "user-1")
	ent, err := e.ca.IssueEnterprise(ctx, EnterpriseRequest{Name: "华为技术有限公司", CreditCode: "914403001922038216",
		Key: SubjectKey{PublicKey: mustECKey(t).Public()}})
	if err != nil {
		t.Fatal(err)
	}
	run(false, "-A", "-n", "person", "-t", ",,", "-i", mustWritePEM(t, files, "person.pem", person.Certificate))
	run(false, "-A", "-n", "enterprise", "-t", ",,", "-i", mustWritePEM(t, files, "enterprise.pem", ent.Certificate))
	for _, nick := range []string{"person", "enterprise"} {
		if out := run(false, "-V", "-n", nick, "-u", "S"); !strings.Contains(out, "certificate is valid") {
			t.Errorf("%s as email signer: %s", nick, out)
		}
	}
	// The check is not vacuous: the person certificate is no TLS server.
	if out := run(true, "-V", "-n", "person", "-u", "V"); strings.Contains(out, "certificate is valid") {
		t.Errorf("person certificate accepted as TLS server: %s", out)
	}

	// Why emailProtection is there: with only the document signing EKUs,
	// NSS (pdfsig) and OpenSSL (cms -verify, purpose smimesign) refuse.
	h, err := e.ca.loaded()
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		Subject:            pkix.Name{CommonName: "document signing only", Country: []string{"CN"}},
		NotBefore:          person.Certificate.NotBefore,
		NotAfter:           person.Certificate.NotAfter,
		KeyUsage:           x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		UnknownExtKeyUsage: []asn1.ObjectIdentifier{oidDocumentSigning, oidAdobeDocumentSigning},
	}
	der, err := e.ca.sign(tmpl, h.issuing, mustECKey(t).Public(), h.issKey)
	if err != nil {
		t.Fatal(err)
	}
	docOnly, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	docOnlyPEM := mustWritePEM(t, files, "doconly.pem", docOnly)
	run(false, "-A", "-n", "doconly", "-t", ",,", "-i", docOnlyPEM)
	if out := run(true, "-V", "-n", "doconly", "-u", "S"); strings.Contains(out, "certificate is valid") {
		t.Errorf("NSS accepts a certificate without emailProtection as email signer: %s", out)
	}
	bin := mustOpenSSL(t)
	runOpenSSL(t, bin, true, "verify", "-purpose", "smimesign", "-CAfile", filepath.Join(files, "root.pem"),
		"-untrusted", filepath.Join(files, "issuing.pem"), docOnlyPEM)
}
