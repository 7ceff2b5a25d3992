package flows_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"signet/accounts"
	"signet/ent"
	entseal "signet/ent/seal"
	"signet/ent/signfield"
	"signet/enterprises/enterprisestest"
	"signet/flows"
	"signet/internal/benchutil"
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
	workers := benchutil.EnvInt("SIGNET_BENCH_WORKERS", 16)
	rounds := benchutil.EnvInt("SIGNET_BENCH_ROUNDS", 12)
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setupSigning(t, b)
		e.runMover(t)
		ctx := context.Background()
		signers := e.addSigners(t, workers)

		// signingcore alone, W at a time.
		coreSign := e.coreSigner(t, signers[0])
		var core time.Duration
		cpu0 := benchutil.ProcessCPU()
		for range rounds {
			core += benchutil.InParallel(t, workers, func(int) error { return coreSign(ctx) })
		}

		coreCPU := benchutil.ProcessCPU() - cpu0

		// Sign end to end, W flows at a time, each signer on their own.
		var full, fullCPU time.Duration
		stopProfile := benchutil.StartProfile(t, b.Name)
		for r := range rounds {
			e.now = e.now.Add(25 * time.Hour) // past the resend gap and the daily cap
			ins := make([]flows.SignInput, workers)
			for i, who := range signers {
				ins[i] = e.flowFor(t, who, fmt.Sprintf("并发吞吐%d-%d", r, i))
			}
			e.waitJobsIdle(t) // the round's first SMS sent before the clock starts
			runtime.GC()      // and the setup's garbage collected: it is not the signatures'
			cpu0 := benchutil.ProcessCPU()
			full += benchutil.InParallel(t, workers, func(i int) error {
				_, err := e.svc.Sign(e.as(signers[i]), ins[i])
				return err
			})
			fullCPU += benchutil.ProcessCPU() - cpu0
		}
		stopProfile()

		n := float64(workers * rounds)
		coreOps, fullOps := n/core.Seconds(), n/full.Seconds()
		fmt.Printf("CONTRACTS-SIGN-PARALLEL %s (%d workers × %d rounds): signingcore alone %.0f/s (%s CPU/op) | Sign end to end %.0f/s (%s CPU/op in this process) | ratio %.2f\n",
			b.Name, workers, rounds, coreOps, (coreCPU / time.Duration(n)).Round(time.Microsecond),
			fullOps, (fullCPU / time.Duration(n)).Round(time.Microsecond), fullOps/coreOps)
	})
}

// addSigners registers n signers (w00, w01, …) with hosted certificates
// and default seals, and returns their names.
func (e *signEnv) addSigners(t testing.TB, n int) []string {
	t.Helper()
	signers := make([]string, n)
	for i := range signers {
		signers[i] = fmt.Sprintf("w%02d", i)
		e.addSigner(t, signers[i], fmt.Sprintf("139%08d", i), fmt.Sprintf("签署人%02d", i), i)
	}
	return signers
}

// coreSigner returns signingcore alone signing the harnesses' 2-page
// document with who's seal, hosted key and the platform TSA: the baseline
// the signing pipeline is compared with.
func (e *signEnv) coreSigner(t testing.TB, who string) func(context.Context) error {
	t.Helper()
	ctx := context.Background()
	sl, err := e.db.Seal.Get(viewer.System(ctx), e.seals[who])
	if err != nil {
		t.Fatal(err)
	}
	sg, err := e.certs.Signer(ctx, *sl.CertificateID)
	if err != nil {
		t.Fatal(err)
	}
	signer := pades.NewSigner(pades.Config{})
	pdf := testpdf.Make(2)
	return func(ctx context.Context) error {
		_, err := signer.Sign(ctx, pdf, pades.Request{FieldName: "Bench", Page: 2, Rect: pades.Rect{100, 100, 220, 220},
			Appearance: sl.Image, Chain: append([]*x509.Certificate{sg.Certificate}, sg.Chain...), Name: "签署人",
			Reason: "签署", Location: "签网", SigningTime: time.Now()}, sg.Key, e.ts.TSA)
		return err
	}
}

