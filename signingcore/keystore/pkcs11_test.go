//go:build cgo

package keystore_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"signet/errs"
	"signet/signingcore/keystore"
	"signet/signingcore/keystore/keystoretest"
)

func openPKCS11(t *testing.T, cfg keystore.PKCS11Config) *keystore.PKCS11Store {
	t.Helper()
	s, err := keystore.OpenPKCS11(cfg)
	if err != nil {
		t.Fatalf("OpenPKCS11(%v): %v", cfg, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPKCS11Conformance(t *testing.T) {
	module, token, pin := keystoretest.NewSoftHSMToken(t)
	cfg := keystore.PKCS11Config{ModulePath: module, TokenLabel: token, PIN: keystore.Secret(pin), Sessions: 4}
	keystoretest.Suite{
		NewStore: func(t *testing.T) keystore.Store { return openPKCS11(t, cfg) },
		OpenWrongSecret: func(t *testing.T) (keystore.Store, error) {
			bad := cfg
			bad.PIN = keystore.Secret(pin + "0")
			s, err := keystore.OpenPKCS11(bad)
			if err != nil {
				return nil, err
			}
			return s, nil
		},
		Secret: pin,
	}.Run(t)
}

func TestPKCS11WrongPINAlone(t *testing.T) {
	module, token, pin := keystoretest.NewSoftHSMToken(t)
	// No other store is open: the token itself must refuse the PIN.
	_, err := keystore.OpenPKCS11(keystore.PKCS11Config{ModulePath: module, TokenLabel: token, PIN: "0000"})
	if !errs.Is(err, errs.Unauthenticated) {
		t.Fatalf("wrong PIN: %v, want Unauthenticated", err)
	}
	_, err = keystore.OpenPKCS11(keystore.PKCS11Config{ModulePath: module, TokenLabel: token + "x", PIN: keystore.Secret(pin)})
	if !errs.Is(err, errs.NotFound) || !errors.Is(err, keystore.ErrTokenUnavailable) {
		t.Fatalf("unknown token label: %v, want NotFound wrapping ErrTokenUnavailable", err)
	}
	if strings.Contains(err.Error(), pin) {
		t.Fatalf("error contains the PIN: %v", err)
	}
}

func TestPKCS11PINFile(t *testing.T) {
	module, token, pin := keystoretest.NewSoftHSMToken(t)
	path := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(path, []byte(pin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := openPKCS11(t, keystore.PKCS11Config{ModulePath: module, TokenLabel: token, PINFile: path})
	if _, err := s.Generate(context.Background(), "via-pin-file", keystore.ECP256); err != nil {
		t.Fatalf("Generate: %v", err)
	}
	tests := []struct {
		name string
		cfg  keystore.PKCS11Config
	}{
		{"both PIN and PIN file", keystore.PKCS11Config{ModulePath: module, TokenLabel: token, PIN: keystore.Secret(pin), PINFile: path}},
		{"no PIN", keystore.PKCS11Config{ModulePath: module, TokenLabel: token}},
		{"missing PIN file", keystore.PKCS11Config{ModulePath: module, TokenLabel: token, PINFile: path + ".missing"}},
		{"no token label", keystore.PKCS11Config{ModulePath: module, PIN: keystore.Secret(pin)}},
		{"missing module", keystore.PKCS11Config{ModulePath: "/nonexistent/libpkcs11.so", TokenLabel: token, PIN: keystore.Secret(pin)}},
	}
	for _, tt := range tests {
		s, err := keystore.OpenPKCS11(tt.cfg)
		if err == nil {
			s.Close()
			t.Errorf("%s: OpenPKCS11 succeeded, want an error", tt.name)
			continue
		}
		if strings.Contains(err.Error(), pin) {
			t.Errorf("%s: error contains the PIN: %v", tt.name, err)
		}
	}
}

func TestPKCS11ConfigRedactsPIN(t *testing.T) {
	const pin = "s3cret-4711"
	cfg := keystore.PKCS11Config{ModulePath: "/m.so", TokenLabel: "T", PIN: pin, Sessions: 2}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("open", "cfg", cfg, "pin", cfg.PIN)
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	wrapper := struct{ HSM keystore.PKCS11Config }{cfg}
	verbD := "%d"
	outputs := map[string]string{
		"%v":           fmt.Sprintf("%v", cfg),
		"%+v":          fmt.Sprintf("%+v", cfg),
		"%#v":          fmt.Sprintf("%#v", cfg),
		"%s":           fmt.Sprintf("%s", cfg),
		"%v pointer":   fmt.Sprintf("%v", &cfg),
		"%+v nested":   fmt.Sprintf("%+v", wrapper),
		"%#v nested":   fmt.Sprintf("%#v", wrapper),
		"%q PIN":       fmt.Sprintf("%q", cfg.PIN),
		"%x PIN":       fmt.Sprintf("%x", cfg.PIN),
		"%d PIN":       fmt.Sprintf("%d", cfg.PIN),
		"%d config":    fmt.Sprintf(verbD, cfg), // vet rejects a constant %d for a struct
		"%10.3s PIN":   fmt.Sprintf("%10.3s", cfg.PIN),
		"slog JSON":    logged.String(),
		"json.Marshal": string(js),
	}
	for name, out := range outputs {
		if strings.Contains(out, pin) || strings.Contains(out, fmt.Sprintf("%x", pin)) {
			t.Errorf("%s shows the PIN: %s", name, out)
		}
	}
	if !strings.Contains(outputs["%v"], "/m.so") || !strings.Contains(outputs["slog JSON"], "/m.so") {
		t.Errorf("redaction hid the rest of the config: %q / %q", outputs["%v"], outputs["slog JSON"])
	}
}

// TestPKCS11KeyAttributes checks with pkcs11-tool (OpenSC, no project code)
// that generated private keys are sensitive, never extractable token objects.
func TestPKCS11KeyAttributes(t *testing.T) {
	tool := lookPKCS11Tool(t)
	module, token, pin := keystoretest.NewSoftHSMToken(t)
	s := openPKCS11(t, keystore.PKCS11Config{ModulePath: module, TokenLabel: token, PIN: keystore.Secret(pin)})
	for _, alg := range []keystore.Algorithm{keystore.ECP256, keystore.RSA2048} {
		if _, err := s.Generate(context.Background(), "attr-"+string(alg), alg); err != nil {
			t.Fatalf("Generate %s: %v", alg, err)
		}
	}
	out, err := exec.Command(tool, "--module", module, "--token-label", token, "--login", "--pin", pin,
		"--list-objects", "--type", "privkey").CombinedOutput()
	if err != nil {
		t.Fatalf("pkcs11-tool --list-objects: %v\n%s", err, out)
	}
	blocks := strings.Split(string(out), "Private Key Object")
	found := 0
	for _, b := range blocks[1:] {
		if !strings.Contains(b, "attr-") {
			continue
		}
		found++
		for _, want := range []string{"sensitive", "never extractable", "Usage:", "sign"} {
			if !strings.Contains(b, want) {
				t.Errorf("private key object lacks %q:\n%s", want, b)
			}
		}
		if strings.Contains(b, "Access:       extractable") {
			t.Errorf("private key is extractable:\n%s", b)
		}
	}
	if found != 2 {
		t.Fatalf("pkcs11-tool listed %d of our 2 private keys:\n%s", found, out)
	}
}

func lookPKCS11Tool(t *testing.T) string {
	t.Helper()
	tool, err := exec.LookPath("pkcs11-tool")
	if err != nil {
		t.Fatalf("pkcs11-tool not found (Debian package opensc; `make test` installs it): %v", err)
	}
	return tool
}

// TestPKCS11ExternalKeys: keys made by pkcs11-tool, as on a user's UKey, are
// found by URI, listed, and sign through the store and through SignDigest.
func TestPKCS11ExternalKeys(t *testing.T) {
	tool := lookPKCS11Tool(t)
	module, token, pin := keystoretest.NewSoftHSMToken(t)
	gen := func(keyType, id, label string) {
		t.Helper()
		out, err := exec.Command(tool, "--module", module, "--token-label", token, "--login", "--pin", pin,
			"--keypairgen", "--key-type", keyType, "--id", id, "--label", label).CombinedOutput()
		if err != nil {
			t.Fatalf("pkcs11-tool --keypairgen %s: %v\n%s", keyType, err, out)
		}
	}
	gen("EC:prime256v1", "a1b2", "ukey ec")
	gen("rsa:2048", "c3", "ukey rsa")

	s := openPKCS11(t, keystore.PKCS11Config{ModulePath: module, TokenLabel: token, PIN: keystore.Secret(pin)})
	ctx := context.Background()
	list, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, info := range list {
		got = append(got, info.Label+"="+string(info.Algorithm))
	}
	if want := "ukey ec=EC-P256 ukey rsa=RSA-2048"; strings.Join(got, " ") != want {
		t.Fatalf("List = %q, want %q", strings.Join(got, " "), want)
	}
	tests := []struct {
		uri  string
		opts crypto.SignerOpts
	}{
		{"pkcs11:token=" + token + ";id=%A1%B2", crypto.SHA256},
		{"pkcs11:object=ukey%20ec;type=private", crypto.SHA384},
		{"pkcs11:token=" + token + ";object=ukey%20rsa", crypto.SHA256},
		{"pkcs11:id=%c3", &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}},
	}
	for _, tt := range tests {
		key, err := s.Find(ctx, tt.uri)
		if err != nil {
			t.Errorf("Find(%q): %v", tt.uri, err)
			continue
		}
		msg := []byte("contract " + tt.uri)
		h := tt.opts.HashFunc().New()
		h.Write(msg)
		digest := h.Sum(nil)
		for name, sign := range map[string]func() ([]byte, error){
			"store": func() ([]byte, error) { return key.Sign(nil, digest, tt.opts) },
			"SignDigest": func() ([]byte, error) {
				return keystore.SignDigest(ctx, module, tt.uri, keystore.Secret(pin), digest, tt.opts)
			},
		} {
			sig, err := sign()
			if err != nil {
				t.Errorf("%s sign with %q: %v", name, tt.uri, err)
				continue
			}
			if err := verifySig(key.Public(), tt.opts, digest, sig); err != nil {
				t.Errorf("%s signature with %q: %v", name, tt.uri, err)
			}
		}
	}
	// SignDigest failures are clear and never show the PIN.
	d := sha256.Sum256(nil)
	failures := []struct {
		name, uri string
		pin       string
		want      errs.Code
	}{
		{"wrong PIN", "pkcs11:token=" + token + ";id=%A1%B2", "999999", errs.Unauthenticated},
		{"no such key", "pkcs11:token=" + token + ";id=%FF", pin, errs.NotFound},
		{"no such token", "pkcs11:token=nope;id=%A1%B2", pin, errs.NotFound},
		{"PIN in URI", "pkcs11:token=" + token + ";id=%A1%B2?pin-value=" + pin, pin, errs.Invalid},
	}
	for _, tt := range failures {
		_, err := keystore.SignDigest(ctx, module, tt.uri, keystore.Secret(tt.pin), d[:], crypto.SHA256)
		if got := errs.CodeOf(err); got != tt.want {
			t.Errorf("SignDigest %s: code %s (%v), want %s", tt.name, got, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), pin) {
			t.Errorf("SignDigest %s: error contains the PIN: %v", tt.name, err)
		}
	}
}

func verifySig(pub crypto.PublicKey, opts crypto.SignerOpts, digest, sig []byte) error {
	switch pub := pub.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, digest, sig) {
			return errors.New("ECDSA verify failed")
		}
		return nil
	case *rsa.PublicKey:
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			return rsa.VerifyPSS(pub, pss.Hash, digest, sig, pss)
		}
		return rsa.VerifyPKCS1v15(pub, opts.HashFunc(), digest, sig)
	}
	return fmt.Errorf("unexpected key type %T", pub)
}

// TestPKCS11SessionRecovery closes every session behind the pool's back
// (as a token reset does): signing must recover with fresh, logged-in
// sessions, also under concurrency.
func TestPKCS11SessionRecovery(t *testing.T) {
	module, token, pin := keystoretest.NewSoftHSMToken(t)
	s := openPKCS11(t, keystore.PKCS11Config{ModulePath: module, TokenLabel: token, PIN: keystore.Secret(pin), Sessions: 3})
	key, err := s.Generate(context.Background(), "recover", keystore.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	sign := func() error {
		d := make([]byte, 32)
		rand.Read(d)
		sig, err := key.Sign(nil, d, crypto.SHA256)
		if err != nil {
			return err
		}
		if !ecdsa.VerifyASN1(key.Public().(*ecdsa.PublicKey), d, sig) {
			return errors.New("signature does not verify")
		}
		return nil
	}
	var wg sync.WaitGroup
	for range 6 { // fill the pool
		wg.Go(func() { sign() })
	}
	wg.Wait()
	before := keystore.SessionsOpenedForTest(s)
	if err := keystore.DropSessionsForTest(s); err != nil {
		t.Fatalf("CloseAllSessions: %v", err)
	}
	errc := make(chan error, 12)
	for range 12 {
		wg.Go(func() { errc <- sign() })
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Errorf("sign after the sessions were lost: %v", err)
		}
	}
	if after := keystore.SessionsOpenedForTest(s); after <= before {
		t.Errorf("sessions opened: %d before the reset, %d after; want new sessions", before, after)
	}
	if _, err := s.List(context.Background()); err != nil {
		t.Errorf("List after recovery: %v", err)
	}
}

// TestPKCS11TokenGone deletes the token while a store uses it: operations
// fail with ErrTokenUnavailable rather than hanging or panicking.
func TestPKCS11TokenGone(t *testing.T) {
	util, err := exec.LookPath("softhsm2-util")
	if err != nil {
		t.Fatalf("softhsm2-util not found (Debian package softhsm2; `make test` installs it): %v", err)
	}
	module, token, pin := keystoretest.NewSoftHSMToken(t)
	s := openPKCS11(t, keystore.PKCS11Config{ModulePath: module, TokenLabel: token, PIN: keystore.Secret(pin)})
	key, err := s.Generate(context.Background(), "doomed", keystore.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(util, "--delete-token", "--token", token).CombinedOutput(); err != nil {
		t.Fatalf("softhsm2-util --delete-token: %v\n%s", err, out)
	}
	keystore.DropSessionsForTest(s)
	d := sha256.Sum256(nil)
	_, err = key.Sign(nil, d[:], crypto.SHA256)
	t.Logf("sign after token deletion: %v", err)
	if err == nil {
		t.Fatalf("Sign with a deleted token succeeded")
	}
	if !errors.Is(err, keystore.ErrTokenUnavailable) {
		t.Errorf("Sign with a deleted token: %v, want ErrTokenUnavailable", err)
	}
}

// TestPKCS11FindSeesExternalDelete: a key deleted by another process (here
// pkcs11-tool) is NotFound even after Find remembered it.
func TestPKCS11FindSeesExternalDelete(t *testing.T) {
	tool := lookPKCS11Tool(t)
	module, token, pin := keystoretest.NewSoftHSMToken(t)
	s := openPKCS11(t, keystore.PKCS11Config{ModulePath: module, TokenLabel: token, PIN: keystore.Secret(pin)})
	ctx := context.Background()
	key, err := s.Generate(ctx, "short-lived", keystore.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	uri := key.Info().URI
	for range 2 { // the second Find is answered from the cache
		if _, err := s.Find(ctx, uri); err != nil {
			t.Fatalf("Find: %v", err)
		}
	}
	u, err := keystore.ParsePKCS11URI(uri)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, "--module", module, "--token-label", token, "--login", "--pin", pin,
		"--delete-object", "--type", "privkey", "--id", fmt.Sprintf("%x", u.ID)).CombinedOutput()
	if err != nil {
		t.Fatalf("pkcs11-tool --delete-object: %v\n%s", err, out)
	}
	if _, err := s.Find(ctx, uri); !errs.Is(err, errs.NotFound) {
		t.Fatalf("Find after another process deleted the key: %v, want NotFound", err)
	}
	d := sha256.Sum256(nil)
	if _, err := key.Sign(nil, d[:], crypto.SHA256); err == nil {
		t.Fatalf("Sign with a deleted key succeeded")
	}
}
