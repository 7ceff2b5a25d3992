package pki

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/crypto/ocsp"

	"signet/errs"
)

func TestBuiltinAuthority(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	var authority CertificateAuthority = Builtin{CA: e.ca}

	order, err := authority.IssuePerson(ctx, PersonRequest{Name: "张三", SubjectID: "u-9", Key: SubjectKey{PublicKey: mustECKey(t).Public()}})
	if err != nil {
		t.Fatalf("IssuePerson: %v", err)
	}
	if order.Status != OrderIssued || order.Issued == nil || order.ID != order.Issued.Serial {
		t.Fatalf("order = %+v, want issued with ID = serial", order)
	}
	polled, err := authority.Order(ctx, order.ID)
	if err != nil {
		t.Fatalf("Order: %v", err)
	}
	if polled.Status != OrderIssued || string(polled.Issued.DER()) != string(order.Issued.DER()) || len(polled.Issued.Chain) != 2 {
		t.Errorf("polled order = %+v, want the same certificate with its chain", polled)
	}
	renewed, err := authority.Renew(ctx, RenewRequest{Serial: order.ID})
	if err != nil || renewed.Status != OrderIssued || renewed.ID == order.ID {
		t.Fatalf("Renew = %+v, %v", renewed, err)
	}
	if err := authority.Revoke(ctx, renewed.ID, ReasonCessationOfOperation); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	ent, err := authority.IssueEnterprise(ctx, EnterpriseRequest{Name: "某某科技有限公司", CreditCode: "91440300708461136T", Key: SubjectKey{PublicKey: mustECKey(t).Public()}})
	if err != nil || ent.Status != OrderIssued {
		t.Fatalf("IssueEnterprise = %+v, %v", ent, err)
	}
	if _, err := authority.IssueEnterprise(ctx, EnterpriseRequest{Name: "某某科技有限公司", CreditCode: "123"}); errs.CodeOf(err) != errs.Invalid {
		t.Errorf("bad enterprise request: %v, want Invalid", err)
	}
	if _, err := authority.Order(ctx, "4badbad"); errs.CodeOf(err) != errs.NotFound {
		t.Errorf("unknown order: %v, want NotFound", err)
	}
}

func TestDecodeOCSPGet(t *testing.T) {
	e := newTestEnv(t)
	iss := mustIssuePerson(t, e.ca, "u-1")
	issuing, _ := e.ca.IssuingCertificate()
	req, err := ocsp.CreateRequest(iss.Certificate, issuing, nil)
	if err != nil {
		t.Fatal(err)
	}
	std := base64.StdEncoding.EncodeToString(req)
	tests := []struct {
		name    string
		segment string
		ok      bool
	}{
		{"escaped", url.PathEscape(std), true},
		{"query-escaped", url.QueryEscape(std), true},
		{"raw", std, true},
		{"url-safe alphabet", base64.URLEncoding.EncodeToString(req), true},
		{"unpadded", base64.RawStdEncoding.EncodeToString(req), true},
		{"not base64", "%%%", false},
		{"bad escape", "%zz", false},
	}
	for _, tc := range tests {
		got, err := DecodeOCSPGet(tc.segment)
		if (err == nil) != tc.ok {
			t.Errorf("%s: err = %v, want ok=%v", tc.name, err, tc.ok)
			continue
		}
		if tc.ok && string(got) != string(req) {
			t.Errorf("%s: decoded %x, want %x", tc.name, got, req)
		}
		if !tc.ok && errs.CodeOf(err) != errs.Invalid {
			t.Errorf("%s: code %q, want Invalid", tc.name, errs.CodeOf(err))
		}
	}
}

