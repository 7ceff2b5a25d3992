package certs_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"testing"

	"signet/certs"
	"signet/enterprises/enterprisestest"
	"signet/errs"
	"signet/internal/dbtest"
	"signet/signingcore/pki"
	"signet/trust"
	"signet/viewer"
)

// TestSignerCache: a hosted certificate's signer is built once and reused,
// but the row is checked on every call: after revocation the cached signer
// is refused, and a row that names another key is never answered from the
// cache.
func TestSignerCache(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ctx := context.Background()
		sys := viewer.System(ctx)
		db := dbtest.Open(t, b)
		ts, _, err := trust.Open(ctx, trust.Config{DataDir: t.TempDir(), BaseURL: "https://sign.example.com", Create: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ts.Close() })
		cs, err := certs.New(certs.Config{DB: db.Client, Keys: ts.Keys, CA: ts.CA, PseudonymKey: []byte("0123456789abcdef0123456789abcdef")})
		if err != nil {
			t.Fatal(err)
		}
		issue := func(phone string, seq int) int {
			t.Helper()
			u := db.Client.User.Create().SetPhone(phone).SetName("王小明").SaveX(sys)
			c, err := cs.IssuePerson(sys, u.ID, "王小明", enterprisestest.IDNumber("19800101", seq))
			if err != nil {
				t.Fatal(err)
			}
			return c.ID
		}
		a, other := issue("13800000011", 1), issue("13800000012", 2)

		s1, err := cs.Signer(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		s2, err := cs.Signer(ctx, a)
		if err != nil || s2 != s1 {
			t.Fatalf("second Signer: %p %v, want the cached %p", s2, err, s1)
		}
		digest := sha256.Sum256([]byte("合同"))
		if _, err := s2.Key.Sign(nil, digest[:], crypto.SHA256); err != nil {
			t.Fatalf("cached key signs: %v", err)
		}

		// The row names another key (and certificate): not the cached one.
		oc := db.Client.Certificate.GetX(sys, other)
		ac := db.Client.Certificate.GetX(sys, a)
		db.Client.Certificate.UpdateOneID(a).SetKeyURI(oc.KeyURI).SetDer(oc.Der).ExecX(sys)
		s3, err := cs.Signer(ctx, a)
		if err != nil || s3 == s1 || s3.Certificate.SerialNumber.Cmp(s1.Certificate.SerialNumber) == 0 {
			t.Fatalf("Signer after the row changed: %v, same as cached: %v", err, s3 == s1)
		}
		db.Client.Certificate.UpdateOneID(a).SetKeyURI(ac.KeyURI).SetDer(ac.Der).ExecX(sys)

		if err := cs.Revoke(ctx, a, pki.ReasonKeyCompromise); err != nil {
			t.Fatal(err)
		}
		if _, err := cs.Signer(ctx, a); !errs.Is(err, errs.Conflict) {
			t.Fatalf("Signer of a revoked certificate: %v, want Conflict", err)
		}
	})
}
