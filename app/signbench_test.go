package app_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"signet/accounts"
	"signet/enterprises/enterprisestest"
	"signet/internal/apitest"
	"signet/internal/benchutil"
	"signet/internal/dbtest"
	"signet/internal/testpdf"
	"signet/signingcore/pades"
	"signet/viewer"
)

// TestSignMutationThroughput is the signing measurement taken
// literally: the signFlow mutation end to end — GraphQL over HTTP on
// loopback with the signer's bearer token, through the real router,
// middleware, session lookup, gqlgen and the domain (plan, intent code,
// PAdES B-T with the software key store and the in-process TSA, the
// revision written with fsync, the commit, the job that texts the next
// signer) — against signingcore alone signing the same 2-page document
// with the same seal, key and TSA. Sequential (one signature at a time,
// each timed on its own) and W signers at once (each on a flow of their
// own; signingcore alone W at a time too). Everything a round needs — the
// flows, sent, the intent codes — is made before its clock starts, and the
// job queue is drained. The HTTP client runs in this process, so CPU/op
// includes it. The flows package's TestSignThroughput measures
// flows.Service.Sign without the API, and the bare floor. On demand:
//
//	SIGNET_BENCH=1 scripts/with-postgres.sh go test -count=1 -run TestSignMutationThroughput -v ./app/
func TestSignMutationThroughput(t *testing.T) {
	if os.Getenv("SIGNET_BENCH") == "" {
		t.Skip("set SIGNET_BENCH=1 to run the signing harness")
	}
	workers := benchutil.EnvInt("SIGNET_BENCH_WORKERS", 16)
	rounds := benchutil.EnvInt("SIGNET_BENCH_ROUNDS", 12)
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		s := apitest.Start(t, b, apitest.Options{})
		h := &signBench{s: s, alice: s.Register("13800000001", passA), pdf: testpdf.Make(2)}
		for i := range workers {
			h.addSigner(t, i)
		}

		// signingcore alone, sequential and W at a time.
		sign := h.coreSigner(t)
		core := testing.Benchmark(func(b *testing.B) {
			for b.Loop() {
				if err := sign(); err != nil {
					b.Fatal(err)
				}
			}
		})
		var coreParallel time.Duration
		cpu0 := benchutil.ProcessCPU()
		for range rounds {
			coreParallel += benchutil.InParallel(t, workers, func(int) error { return sign() })
		}
		coreCPU := (benchutil.ProcessCPU() - cpu0) / time.Duration(workers*rounds)

		// The mutation, sequential.
		var seq time.Duration
		for r := range rounds {
			ins := h.round(t, r)
			for i, in := range ins {
				t0 := time.Now()
				if err := h.signFlow(i, in); err != nil {
					t.Fatal(err)
				}
				seq += time.Since(t0)
			}
		}
		// The mutation, W signers at once.
		var par, parCPU time.Duration
		stopProfile := func() {}
		for r := range rounds {
			ins := h.round(t, rounds+r)
			if r == 0 { // the timed rounds only (profiles of the setup between them too)
				stopProfile = benchutil.StartProfile(t, b.Name+"-signflow")
			}
			cpu0 := benchutil.ProcessCPU()
			par += benchutil.InParallel(t, workers, func(i int) error { return h.signFlow(i, ins[i]) })
			parCPU += benchutil.ProcessCPU() - cpu0
		}
		stopProfile()

		n := float64(workers * rounds)
		coreSeq, fullSeq := 1e9/float64(core.NsPerOp()), n/seq.Seconds()
		coreOps, fullOps := n/coreParallel.Seconds(), n/par.Seconds()
		fmt.Printf("CONTRACTS-SIGN-MUTATION %s sequential: signingcore alone %s/op (%.0f/s) | signFlow over HTTP %s/op (%.0f/s) | ratio %.2f\n",
			b.Name, time.Duration(core.NsPerOp()).Round(time.Microsecond), coreSeq, (seq / time.Duration(n)).Round(time.Microsecond), fullSeq, fullSeq/coreSeq)
		fmt.Printf("CONTRACTS-SIGN-MUTATION %s %d at once × %d rounds: signingcore alone %.0f/s (%s CPU/op) | signFlow over HTTP %.0f/s (%s CPU/op with the client) | ratio %.2f\n",
			b.Name, workers, rounds, coreOps, coreCPU.Round(time.Microsecond), fullOps, (parCPU / time.Duration(n)).Round(time.Microsecond), fullOps/coreOps)
	})
}

