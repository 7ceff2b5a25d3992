package signingcore_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLeaf fails when any package under signingcore imports an application
// package: signingcore may depend on the standard library, third-party
// modules and signet/errs only.
func TestLeaf(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-test", "-f", "{{.ImportPath}}", "signet/signingcore/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if !strings.HasPrefix(p, "signet/") || strings.HasPrefix(p, "signet/signingcore") || p == "signet/errs" {
			continue
		}
		t.Errorf("signingcore depends on %s: it must stay a leaf (only signet/errs is allowed)", p)
	}
}
