// Package keystoretest is the conformance suite that every keystore.Store
// passes (the software store and the PKCS#11 store on SoftHSM run the same
// tests), and test support other packages reuse: NewSoftHSMToken makes a
// throwaway SoftHSM token for a test.
package keystoretest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"signet/errs"
	"signet/signingcore/keystore"
)

// Suite describes the store under test.
type Suite struct {
	// NewStore opens the store under test. Every call within one Run must
	// open the same storage (the same directory and master key, the same
	// token), so keys survive closing a store and opening it again. It
	// should register Close with t.Cleanup; the suite may also close a store
	// earlier, so Close must be idempotent.
	NewStore func(t *testing.T) keystore.Store
	// OpenWrongSecret, when set, opens the same storage with a wrong master
	// key or PIN; the suite checks that it fails with errs.Unauthenticated.
	OpenWrongSecret func(t *testing.T) (keystore.Store, error)
	// Secret, when set, is the PIN or master key text; the suite checks that
	// it appears in no error message and no URI.
	Secret string
}

// Run runs the conformance suite with only a store constructor.
func Run(t *testing.T, newStore func(t *testing.T) keystore.Store) {
	t.Helper()
	Suite{NewStore: newStore}.Run(t)
}

// Run runs every conformance test as a subtest of t.
func (s Suite) Run(t *testing.T) {
	t.Helper()
	if s.NewStore == nil {
		t.Fatal("keystoretest: Suite.NewStore is nil")
	}
	t.Run("GenerateFindSign", s.testGenerateFindSign)
	t.Run("SignInputChecks", s.testSignInputChecks)
	t.Run("OpenSSLVerifies", s.testOpenSSL)
	t.Run("ListOrder", s.testListOrder)
	t.Run("DeleteThenFind", s.testDelete)
	t.Run("DuplicateLabel", s.testDuplicate)
	t.Run("ConcurrentGenerateSameLabel", s.testConcurrentGenerate)
	t.Run("ConcurrentSign", s.testConcurrentSign)
	t.Run("SurvivesReopen", s.testReopen)
	t.Run("BadInput", s.testBadInput)
	if s.OpenWrongSecret != nil {
		t.Run("WrongSecret", s.testWrongSecret)
	}
}

// label returns a label unique to this run, so tests sharing one store do
// not collide.
func label(t *testing.T, prefix string) string {
	t.Helper()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random: %v", err)
	}
	return fmt.Sprintf("%s-%x", prefix, b)
}

// noSecret fails the test if text contains the suite's secret.
func (s Suite) noSecret(t *testing.T, what, text string) {
	t.Helper()
	if s.Secret != "" && strings.Contains(text, s.Secret) {
		t.Errorf("%s contains the secret: %q", what, text)
	}
}

// wantCode fails unless err carries the code, and checks it for the secret.
func (s Suite) wantCode(t *testing.T, what string, err error, code errs.Code) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: got nil error, want %s", what, code)
		return
	}
	if got := errs.CodeOf(err); got != code {
		t.Errorf("%s: got code %s (%v), want %s", what, got, err, code)
	}
	if msg := errs.MessageOf(err); code != errs.Internal && !hasHan(msg) {
		t.Errorf("%s: user message %q is not Chinese", what, msg)
	}
	s.noSecret(t, what+" error", err.Error())
}

func hasHan(s string) bool {
	for _, r := range s {
		if r >= 0x4e00 && r <= 0x9fff {
			return true
		}
	}
	return false
}

func digestOf(t *testing.T, h crypto.Hash, msg []byte) []byte {
	t.Helper()
	switch h {
	case crypto.SHA256:
		d := sha256.Sum256(msg)
		return d[:]
	case crypto.SHA384:
		d := sha512.Sum384(msg)
		return d[:]
	case crypto.SHA512:
		d := sha512.Sum512(msg)
		return d[:]
	}
	t.Fatalf("digestOf: unsupported hash %v", h)
	return nil
}

