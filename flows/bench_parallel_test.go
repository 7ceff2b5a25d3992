package flows_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"signet/ent"
	entseal "signet/ent/seal"
	"signet/ent/signfield"
	"signet/enterprises/enterprisestest"
	"signet/flows"
	"signet/internal/dbtest"
	"signet/internal/testpdf"
	"signet/signingcore/pades"
	"signet/signingcore/seal"
	"signet/viewer"
)

// TestSignThroughputParallel is the concurrent half of the signing harness
// (docs/benchmarks.md, "contracts"): W signers each sign their own flow at
// the same time, round after round, through flows.Service.Sign end to end,
// next to signingcore alone signing the same document W at a time with the
// same key, seal and TSA. Throughput is signatures per second of timed
// wall clock (each round's flows and intent codes are prepared untimed).
// It reports and asserts nothing about time. On demand:
//
//	SIGNET_BENCH=1 scripts/with-postgres.sh go test -count=1 -run TestSignThroughputParallel -v ./flows/
//
// SIGNET_BENCH_WORKERS (16) and SIGNET_BENCH_ROUNDS (12) adjust it.
func TestSignThroughputParallel(t *testing.T) {
	if os.Getenv("SIGNET_BENCH") == "" {
		t.Skip("set SIGNET_BENCH=1 to run the signing harness")
	}
	workers := benchEnv("SIGNET_BENCH_WORKERS", 16)
	rounds := benchEnv("SIGNET_BENCH_ROUNDS", 12)
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setupSigning(t, b)
		ctx := context.Background()
		signers := make([]string, workers)
		for i := range signers {
			signers[i] = fmt.Sprintf("w%02d", i)
			e.addSigner(t, signers[i], fmt.Sprintf("139%08d", i), fmt.Sprintf("签署人%02d", i), i)
		}

		// signingcore alone, W at a time.
		sl, err := e.db.Seal.Get(viewer.System(ctx), e.seals[signers[0]])
		if err != nil {
			t.Fatal(err)
		}
		sg, err := e.certs.Signer(ctx, *sl.CertificateID)
		if err != nil {
			t.Fatal(err)
		}
		signer := pades.NewSigner(pades.Config{})
		pdf := testpdf.Make(2)
		var core time.Duration
		cpu0 := processCPU()
		for range rounds {
			core += inParallel(t, workers, func(int) error {
				_, err := signer.Sign(ctx, pdf, pades.Request{FieldName: "Bench", Page: 2, Rect: pades.Rect{100, 100, 220, 220},
					Appearance: sl.Image, Chain: append([]*x509.Certificate{sg.Certificate}, sg.Chain...), Name: "签署人",
					Reason: "签署", Location: "签网", SigningTime: time.Now()}, sg.Key, e.ts.TSA)
				return err
			})
		}

		coreCPU := processCPU() - cpu0

		// Sign end to end, W flows at a time, each signer on their own.
		var full, fullCPU time.Duration
		for r := range rounds {
			e.now = e.now.Add(25 * time.Hour) // past the resend gap and the daily cap
			ins := make([]flows.SignInput, workers)
			for i, who := range signers {
				ins[i] = e.flowFor(t, who, fmt.Sprintf("并发吞吐%d-%d", r, i))
			}
			e.waitJobsIdle(t) // the round's first SMS sent before the clock starts
			cpu0 := processCPU()
			full += inParallel(t, workers, func(i int) error {
				_, err := e.svc.Sign(e.as(signers[i]), ins[i])
				return err
			})
			fullCPU += processCPU() - cpu0
		}

		n := float64(workers * rounds)
		coreOps, fullOps := n/core.Seconds(), n/full.Seconds()
		fmt.Printf("CONTRACTS-SIGN-PARALLEL %s (%d workers × %d rounds): signingcore alone %.0f/s (%s CPU/op) | Sign end to end %.0f/s (%s CPU/op in this process) | ratio %.2f\n",
			b.Name, workers, rounds, coreOps, (coreCPU / time.Duration(n)).Round(time.Microsecond),
			fullOps, (fullCPU / time.Duration(n)).Round(time.Microsecond), fullOps/coreOps)
	})
}

// inParallel runs fn(0…n-1) at once and returns the wall clock it took.
func inParallel(t *testing.T, n int, fn func(i int) error) time.Duration {
	t.Helper()
	errs := make([]error, n)
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := range n {
		wg.Go(func() { errs[i] = fn(i) })
	}
	wg.Wait()
	took := time.Since(t0)
	for i, err := range errs {
		if err != nil {
			t.Fatalf("worker %d: %v", i, err)
		}
	}
	return took
}

// waitJobsIdle waits until the job queue has nothing to run now (jobs
// scheduled for later, such as expiry, do not count).
func (e *signEnv) waitJobsIdle(t testing.TB) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var n int
		if err := e.database.SQL.QueryRow(`SELECT count(*) FROM river_job WHERE state IN ('available', 'running', 'retryable')`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	t.Fatal("the job queue did not drain in 30 s")
}

// processCPU is the user and system CPU time this process has used (the
// database server's, for PostgreSQL, is not in it).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchEnv(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// addSigner registers a user with a hosted personal certificate and a
// default personal seal, as a real-name verified signer has.
func (e *signEnv) addSigner(t testing.TB, who, phone, name string, seq int) {
	t.Helper()
	ctx := viewer.System(context.Background())
	u, err := e.db.User.Create().SetPhone(phone).SetName(name).Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.users[who] = viewer.Viewer{UserID: u.ID, Phone: phone}
	c, err := e.certs.IssuePerson(ctx, u.ID, name, enterprisestest.IDNumber("19800101", seq))
	if err != nil {
		t.Fatalf("issue %s: %v", who, err)
	}
	img, err := e.gen.Personal(seal.Personal{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	sl, err := e.db.Seal.Create().SetUserID(u.ID).SetKind(entseal.KindPersonal).SetName(name).
		SetImage(img.PNG).SetWidth(img.Width).SetHeight(img.Height).SetSource(entseal.SourceGenerated).
		SetCertificateID(c.ID).SetIsDefault(true).Save(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.seals[who] = sl.ID
}

// flowFor sends a flow of alice's in which who signs first (one field on
// page 2) and carol second, asks for who's intent code and returns the
// input that signs it.
func (e *signEnv) flowFor(t testing.TB, who, name string) flows.SignInput {
	t.Helper()
	ctx := e.as("alice")
	f, err := e.svc.CreateDraft(ctx, flows.DraftInput{Name: name, Ordered: true})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := e.svc.AddDocument(ctx, f.ID, "合同.pdf", bytes.NewReader(testpdf.Make(2)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.UpdateDraft(ctx, f.ID, flows.DraftInput{Name: name, Ordered: true,
		Participants: []flows.ParticipantInput{
			{Key: "w", Name: "签署人", Phone: e.users[who].Phone, Order: 1},
			{Key: "c", Name: "李四", Phone: "13800000003", Order: 2},
		},
		Fields: []flows.FieldInput{
			{DocumentID: doc.ID, ParticipantKey: "w", Kind: signfield.KindPersonalSeal, Page: 2, X: 100, Y: 100, Width: 120, Height: 120},
			{DocumentID: doc.ID, ParticipantKey: "c", Kind: signfield.KindPersonalSeal, Page: 1, X: 300, Y: 100, Width: 100, Height: 100},
		},
	}); err != nil {
		t.Fatal(err)
	}
	var sent *ent.Flow
	if sent, err = e.svc.Send(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	in := flows.SignInput{FlowID: sent.ID, PersonalSealID: e.seals[who]}
	in.Code = e.intentCode(t, who, in)
	return in
}