// signBench holds the harness's signers and what a round needs.
type signBench struct {
	s       *apitest.Server
	alice   string
	pdf     []byte
	signers []benchSigner
}

type benchSigner struct {
	phone, token, seal string
}

var benchNames = []string{"王小明", "李小红", "张伟", "刘洋", "陈静", "杨帆", "赵磊", "黄敏",
	"周杰", "吴芳", "徐强", "孙丽", "马超", "朱琳", "胡斌", "郭婷"}

// addSigner registers signer i, verifies their real name (which issues
// their certificate and personal seal) and keeps their token and seal.
func (h *signBench) addSigner(t *testing.T, i int) {
	t.Helper()
	phone := fmt.Sprintf("139%08d", 1001+i) // not …0000: the identity sandbox refuses those
	tok := h.s.Register(phone, passA)
	verifyRealName(t, h.s, tok, benchNames[i%len(benchNames)], enterprisestest.IDNumber("19800101", i), phone)
	h.signers = append(h.signers, benchSigner{phone: phone, token: tok, seal: personalSeal(t, h.s, tok)})
}

// round sends each signer a flow of alice's (signer first, a second party
// after them, one field on page 2), asks for each signer's intent code and
// returns the signFlow inputs. The clock moves a day first, past the
// codes' daily caps.
func (h *signBench) round(t *testing.T, r int) []map[string]any {
	t.Helper()
	h.s.Clock.Advance(25 * time.Hour)
	ids := make([]string, len(h.signers))
	for i := range h.signers {
		ids[i] = h.sendFlow(t, fmt.Sprintf("吞吐测试%d-%d", r, i), i)
	}
	h.waitJobsIdle(t) // the signing links texted, so the newest message is the intent code
	ins := make([]map[string]any, len(h.signers))
	for i, id := range ids {
		ins[i] = h.intent(t, i, id)
	}
	h.waitJobsIdle(t)
	runtime.GC() // the round's setup garbage is not the signatures'
	return ins
}