// waitJobsIdle waits until the job queue has nothing to run now.
func (e *signEnv) waitJobsIdle(t testing.TB) {
	t.Helper()
	benchutil.WaitJobsIdle(t, e.database.SQL)
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

// TestSignThroughputSustained is the sustained half of the concurrent
// harness: every flow and intent code is prepared first (untimed; the SMS
// code policy is relaxed so that all the codes live at once), then W signers
// each sign their N flows back to back, with no rounds: throughput is all
// signatures over the wall clock of the whole run, next to signingcore alone
// run the same way (W workers, N signatures each) just before and just
// after it (the mean of the two: the machine's speed drifts). The rounds of
// TestSignThroughputParallel wait for a round's slowest signature before the
// next starts, which charges each round's tail to throughput; this one
// measures the rate a node sustains. It reports and asserts nothing about
// time. On demand:
//
//	SIGNET_BENCH=1 scripts/with-postgres.sh go test -count=1 -run TestSignThroughputSustained -v ./flows/
//
// SIGNET_BENCH_WORKERS (16), SIGNET_BENCH_EACH (256) and SIGNET_BENCH_ROUNDS
// (4: benchutil.SustainedRun) adjust it. The
// clock stops when the signatures' jobs have done their work too: the last
// next signer texted, ≈ 20–50 ms after the last answer (River's fetch
// cooldown). River records finished jobs in batches, every 250 ms below
// 100 of them; the harness waits for that after the clock and reports it,
// but does not charge a bookkeeping delay that a short run would pay in
// full (the eighth and ninth sessions' figures did: ≈ 15 % of 64 × 32).
func TestSignThroughputSustained(t *testing.T) {
	if os.Getenv("SIGNET_BENCH") == "" {
		t.Skip("set SIGNET_BENCH=1 to run the signing harness")
	}
	workers := benchutil.EnvInt("SIGNET_BENCH_WORKERS", 16)
	each := benchutil.EnvInt("SIGNET_BENCH_EACH", 256)
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setupSigning(t, b)
		e.rebuild(t, func(c *flows.Config) {
			p := accounts.DefaultPolicy()
			p.CodeTTL, p.CodeResendAfter, p.CodeDailyPerPhone, p.CodeDailyPerIP = time.Hour, 0, 1<<20, 1<<20
			acc, err := accounts.New(accounts.Config{DB: e.db, SMS: smsOutbox(e.env), Hasher: accounts.NewPasswordHasher(8*1024, 1, 1),
				Policy: p, Now: func() time.Time { return e.now }})
			if err != nil {
				t.Fatal(err)
			}
			c.Accounts = acc
		})
		e.runMover(t)
		ctx := context.Background()
		signers := e.addSigners(t, workers)
		ins := make([][]flows.SignInput, workers)
		for r := range each + 1 {
			for i, who := range signers {
				ins[i] = append(ins[i], e.flowFor(t, who, fmt.Sprintf("持续吞吐%d-%d", r, i)))
			}
		}

		// Warm up, untimed: each signer signs one flow, all at once, so the
		// timed part finds what a running node has — the database pool's
		// connections open, the seal images encoded, the code paths hot.
		benchutil.InParallel(t, workers, func(i int) error {
			_, err := e.svc.Sign(e.as(signers[i]), ins[i][0])
			ins[i] = ins[i][1:]
			return err
		})

		coreSign := e.coreSigner(t, signers[0])
		if err := coreSign(ctx); err != nil { // its seal image encoded
			t.Fatal(err)
		}
		e.waitJobsIdle(t)
		texts := e.outbox.Saved()
		var backlog int
		run := benchutil.SustainedRun{Workers: workers, Each: each, Profile: b.Name + "-sustained",
			Rounds: benchutil.EnvInt("SIGNET_BENCH_ROUNDS", 4),
			Core:   func() error { return coreSign(ctx) },
			Sign: func(w, k int) error {
				_, err := e.svc.Sign(e.as(signers[w]), ins[w][k])
				return err
			},
			Answered: func() {
				if err := e.database.SQL.QueryRow(`SELECT count(*) FROM river_job WHERE state IN ('available', 'running', 'retryable')`).Scan(&backlog); err != nil {
					t.Fatal(err)
				}
			},
			// The signatures' jobs (each texts the next signer) are part of
			// the work: a rate the job queue cannot keep up with is not
			// sustained. The clock stops when the last text is sent.
			Drain: func(signed int) {
				benchutil.WaitFor(t, "the next signers' texts", func() bool { return e.outbox.Saved() >= texts+signed })
			},
			Settle: func() { e.waitJobsIdle(t) },
		}
		pages := benchutil.CountPages(t, e.database)
		m := benchutil.RunSustained(t, run)
		if p := pages.PerOp(t, workers*each); p != "" {
			fmt.Printf("CONTRACTS-SIGN-SUSTAINED-PAGES %s: %s\n", b.Name, p)
		}
		fmt.Printf("CONTRACTS-SIGN-SUSTAINED-MEMORY %s: %s\n", b.Name, m.Memory(run))
		coreOps, fullOps := run.Rate(m.Core), run.Rate(m.Full)
		fmt.Printf("CONTRACTS-SIGN-SUSTAINED %s (%d workers × %d each): signingcore alone %.0f/s (before %.0f/s, after %.0f/s; %s CPU/op, GC %s) | Sign end to end %.0f/s with their jobs done (answered at %.0f/s, %d jobs left then, River recorded them %s after the last text; %s CPU/op in this process, GC %s, machine %.0f%% busy, %.0f%% idle waiting for the disk) | ratio %.2f %s\n",
			b.Name, workers, each, coreOps, run.Rate(m.CoreBefore), run.Rate(m.CoreAfter), run.PerOp(m.CoreCPU), run.PerOp(m.CoreGC), fullOps, run.Rate(m.Answered), backlog, m.Settled.Round(time.Millisecond), run.PerOp(m.FullCPU), run.PerOp(m.FullGC), 100*m.Busy, 100*m.IOWait, fullOps/coreOps, m.Rounds())
	})
}
