package pki

import (
	"context"
	"crypto"
	"strings"
	"testing"

	"golang.org/x/crypto/ocsp"

	"signet/signingcore/keystore"
	"signet/signingcore/keystore/keystoretest"
)

// newSoftHSMEnv is newTestEnv with the CA keys in a fresh SoftHSM token.
func newSoftHSMEnv(tb testing.TB, alg keystore.Algorithm) (*testEnv, keystore.PKCS11Config) {
	tb.Helper()
	module, label, pin := keystoretest.NewSoftHSMToken(tb)
	p11 := keystore.PKCS11Config{ModulePath: module, TokenLabel: label, PIN: keystore.Secret(pin)}
	store := mustPKCS11(tb, p11)
	dir := tb.TempDir()
	e := &testEnv{keys: store, repo: mustFileRepository(tb, dir), clock: newTestClock(), dir: dir}
	cfg := e.config()
	cfg.Algorithm = alg
	cfg.SubscriberKeys = mustSoftStore(tb, dir)
	e.ca = mustNew(tb, cfg)
	if _, err := e.ca.Init(context.Background()); err != nil {
		tb.Fatalf("Init: %v", err)
	}
	return e, p11
}

func mustPKCS11(tb testing.TB, cfg keystore.PKCS11Config) *keystore.PKCS11Store {
	tb.Helper()
	s, err := keystore.OpenPKCS11(cfg)
	if err != nil {
		tb.Fatalf("OpenPKCS11: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// The CA works with its keys in an HSM: the whole life cycle runs on a
// SoftHSM token, and survives closing and reopening the token.
func TestCAOnSoftHSM(t *testing.T) {
	for _, alg := range []keystore.Algorithm{keystore.ECP256, keystore.RSA2048} {
		t.Run(string(alg), func(t *testing.T) {
			ctx := context.Background()
			e, p11 := newSoftHSMEnv(t, alg)
			st, err := e.ca.Status()
			if err != nil {
				t.Fatal(err)
			}
			for _, ci := range []CertInfo{st.Root, st.Issuing, st.TSA} {
				if !strings.HasPrefix(ci.KeyURI, "pkcs11:") || strings.Contains(ci.KeyURI, string(p11.PIN)) {
					t.Errorf("key URI %q: want a pkcs11: URI without the PIN", ci.KeyURI)
				}
			}
			person := mustIssuePerson(t, e.ca, "u-hsm")
			verifyLeaf(t, e.ca, person.Certificate)
			if err := e.ca.Revoke(ctx, person.Serial, ReasonKeyCompromise); err != nil {
				t.Fatal(err)
			}
			if got := crlReasons(mustParseCRL(t, e.ca, mustCRL(t, e.ca)))[person.Serial]; got != int(ReasonKeyCompromise) {
				t.Errorf("CRL reason = %d, want keyCompromise", got)
			}
			if got := mustOCSP(t, e.ca, person.Certificate, crypto.SHA1).Status; got != ocsp.Revoked {
				t.Errorf("OCSP = %d, want Revoked", got)
			}

			// Restart: close the token, open it again, Load.
			if err := e.keys.Close(); err != nil {
				t.Fatal(err)
			}
			cfg := e.config()
			cfg.Keys = mustPKCS11(t, p11)
			cfg.Repo = mustFileRepository(t, e.dir)
			cfg.SubscriberKeys = mustSoftStore(t, e.dir)
			again := mustNew(t, cfg)
			if err := again.Load(ctx); err != nil {
				t.Fatalf("Load after reopening the token: %v", err)
			}
			if got, _ := again.Status(); got != st {
				t.Errorf("status after reopening:\n got %+v\nwant %+v", got, st)
			}
			verifyLeaf(t, again, mustIssuePerson(t, again, "u-hsm-2").Certificate)
		})
	}
}

// BenchmarkIssuePersonSoftHSM is BenchmarkIssuePersonNoStorage with the
// issuing CA key in SoftHSM.
func BenchmarkIssuePersonSoftHSM(b *testing.B) {
	e, _ := newSoftHSMEnv(b, keystore.ECP256)
	e.ca.cfg.Repo = discardRepo{e.repo}
	pub := mustECKey(b).Public()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.ca.IssuePerson(ctx, PersonRequest{Name: "王小明", SubjectID: "user-1", Key: SubjectKey{PublicKey: pub}}); err != nil {
			b.Fatal(err)
		}
	}
}
