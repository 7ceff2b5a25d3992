package pki

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"strings"
	"testing"
	"time"

	"signet/errs"
)

func TestHierarchyShape(t *testing.T) {
	e := newTestEnv(t)
	key, chain, err := e.ca.TSA()
	if err != nil {
		t.Fatalf("TSA: %v", err)
	}
	tsa, issuing, root := chain[0], chain[1], chain[2]

	tests := []struct {
		name           string
		cert           *x509.Certificate
		isCA           bool
		maxPathLen     int
		maxPathLenZero bool
		keyUsage       x509.KeyUsage
		issuer         *x509.Certificate
	}{
		{"root", root, true, 1, false, x509.KeyUsageCertSign | x509.KeyUsageCRLSign, root},
		{"issuing", issuing, true, 0, true, x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature, root},
		{"tsa", tsa, false, -1, false, x509.KeyUsageDigitalSignature, issuing},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cert
			if c.IsCA != tc.isCA || !c.BasicConstraintsValid {
				t.Errorf("IsCA = %v (valid %v), want %v", c.IsCA, c.BasicConstraintsValid, tc.isCA)
			}
			if tc.isCA && (c.MaxPathLen != tc.maxPathLen || c.MaxPathLenZero != tc.maxPathLenZero) {
				t.Errorf("MaxPathLen = %d (zero %v), want %d (zero %v)", c.MaxPathLen, c.MaxPathLenZero, tc.maxPathLen, tc.maxPathLenZero)
			}
			if c.KeyUsage != tc.keyUsage {
				t.Errorf("KeyUsage = %b, want %b", c.KeyUsage, tc.keyUsage)
			}
			if err := c.CheckSignatureFrom(tc.issuer); err != nil {
				t.Errorf("not signed by %s: %v", tc.issuer.Subject, err)
			}
			if len(c.SubjectKeyId) == 0 {
				t.Errorf("no SubjectKeyId")
			}
			if c != root && !bytes.Equal(c.AuthorityKeyId, tc.issuer.SubjectKeyId) {
				t.Errorf("AuthorityKeyId = %x, want %x", c.AuthorityKeyId, tc.issuer.SubjectKeyId)
			}
			if got := c.Subject.Country; len(got) != 1 || got[0] != "CN" {
				t.Errorf("Country = %v, want [CN]", got)
			}
		})
	}
	if got, want := root.NotAfter.Sub(root.NotBefore), DefaultRootValidity; got < want {
		t.Errorf("root validity = %v, want at least %v", got, want)
	}
	if issuing.NotAfter.After(root.NotAfter) || tsa.NotAfter.After(issuing.NotAfter) {
		t.Errorf("a certificate outlives its issuer")
	}
	if !key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(tsa.PublicKey) {
		t.Errorf("TSA key does not match the TSA certificate")
	}
	if got, want := issuing.CRLDistributionPoints, []string{testBaseURL + PathRootCRL}; !equalStrings(got, want) {
		t.Errorf("issuing CRL DP = %v, want %v", got, want)
	}
}

// The TSA certificate must carry exactly id-kp-timeStamping in a critical
// EKU extension (RFC 3161 2.3), or OpenSSL rejects the TSA.
func TestTSACriticalEKU(t *testing.T) {
	e := newTestEnv(t)
	_, chain, err := e.ca.TSA()
	if err != nil {
		t.Fatalf("TSA: %v", err)
	}
	tsa := chain[0]
	var found int
	for _, ext := range tsa.Extensions {
		if !ext.Id.Equal(oidExtKeyUsage) {
			continue
		}
		found++
		if !ext.Critical {
			t.Errorf("EKU extension Critical = false, want true")
		}
		var oids []asn1.ObjectIdentifier
		if _, err := asn1.Unmarshal(ext.Value, &oids); err != nil {
			t.Fatalf("parse EKU: %v", err)
		}
		if len(oids) != 1 || !oids[0].Equal(oidTimeStamping) {
			t.Errorf("EKU = %v, want only %v", oids, oidTimeStamping)
		}
	}
	if found != 1 {
		t.Errorf("EKU extensions = %d, want 1", found)
	}
	if got := tsa.ExtKeyUsage; len(got) != 1 || got[0] != x509.ExtKeyUsageTimeStamping {
		t.Errorf("parsed ExtKeyUsage = %v, want [TimeStamping]", got)
	}
	// The chain verifies for time stamping.
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(chain[2])
	inter.AddCert(chain[1])
	if _, err := tsa.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}}); err != nil {
		t.Errorf("TSA chain does not verify: %v", err)
	}
}

func TestInitIsIdempotentAndReloads(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t)
	first, err := e.ca.Status()
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if got := keyCount(t, e.keys); got != 3 {
		t.Errorf("keys after Init = %d, want 3", got)
	}

	again, err := e.ca.Init(ctx)
	if err != nil {
		t.Fatalf("second Init: %v", err)
	}
	if again != first {
		t.Errorf("second Init changed the hierarchy:\n got %+v\nwant %+v", again, first)
	}

	// A new CA over a reopened key store and repository finds the same
	// hierarchy, with Load and with Init.
	reopened := e.reopen(t)
	if _, err := reopened.Status(); err == nil {
		t.Errorf("Status before Load: got nil error")
	}
	if err := reopened.Load(ctx); err != nil {
		t.Fatalf("Load: %v", err)
	}
	got, err := reopened.Status()
	if err != nil {
		t.Fatalf("Status: %v", err)
	}
	if got != first {
		t.Errorf("reloaded status:\n got %+v\nwant %+v", got, first)
	}
	if got, err := e.reopen(t).Init(ctx); err != nil || got != first {
		t.Errorf("Init after restart = %+v, %v; want %+v", got, err, first)
	}
	if got := keyCount(t, e.keys); got != 3 {
		t.Errorf("keys after reopening = %d, want 3", got)
	}
	text := first.String()
	for _, want := range []string{"root CA", "issuing CA", "TSA", first.Root.SHA256, first.Issuing.KeyURI, "CN=Signet TSA,O=Signet,C=CN"} {
		if !strings.Contains(text, want) {
			t.Errorf("Status.String() lacks %q:\n%s", want, text)
		}
	}
	for _, ci := range []CertInfo{got.Root, got.Issuing, got.TSA} {
		if !strings.HasPrefix(ci.KeyURI, "soft:") || len(ci.SHA256) != 95 || ci.KeyAlgorithm != "ECDSA P-256" {
			t.Errorf("status entry incomplete: %+v", ci)
		}
	}
}

