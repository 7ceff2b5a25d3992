package app_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"io"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/crypto/ocsp"

	"signet/internal/apitest"
	"signet/internal/dbtest"
	"signet/signingcore/pki"
	"signet/signingcore/tsa"
)

// TestTrustEndpoints checks that the server publishes the platform CA
// (/pki), answers OCSP for issued and revoked certificates and runs the
// RFC 3161 TSA (/tsa), all from the CA the development start created.
func TestTrustEndpoints(t *testing.T) {
	s := apitest.Start(t, dbtest.SQLite(t), apitest.Options{})
	ctx := context.Background()
	get := func(path string) []byte {
		t.Helper()
		status, body := s.Get(path)
		if status != http.StatusOK {
			t.Fatalf("GET %s = %d %s", path, status, body)
		}
		return body
	}
	root, err := x509.ParseCertificate(get(pki.PathRootCert))
	if err != nil || !root.IsCA {
		t.Fatalf("root certificate: %v", err)
	}
	issuing, err := x509.ParseCertificate(get(pki.PathIssuingCert))
	if err != nil || issuing.CheckSignatureFrom(root) != nil {
		t.Fatalf("issuing certificate: %v", err)
	}
	crl, err := x509.ParseRevocationList(get(pki.PathCRL))
	if err != nil || crl.CheckSignatureFrom(issuing) != nil {
		t.Fatalf("CRL: %v", err)
	}
	if !strings.Contains(string(get(pki.PathChainPEM)), "BEGIN CERTIFICATE") {
		t.Error("chain.pem is not PEM")
	}

	// OCSP over POST: good, then revoked.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	iss, err := s.App.Trust.CA.IssuePerson(ctx, pki.PersonRequest{Name: "王小明", SubjectID: "user-1", Key: pki.SubjectKey{PublicKey: key.Public()}})
	if err != nil {
		t.Fatalf("issue: %v", err)
	}
	if iss.Certificate.OCSPServer[0] != s.App.Config.BaseURL+pki.PathOCSP {
		t.Errorf("OCSP URL %v", iss.Certificate.OCSPServer)
	}
	status := func() int {
		t.Helper()
		req, _ := ocsp.CreateRequest(iss.Certificate, issuing, &ocsp.RequestOptions{Hash: crypto.SHA256})
		resp, err := http.Post(s.URL+pki.PathOCSP, "application/ocsp-request", bytes.NewReader(req))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		r, err := ocsp.ParseResponseForCert(body, iss.Certificate, issuing)
		if err != nil {
			t.Fatalf("OCSP response: %v", err)
		}
		return r.Status
	}
	if got := status(); got != ocsp.Good {
		t.Fatalf("OCSP status %d, want good", got)
	}
	if err := s.App.Trust.CA.Revoke(ctx, iss.Serial, pki.ReasonKeyCompromise); err != nil {
		t.Fatal(err)
	}
	if got := status(); got != ocsp.Revoked {
		t.Fatalf("OCSP status %d, want revoked", got)
	}

	// RFC 3161 over HTTP.
	digest := sha256.Sum256([]byte("合同内容"))
	req, err := tsa.NewRequest(digest[:], crypto.SHA256, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(s.URL+"/tsa", "application/timestamp-query", bytes.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/timestamp-reply" {
		t.Fatalf("tsa: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if _, info, err := tsa.ParseResponse(body); err != nil || !bytes.Equal(info.HashedMessage, digest[:]) {
		t.Fatalf("tsa response: %v %+v", err, info)
	}

	// Bad input gets a clear refusal.
	r2, _ := http.Post(s.URL+pki.PathOCSP, "text/plain", strings.NewReader("x"))
	r2.Body.Close()
	if r2.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("OCSP with text/plain = %d, want 415", r2.StatusCode)
	}
	if st, _ := s.Get("/pki/nothing"); st != http.StatusNotFound {
		t.Errorf("GET /pki/nothing = %d, want 404", st)
	}
}
