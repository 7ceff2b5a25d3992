package verify

import (
	"fmt"
	"testing"
)

// BenchmarkVerify verifies documents with 1, 3 and 20 signatures (each
// with a signature time-stamp, checked against the platform CA with an
// OCSP answer per signature), and a 10-page ~200 KB document; the
// baseline is pdfcpu reading the same file once, the floor of any
// verification built on it.
func BenchmarkVerify(b *testing.B) {
	p := newPlatform(b)
	key, chain := p.person(b, "王小明", "ec")
	docs := []struct {
		name  string
		pages int
		size  int
		sigs  int
	}{
		{"1page-1sig", 1, 0, 1},
		{"1page-3sig", 1, 0, 3},
		{"1page-20sig", 1, 0, 20},
		{"10page-200KB-1sig", 10, 200 << 10, 1},
	}
	for _, d := range docs {
		pdf := buildPDF(d.pages, false, d.size/d.pages)
		for i := 0; i < d.sigs; i++ {
			pdf = p.sign(b, pdf, key, chain, fmt.Sprintf("S%d", i+1), 1)
		}
		if rep := mustVerify(b, pdf, p.options()); rep.Verdict != VerdictValid || len(rep.Signatures) != d.sigs {
			b.Fatalf("%s: %s", d.name, describe(rep))
		}
		b.Run(d.name+"/verify", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(pdf)))
			for b.Loop() {
				if _, err := Verify(pdf, p.options()); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(d.name+"/baseline-pdfcpu-read", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(pdf)))
			for b.Loop() {
				if _, err := readView(pdf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
