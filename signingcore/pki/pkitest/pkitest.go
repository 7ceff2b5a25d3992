// Package pkitest holds the conformance suite every pki.Repository must
// pass: the file repository runs it, and so must a database-backed one.
package pkitest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"signet/errs"
	"signet/signingcore/pki"
)

// TestRepository runs the conformance suite. open must return a new, empty
// repository for each call; reopen, when not nil, returns another instance
// over the same storage as the repository it is given (a restart).
func TestRepository(t *testing.T, open func(t *testing.T) pki.Repository, reopen func(t *testing.T, r pki.Repository) pki.Repository) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 27, 8, 30, 15, 0, time.UTC)

	t.Run("state", func(t *testing.T) {
		r := open(t)
		if _, err := r.LoadState(ctx); errs.CodeOf(err) != errs.NotFound {
			t.Fatalf("LoadState on an empty repository: %v, want NotFound", err)
		}
		want := pki.State{RootDER: []byte{1}, RootKeyURI: "soft:root", IssuingDER: []byte{2, 3},
			IssuingKeyURI: "pkcs11:object=issuing", TSADER: []byte{4}, TSAKeyURI: "soft:tsa", CreatedAt: t0}
		if err := r.SaveState(ctx, pki.State{RootDER: []byte{9}}); err != nil {
			t.Fatalf("SaveState: %v", err)
		}
		if err := r.SaveState(ctx, want); err != nil {
			t.Fatalf("SaveState: %v", err)
		}
		for _, rr := range instances(t, r, reopen) {
			got, err := rr.LoadState(ctx)
			if err != nil {
				t.Fatalf("LoadState: %v", err)
			}
			if !stateEqual(got, want) {
				t.Errorf("LoadState = %+v, want %+v", got, want)
			}
		}
	})

	t.Run("issued", func(t *testing.T) {
		r := open(t)
		rec := pki.IssuedCert{Serial: "4a0b", Kind: pki.KindPerson, SubjectID: "user-1", KeyURI: "soft:u1",
			NotBefore: t0, NotAfter: t0.AddDate(1, 0, 0), Supersedes: "4999", DER: []byte{0x30, 1, 2}}
		if err := r.RecordIssued(ctx, rec); err != nil {
			t.Fatalf("RecordIssued: %v", err)
		}
		if err := r.RecordIssued(ctx, rec); errs.CodeOf(err) != errs.Conflict {
			t.Errorf("RecordIssued twice: %v, want Conflict", err)
		}
		if _, err := r.Issued(ctx, "4a0c"); errs.CodeOf(err) != errs.NotFound {
			t.Errorf("Issued(unknown): %v, want NotFound", err)
		}
		for _, rr := range instances(t, r, reopen) {
			got, err := rr.Issued(ctx, rec.Serial)
			if err != nil {
				t.Fatalf("Issued: %v", err)
			}
			if !issuedEqual(got, rec) || got.Revocation != nil {
				t.Errorf("Issued = %+v, want %+v", got, rec)
			}
		}
	})

	t.Run("revocations", func(t *testing.T) {
		r := open(t)
		for _, s := range []string{"4a01", "4a02", "4a03"} {
			if err := r.RecordIssued(ctx, pki.IssuedCert{Serial: s, Kind: pki.KindEnterprise, SubjectID: "x", DER: []byte{1}}); err != nil {
				t.Fatalf("RecordIssued: %v", err)
			}
		}
		if revs, err := r.ListRevoked(ctx); err != nil || len(revs) != 0 {
			t.Errorf("ListRevoked on none = %v, %v; want empty", revs, err)
		}
		// Recorded out of time order; listed in time order, then by serial.
		in := []pki.Revocation{
			{Serial: "4a03", Time: t0.Add(time.Hour), Reason: pki.ReasonKeyCompromise},
			{Serial: "4a02", Time: t0, Reason: pki.ReasonSuperseded},
			{Serial: "4a01", Time: t0, Reason: pki.ReasonUnspecified},
		}
		for _, rev := range in {
			if err := r.RecordRevocation(ctx, rev); err != nil {
				t.Fatalf("RecordRevocation(%s): %v", rev.Serial, err)
			}
		}
		if err := r.RecordRevocation(ctx, pki.Revocation{Serial: "4a02", Time: t0, Reason: pki.ReasonKeyCompromise}); errs.CodeOf(err) != errs.Conflict {
			t.Errorf("RecordRevocation twice: %v, want Conflict", err)
		}
		if err := r.RecordRevocation(ctx, pki.Revocation{Serial: "4a09", Time: t0}); errs.CodeOf(err) != errs.NotFound {
			t.Errorf("RecordRevocation(unknown): %v, want NotFound", err)
		}
		want := []pki.Revocation{in[2], in[1], in[0]}
		for _, rr := range instances(t, r, reopen) {
			got, err := rr.ListRevoked(ctx)
			if err != nil {
				t.Fatalf("ListRevoked: %v", err)
			}
			if fmt.Sprint(normRevs(got)) != fmt.Sprint(normRevs(want)) {
				t.Errorf("ListRevoked = %v, want %v", got, want)
			}
			rec, err := rr.Issued(ctx, "4a03")
			if err != nil || rec.Revocation == nil || rec.Revocation.Reason != pki.ReasonKeyCompromise || !rec.Revocation.Time.Equal(t0.Add(time.Hour)) {
				t.Errorf("Issued(revoked) = %+v, %v; want revocation keyCompromise at %v", rec, err, t0.Add(time.Hour))
			}
		}
	})

	t.Run("crl numbers", func(t *testing.T) {
		r := open(t)
		const workers, each = 4, 10
		var mu sync.Mutex
		seen := map[int64]bool{}
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					n, err := r.NextCRLNumber(ctx, "issuing")
					if err != nil {
						t.Errorf("NextCRLNumber: %v", err)
						return
					}
					mu.Lock()
					if seen[n] {
						t.Errorf("CRL number %d handed out twice", n)
					}
					seen[n] = true
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		for n := int64(1); n <= workers*each; n++ {
			if !seen[n] {
				t.Errorf("CRL number %d skipped", n)
			}
		}
		if n, err := r.NextCRLNumber(ctx, "root"); err != nil || n != 1 {
			t.Errorf("first root CRL number = %d, %v; want 1", n, err)
		}
		last := int64(workers * each)
		for _, rr := range instances(t, r, reopen) {
			n, err := rr.NextCRLNumber(ctx, "issuing")
			if err != nil || n <= last {
				t.Errorf("NextCRLNumber after %d = %d, %v", last, n, err)
			}
			last = n
		}
	})
}

