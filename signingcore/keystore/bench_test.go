//go:build cgo

package keystore_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"path/filepath"
	"testing"

	"signet/signingcore/keystore"
	"signet/signingcore/keystore/keystoretest"
)

// BenchmarkSign signs one SHA-256 digest per op: bare crypto/ecdsa and
// crypto/rsa as baselines, the software store, and SoftHSM through the
// PKCS#11 store; the -parallel variants sign from GOMAXPROCS goroutines.
func BenchmarkSign(b *testing.B) {
	digest := sha256.Sum256([]byte("benchmark"))
	ctx := context.Background()
	run := func(name string, signer crypto.Signer) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"-parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := signer.Sign(rand.Reader, digest[:], crypto.SHA256); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	run("baseline-ecdsa-P256", ecKey)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	run("baseline-rsa-2048", rsaKey)

	dir := b.TempDir()
	soft, err := keystore.OpenSoft(keystore.SoftConfig{Dir: filepath.Join(dir, "keys"), MasterKeyFile: filepath.Join(dir, "master.key"), CreateMasterKey: true})
	if err != nil {
		b.Fatal(err)
	}
	defer soft.Close()
	softEC, err := soft.Generate(ctx, "bench-ec", keystore.ECP256)
	if err != nil {
		b.Fatal(err)
	}
	run("soft-P256", softEC)
	softRSA, err := soft.Generate(ctx, "bench-rsa", keystore.RSA2048)
	if err != nil {
		b.Fatal(err)
	}
	run("soft-RSA2048", softRSA)

	module, token, pin := keystoretest.NewSoftHSMToken(b)
	hsm, err := keystore.OpenPKCS11(keystore.PKCS11Config{ModulePath: module, TokenLabel: token, PIN: keystore.Secret(pin), Sessions: 4})
	if err != nil {
		b.Fatal(err)
	}
	defer hsm.Close()
	hsmEC, err := hsm.Generate(ctx, "bench-ec", keystore.ECP256)
	if err != nil {
		b.Fatal(err)
	}
	run("softhsm-P256", hsmEC)
	hsmRSA, err := hsm.Generate(ctx, "bench-rsa", keystore.RSA2048)
	if err != nil {
		b.Fatal(err)
	}
	run("softhsm-RSA2048", hsmRSA)
}

// BenchmarkFind measures looking a key up by URI (done once per signing
// request when keys are not cached by the caller).
func BenchmarkFind(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	soft, err := keystore.OpenSoft(keystore.SoftConfig{Dir: filepath.Join(dir, "keys"), MasterKeyFile: filepath.Join(dir, "master.key"), CreateMasterKey: true})
	if err != nil {
		b.Fatal(err)
	}
	defer soft.Close()
	module, token, pin := keystoretest.NewSoftHSMToken(b)
	hsm, err := keystore.OpenPKCS11(keystore.PKCS11Config{ModulePath: module, TokenLabel: token, PIN: keystore.Secret(pin)})
	if err != nil {
		b.Fatal(err)
	}
	defer hsm.Close()
	for name, st := range map[string]keystore.Store{"soft": soft, "softhsm": hsm} {
		k, err := st.Generate(ctx, "find", keystore.ECP256)
		if err != nil {
			b.Fatal(err)
		}
		uri := k.Info().URI
		b.Run(name+"-P256", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := st.Find(ctx, uri); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
