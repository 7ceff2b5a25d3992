package pades

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"signet/errs"
)

// TestDamagedXRefFallsBackToPdfcpu signs a file whose cross-reference
// offsets are all wrong: the lazy reader gives up and pdfcpu's repairing
// reader takes over.
func TestDamagedXRefFallsBackToPdfcpu(t *testing.T) {
	f := newFixture(t)
	good := makePDF(2, 2000, true)
	i := bytes.IndexByte(good, '\n') + 1
	damaged := append(append(append([]byte{}, good[:i]...), []byte("%padding!\n")...), good[i:]...)
	r, err := newReader(damaged)
	if err != nil {
		t.Fatalf("newReader: %v", err)
	}
	if _, _, err := r.page(2); err != nil {
		t.Fatalf("page 2: %v", err)
	}
	if r.ctx == nil {
		t.Fatal("the damaged file was read without falling back to pdfcpu")
	}
	out := f.sign(t, damaged, f.request(2))
	text, n, ok := f.pdfsig(t, out)
	if n != 1 || ok != 1 {
		t.Fatalf("pdfsig: got %d signatures, %d valid\n%s", n, ok, text)
	}
	requireTextField(t, out)
}

// FuzzExtractSignatures feeds arbitrary bytes to the reader: no panic, no
// hang, and only classified errors. Run it with a short -fuzzminimizetime
// (e.g. 1s): minimizing the multi-kilobyte PDF inputs otherwise stalls the
// fuzzer for a minute per new input. The seed corpus in testdata/fuzz holds
// an input that once made pdfcpu's repairing reader panic.
func FuzzExtractSignatures(f *testing.F) {
	fx := newFixture(f)
	invisible := fx.request(1)
	invisible.Rect, invisible.Appearance = Rect{}, nil
	f.Add(makePDF(1, 500, true))
	f.Add(fx.sign(f, makePDF(1, 500, false), invisible))
	f.Add([]byte("%PDF-1.7\nxref\n0 1\n0000000000 65535 f\r\ntrailer<</Size 1/Root 1 0 R>>\nstartxref\n9\n%%EOF"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ExtractSignatures(data)
	})
}

// FuzzPrepare prepares a signature on arbitrary bytes: no panic, and any
// error for bad input is errs.Invalid.
func FuzzPrepare(f *testing.F) {
	fx := newFixture(f)
	invisible := fx.request(1)
	invisible.Rect, invisible.Appearance = Rect{}, nil
	f.Add(makePDF(1, 500, true))
	f.Add(fx.sign(f, makePDF(1, 500, false), invisible))
	req := fx.request(1)
	req.Appearance = sealPNG(32)
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := fx.signer.Prepare(data, req)
		if err != nil && !errs.Is(err, errs.Invalid) && !strings.Contains(err.Error(), "pades:") {
			t.Fatalf("unclassified error: %v", err)
		}
	})
}

// TestImportBoundary checks that the signing packages stay a leaf: none of
// them imports signet/graph, signet/server or signet/ent.
func TestImportBoundary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "signet/signingcore/cms", "signet/signingcore/tsa", "signet/signingcore/pades").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		for _, bad := range []string{"signet/graph", "signet/server", "signet/ent"} {
			if p == bad || strings.HasPrefix(p, bad+"/") {
				t.Errorf("signing packages import %s", p)
			}
		}
	}
}
