package pades

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// pdfcpuTestdata returns the directory of real-world PDFs shipped with the
// pdfcpu module.
func pdfcpuTestdata(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/pdfcpu/pdfcpu").Output()
	if err != nil {
		t.Fatalf("go list pdfcpu: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "pkg", "testdata")
}

// TestRealWorldPDFs signs PDFs from other producers (xref streams, hybrid
// files, forms, annotations, images) and checks them with pdfsig and qpdf.
func TestRealWorldPDFs(t *testing.T) {
	if testing.Short() {
		t.Skip("real-world PDFs are slow in -short mode")
	}
	dir := pdfcpuTestdata(t)
	f := newFixture(t)
	files := []string{
		"test.pdf", "annotTest.pdf", "Acroforms2.pdf", "Hybrid-PDF.pdf", "golang.pdf",
		"testImage.pdf", "5116.DCT_Filter.pdf", "adobe_errata.pdf", "grid_example.pdf",
		"T4.pdf", "read.go.pdf", "bookletTest.pdf", "xdp_2.0.pdf", "Walden.pdf",
	}
	for _, name := range files {
		t.Run(name, func(t *testing.T) {
			pdf, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			doc := f.sign(t, pdf, f.request(1))
			doc = f.sign(t, doc, f.request(1))
			if !bytes.Equal(doc[:len(pdf)], pdf) {
				t.Fatal("original bytes changed")
			}
			f.requireValid(t, doc, 2)
		})
	}
}
