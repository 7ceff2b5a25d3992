package testpdf_test

import (
	"bytes"
	"context"
	"testing"

	"signet/internal/testpdf"
	"signet/signingcore/pdfnorm"
)

func TestMakeIsSound(t *testing.T) {
	for _, n := range []int{1, 3} {
		doc, err := pdfnorm.Normalize(context.Background(), bytes.NewReader(testpdf.Make(n)), pdfnorm.Limits{})
		if err != nil {
			t.Fatalf("%d pages: %v", n, err)
		}
		if len(doc.Pages) != n || doc.Rewritten {
			t.Errorf("%d pages: got %d pages, rewritten %v", n, len(doc.Pages), doc.Rewritten)
		}
	}
}