// sendFlow drafts, uploads and sends a flow of alice's named name in which
// signer i signs first (one field on page 2) and a second party after
// them, and returns its ID.
func (h *signBench) sendFlow(t *testing.T, name string, i int) string {
	t.Helper()
	sg := h.signers[i]
	var created struct{ CreateFlow struct{ ID string } }
	h.s.MustDo(h.alice, `mutation($in: FlowDraftInput!) { createFlow(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"name": name}}, &created)
	fid := created.CreateFlow.ID
	st, doc := upload(t, h.s, h.alice, fid, "合同", h.pdf)
	if st != http.StatusCreated {
		t.Fatalf("upload = %d %v", st, doc)
	}
	h.s.MustDo(h.alice, `mutation($id: ID!, $in: FlowDraftInput!) { updateFlowDraft(id: $id, input: $in) { id } }`, map[string]any{
		"id": fid, "in": map[string]any{"name": name, "ordered": true,
			"participants": []map[string]any{
				{"key": "w", "name": benchNames[i%len(benchNames)], "phone": sg.phone, "order": 1},
				{"key": "c", "name": "李四", "phone": fmt.Sprintf("137%08d", i), "order": 2},
			},
			"fields": []map[string]any{{"documentID": fmt.Sprint(doc["id"]), "participantKey": "w", "kind": "personal_seal",
				"page": 2, "x": 100, "y": 100, "width": 120, "height": 120}},
		}}, nil)
	h.s.MustDo(h.alice, `mutation($id: ID!) { sendFlow(id: $id) { status } }`, map[string]any{"id": fid}, nil)
	return fid
}

// intent asks for signer i's intent code for flow id (the newest message
// to their phone then) and returns the signFlow input.
func (h *signBench) intent(t *testing.T, i int, id string) map[string]any {
	t.Helper()
	sg := h.signers[i]
	in := map[string]any{"flowID": id, "personalSealID": sg.seal}
	h.s.MustDo(sg.token, `mutation($in: SignFlowInput!) { sendIntentCode(input: $in) { fingerprint } }`, map[string]any{"in": in}, nil)
	in["code"] = h.s.LastCode(sg.phone)
	return in
}

// TestSignMutationSustained is TestSignMutationThroughput without rounds,
// as TestSignThroughputSustained (package flows) is for the service: every
// flow and intent code is made first (the SMS code policy relaxed so that
// all the codes live at once), then W signers each post their N signFlow
// mutations back to back over HTTP, and the clock stops when the
// signatures' jobs (the next signer's text) have run too. signingcore
// alone runs the same way (W at a time, N each), before and after (the
// mean of the two: the machine's speed drifts). The rounds of
// TestSignMutationThroughput charge each round's slowest signature to
// throughput; this is the rate a node sustains. The client runs in this
// process and on this machine, so its CPU is the server's loss; it is a
// load generator's (apitest.Wire: the encoded request written on a
// keep-alive connection, the answer read with net/http's parser), as a
// tool like wrk would be, not net/http's client. On demand:
//
//	SIGNET_BENCH=1 scripts/with-postgres.sh go test -count=1 -run TestSignMutationSustained -v ./app/
//
// SIGNET_BENCH_WORKERS (16), SIGNET_BENCH_EACH (64) and SIGNET_BENCH_ROUNDS
// (4: benchutil.SustainedRun) adjust it.
func TestSignMutationSustained(t *testing.T) {
	if os.Getenv("SIGNET_BENCH") == "" {
		t.Skip("set SIGNET_BENCH=1 to run the signing harness")
	}
	workers := benchutil.EnvInt("SIGNET_BENCH_WORKERS", 16)
	each := benchutil.EnvInt("SIGNET_BENCH_EACH", 64)
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		s := apitest.Start(t, b, apitest.Options{Policy: func(p *accounts.Policy) {
			p.CodeTTL, p.CodeResendAfter, p.CodeDailyPerPhone, p.CodeDailyPerIP = 24*time.Hour, 0, 1<<20, 1<<20
		}})
		h := &signBench{s: s, alice: s.Register("13800000001", passA), pdf: testpdf.Make(2)}
		for i := range workers {
			h.addSigner(t, i)
		}
		ids := make([][]string, workers)
		for r := range each + 1 {
			for i := range workers {
				ids[i] = append(ids[i], h.sendFlow(t, fmt.Sprintf("持续吞吐%d-%d", r, i), i))
			}
		}
		h.waitJobsIdle(t) // the signing links texted, so the newest message is the intent code
		// Each signer's requests, encoded, and its own connection: the
		// client is a load generator's (apitest.Wire), not net/http's.
		// The codes are asked in the order the signatures come (a signer
		// asks seconds before signing): each signer's k-th before anyone's
		// (k+1)-th, as the flows were sent.
		bodies, wires := make([][][]byte, workers), make([]*apitest.Wire, workers)
		for k := range each + 1 {
			for i := range workers {
				body, err := apitest.Operation(signMutation, map[string]any{"in": h.intent(t, i, ids[i][k])})
				if err != nil {
					t.Fatal(err)
				}
				bodies[i] = append(bodies[i], body)
			}
		}
		for i := range workers {
			w, err := s.Wire()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { w.Close() })
			wires[i] = w
		}
		// Warm up, untimed: each signer signs one flow, all at once.
		benchutil.InParallel(t, workers, func(i int) error {
			err := h.signWire(wires[i], h.signers[i].token, bodies[i][0])
			bodies[i] = bodies[i][1:]
			return err
		})
		h.waitJobsIdle(t)

		texts := h.nextTexts(t)
		sign := h.coreSigner(t)
		if err := sign(); err != nil { // its seal image encoded
			t.Fatal(err)
		}
		run := benchutil.SustainedRun{Workers: workers, Each: each, Profile: b.Name + "-signflow-sustained",
			Rounds: benchutil.EnvInt("SIGNET_BENCH_ROUNDS", 4),
			Core:   sign,
			Sign:   func(w, k int) error { return h.signWire(wires[w], h.signers[w].token, bodies[w][k]) },
			// The next signers' texts are part of the work: the clock stops
			// when the last is in the outbox (River records the jobs done
			// later, in batches: Settle).
			Drain: func(signed int) {
				benchutil.WaitFor(t, "the next signers' texts", func() bool { return h.nextTexts(t) >= texts+signed })
			},
			Settle: func() { h.waitJobsIdle(t) },
		}
		pages := benchutil.CountPages(t, h.s.App.DB)
		m := benchutil.RunSustained(t, run)
		if p := pages.PerOp(t, workers*each); p != "" {
			fmt.Printf("CONTRACTS-SIGN-MUTATION-SUSTAINED-PAGES %s: %s\n", b.Name, p)
		}
		fmt.Printf("CONTRACTS-SIGN-MUTATION-SUSTAINED-MEMORY %s: %s\n", b.Name, m.Memory(run))
		coreOps, fullOps := run.Rate(m.Core), run.Rate(m.Full)
		fmt.Printf("CONTRACTS-SIGN-MUTATION-SUSTAINED %s (%d workers × %d each): signingcore alone %.0f/s (before %.0f/s, after %.0f/s; %s CPU/op, GC %s) | signFlow over HTTP %.0f/s with their jobs done (answered at %.0f/s; River recorded them %s after the last text; %s CPU/op with the client, GC %s, machine %.0f%% busy, %.0f%% idle waiting for the disk) | ratio %.2f %s\n",
			b.Name, workers, each, coreOps, run.Rate(m.CoreBefore), run.Rate(m.CoreAfter), run.PerOp(m.CoreCPU), run.PerOp(m.CoreGC), fullOps, run.Rate(m.Answered), m.Settled.Round(time.Millisecond), run.PerOp(m.FullCPU), run.PerOp(m.FullGC), 100*m.Busy, 100*m.IOWait, fullOps/coreOps, m.Rounds())
	})
}

// signFlow posts the signFlow mutation as signer i, as the page does.
func (h *signBench) signFlow(i int, in map[string]any) error {
	r := h.s.Do(h.signers[i].token, signMutation, map[string]any{"in": in})
	if r.Code() != "" || !bytes.Contains(r.Data, []byte(`"signFlow"`)) {
		return fmt.Errorf("signFlow: %s %s", r.Code(), r.Message())
	}
	return nil
}

// signWire posts one encoded signFlow mutation on a load generator's
// connection.
func (h *signBench) signWire(w *apitest.Wire, token string, body []byte) error {
	status, raw, err := w.Post(token, body)
	switch {
	case err != nil:
		return err
	case status != http.StatusOK || bytes.Contains(raw, []byte(`"errors"`)) || !bytes.Contains(raw, []byte(`"signFlow"`)):
		return fmt.Errorf("signFlow: %d %s", status, raw)
	}
	return nil
}

// coreSigner returns signingcore alone signing the harness's document with
// signer 0's seal, key and chain and the platform TSA.
func (h *signBench) coreSigner(t *testing.T) func() error {
	t.Helper()
	ctx := viewer.System(context.Background())
	id, err := strconv.Atoi(h.signers[0].seal)
	if err != nil {
		t.Fatal(err)
	}
	sl, err := h.s.App.DB.Client.Seal.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	sg, err := h.s.App.Certs.Signer(ctx, *sl.CertificateID)
	if err != nil {
		t.Fatal(err)
	}
	signer := pades.NewSigner(pades.Config{})
	chain := append([]*x509.Certificate{sg.Certificate}, sg.Chain...)
	return func() error {
		_, err := signer.Sign(context.Background(), h.pdf, pades.Request{FieldName: "Bench", Page: 2, Rect: pades.Rect{100, 100, 220, 220},
			Appearance: sl.Image, Chain: chain, Name: benchNames[0], Reason: "签署", Location: "签网", SigningTime: time.Now()},
			sg.Key, h.s.App.Trust.TSA)
		return err
	}
}

// nextTexts counts the texts to the flows' second signers (137…).
func (h *signBench) nextTexts(t *testing.T) int {
	t.Helper()
	var n int
	if err := h.s.App.DB.SQL.QueryRow(`SELECT count(*) FROM outbox_messages WHERE phone >= '137' AND phone < '138'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (h *signBench) waitJobsIdle(t *testing.T) {
	t.Helper()
	benchutil.WaitJobsIdle(t, h.s.App.DB.SQL)
}
