package verify

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"signet/errs"
	"signet/signingcore/cms/cmstest"
)

var pdfsigSection = regexp.MustCompile(`(?m)^Signature #\d+:`)

// pdfsigVerdicts runs poppler's pdfsig with the platform root trusted
// through an NSS database and returns, per signature, "valid" (valid and
// trusted), "untrusted" (valid, issuer not trusted), or "invalid".
func (p *platform) pdfsigVerdicts(t *testing.T, pdf []byte) ([]string, string) {
	t.Helper()
	bin := cmstest.LookPath(t, "pdfsig", "poppler-utils")
	certutil := cmstest.LookPath(t, "certutil", "libnss3-tools")
	dir := t.TempDir()
	db := filepath.Join(dir, "nssdb")
	rootPEM := filepath.Join(dir, "root.pem")
	if err := os.MkdirAll(db, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rootPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.root.Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-N", "-d", "sql:" + db, "--empty-password"},
		{"-A", "-d", "sql:" + db, "-n", "signet-root", "-t", "CT,C,C", "-i", rootPEM},
	} {
		if out, err := exec.Command(certutil, args...).CombinedOutput(); err != nil {
			t.Fatalf("certutil %v: %v\n%s", args, err, out)
		}
	}
	file := filepath.Join(dir, "doc.pdf")
	if err := os.WriteFile(file, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	// -no-ocsp: the certificates name https://sign.example.cn/pki/ocsp,
	// which does not exist; NSS would report "Unknown issue" for the
	// failed fetch. Revocation is tested against the CA directly.
	out, _ := exec.Command(bin, "-no-ocsp", "-nssdir", "sql:"+db, file).CombinedOutput()
	var verdicts []string
	for _, sec := range pdfsigSection.Split(string(out), -1)[1:] {
		switch {
		case strings.Contains(sec, "Signature Validation: Signature is Valid.") && strings.Contains(sec, "Certificate is Trusted."):
			verdicts = append(verdicts, "valid")
		case strings.Contains(sec, "Signature Validation: Signature is Valid."):
			verdicts = append(verdicts, "untrusted")
		default:
			verdicts = append(verdicts, "invalid")
		}
	}
	return verdicts, string(out)
}

// TestAgreesWithPdfsig checks our per-signature verdicts against poppler's
// on a valid, a tampered and a foreign file.
func TestAgreesWithPdfsig(t *testing.T) {
	p := newPlatform(t)
	key, chain := p.person(t, "王小明", "ec")
	valid := p.sign(t, makePDF(1, false), key, chain, "", 1)
	tampered := []byte(strings.Replace(string(valid), "100000 yuan", "900000 yuan", 1))
	f := newForeign(t)
	fkey := cmstest.MustECKey(t)
	fcert := f.pki.Signer(t, "Foreign Signer", fkey)
	foreignPDF := signWith(t, p.signer, f.tsa, makePDF(1, false), fkey, []*x509.Certificate{fcert, f.pki.Root}, "", 1)
	for _, c := range []struct {
		name string
		pdf  []byte
		want Verdict
		sig  string
	}{
		{"valid", valid, VerdictValid, "valid"},
		{"tampered", tampered, VerdictInvalid, "invalid"},
		{"foreign", foreignPDF, VerdictNotPlatform, "untrusted"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rep := mustVerify(t, c.pdf, p.options())
			if rep.Verdict != c.want {
				t.Errorf("verdict %s, want %s\n%s", rep.Verdict, c.want, describe(rep))
			}
			got, out := p.pdfsigVerdicts(t, c.pdf)
			if len(got) != 1 || got[0] != c.sig {
				t.Fatalf("pdfsig says %v, want [%s]\n%s", got, c.sig, out)
			}
			ours := map[Status]string{StatusValid: "valid", StatusInvalid: "invalid", StatusUntrusted: "untrusted"}[rep.Signatures[0].Status]
			if ours != got[0] {
				t.Errorf("we say %s, pdfsig says %s\n%s\n%s", ours, got[0], describe(rep), out)
			}
			if c.name == "tampered" && !strings.Contains(out, "Digest Mismatch") {
				t.Errorf("pdfsig does not report the digest mismatch:\n%s", out)
			}
		})
	}
}

// TestRejectsEncrypted encrypts a PDF with qpdf and expects errs.Invalid.
func TestRejectsEncrypted(t *testing.T) {
	qpdf := cmstest.LookPath(t, "qpdf", "qpdf")
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.pdf"), filepath.Join(dir, "out.pdf")
	if err := os.WriteFile(in, makePDF(1, false), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--encrypt", "", "owner", "256", "--", in, out},           // empty user password
		{"--encrypt", "user", "owner", "256", "--", in, out + "2"}, // a user password
	} {
		if b, err := exec.Command(qpdf, args...).CombinedOutput(); err != nil {
			t.Fatalf("qpdf %v: %v\n%s", args, err, b)
		}
		data, err := os.ReadFile(args[len(args)-1])
		if err != nil {
			t.Fatal(err)
		}
		rep, err := Verify(data, Options{})
		if !errs.Is(err, errs.Invalid) || !strings.Contains(errs.MessageOf(err), "加密") {
			t.Errorf("qpdf %v: got %v, %v; want the encrypted-file error", args[:4], rep, err)
		}
	}
}