// instances returns r and, when reopen is set, a reopened instance.
func instances(t *testing.T, r pki.Repository, reopen func(*testing.T, pki.Repository) pki.Repository) []pki.Repository {
	t.Helper()
	if reopen == nil {
		return []pki.Repository{r}
	}
	return []pki.Repository{r, reopen(t, r)}
}

func stateEqual(a, b pki.State) bool {
	return bytes.Equal(a.RootDER, b.RootDER) && a.RootKeyURI == b.RootKeyURI &&
		bytes.Equal(a.IssuingDER, b.IssuingDER) && a.IssuingKeyURI == b.IssuingKeyURI &&
		bytes.Equal(a.TSADER, b.TSADER) && a.TSAKeyURI == b.TSAKeyURI && a.CreatedAt.Equal(b.CreatedAt)
}

func issuedEqual(a, b pki.IssuedCert) bool {
	return a.Serial == b.Serial && a.Kind == b.Kind && a.SubjectID == b.SubjectID && a.KeyURI == b.KeyURI &&
		a.NotBefore.Equal(b.NotBefore) && a.NotAfter.Equal(b.NotAfter) && a.Supersedes == b.Supersedes &&
		bytes.Equal(a.DER, b.DER)
}

func normRevs(revs []pki.Revocation) []string {
	out := make([]string, len(revs))
	for i, r := range revs {
		out[i] = fmt.Sprintf("%s@%s/%d", r.Serial, r.Time.UTC().Format(time.RFC3339), r.Reason)
	}
	return out
}
