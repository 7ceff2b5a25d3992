package verify

import (
	"bytes"
	"testing"

	"signet/errs"
)

// FuzzVerify feeds mutated PDFs (unsigned, signed, signed and changed) to
// Verify: it must never panic or hang, and every failure must be an
// errs.Invalid error, never an internal one.
func FuzzVerify(f *testing.F) {
	p := newPlatform(f)
	key, chain := p.person(f, "王小明", "ec")
	plain := makePDF(1, true)
	signed := p.sign(f, plain, key, chain, "", 1)
	f.Add(plain)
	f.Add(signed)
	f.Add(appendUpdate(f, signed, map[int]string{3: "<</Type/Font/Subtype/Type1/BaseFont/Courier>>"}))
	f.Add(bytes.Replace(signed, []byte("100000"), []byte("900000"), 1))
	f.Add([]byte("%PDF-1.7\n%%EOF\n"))
	opts := p.options()
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			return
		}
		rep, err := Verify(data, opts)
		if err != nil {
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("error is not errs.Invalid: %v", err)
			}
			return
		}
		if rep.Verdict == VerdictValid && len(rep.Signatures) == 0 {
			t.Fatalf("valid verdict without a signature")
		}
	})
}