// verify checks sig over digest with the public key (ECDSA DER, RSA PKCS#1
// v1.5, or RSA-PSS when pss is set).
func verify(pub crypto.PublicKey, h crypto.Hash, digest, sig []byte, pss bool) error {
	switch pub := pub.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, digest, sig) {
			return errors.New("ECDSA signature does not verify")
		}
		return nil
	case *rsa.PublicKey:
		if pss {
			return rsa.VerifyPSS(pub, h, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
		}
		return rsa.VerifyPKCS1v15(pub, h, digest, sig)
	}
	return fmt.Errorf("unexpected public key type %T", pub)
}

// mustSignVerify signs a fresh message's digest with key and verifies it.
func mustSignVerify(t *testing.T, key keystore.Key, pub crypto.PublicKey, h crypto.Hash, pss bool) {
	t.Helper()
	msg := make([]byte, 100)
	rand.Read(msg)
	digest := digestOf(t, h, msg)
	var opts crypto.SignerOpts = h
	if pss {
		opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}
	}
	sig, err := key.Sign(rand.Reader, digest, opts)
	if err != nil {
		t.Fatalf("Sign(%v, pss=%v): %v", h, pss, err)
	}
	if err := verify(pub, h, digest, sig, pss); err != nil {
		t.Fatalf("verify %v pss=%v signature of %s: %v", h, pss, key.Info().URI, err)
	}
	other := digestOf(t, h, append(msg, 0))
	if verify(pub, h, other, sig, pss) == nil {
		t.Fatalf("signature verified against a different digest")
	}
}

func publicSize(pub crypto.PublicKey) string {
	switch pub := pub.(type) {
	case *ecdsa.PublicKey:
		return "EC-" + pub.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA-%d", pub.N.BitLen())
	}
	return fmt.Sprintf("%T", pub)
}

func samePublic(a, b crypto.PublicKey) bool {
	x, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && x.Equal(b)
}

func (s Suite) testGenerateFindSign(t *testing.T) {
	st := s.NewStore(t)
	ctx := context.Background()
	tests := []struct {
		name     string
		alg      keystore.Algorithm
		wantAlg  keystore.Algorithm
		wantSize string
	}{
		{"default is P-256", "", keystore.ECP256, "EC-P-256"},
		{"P-256", keystore.ECP256, keystore.ECP256, "EC-P-256"},
		{"RSA-2048", keystore.RSA2048, keystore.RSA2048, "RSA-2048"},
		{"RSA-3072", keystore.RSA3072, keystore.RSA3072, "RSA-3072"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := label(t, "合同签名密钥-"+string(tt.wantAlg))
			key, err := st.Generate(ctx, l, tt.alg)
			if err != nil {
				t.Fatalf("Generate(%q, %q): %v", l, tt.alg, err)
			}
			info := key.Info()
			if info.Label != l || info.Algorithm != tt.wantAlg || info.URI == "" {
				t.Fatalf("Info() = {URI %q, Label %q, Algorithm %q}, want label %q algorithm %q and a URI", info.URI, info.Label, info.Algorithm, l, tt.wantAlg)
			}
			if got := publicSize(info.Public); got != tt.wantSize {
				t.Fatalf("public key is %s, want %s", got, tt.wantSize)
			}
			if !samePublic(key.Public(), info.Public) {
				t.Fatalf("Public() differs from Info().Public")
			}
			s.noSecret(t, "URI", info.URI)

			found, err := st.Find(ctx, info.URI)
			if err != nil {
				t.Fatalf("Find(%q): %v", info.URI, err)
			}
			fi := found.Info()
			if fi.URI != info.URI || fi.Label != info.Label || fi.Algorithm != info.Algorithm || !samePublic(fi.Public, info.Public) {
				t.Fatalf("Find(%q).Info() = {%q %q %q %s}, want {%q %q %q same public}", info.URI, fi.URI, fi.Label, fi.Algorithm, publicSize(fi.Public), info.URI, info.Label, info.Algorithm)
			}
			for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
				mustSignVerify(t, key, info.Public, h, false)
				mustSignVerify(t, found, info.Public, h, false)
				if _, ok := info.Public.(*rsa.PublicKey); ok {
					mustSignVerify(t, found, info.Public, h, true)
				}
			}
		})
	}
}