func TestPublication(t *testing.T) {
	e := newTestEnv(t)
	chain, err := e.ca.Chain()
	if err != nil {
		t.Fatal(err)
	}
	pemChain := PEM(chain[0].Raw, chain[1].Raw)
	if got := strings.Count(string(pemChain), "-----BEGIN CERTIFICATE-----"); got != 2 {
		t.Errorf("PEM chain has %d certificates, want 2", got)
	}
	issuing, _ := e.ca.IssuingCertificate()
	root, _ := e.ca.RootCertificate()
	if chain[0] != issuing || chain[1] != root || !root.IsCA || string(root.RawIssuer) != string(root.RawSubject) {
		t.Errorf("Chain() is not [issuing, root]")
	}
	tests := []struct {
		path, contentType string
		check             func(body []byte) error
	}{
		{PathRootCert, ContentTypeCert, func(b []byte) error { return sameCert(b, root) }},
		{PathIssuingCert, ContentTypeCert, func(b []byte) error { return sameCert(b, issuing) }},
		{PathRootPEM, ContentTypePEM, func(b []byte) error { return samePEM(b, root) }},
		{PathIssuingPEM, ContentTypePEM, func(b []byte) error { return samePEM(b, issuing) }},
		{PathChainPEM, ContentTypePEM, func(b []byte) error { return samePEM(b, issuing, root) }},
		{PathCRL, ContentTypeCRL, func(b []byte) error { return crlFrom(b, issuing) }},
		{PathRootCRL, ContentTypeCRL, func(b []byte) error { return crlFrom(b, root) }},
	}
	for _, tc := range tests {
		body, ct, err := e.ca.Published(context.Background(), tc.path)
		if err != nil {
			t.Errorf("Published(%s): %v", tc.path, err)
			continue
		}
		if ct != tc.contentType {
			t.Errorf("Published(%s) content type %q, want %q", tc.path, ct, tc.contentType)
		}
		if err := tc.check(body); err != nil {
			t.Errorf("Published(%s): %v", tc.path, err)
		}
	}
	if _, _, err := e.ca.Published(context.Background(), "/pki/../state.json"); errs.CodeOf(err) != errs.NotFound {
		t.Errorf("Published(unknown) = %v, want NotFound", err)
	}

	leaf := mustIssuePerson(t, e.ca, "u-1").Certificate
	if got, want := leaf.IssuingCertificateURL[0], testBaseURL+PathIssuingCert; got != want {
		t.Errorf("caIssuers = %q, want %q", got, want)
	}
}

func TestFileRepository(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	repo, err := OpenFileRepository(dir)
	if err != nil {
		t.Fatal(err)
	}
	rec := IssuedCert{Serial: "4a", Kind: KindPerson, SubjectID: "u", DER: []byte{1, 2, 3}}
	if err := repo.RecordIssued(ctx, rec); err != nil {
		t.Fatalf("RecordIssued: %v", err)
	}
	if err := repo.RecordIssued(ctx, rec); errs.CodeOf(err) != errs.Conflict {
		t.Errorf("duplicate serial: %v, want Conflict", err)
	}
	for _, bad := range []string{"../x", "4A", "", strings.Repeat("a", 41)} {
		if err := repo.RecordIssued(ctx, IssuedCert{Serial: bad}); err == nil {
			t.Errorf("RecordIssued(%q): nil error", bad)
		}
	}
	if err := repo.RecordRevocation(ctx, Revocation{Serial: "4b"}); errs.CodeOf(err) != errs.NotFound {
		t.Errorf("revoking unrecorded serial: %v, want NotFound", err)
	}
	for i, want := range []int64{1, 2, 3} {
		got, err := repo.NextCRLNumber(ctx, "issuing")
		if err != nil || got != want {
			t.Errorf("NextCRLNumber #%d = %d, %v; want %d", i, got, err, want)
		}
	}
	if got, _ := repo.NextCRLNumber(ctx, "root"); got != 1 {
		t.Errorf("root sequence starts at %d, want 1", got)
	}
	// No temporary files are left behind and files are private.
	err = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if strings.Contains(info.Name(), ".tmp") {
			t.Errorf("temporary file left: %s", p)
		}
		if !info.IsDir() && info.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", p, info.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A corrupt state file is an error, not "not initialised".
	if err := os.WriteFile(filepath.Join(dir, "state.json"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.LoadState(ctx); err == nil || errs.CodeOf(err) == errs.NotFound {
		t.Errorf("corrupt state: %v, want an internal error", err)
	}
}

// signingcore is a leaf: pki must not depend on the application layers.
func TestImportsStayInSigningcore(t *testing.T) {
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goBin, "list", "-deps", "-test", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"signet/graph", "signet/server", "signet/ent"} {
			if dep == banned || strings.HasPrefix(dep, banned+"/") {
				t.Errorf("signingcore/pki depends on %s", dep)
			}
		}
	}
}

func sameCert(der []byte, want *x509.Certificate) error {
	if !bytes.Equal(der, want.Raw) {
		return fmt.Errorf("body is not the certificate of %s", want.Subject)
	}
	return nil
}

func samePEM(data []byte, want ...*x509.Certificate) error {
	for i, w := range want {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil || b.Type != "CERTIFICATE" {
			return fmt.Errorf("PEM block %d missing", i)
		}
		if err := sameCert(b.Bytes, w); err != nil {
			return err
		}
	}
	if len(bytes.TrimSpace(data)) != 0 {
		return errors.New("trailing data after the PEM blocks")
	}
	return nil
}

func crlFrom(der []byte, issuer *x509.Certificate) error {
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		return err
	}
	return crl.CheckSignatureFrom(issuer)
}
