package pki

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"math/big"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"signet/errs"
)

func mustParseCRL(t *testing.T, ca *CA, der []byte) *x509.RevocationList {
	t.Helper()
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatalf("ParseRevocationList: %v", err)
	}
	issuing, _ := ca.IssuingCertificate()
	if err := crl.CheckSignatureFrom(issuing); err != nil {
		t.Fatalf("CRL signature: %v", err)
	}
	return crl
}

func crlReasons(crl *x509.RevocationList) map[string]int {
	m := map[string]int{}
	for _, e := range crl.RevokedCertificateEntries {
		m[SerialHex(e.SerialNumber)] = e.ReasonCode
	}
	return m
}

// mustOCSP asks the responder about cert through a request made by
// x/crypto/ocsp and parses the answer.
func mustOCSP(t *testing.T, ca *CA, cert *x509.Certificate, hash crypto.Hash) *ocsp.Response {
	t.Helper()
	issuing, _ := ca.IssuingCertificate()
	req, err := ocsp.CreateRequest(cert, issuing, &ocsp.RequestOptions{Hash: hash})
	if err != nil {
		t.Fatalf("CreateRequest: %v", err)
	}
	der, err := ca.OCSPResponse(context.Background(), req)
	if err != nil {
		t.Fatalf("OCSPResponse: %v", err)
	}
	resp, err := ocsp.ParseResponseForCert(der, cert, issuing)
	if err != nil {
		t.Fatalf("ParseResponse: %v", err)
	}
	return resp
}

func TestRevocationInCRLAndOCSP(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	keep := mustIssuePerson(t, e.ca, "u-keep")
	lost := mustIssuePerson(t, e.ca, "u-lost")
	left := mustIssuePerson(t, e.ca, "u-left")

	crl0 := mustParseCRL(t, e.ca, mustCRL(t, e.ca))
	if n := len(crl0.RevokedCertificateEntries); n != 0 {
		t.Errorf("fresh CRL lists %d certificates, want 0", n)
	}
	if got := mustOCSP(t, e.ca, lost.Certificate, crypto.SHA1).Status; got != ocsp.Good {
		t.Errorf("OCSP before revocation = %d, want Good", got)
	}

	e.clock.Advance(time.Hour)
	if err := e.ca.Revoke(ctx, lost.Serial, ReasonKeyCompromise); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if err := e.ca.Revoke(ctx, left.Serial, ReasonUnspecified); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	crl1 := mustParseCRL(t, e.ca, mustCRL(t, e.ca))
	if crl1.Number.Cmp(crl0.Number) <= 0 {
		t.Errorf("CRL number %v not above %v", crl1.Number, crl0.Number)
	}
	reasons := crlReasons(crl1)
	if got, ok := reasons[lost.Serial]; !ok || got != int(ReasonKeyCompromise) {
		t.Errorf("CRL entry for the lost key: %d (listed %v), want keyCompromise", got, ok)
	}
	if got, ok := reasons[left.Serial]; !ok || got != 0 {
		t.Errorf("CRL entry for the unspecified revocation: %d (listed %v), want 0", got, ok)
	}
	for _, ent := range crl1.RevokedCertificateEntries {
		if SerialHex(ent.SerialNumber) == left.Serial {
			for _, ext := range ent.Extensions {
				if ext.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 21}) {
					t.Errorf("unspecified reason written as an extension (RFC 5280 says leave it out)")
				}
			}
		}
	}
	if _, listed := reasons[keep.Serial]; listed {
		t.Errorf("CRL lists a certificate that was not revoked")
	}
	if got, want := crl1.NextUpdate.Sub(crl1.ThisUpdate), DefaultCRLValidity; got != want {
		t.Errorf("CRL validity = %v, want %v", got, want)
	}

	tests := []struct {
		name       string
		cert       *x509.Certificate
		hash       crypto.Hash
		wantStatus int
		wantReason int
	}{
		{"good", keep.Certificate, crypto.SHA1, ocsp.Good, 0},
		{"good, SHA-256 CertID", keep.Certificate, crypto.SHA256, ocsp.Good, 0},
		{"key compromise", lost.Certificate, crypto.SHA1, ocsp.Revoked, ocsp.KeyCompromise},
		{"unspecified", left.Certificate, crypto.SHA256, ocsp.Revoked, ocsp.Unspecified},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := mustOCSP(t, e.ca, tc.cert, tc.hash)
			if resp.Status != tc.wantStatus || resp.RevocationReason != tc.wantReason {
				t.Errorf("status %d reason %d, want %d reason %d", resp.Status, resp.RevocationReason, tc.wantStatus, tc.wantReason)
			}
			if resp.SerialNumber.Cmp(tc.cert.SerialNumber) != 0 {
				t.Errorf("response serial %x, want %x", resp.SerialNumber, tc.cert.SerialNumber)
			}
			if tc.wantStatus == ocsp.Revoked && !resp.RevokedAt.Equal(e.clock.Now().UTC()) {
				t.Errorf("RevokedAt = %v, want %v", resp.RevokedAt, e.clock.Now().UTC())
			}
			if got, want := resp.NextUpdate.Sub(resp.ThisUpdate), DefaultOCSPValidity; got != want {
				t.Errorf("response validity = %v, want %v", got, want)
			}
		})
	}

	// The direct form for LTV validation data agrees.
	der, err := e.ca.OCSPForCertificate(ctx, lost.Certificate)
	if err != nil {
		t.Fatalf("OCSPForCertificate: %v", err)
	}
	issuing, _ := e.ca.IssuingCertificate()
	resp, err := ocsp.ParseResponseForCert(der, lost.Certificate, issuing)
	if err != nil || resp.Status != ocsp.Revoked {
		t.Errorf("OCSPForCertificate: status %v, %v; want Revoked", resp, err)
	}
	// The TSA certificate is known to the responder too.
	_, chain, _ := e.ca.TSA()
	if got := mustOCSP(t, e.ca, chain[0], crypto.SHA1).Status; got != ocsp.Good {
		t.Errorf("OCSP for the TSA certificate = %d, want Good", got)
	}
}

