package pki

import (
	"context"
	"os/exec"
	"strings"
	"testing"
)

// mustOpenSSL returns the openssl binary or fails the test: interop with a
// validator nobody here wrote is the point, so it is never skipped.
func mustOpenSSL(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatalf("openssl not found (Debian package openssl; `make test` installs it): %v", err)
	}
	return p
}

// runOpenSSL runs openssl and returns its combined output; a non-zero exit
// fails the test unless wantFail.
func runOpenSSL(t *testing.T, bin string, wantFail bool, args ...string) string {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if (err != nil) != wantFail {
		t.Fatalf("openssl %s: err = %v, want failure %v\n%s", strings.Join(args, " "), err, wantFail, out)
	}
	return string(out)
}

func TestOpenSSLInterop(t *testing.T) {
	bin := mustOpenSSL(t)
	ctx := context.Background()
	e := newTestEnv(t)
	dir := t.TempDir()
	_, chain, err := e.ca.TSA()
	if err != nil {
		t.Fatal(err)
	}
	tsa, issuing, root := chain[0], chain[1], chain[2]
	rootPEM := mustWritePEM(t, dir, "root.pem", root)
	issPEM := mustWritePEM(t, dir, "issuing.pem", issuing)
	tsaPEM := mustWritePEM(t, dir, "tsa.pem", tsa)

	person := mustIssuePerson(t, e.ca, "user-1")
	ent, err := e.ca.IssueEnterprise(ctx, EnterpriseRequest{Name: "华为技术有限公司", CreditCode: "914403001922038216",
		Key: SubjectKey{PublicKey: mustECKey(t).Public()}})
	if err != nil {
		t.Fatal(err)
	}
	revoked := mustIssuePerson(t, e.ca, "user-2")
	personPEM := mustWritePEM(t, dir, "person.pem", person.Certificate)
	entPEM := mustWritePEM(t, dir, "enterprise.pem", ent.Certificate)
	revokedPEM := mustWritePEM(t, dir, "revoked.pem", revoked.Certificate)

	t.Run("verify chains", func(t *testing.T) {
		for _, tc := range []struct{ name, leaf, purpose string }{
			{"person", personPEM, "smimesign"},
			{"enterprise", entPEM, "smimesign"},
			{"tsa", tsaPEM, "timestampsign"},
		} {
			out := runOpenSSL(t, bin, false, "verify", "-x509_strict", "-purpose", tc.purpose,
				"-CAfile", rootPEM, "-untrusted", issPEM, tc.leaf)
			if !strings.Contains(out, ": OK") {
				t.Errorf("%s: openssl verify says %q", tc.name, out)
			}
		}
		// Without the issuing CA the chain cannot be built.
		runOpenSSL(t, bin, true, "verify", "-CAfile", rootPEM, personPEM)
	})

	t.Run("subject", func(t *testing.T) {
		out := runOpenSSL(t, bin, false, "x509", "-in", entPEM, "-noout", "-subject", "-nameopt", "utf8,sep_comma_plus")
		for _, want := range []string{"CN=华为技术有限公司", "organizationIdentifier=NTRCN-914403001922038216", "C=CN"} {
			if !strings.Contains(out, want) {
				t.Errorf("enterprise subject %q lacks %q", out, want)
			}
		}
		out = runOpenSSL(t, bin, false, "x509", "-in", tsaPEM, "-noout", "-text")
		if !strings.Contains(out, "X509v3 Extended Key Usage: critical") {
			t.Errorf("openssl does not see a critical EKU on the TSA certificate:\n%s", out)
		}
	})

	if err := e.ca.Revoke(ctx, revoked.Serial, ReasonKeyCompromise); err != nil {
		t.Fatal(err)
	}

	t.Run("crl", func(t *testing.T) {
		crlPath := mustWriteFile(t, dir, "issuing.crl", mustCRL(t, e.ca))
		out := runOpenSSL(t, bin, false, "crl", "-inform", "DER", "-in", crlPath, "-CAfile", issPEM, "-noout", "-text", "-verify")
		if !strings.Contains(out, "verify OK") {
			t.Errorf("openssl crl -verify: %s", out)
		}
		serialUpper := strings.ToUpper(revoked.Serial)
		if !strings.Contains(out, serialUpper) || !strings.Contains(out, "Key Compromise") {
			t.Errorf("CRL text lacks serial %s with Key Compromise:\n%s", serialUpper, out)
		}
		// Full chain check with CRLs for every level.
		rootCRL, err := e.ca.RootCRL(ctx)
		if err != nil {
			t.Fatal(err)
		}
		crlPEMs := mustWriteFile(t, dir, "crls.pem", append(pemCRL(mustCRL(t, e.ca)), pemCRL(rootCRL)...))
		out = runOpenSSL(t, bin, false, "verify", "-crl_check_all", "-CRLfile", crlPEMs, "-CAfile", rootPEM, "-untrusted", issPEM, personPEM)
		if !strings.Contains(out, ": OK") {
			t.Errorf("verify -crl_check_all (good): %s", out)
		}
		out = runOpenSSL(t, bin, true, "verify", "-crl_check_all", "-CRLfile", crlPEMs, "-CAfile", rootPEM, "-untrusted", issPEM, revokedPEM)
		if !strings.Contains(out, "certificate revoked") {
			t.Errorf("verify -crl_check_all (revoked): %s", out)
		}
	})

	t.Run("ocsp", func(t *testing.T) {
		for _, tc := range []struct{ name, cert, want string }{
			{"good", personPEM, "good"},
			{"revoked", revokedPEM, "revoked"},
			{"tsa", tsaPEM, "good"},
		} {
			// openssl makes the request (with a nonce, SHA-1 CertID)...
			reqPath := dir + "/" + tc.name + ".req"
			runOpenSSL(t, bin, false, "ocsp", "-issuer", issPEM, "-cert", tc.cert, "-reqout", reqPath)
			resp, err := e.ca.OCSPResponse(ctx, mustReadFile(t, reqPath))
			if err != nil {
				t.Fatalf("OCSPResponse: %v", err)
			}
			respPath := mustWriteFile(t, dir, tc.name+".resp", resp)
			// ...and verifies the answer against the root.
			out := runOpenSSL(t, bin, false, "ocsp", "-respin", respPath, "-issuer", issPEM, "-verify_other", issPEM,
				"-CAfile", rootPEM, "-cert", tc.cert, "-no_nonce")
			if !strings.Contains(out, "Response verify OK") || !strings.Contains(out, tc.cert+": "+tc.want) {
				t.Errorf("%s: openssl ocsp says:\n%s", tc.name, out)
			}
			if tc.want == "revoked" && !strings.Contains(out, "keyCompromise") {
				t.Errorf("%s: reason missing:\n%s", tc.name, out)
			}
		}
		// A SHA-256 CertID request.
		reqPath := dir + "/sha256.req"
		runOpenSSL(t, bin, false, "ocsp", "-sha256", "-issuer", issPEM, "-cert", personPEM, "-reqout", reqPath, "-no_nonce")
		resp, err := e.ca.OCSPResponse(ctx, mustReadFile(t, reqPath))
		if err != nil {
			t.Fatal(err)
		}
		respPath := mustWriteFile(t, dir, "sha256.resp", resp)
		out := runOpenSSL(t, bin, false, "ocsp", "-sha256", "-respin", respPath, "-issuer", issPEM, "-verify_other", issPEM,
			"-CAfile", rootPEM, "-cert", personPEM, "-no_nonce")
		if !strings.Contains(out, "Response verify OK") || !strings.Contains(out, personPEM+": good") {
			t.Errorf("sha256 CertID: openssl ocsp says:\n%s", out)
		}
		// Without -issuer (which openssl ocsp trusts as a signer of last
		// resort) the response must chain to the root...
		out = runOpenSSL(t, bin, false, "ocsp", "-respin", respPath, "-verify_other", issPEM,
			"-CAfile", rootPEM, "-no_nonce", "-resp_text")
		if !strings.Contains(out, "Response verify OK") || !strings.Contains(out, "Cert Status: good") {
			t.Errorf("chain check: openssl ocsp says:\n%s", out)
		}
		// ...and not to a foreign one.
		other := newTestEnv(t)
		otherRoot, _ := other.ca.RootCertificate()
		otherRootPEM := mustWritePEM(t, dir, "other-root.pem", otherRoot)
		out = runOpenSSL(t, bin, true, "ocsp", "-respin", respPath, "-verify_other", issPEM,
			"-CAfile", otherRootPEM, "-no_nonce", "-resp_text")
		if strings.Contains(out, "Response verify OK") || !strings.Contains(out, "Response Verify Failure") {
			t.Errorf("response verified under a foreign root:\n%s", out)
		}
	})
}
