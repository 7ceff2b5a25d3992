package keystore_test

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestLeaf keeps the key stores a leaf of the module: they may use
// signet/errs but none of Signet's graph, server or ent packages.
func TestLeaf(t *testing.T) {
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if p, err := exec.LookPath("go"); err == nil {
		goTool = p
	}
	out, err := exec.Command(goTool, "list", "-deps", "-test", "-f", "{{.ImportPath}}", "signet/signingcore/keystore/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg != "signet/errs" && strings.HasPrefix(pkg, "signet/") && !strings.HasPrefix(pkg, "signet/signingcore/keystore") {
			t.Errorf("keystore depends on %s; it may only import signet/errs from this module", pkg)
		}
	}
}
