package pkitest_test

import (
	"testing"

	"signet/signingcore/pki"
	"signet/signingcore/pki/pkitest"
)

func TestFileRepository(t *testing.T) {
	open := func(t *testing.T) pki.Repository {
		r, err := pki.OpenFileRepository(t.TempDir())
		if err != nil {
			t.Fatalf("OpenFileRepository: %v", err)
		}
		return r
	}
	reopen := func(t *testing.T, r pki.Repository) pki.Repository {
		again, err := pki.OpenFileRepository(r.(*pki.FileRepository).Dir())
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		return again
	}
	pkitest.TestRepository(t, open, reopen)
}
