package tsa_test

import (
	"context"
	"crypto"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"signet/signingcore/cms/cmstest"
	"signet/signingcore/tsa"
)

var testPolicy = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1, 1}

func newAuthority(t *testing.T, clock func() time.Time) (*tsa.Authority, *cmstest.PKI) {
	t.Helper()
	p := cmstest.New(t)
	a, err := tsa.New(p.TSAKey, []*x509.Certificate{p.TSA, p.Root}, testPolicy, clock)
	if err != nil {
		t.Fatalf("tsa.New: %v", err)
	}
	return a, p
}

func TestNewRefusesCertificateWithoutCriticalEKU(t *testing.T) {
	p := cmstest.New(t)
	key := cmstest.MustECKey(t)
	cert := p.Signer(t, "not a tsa", key)
	if _, err := tsa.New(key, []*x509.Certificate{cert}, testPolicy, nil); err == nil {
		t.Fatal("tsa.New accepted a certificate without the timeStamping EKU")
	}
	if _, err := tsa.New(cmstest.MustECKey(t), []*x509.Certificate{p.TSA}, testPolicy, nil); err == nil {
		t.Fatal("tsa.New accepted a key that does not match the certificate")
	}
}

func TestOpenSSLVerifiesResponse(t *testing.T) {
	openssl := cmstest.LookPath(t, "openssl", "openssl")
	a, p := newAuthority(t, nil)
	dir := t.TempDir()
	data := filepath.Join(dir, "data.txt")
	if err := os.WriteFile(data, []byte("合同正文 contract body"), 0o600); err != nil {
		t.Fatal(err)
	}
	tsq := filepath.Join(dir, "req.tsq")
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(openssl, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run("ts", "-query", "-data", data, "-sha256", "-cert", "-out", tsq)
	req, err := os.ReadFile(tsq)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.Respond(req)
	if err != nil {
		t.Fatalf("Respond: %v", err)
	}
	tsr := filepath.Join(dir, "resp.tsr")
	if err := os.WriteFile(tsr, resp, 0o600); err != nil {
		t.Fatal(err)
	}
	text := run("ts", "-reply", "-in", tsr, "-text")
	for _, want := range []string{"Status: Granted.", "Policy OID: 1.3.6.1.4.1.99999.1.1", "Accuracy: 0x01 seconds", "Nonce: 0x"} {
		if !strings.Contains(text, want) {
			t.Errorf("openssl ts -reply -text: missing %q in\n%s", want, text)
		}
	}
	root := cmstest.WritePEM(t, dir, "root.pem", p.Root)
	tsaPEM := cmstest.WritePEM(t, dir, "tsa.pem", p.TSA)
	if out := run("ts", "-verify", "-in", tsr, "-data", data, "-CAfile", root, "-untrusted", tsaPEM); !strings.Contains(out, "Verification: OK") {
		t.Errorf("openssl ts -verify: got %q, want Verification: OK", out)
	}
	// The request from openssl carries a nonce; the reply must echo it.
	if out := run("ts", "-verify", "-in", tsr, "-queryfile", tsq, "-CAfile", root, "-untrusted", tsaPEM); !strings.Contains(out, "Verification: OK") {
		t.Errorf("openssl ts -verify -queryfile: got %q", out)
	}
}

type rawReq struct {
	Version        int
	MessageImprint struct {
		HashAlgorithm pkix.AlgorithmIdentifier
		HashedMessage []byte
	}
	ReqPolicy asn1.ObjectIdentifier `asn1:"optional"`
}

func TestRejections(t *testing.T) {
	a, _ := newAuthority(t, nil)
	sha256OID := asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	sha1OID := asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	d256 := sha256.Sum256([]byte("x"))
	d1 := sha1.Sum([]byte("x"))
	mk := func(version int, alg asn1.ObjectIdentifier, digest []byte, policy asn1.ObjectIdentifier) []byte {
		var r rawReq
		r.Version = version
		r.MessageImprint.HashAlgorithm.Algorithm = alg
		r.MessageImprint.HashedMessage = digest
		r.ReqPolicy = policy
		der, err := asn1.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	tests := []struct {
		name string
		req  []byte
		want tsa.FailureInfo
	}{
		{"garbage", []byte("not asn.1"), tsa.FailBadDataFormat},
		{"version 2", mk(2, sha256OID, d256[:], nil), tsa.FailBadRequest},
		{"sha1", mk(1, sha1OID, d1[:], nil), tsa.FailBadAlg},
		{"short digest", mk(1, sha256OID, d256[:10], nil), tsa.FailBadDataFormat},
		{"other policy", mk(1, sha256OID, d256[:], asn1.ObjectIdentifier{1, 2, 3}), tsa.FailUnacceptedPolicy},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := a.Respond(tc.req)
			if err != nil {
				t.Fatalf("Respond: %v", err)
			}
			_, _, err = tsa.ParseResponse(resp)
			var se *tsa.StatusError
			if !errors.As(err, &se) {
				t.Fatalf("ParseResponse: got %v, want a StatusError", err)
			}
			if se.Status != tsa.StatusRejection || se.FailInfo != tc.want {
				t.Errorf("got status %d failInfo %d, want status 2 failInfo %d", se.Status, se.FailInfo, tc.want)
			}
		})
	}
	// Same policy is accepted.
	resp, err := a.Respond(mk(1, sha256OID, d256[:], testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := tsa.ParseResponse(resp); err != nil {
		t.Errorf("request with the TSA's own policy: %v", err)
	}
}

func TestTimestampersAndSerials(t *testing.T) {
	fixed := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	a, _ := newAuthority(t, func() time.Time { return fixed })
	srv := httptest.NewServer(a)
	defer srv.Close()
	digest := sha256.Sum256([]byte("signature value"))
	for name, ts := range map[string]tsa.Timestamper{"local": a, "http": &tsa.HTTPClient{URL: srv.URL}} {
		t.Run(name, func(t *testing.T) {
			var last *tsa.Info
			for i := 0; i < 3; i++ {
				token, err := ts.Timestamp(context.Background(), digest[:], crypto.SHA256)
				if err != nil {
					t.Fatalf("Timestamp: %v", err)
				}
				info, err := tsa.ParseToken(token)
				if err != nil {
					t.Fatalf("ParseToken: %v", err)
				}
				if !info.GenTime.Equal(fixed) {
					t.Errorf("genTime: got %v, want %v", info.GenTime, fixed)
				}
				if string(info.HashedMessage) != string(digest[:]) {
					t.Errorf("imprint: got %x, want %x", info.HashedMessage, digest)
				}
				if last != nil && info.SerialNumber.Cmp(last.SerialNumber) <= 0 {
					t.Errorf("serial: got %v after %v, want increasing", info.SerialNumber, last.SerialNumber)
				}
				last = info
			}
		})
	}
}