func TestLoadWithoutInit(t *testing.T) {
	repo, err := OpenFileRepository(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ca := mustNew(t, Config{Keys: mustSoftStore(t, t.TempDir()), Repo: repo, BaseURL: testBaseURL})
	err = ca.Load(context.Background())
	if got, want := errs.CodeOf(err), errs.NotFound; got != want {
		t.Errorf("Load on empty repository: code %q, want %q (%v)", got, want, err)
	}
	if _, err := ca.CRL(context.Background()); err == nil {
		t.Errorf("CRL before Load: got nil error")
	}
}

// failingRepo fails SaveState after a number of successful calls, like a
// crash in the middle of Init.
type failingRepo struct {
	Repository
	saves int
}

func (r *failingRepo) SaveState(ctx context.Context, st State) error {
	if r.saves == 0 {
		return errors.New("disk full")
	}
	r.saves--
	return r.Repository.SaveState(ctx, st)
}

func TestInitResumesAfterInterruption(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	repo := mustFileRepository(t, dir)
	keys := mustSoftStore(t, dir)
	clock := newTestClock()
	// The root is saved; saving the issuing CA fails after its key was made.
	broken := mustNew(t, Config{Keys: keys, Repo: &failingRepo{Repository: repo, saves: 1}, BaseURL: testBaseURL, Now: clock.Now})
	if _, err := broken.Init(ctx); err == nil {
		t.Fatalf("Init with failing repository: got nil error")
	}
	st, err := repo.LoadState(ctx)
	if err != nil {
		t.Fatalf("LoadState: %v", err)
	}
	if len(st.RootDER) == 0 || len(st.IssuingDER) != 0 {
		t.Fatalf("after the interruption: root %d bytes, issuing %d bytes; want root only", len(st.RootDER), len(st.IssuingDER))
	}
	if got := keyCount(t, keys); got != 2 {
		t.Fatalf("keys generated = %d, want 2 (root, issuing)", got)
	}

	ca := mustNew(t, Config{Keys: keys, Repo: repo, BaseURL: testBaseURL, Now: clock.Now})
	status, err := ca.Init(ctx)
	if err != nil {
		t.Fatalf("resumed Init: %v", err)
	}
	if got, want := status.Root.SHA256, Fingerprint(st.RootDER); got != want {
		t.Errorf("root changed on resume: %s, want %s", got, want)
	}
	if got := keyCount(t, keys); got != 3 {
		t.Errorf("keys generated = %d, want 3 (the issuing key is reused, the TSA key added)", got)
	}
}

func TestConfigValidation(t *testing.T) {
	repo, err := OpenFileRepository(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	keys := mustSoftStore(t, t.TempDir())
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no keys", Config{Repo: repo, BaseURL: testBaseURL}},
		{"no repo", Config{Keys: keys, BaseURL: testBaseURL}},
		{"relative base url", Config{Keys: keys, Repo: repo, BaseURL: "/pki"}},
		{"ftp base url", Config{Keys: keys, Repo: repo, BaseURL: "ftp://x.cn"}},
		{"bad algorithm", Config{Keys: keys, Repo: repo, BaseURL: testBaseURL, Algorithm: "DSA"}},
		{"negative validity", Config{Keys: keys, Repo: repo, BaseURL: testBaseURL, LeafValidity: -time.Hour}},
	}
	for _, tc := range tests {
		if _, err := New(tc.cfg); err == nil {
			t.Errorf("%s: New returned nil error", tc.name)
		}
	}
	ca, err := New(Config{Keys: keys, Repo: repo, BaseURL: testBaseURL + "/"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if got := ca.cfg.BaseURL; got != testBaseURL {
		t.Errorf("BaseURL = %q, want trailing slash removed %q", got, testBaseURL)
	}
}

func TestRSAHierarchy(t *testing.T) {
	repo, err := OpenFileRepository(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ca := mustNew(t, Config{Keys: mustSoftStore(t, t.TempDir()), Repo: repo, BaseURL: testBaseURL, Algorithm: "RSA-2048"})
	st, err := ca.Init(context.Background())
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	if got := st.Issuing.KeyAlgorithm; got != "RSA 2048" {
		t.Errorf("issuing key = %q, want RSA 2048", got)
	}
	iss := mustIssuePerson(t, ca, "u-1")
	if got := iss.Certificate.SignatureAlgorithm; got != x509.SHA256WithRSA {
		t.Errorf("leaf signature algorithm = %v, want SHA256-RSA", got)
	}
	if _, err := ca.OCSPForCertificate(context.Background(), iss.Certificate); err != nil {
		t.Errorf("OCSP with RSA CA: %v", err)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
