package pdfnorm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"signet/errs"
)

// fuzzLimits bound the fuzzer's inputs: anything larger is refused before
// parsing, which keeps every run small and fast.
var fuzzLimits = Limits{MaxBytes: 64 << 10, MaxPages: 100}

// FuzzNormalize feeds arbitrary bytes to Normalize: it must never panic,
// never hang, and either refuse the input as invalid or return a frozen file
// that is a single sound revision.
//
// A panic is recovered and refused as a corrupt file. One that started
// inside pdfcpu is a parser bug in a dependency, met by a file that is
// corrupt anyway: it is logged, not failed, since this package cannot fix it
// and CI must not turn red whenever the fuzzer meets another. One that
// started in this package fails.
func FuzzNormalize(f *testing.F) {
	f.Add(onePage())
	f.Add(buildPDF("<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [] /Count 0 >>"))
	f.Add([]byte("%PDF-1.7\n%%EOF\n"))
	one := onePage()
	f.Add(one[:len(one)/2])
	f.Add(bytes.Replace(one, []byte("/Size 5"), []byte("/Size 5 /Prev 9"), 1))
	for _, name := range []string{
		"testdata/test.pdf", "testdata/testRot.pdf", "testdata/empty.pdf",
		"testdata/blank-scan.pdf", "testdata/zineTest.pdf",
		"testdata/pdf20/i277.pdf", "testdata/pdf20/SimplePDF2.0.pdf",
		"testdata/pdf20/viaIncrementalSave.pdf", "testdata/pdf20/withOffsetStart.pdf",
	} {
		f.Add(mustRead(f, pdfcpuFile(f, name)))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		doc, err := Normalize(context.Background(), bytes.NewReader(data), fuzzLimits)
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Normalize took %v on %d bytes", d, len(data))
		}
		if err != nil {
			var p *panicError
			if errors.As(err, &p) {
				if !p.inPdfcpu() {
					t.Fatalf("panicked outside pdfcpu: %v", p)
				}
				t.Logf("refused after a pdfcpu panic: %v", p)
			}
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("error %v is not errs.Invalid", err)
			}
			return
		}
		if len(doc.Pages) == 0 || len(doc.Pages) > fuzzLimits.MaxPages {
			t.Errorf("accepted a document with %d pages", len(doc.Pages))
		}
		if sha256.Sum256(doc.PDF) != doc.SHA256 {
			t.Error("SHA256 does not match PDF")
		}
		if reason := soundClassic(doc.PDF); reason != "" {
			t.Errorf("frozen file is not a sound classic revision: %s", reason)
		}
	})
}