func (s Suite) testSignInputChecks(t *testing.T) {
	st := s.NewStore(t)
	key, err := st.Generate(context.Background(), label(t, "input"), keystore.ECP256)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	d := sha256.Sum256([]byte("x"))
	tests := []struct {
		name   string
		digest []byte
		opts   crypto.SignerOpts
	}{
		{"short digest", d[:20], crypto.SHA256},
		{"long digest", append(d[:], 1), crypto.SHA256},
		{"SHA-1", d[:20], crypto.SHA1},
		{"no hash", d[:], crypto.Hash(0)},
	}
	for _, tt := range tests {
		_, err := key.Sign(rand.Reader, tt.digest, tt.opts)
		s.wantCode(t, "Sign with "+tt.name, err, errs.Invalid)
	}
}

func (s Suite) testOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Fatalf("openssl not found (Debian package openssl; `make test` installs it): %v", err)
	}
	st := s.NewStore(t)
	tests := []struct {
		alg    keystore.Algorithm
		pss    bool
		hash   crypto.Hash
		dgst   string
		extras []string
	}{
		{keystore.ECP256, false, crypto.SHA256, "-sha256", nil},
		{keystore.RSA2048, false, crypto.SHA384, "-sha384", nil},
		{keystore.RSA2048, true, crypto.SHA256, "-sha256", []string{"-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:-1"}},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%s/pss=%v", tt.alg, tt.pss)
		t.Run(name, func(t *testing.T) {
			key, err := st.Generate(context.Background(), label(t, "openssl"), tt.alg)
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			dir := t.TempDir()
			der, err := x509.MarshalPKIXPublicKey(key.Public())
			if err != nil {
				t.Fatalf("marshal public key: %v", err)
			}
			pubPath := filepath.Join(dir, "pub.pem")
			writeFile(t, pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
			msg := []byte("合同编号 HT-2026-0001，甲方：某某有限公司")
			var opts crypto.SignerOpts = tt.hash
			if tt.pss {
				opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: tt.hash}
			}
			sig, err := key.Sign(rand.Reader, digestOf(t, tt.hash, msg), opts)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			msgPath, sigPath := filepath.Join(dir, "msg"), filepath.Join(dir, "sig")
			writeFile(t, msgPath, msg)
			writeFile(t, sigPath, sig)
			args := append([]string{"dgst", tt.dgst, "-verify", pubPath, "-signature", sigPath}, tt.extras...)
			out, err := exec.Command(openssl, append(args, msgPath)...).CombinedOutput()
			if err != nil || !bytes.Contains(out, []byte("Verified OK")) {
				t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			writeFile(t, msgPath, append(msg, '.'))
			out, err = exec.Command(openssl, append(args, msgPath)...).CombinedOutput()
			if err == nil || bytes.Contains(out, []byte("Verified OK")) {
				t.Fatalf("openssl verified the signature over a changed message:\n%s", out)
			}
		})
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}

func (s Suite) testListOrder(t *testing.T) {
	st := s.NewStore(t)
	ctx := context.Background()
	prefix := label(t, "order")
	want := []string{prefix + "-a", prefix + "-b", prefix + "-c", prefix + "-印章"}
	uris := map[string]string{}
	for i, suffix := range []string{"-c", "-印章", "-a", "-b"} {
		alg := keystore.ECP256
		if i == 1 {
			alg = keystore.RSA2048
		}
		k, err := st.Generate(ctx, prefix+suffix, alg)
		if err != nil {
			t.Fatalf("Generate: %v", err)
		}
		uris[prefix+suffix] = k.Info().URI
	}
	list, err := st.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if !sort.SliceIsSorted(list, func(i, j int) bool { return list[i].Label < list[j].Label }) {
		t.Errorf("List is not ordered by label: %v", labels(list))
	}
	var got []string
	for _, info := range list {
		s.noSecret(t, "listed URI", info.URI)
		if !strings.HasPrefix(info.Label, prefix) {
			continue
		}
		got = append(got, info.Label)
		if info.URI != uris[info.Label] {
			t.Errorf("List URI for %q = %q, want %q", info.Label, info.URI, uris[info.Label])
		}
		if info.Public == nil || info.Algorithm == "" {
			t.Errorf("List entry %q lacks public key or algorithm", info.Label)
		}
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("List labels = %q, want %q", got, want)
	}
}

func labels(list []keystore.KeyInfo) []string {
	var out []string
	for _, i := range list {
		out = append(out, i.Label)
	}
	return out
}

func (s Suite) testDelete(t *testing.T) {
	st := s.NewStore(t)
	ctx := context.Background()
	for _, alg := range []keystore.Algorithm{keystore.ECP256, keystore.RSA2048} {
		l := label(t, "delete")
		key, err := st.Generate(ctx, l, alg)
		if err != nil {
			t.Fatalf("Generate: %v", err)
		}
		uri := key.Info().URI
		if err := st.Delete(ctx, uri); err != nil {
			t.Fatalf("Delete(%q): %v", uri, err)
		}
		_, err = st.Find(ctx, uri)
		s.wantCode(t, "Find after Delete", err, errs.NotFound)
		s.wantCode(t, "second Delete", st.Delete(ctx, uri), errs.NotFound)
		list, err := st.List(ctx)
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		for _, info := range list {
			if info.Label == l {
				t.Errorf("List still has deleted key %q", l)
			}
		}
		// The label is free again, and the old URI does not name the new key.
		again, err := st.Generate(ctx, l, alg)
		if err != nil {
			t.Fatalf("Generate after Delete: %v", err)
		}
		if again.Info().URI == uri {
			t.Errorf("regenerated key has the deleted key's URI %q", uri)
		}
		_, err = st.Find(ctx, uri)
		s.wantCode(t, "Find old URI after regenerating the label", err, errs.NotFound)
	}
}

func (s Suite) testDuplicate(t *testing.T) {
	st := s.NewStore(t)
	ctx := context.Background()
	l := label(t, "dup")
	first, err := st.Generate(ctx, l, keystore.ECP256)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	_, err = st.Generate(ctx, l, keystore.RSA2048)
	s.wantCode(t, "Generate with a used label", err, errs.Conflict)
	found, err := st.Find(ctx, first.Info().URI)
	if err != nil {
		t.Fatalf("Find first key: %v", err)
	}
	if !samePublic(found.Public(), first.Public()) {
		t.Errorf("the failed Generate changed the existing key")
	}
}

func (s Suite) testConcurrentGenerate(t *testing.T) {
	st := s.NewStore(t)
	l := label(t, "race")
	const n = 8
	errc := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, err := st.Generate(context.Background(), l, keystore.ECP256)
			errc <- err
		})
	}
	wg.Wait()
	close(errc)
	ok := 0
	for err := range errc {
		switch {
		case err == nil:
			ok++
		case errs.Is(err, errs.Conflict):
		default:
			t.Errorf("concurrent Generate: got %v, want nil or Conflict", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d concurrent Generate calls with one label succeeded, want exactly 1", ok)
	}
}

func (s Suite) testConcurrentSign(t *testing.T) {
	st := s.NewStore(t)
	ctx := context.Background()
	var keys []keystore.Key
	for _, alg := range []keystore.Algorithm{keystore.ECP256, keystore.RSA2048} {
		k, err := st.Generate(ctx, label(t, "concurrent"), alg)
		if err != nil {
			t.Fatalf("Generate: %v", err)
		}
		keys = append(keys, k)
	}
	const goroutines, each = 16, 12
	errc := make(chan error, goroutines*each+goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			key := keys[g%len(keys)]
			for i := range each {
				digest := sha256.Sum256(fmt.Appendf(nil, "goroutine %d message %d", g, i))
				sig, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
				if err != nil {
					errc <- fmt.Errorf("goroutine %d sign %d: %w", g, i, err)
					continue
				}
				if err := verify(key.Public(), crypto.SHA256, digest[:], sig, false); err != nil {
					errc <- fmt.Errorf("goroutine %d sign %d: %w", g, i, err)
				}
			}
			// Lookups interleaved with signing.
			if _, err := st.Find(ctx, key.Info().URI); err != nil {
				errc <- fmt.Errorf("goroutine %d Find: %w", g, err)
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
}

func (s Suite) testReopen(t *testing.T) {
	ctx := context.Background()
	first := s.NewStore(t)
	key, err := first.Generate(ctx, label(t, "reopen"), keystore.ECP256)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	info := key.Info()
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := first.Find(ctx, info.URI); !errors.Is(err, keystore.ErrClosed) {
		t.Errorf("Find on a closed store: got %v, want ErrClosed", err)
	}
	second := s.NewStore(t)
	found, err := second.Find(ctx, info.URI)
	if err != nil {
		t.Fatalf("Find after reopening: %v", err)
	}
	if !samePublic(found.Public(), info.Public) {
		t.Fatalf("reopened key has a different public key")
	}
	mustSignVerify(t, found, info.Public, crypto.SHA256, false)
}

func (s Suite) testBadInput(t *testing.T) {
	st := s.NewStore(t)
	ctx := context.Background()
	genTests := []struct {
		name  string
		label string
		alg   keystore.Algorithm
	}{
		{"empty label", "", keystore.ECP256},
		{"control character", "a\nb", keystore.ECP256},
		{"leading space", " a", keystore.ECP256},
		{"too long", strings.Repeat("长", 100), keystore.ECP256},
		{"unknown algorithm", label(t, "alg"), "DSA-1024"},
	}
	for _, tt := range genTests {
		_, err := st.Generate(ctx, tt.label, tt.alg)
		s.wantCode(t, "Generate with "+tt.name, err, errs.Invalid)
	}
	secret := s.Secret
	if secret == "" {
		secret = "123456"
	}
	uriTests := []struct{ name, uri string }{
		{"empty", ""},
		{"http URL", "https://example.com/key"},
		{"PIN in query", "pkcs11:object=x?pin-value=" + secret},
		{"PIN in soft URI", "soft:object=x?pin-value=" + secret},
	}
	for _, tt := range uriTests {
		_, err := st.Find(ctx, tt.uri)
		s.wantCode(t, "Find "+tt.name, err, errs.Invalid)
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("Find %s: error repeats the PIN: %v", tt.name, err)
		}
		s.wantCode(t, "Delete "+tt.name, st.Delete(ctx, tt.uri), errs.Invalid)
	}
}

func (s Suite) testWrongSecret(t *testing.T) {
	// Make sure the storage exists and holds a key first.
	st := s.NewStore(t)
	if _, err := st.Generate(context.Background(), label(t, "secret"), keystore.ECP256); err != nil {
		t.Fatalf("Generate: %v", err)
	}
	bad, err := s.OpenWrongSecret(t)
	if err == nil {
		bad.Close()
		t.Fatalf("opening with a wrong secret succeeded")
	}
	if bad != nil {
		t.Errorf("opening with a wrong secret returned a store and an error")
	}
	s.wantCode(t, "open with wrong secret", err, errs.Unauthenticated)
	// The right secret still works afterwards.
	if _, err := st.List(context.Background()); err != nil {
		t.Errorf("List after a failed open with a wrong secret: %v", err)
	}
}