func TestRevokeErrors(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	iss := mustIssuePerson(t, e.ca, "u-1")
	if err := e.ca.Revoke(ctx, iss.Serial, ReasonCessationOfOperation); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	tests := []struct {
		name   string
		serial string
		reason RevocationReason
		want   errs.Code
	}{
		{"twice", iss.Serial, ReasonKeyCompromise, errs.Conflict},
		{"unknown serial", "4abcdef", ReasonKeyCompromise, errs.NotFound},
		{"malformed serial", "../state", ReasonKeyCompromise, errs.NotFound},
		{"certificate hold", iss.Serial, ReasonCertificateHold, errs.Invalid},
		{"CA compromise", iss.Serial, ReasonCACompromise, errs.Invalid},
		{"reason 7", iss.Serial, RevocationReason(7), errs.Invalid},
	}
	for _, tc := range tests {
		if got := errs.CodeOf(e.ca.Revoke(ctx, tc.serial, tc.reason)); got != tc.want {
			t.Errorf("%s: code %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestCRLCache(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	iss := mustIssuePerson(t, e.ca, "u-1")
	a := mustCRL(t, e.ca)
	e.clock.Advance(DefaultCRLValidity/2 - time.Second)
	if b := mustCRL(t, e.ca); string(a) != string(b) {
		t.Errorf("CRL re-signed before half its validity without a new revocation")
	}
	if err := e.ca.Revoke(ctx, iss.Serial, ReasonSuperseded); err != nil {
		t.Fatal(err)
	}
	c := mustCRL(t, e.ca)
	if len(crlReasons(mustParseCRL(t, e.ca, c))) != 1 {
		t.Errorf("CRL after revocation does not list it")
	}
	e.clock.Advance(DefaultCRLValidity / 2)
	d := mustCRL(t, e.ca)
	if string(c) == string(d) {
		t.Errorf("CRL not refreshed after half its validity")
	}
	crlC, crlD := mustParseCRL(t, e.ca, c), mustParseCRL(t, e.ca, d)
	if crlD.Number.Cmp(crlC.Number) <= 0 || !crlD.ThisUpdate.After(crlC.ThisUpdate) {
		t.Errorf("refreshed CRL: number %v thisUpdate %v, after %v %v", crlD.Number, crlD.ThisUpdate, crlC.Number, crlC.ThisUpdate)
	}

	// A revocation made through another CA instance on the same repository
	// (another server node) invalidates this node's cached CRL.
	other := mustNew(t, e.config())
	if err := other.Load(ctx); err != nil {
		t.Fatal(err)
	}
	iss2 := mustIssuePerson(t, other, "u-2")
	if err := other.Revoke(ctx, iss2.Serial, ReasonKeyCompromise); err != nil {
		t.Fatal(err)
	}
	if got := len(crlReasons(mustParseCRL(t, e.ca, mustCRL(t, e.ca)))); got != 2 {
		t.Errorf("CRL after another node's revocation lists %d, want 2", got)
	}
}

func TestRootCRL(t *testing.T) {
	e := newTestEnv(t)
	der, err := e.ca.RootCRL(context.Background())
	if err != nil {
		t.Fatalf("RootCRL: %v", err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := e.ca.RootCertificate()
	if err := crl.CheckSignatureFrom(root); err != nil {
		t.Errorf("root CRL signature: %v", err)
	}
	if len(crl.RevokedCertificateEntries) != 0 || crl.Number.Sign() <= 0 {
		t.Errorf("root CRL: %d entries, number %v; want 0 entries and a positive number", len(crl.RevokedCertificateEntries), crl.Number)
	}
}

func TestOCSPProtocolErrors(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	iss := mustIssuePerson(t, e.ca, "u-1")
	root, _ := e.ca.RootCertificate()
	issuing, _ := e.ca.IssuingCertificate()

	// Asking the issuing CA's responder about a certificate of the root.
	wrongIssuer, err := ocsp.CreateRequest(issuing, root, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A serial this CA never issued.
	unknownCert := *iss.Certificate
	unknownCert.SerialNumber = big.NewInt(0x4242)
	unknownReq, err := ocsp.CreateRequest(&unknownCert, issuing, nil)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		req  []byte
		want ocsp.ResponseStatus
	}{
		{"garbage", []byte("hello"), ocsp.Malformed},
		{"empty", nil, ocsp.Malformed},
		{"other issuer", wrongIssuer, ocsp.Unauthorized},
	}
	for _, tc := range tests {
		der, err := e.ca.OCSPResponse(ctx, tc.req)
		if err != nil {
			t.Fatalf("%s: OCSPResponse error %v, want a protocol response", tc.name, err)
		}
		_, err = ocsp.ParseResponse(der, nil)
		re, ok := err.(ocsp.ResponseError)
		if !ok || re.Status != tc.want {
			t.Errorf("%s: got %v, want response status %v", tc.name, err, tc.want)
		}
	}
	der, err := e.ca.OCSPResponse(ctx, unknownReq)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ocsp.ParseResponse(der, issuing)
	if err != nil || resp.Status != ocsp.Unknown {
		t.Errorf("unknown serial: %v, %v; want status Unknown", resp, err)
	}

	// OCSPForCertificate refuses a certificate of another issuer.
	if _, err := e.ca.OCSPForCertificate(ctx, root); errs.CodeOf(err) != errs.Invalid {
		t.Errorf("OCSPForCertificate(root) = %v, want Invalid", err)
	}
	// And a certificate that only claims the issuer's name.
	forged := *iss.Certificate
	forged.Signature = append([]byte(nil), forged.Signature...)
	forged.Signature[10] ^= 1
	if _, err := e.ca.OCSPForCertificate(ctx, &forged); errs.CodeOf(err) != errs.Invalid {
		t.Errorf("OCSPForCertificate(forged) = %v, want Invalid", err)
	}
}

func TestRenew(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	old, err := e.ca.IssueEnterprise(ctx, EnterpriseRequest{Name: "阿里巴巴（中国）有限公司", CreditCode: "91330100799655058B",
		Key: SubjectKey{PublicKey: mustECKey(t).Public()}})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(24 * time.Hour)

	same, err := e.ca.Renew(ctx, RenewRequest{Serial: old.Serial})
	if err != nil {
		t.Fatalf("Renew (same key): %v", err)
	}
	if string(same.Certificate.RawSubject) != string(old.Certificate.RawSubject) {
		t.Errorf("renewed subject %v, want %v", same.Certificate.Subject, old.Certificate.Subject)
	}
	if string(same.Certificate.RawSubjectPublicKeyInfo) != string(old.Certificate.RawSubjectPublicKeyInfo) {
		t.Errorf("renewal without a key changed the key")
	}
	if !same.Certificate.NotBefore.After(old.Certificate.NotBefore) {
		t.Errorf("renewed NotBefore %v not after %v", same.Certificate.NotBefore, old.Certificate.NotBefore)
	}
	rec, err := e.repo.Issued(ctx, same.Serial)
	if err != nil || rec.Supersedes != old.Serial || rec.Kind != KindEnterprise || rec.SubjectID != "91330100799655058B" {
		t.Errorf("renewed record = %+v, %v", rec, err)
	}
	oldRec, err := e.repo.Issued(ctx, old.Serial)
	if err != nil || oldRec.Revocation == nil || oldRec.Revocation.Reason != ReasonSuperseded {
		t.Errorf("old record after renewal = %+v, %v; want revoked as superseded", oldRec, err)
	}
	if got := mustOCSP(t, e.ca, old.Certificate, crypto.SHA1); got.Status != ocsp.Revoked || got.RevocationReason != ocsp.Superseded {
		t.Errorf("OCSP for the superseded certificate: status %d reason %d", got.Status, got.RevocationReason)
	}

	newKey := mustECKey(t)
	rekeyed, err := e.ca.Renew(ctx, RenewRequest{Serial: same.Serial, Key: SubjectKey{PublicKey: newKey.Public()}})
	if err != nil {
		t.Fatalf("Renew (new key): %v", err)
	}
	if !rekeyed.Certificate.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(newKey.Public()) {
		t.Errorf("renewal with a new key kept the old key")
	}

	if _, err := e.ca.Renew(ctx, RenewRequest{Serial: old.Serial}); errs.CodeOf(err) != errs.Conflict {
		t.Errorf("renewing a revoked certificate: %v, want Conflict", err)
	}
	if _, err := e.ca.Renew(ctx, RenewRequest{Serial: "4deadbeef"}); errs.CodeOf(err) != errs.NotFound {
		t.Errorf("renewing an unknown certificate: %v, want NotFound", err)
	}
	_, chain, _ := e.ca.TSA()
	if _, err := e.ca.Renew(ctx, RenewRequest{Serial: SerialHex(chain[0].SerialNumber)}); errs.CodeOf(err) != errs.Invalid {
		t.Errorf("renewing the TSA certificate: %v, want Invalid", err)
	}
}

// Revocations, issued certificates and CRL numbers survive a restart.
func TestStatePersists(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	good := mustIssuePerson(t, e.ca, "u-good")
	bad := mustIssuePerson(t, e.ca, "u-bad")
	if err := e.ca.Revoke(ctx, bad.Serial, ReasonPrivilegeWithdrawn); err != nil {
		t.Fatal(err)
	}
	before := mustParseCRL(t, e.ca, mustCRL(t, e.ca))

	ca := e.reopen(t)
	if err := ca.Load(ctx); err != nil {
		t.Fatalf("Load: %v", err)
	}
	if got := mustOCSP(t, ca, good.Certificate, crypto.SHA1).Status; got != ocsp.Good {
		t.Errorf("after reload, good certificate: status %d", got)
	}
	if got := mustOCSP(t, ca, bad.Certificate, crypto.SHA1); got.Status != ocsp.Revoked || got.RevocationReason != ocsp.PrivilegeWithdrawn {
		t.Errorf("after reload, revoked certificate: status %d reason %d", got.Status, got.RevocationReason)
	}
	after := mustParseCRL(t, ca, mustCRL(t, ca))
	if after.Number.Cmp(before.Number) <= 0 {
		t.Errorf("CRL number after reload %v, want above %v", after.Number, before.Number)
	}
	if _, ok := crlReasons(after)[bad.Serial]; !ok {
		t.Errorf("CRL after reload does not list the revoked certificate")
	}
	if err := ca.Revoke(ctx, bad.Serial, ReasonKeyCompromise); errs.CodeOf(err) != errs.Conflict {
		t.Errorf("revoking again after reload: %v, want Conflict", err)
	}
}

func mustCRL(t *testing.T, ca *CA) []byte {
	t.Helper()
	der, err := ca.CRL(context.Background())
	if err != nil {
		t.Fatalf("CRL: %v", err)
	}
	return der
}
