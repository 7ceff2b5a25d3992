package pdfnorm

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildPDF returns a single-revision PDF with a classic xref table whose
// objects 1..n are objs (object 1 must be the catalog).
func buildPDF(objs ...string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f\r\n", len(objs)+1)
	for _, o := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n\r\n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

// onePage is a minimal valid one-page document.
func onePage() []byte {
	return buildPDF(
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << >> >>",
		"<< /Length 18 >>\nstream\n0 0 m 100 100 l S\nendstream",
	)
}

// mustTool returns the path of an external program the test needs.
func mustTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install the Debian package %s (`make test` installs it)", name, pkg)
	}
	return p
}

// testdata returns the path of a file under pdfcpu's pkg directory (its
// testdata and samples ship with the module).
func pdfcpuFile(t testing.TB, rel string) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/pdfcpu/pdfcpu").Output()
	if err != nil {
		t.Fatalf("locate the pdfcpu module: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "pkg", rel)
}

// mustRead reads a file.
func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return b
}

// mustQPDF runs qpdf with args on in (written to a temp file named in.pdf)
// and returns the file it writes as out.pdf.
func mustQPDF(t testing.TB, in []byte, args ...string) []byte {
	t.Helper()
	qpdf := mustTool(t, "qpdf", "qpdf")
	dir := t.TempDir()
	inPath, outPath := filepath.Join(dir, "in.pdf"), filepath.Join(dir, "out.pdf")
	if err := os.WriteFile(inPath, in, 0o600); err != nil {
		t.Fatal(err)
	}
	full := make([]string, 0, len(args)+2)
	for _, a := range args {
		switch a {
		case "IN":
			a = inPath
		case "OUT":
			a = outPath
		}
		full = append(full, a)
	}
	if out, err := exec.Command(qpdf, full...).CombinedOutput(); err != nil {
		t.Fatalf("qpdf %v: %v\n%s", args, err, out)
	}
	return mustRead(t, outPath)
}

// qpdfCheck fails unless `qpdf --check` finds no errors and no warnings.
func qpdfCheck(t testing.TB, pdf []byte) {
	t.Helper()
	qpdf := mustTool(t, "qpdf", "qpdf")
	path := filepath.Join(t.TempDir(), "check.pdf")
	if err := os.WriteFile(path, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(qpdf, "--check", path).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("No syntax or stream encoding errors")) {
		t.Errorf("qpdf --check rejects the frozen file: %v\n%s", err, out)
	}
}
