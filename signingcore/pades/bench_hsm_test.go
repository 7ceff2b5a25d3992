//go:build cgo

package pades

import (
	"context"
	"crypto"
	"crypto/x509"
	"path/filepath"
	"testing"

	"signet/signingcore/keystore"
	"signet/signingcore/keystore/keystoretest"
)

// storeKey is a signing key held by a keystore, with a certificate for it
// from the fixture PKI.
type storeKey struct {
	name  string
	key   crypto.Signer
	chain []*x509.Certificate
}

// openStoreKeys generates the keys the issue measures: a P-256 key in the
// software store (keystore.OpenSoft), and a P-256 and an RSA-2048 key in a
// private SoftHSM token through the PKCS#11 store. Both stores are closed
// when tb ends. NewSoftHSMToken sets SOFTHSM2_CONF, so tb must not be
// parallel.
func openStoreKeys(tb testing.TB, f *fixture) []storeKey {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	soft, err := keystore.OpenSoft(keystore.SoftConfig{Dir: filepath.Join(dir, "keys"), MasterKeyFile: filepath.Join(dir, "master.key"), CreateMasterKey: true})
	if err != nil {
		tb.Fatalf("OpenSoft: %v", err)
	}
	tb.Cleanup(func() { soft.Close() })
	module, token, pin := keystoretest.NewSoftHSMToken(tb)
	hsm, err := keystore.OpenPKCS11(keystore.PKCS11Config{ModulePath: module, TokenLabel: token, PIN: keystore.Secret(pin)})
	if err != nil {
		tb.Fatalf("OpenPKCS11: %v", err)
	}
	tb.Cleanup(func() { hsm.Close() })
	specs := []struct {
		name  string
		store keystore.Store
		alg   keystore.Algorithm
	}{
		{"soft-P256", soft, keystore.ECP256},
		{"softhsm-P256", hsm, keystore.ECP256},
		{"softhsm-RSA2048", hsm, keystore.RSA2048},
	}
	keys := make([]storeKey, 0, len(specs))
	for _, s := range specs {
		k, err := s.store.Generate(ctx, "bench-"+string(s.alg), s.alg)
		if err != nil {
			tb.Fatalf("%s: Generate: %v", s.name, err)
		}
		cert := f.pki.Signer(tb, "王小明", k)
		keys = append(keys, storeKey{name: s.name, key: k, chain: []*x509.Certificate{cert, f.pki.Root}})
	}
	return keys
}

// BenchmarkSignStoreKeys is the measurement: Signer.Sign (B-T with
// the in-process TSA, visible 400×400 公章) on the 1-page, 10-page and 5 MB
// files with a software-store P-256 key, a SoftHSM P-256 key and a SoftHSM
// RSA-2048 key. Run it together with BenchmarkBaseline (bare SHA-256 +
// ECDSA) and BenchmarkPdfsign (the peer) so the ratios come from one run.
// Besides ns/op, B/op and allocs/op it reports peak-heap-B: the heap one
// signature grows by with the collector off, plus the input.
func BenchmarkSignStoreKeys(b *testing.B) {
	f := newFixture(b)
	for _, k := range openStoreKeys(b, f) {
		req := f.benchRequest(b, k.chain)
		for _, d := range benchDocsOnce() {
			b.Run(k.name+"/"+d.name, func(b *testing.B) {
				signOnce := func() {
					if _, err := f.signer.Sign(context.Background(), d.pdf, req, k.key, f.tsa); err != nil {
						b.Fatal(err)
					}
				}
				signOnce() // warm the seal cache, as in a long-running server
				b.ReportAllocs()
				b.SetBytes(int64(len(d.pdf)))
				for b.Loop() {
					signOnce()
				}
				reportPeakHeap(b, len(d.pdf), signOnce)
			})
		}
	}
}

// TestStoreKeySignaturesAreValid makes sure the store-key benchmarks do
// real work: a signature by each key, with the benchmark seal, is valid and
// trusted in pdfsig and openssl.
func TestStoreKeySignaturesAreValid(t *testing.T) {
	f := newFixture(t)
	doc := makePDF(10, 20000, false)
	for _, k := range openStoreKeys(t, f) {
		t.Run(k.name, func(t *testing.T) {
			out, err := f.signer.Sign(context.Background(), doc, f.benchRequest(t, k.chain), k.key, f.tsa)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			f.requireValid(t, out, 1)
		})
	}
}
