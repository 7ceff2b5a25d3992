package keystoretest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// SoftHSMModule returns the path of SoftHSM's PKCS#11 module: $SOFTHSM2_MODULE
// when set, else the first of the Debian, multiarch and /usr/local locations
// that exists.
func SoftHSMModule() (string, error) {
	if p := os.Getenv("SOFTHSM2_MODULE"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("SOFTHSM2_MODULE: %w", err)
		}
		return p, nil
	}
	candidates := []string{"/usr/lib/softhsm/libsofthsm2.so"}
	multi, _ := filepath.Glob("/usr/lib/*/softhsm/libsofthsm2.so")
	candidates = append(candidates, multi...)
	candidates = append(candidates,
		"/usr/lib64/softhsm/libsofthsm2.so",
		"/usr/lib64/pkcs11/libsofthsm2.so",
		"/usr/local/lib/softhsm/libsofthsm2.so",
	)
	for _, p := range candidates {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("libsofthsm2.so not found in %s", strings.Join(candidates, ", "))
}

// NewSoftHSMToken creates a fresh SoftHSM token for one test: a private token
// directory and SOFTHSM2_CONF in a temporary directory (set with tb.Setenv, so
// the test must not be parallel), and a token initialised with
// softhsm2-util with a random label and user PIN. It returns the module path,
// the token label and the user PIN.
//
// SoftHSM reads SOFTHSM2_CONF when the module is initialised (C_Initialize),
// so every PKCS#11 store or other user of the module in the process must be
// closed (finalised) before the next test's token is used. It fails the test
// (never skips it) when softhsm2-util or the module is missing: `make test`
// installs the Debian package softhsm2.
func NewSoftHSMToken(tb testing.TB) (modulePath, tokenLabel, pin string) {
	tb.Helper()
	util, err := exec.LookPath("softhsm2-util")
	if err != nil {
		tb.Fatalf("softhsm2-util not found (Debian package softhsm2; `make test` installs it): %v", err)
	}
	module, err := SoftHSMModule()
	if err != nil {
		tb.Fatalf("SoftHSM module not found (Debian package softhsm2; `make test` installs it): %v", err)
	}
	dir := tb.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		tb.Fatalf("create token dir: %v", err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	body := "directories.tokendir = " + tokens + "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		tb.Fatalf("write SoftHSM config: %v", err)
	}
	tb.Setenv("SOFTHSM2_CONF", conf)
	tokenLabel = "signet-test-" + randomHex(tb, 4)
	pin = "pin" + randomHex(tb, 6)
	soPIN := "so" + randomHex(tb, 6)
	cmd := exec.Command(util, "--init-token", "--free", "--label", tokenLabel, "--pin", pin, "--so-pin", soPIN)
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+conf)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("softhsm2-util --init-token: %v\n%s", err, out)
	}
	return module, tokenLabel, pin
}

func randomHex(tb testing.TB, n int) string {
	tb.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		tb.Fatalf("random: %v", err)
	}
	return hex.EncodeToString(b)
}
