package pki

import (
	"context"
	"testing"
)

// BenchmarkIssuePerson measures one person certificate on a public key:
// validation, signing with the issuing CA key (in-memory P-256 here), and
// recording in the file repository (an fsynced file per certificate).
func BenchmarkIssuePerson(b *testing.B) {
	e := newTestEnv(b)
	pub := mustECKey(b).Public()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.ca.IssuePerson(ctx, PersonRequest{Name: "王小明", SubjectID: "user-1", Key: SubjectKey{PublicKey: pub}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIssuePersonNoStorage isolates the certificate work from the
// repository's fsync with a repository that keeps records in memory.
func BenchmarkIssuePersonNoStorage(b *testing.B) {
	e := newTestEnv(b)
	e.ca.cfg.Repo = discardRepo{e.repo}
	pub := mustECKey(b).Public()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.ca.IssuePerson(ctx, PersonRequest{Name: "王小明", SubjectID: "user-1", Key: SubjectKey{PublicKey: pub}}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOCSPResponse measures answering one OCSP request.
func BenchmarkOCSPResponse(b *testing.B) {
	e := newTestEnv(b)
	iss := mustIssuePerson(b, e.ca, "user-1")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.ca.OCSPForCertificate(ctx, iss.Certificate); err != nil {
			b.Fatal(err)
		}
	}
}

// discardRepo drops issued records.
type discardRepo struct{ Repository }

func (discardRepo) RecordIssued(context.Context, IssuedCert) error { return nil }
