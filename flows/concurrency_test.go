package flows_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"signet/audit"
	"signet/blob"
	"signet/ent"
	"signet/ent/auditevent"
	"signet/ent/flow"
	"signet/ent/participant"
	"signet/ent/signfield"
	"signet/ent/smscode"
	"signet/errs"
	"signet/flows"
	"signet/internal/dbtest"
	"signet/internal/testpdf"
	"signet/signingcore/tsa"
	"signet/signingcore/verify"
	"signet/viewer"
)

// parallelFlow sends a parallel (unordered) flow of alice's in which bob,
// carol and mallory each have a seal position on the same page.
func (e *signEnv) parallelFlow(t testing.TB, name string) (*ent.Flow, *ent.FlowDocument) {
	t.Helper()
	ctx := e.as("alice")
	f, err := e.svc.CreateDraft(ctx, flows.DraftInput{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := e.svc.AddDocument(ctx, f.ID, "合同.pdf", bytes.NewReader(testpdf.Make(1)))
	if err != nil {
		t.Fatal(err)
	}
	field := func(key string, x float64) flows.FieldInput {
		return flows.FieldInput{DocumentID: doc.ID, ParticipantKey: key, Kind: signfield.KindPersonalSeal, Page: 1, X: x, Y: 100, Width: 100, Height: 100}
	}
	if _, err := e.svc.UpdateDraft(ctx, f.ID, flows.DraftInput{Name: name, Ordered: false,
		Participants: []flows.ParticipantInput{
			{Key: "b", Name: "王小明", Phone: "13800000002", Order: 1},
			{Key: "c", Name: "李四", Phone: "13800000003", Order: 1},
			{Key: "m", Name: "钱七", Phone: "13800000009", Order: 1},
		},
		Fields: []flows.FieldInput{field("b", 50), field("c", 200), field("m", 350)},
	}); err != nil {
		t.Fatal(err)
	}
	if f, err = e.svc.Send(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	return f, doc
}

// intentCode asks for who's intent code and returns it.
func (e *signEnv) intentCode(t testing.TB, who string, in flows.SignInput) string {
	t.Helper()
	if _, _, err := e.svc.SendIntentCode(e.as(who), in); err != nil {
		t.Fatalf("%s: send intent code: %v", who, err)
	}
	_, code := e.lastIntent(t, e.users[who].Phone)
	return code
}

// finalPDF returns the document's current revision, checked by
// signingcore/verify and poppler's pdfsig to carry want valid signatures.
func (e *signEnv) checkSignatures(t *testing.T, docID, want int) {
	t.Helper()
	_, pdf, err := e.svc.DocumentPDF(e.as("alice"), docID)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := e.ts.CA.RootCertificate()
	rep, err := verify.Verify(pdf, verify.Options{Roots: []*x509.Certificate{root}, Revocation: verify.PKIRevocation{CA: e.ts.CA}})
	if err != nil || rep.Verdict != verify.VerdictValid || len(rep.Signatures) != want {
		t.Fatalf("verify: %v %s %v (%d signatures, want %d)", err, rep.Verdict, rep.Reasons, len(rep.Signatures), want)
	}
	checkPdfsig(t, &finishEnv{e}, pdf, want)
}

// TestParallelSigners: three parties of a parallel flow confirm intent and
// sign at the same moment; each signature lands on its own revision, none
// breaks another, and the flow completes.
func TestParallelSigners(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setupSigning(t, b)
		f, doc := e.parallelFlow(t, "三方合作协议")
		who := []string{"bob", "carol", "mallory"}
		ins := map[string]flows.SignInput{}
		for _, w := range who {
			in := flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals[w]}
			in.Code = e.intentCode(t, w, in)
			ins[w] = in
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		errc := make(chan error, len(who))
		for _, w := range who {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if _, err := e.svc.Sign(e.as(w), ins[w]); err != nil {
					errc <- errors.New(w + ": " + err.Error())
				}
			}()
		}
		close(start)
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Error(err)
		}
		if t.Failed() {
			return
		}
		got, err := e.db.Flow.Get(viewer.System(context.Background()), f.ID)
		if err != nil || got.Status != flow.StatusCompleted {
			t.Fatalf("flow after three parallel signatures: %+v %v", got, err)
		}
		if r := revision(t, e, doc.ID); r < 3 {
			t.Fatalf("document revision %d, want at least 3", r)
		}
		// Each committed signature staged its revision; the attempts that
		// lost the race (errRevisionMoved, signed again) left nothing.
		if n := e.db.StagedBlob.Query().CountX(viewer.System(context.Background())); n != 3 {
			t.Fatalf("%d staged revisions after three signatures, want 3", n)
		}
		e.checkSignatures(t, doc.ID, 3)

		// Parallel in the human sense: all three ask for their codes while
		// the document is untouched, then sign one after another. Another
		// party's signature (an incremental revision that adds only theirs)
		// does not void a code.
		f, doc = e.parallelFlow(t, "三方合作协议（二）")
		e.now = e.now.Add(61 * time.Second)
		for _, w := range who {
			in := flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals[w]}
			in.Code = e.intentCode(t, w, in)
			ins[w] = in
		}
		for _, w := range who {
			if _, err := e.svc.Sign(e.as(w), ins[w]); err != nil {
				t.Fatalf("%s signs after the others: %v", w, err)
			}
		}
		e.checkSignatures(t, doc.ID, 3)
	})
}

// failingBlobs fails or interrupts the writes of signed revisions: the
// moment between signing a document and committing it.
type failingBlobs struct {
	blob.Store
	// interrupt runs at each PutContent; a non-nil error fails the write.
	interrupt atomic.Pointer[func() error]
}

// interruptTSA fails or interrupts signing right after the time-stamp,
// the last step before a staged revision's commit.
type interruptTSA struct {
	tsa.Timestamper
	interrupt atomic.Pointer[func() error]
}

func (f *interruptTSA) Timestamp(ctx context.Context, digest []byte, hash crypto.Hash) ([]byte, error) {
	tok, err := f.Timestamper.Timestamp(ctx, digest, hash)
	if fn := f.interrupt.Load(); fn != nil && err == nil {
		if err := (*fn)(); err != nil {
			return nil, err
		}
	}
	return tok, err
}

func (f *failingBlobs) PutContent(ctx context.Context, r io.Reader) (blob.Info, error) {
	if fn := f.interrupt.Load(); fn != nil {
		if err := (*fn)(); err != nil {
			return blob.Info{}, err
		}
	}
	return f.Store.PutContent(ctx, r)
}

// TestSignInterrupted: a signature cut off after the PDF was signed and
// before the revision was committed leaves the flow as it was (same
// revision, the signer pending, no signed event, nothing staged) and the
// intent code unused: the same code signs afterwards, once. Both
// ways a revision is kept are cut: written to the blob store before the
// commit (a revision over the stage limit; the write fails, or the request
// is cancelled right after it) and staged in the commit (the time-stamp
// fails, or the request is cancelled right after it).
func TestSignInterrupted(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		for _, mode := range []string{"stored", "staged"} {
			t.Run(mode, func(t *testing.T) { signInterrupted(t, dbtest.New(t, b.Name), mode == "staged") })
		}
	})
}

func signInterrupted(t *testing.T, b dbtest.Backend, staged bool) {
	e := setupSigning(t, b)
	var interrupt *atomic.Pointer[func() error]
	if staged {
		ft := &interruptTSA{Timestamper: e.ts.TSA}
		interrupt = &ft.interrupt
		e.rebuild(t, func(c *flows.Config) { c.TSA = ft })
	} else {
		fb := &failingBlobs{Store: e.blobs}
		interrupt = &fb.interrupt
		e.rebuild(t, func(c *flows.Config) { c.Blobs, c.StageLimit = fb, -1 })
	}
	f, doc := e.sendFlow(t, batchFlow{name: "中断测试"})
	in := flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals["bob"]}
	sys := viewer.System(context.Background())
	d0, _ := e.db.FlowDocument.Get(sys, doc.ID)

	unchanged := func(what string) {
		t.Helper()
		d, _ := e.db.FlowDocument.Get(sys, doc.ID)
		if d.Revision != d0.Revision || d.CurrentKey != d0.CurrentKey || d.CurrentSha256 != d0.CurrentSha256 {
			t.Fatalf("%s: document moved to revision %d", what, d.Revision)
		}
		p, _ := e.db.Participant.Query().Where(participant.FlowID(f.ID), participant.Phone("13800000002")).Only(sys)
		if p.Status != participant.StatusPending {
			t.Fatalf("%s: bob is %s", what, p.Status)
		}
		n, _ := e.db.AuditEvent.Query().Where(auditevent.Action(string(audit.DocumentSigned))).Count(sys)
		if n != 0 {
			t.Fatalf("%s: %d signed events", what, n)
		}
		if n := e.db.StagedBlob.Query().CountX(sys); n != 0 {
			t.Fatalf("%s: %d staged revisions", what, n)
		}
		if got := e.list(t, "bob", flows.ListTodo, flows.Filter{}); len(got) != 1 {
			t.Fatalf("%s: bob's 待办 = %v", what, got)
		}
	}

	// 1. The signed revision cannot be stored (or time-stamped).
	fail := func() error { return errors.New("disk full") }
	interrupt.Store(&fail)
	in.Code = e.intentCode(t, "bob", in)
	if _, err := e.svc.Sign(e.as("bob"), in); err == nil {
		t.Fatal("signing succeeded without storing the revision")
	}
	unchanged("failed write")

	// 2. The request is cancelled after the PDF was signed, before the
	// commit.
	e.now = e.now.Add(61 * time.Second)
	ctx, cancel := context.WithCancel(e.as("bob"))
	cut := func() error { cancel(); return nil }
	interrupt.Store(&cut)
	in.Code = e.intentCode(t, "bob", in)
	if _, err := e.svc.Sign(ctx, in); err == nil {
		t.Fatal("signing succeeded in a cancelled request")
	}
	unchanged("cancelled request")

	// The code is used up by the commit that signs, not before it.
	code, err := e.db.SMSCode.Query().Where(smscode.Purpose(string(flows.PurposeIntent))).
		Order(ent.Desc(smscode.FieldID)).First(sys)
	if err != nil || code.ConsumedAt != nil {
		t.Fatalf("the interrupted request's code: %v, used %v", err, code.ConsumedAt)
	}
	interrupt.Store(nil)
	if _, err := e.svc.Sign(e.as("bob"), in); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Sign(e.as("bob"), in)
	wantCode(t, err, errs.Conflict, "您已签署")
	if code := e.db.SMSCode.GetX(sys, code.ID); code.ConsumedAt == nil {
		t.Fatal("the code that signed is not used up")
	}
	e.checkSignatures(t, doc.ID, 1)
}

// TestSignRacesFlowEnd: the flow ends while a signer's documents are being
// signed — the initiator revokes it, another signer declines, or its
// deadline passes — and the signature, checked before, is refused at its
// commit: nothing of it is written, and the intent code stays unused.
// flowEnding is one way a sent parallel flow of alice's (bob and carol
// signing) ends while bob is about to sign: want is the refusal bob gets,
// status the flow's afterwards. A flow given a deadline (deadline, before
// bob asks for his code) ends by the clock passing it.
type flowEnding struct {
	name, want string
	status     flow.Status
	deadline   time.Duration
	end        func(e *signEnv, f *ent.Flow) error
}

// flowEndings are the ways a flow ends; the deadline one's is deadline.
func flowEndings(deadline time.Duration) []flowEnding {
	return []flowEnding{
		{"revoked", "合同已撤销", flow.StatusRevoked, 0, func(e *signEnv, f *ent.Flow) error {
			_, err := e.svc.Revoke(e.as("alice"), f.ID, "条款有误")
			return err
		}},
		{"declined", "合同已被拒签", flow.StatusDeclined, 0, func(e *signEnv, f *ent.Flow) error {
			_, err := e.svc.Decline(e.as("carol"), f.ID, "不同意")
			return err
		}},
		{"deadline", "合同已过签署截止时间", flow.StatusSigning, deadline, func(e *signEnv, f *ent.Flow) error {
			e.now = e.now.Add(2 * deadline)
			return nil
		}},
	}
}

// start gives the flow its deadline, if the ending has one.
func (fe flowEnding) start(e *signEnv, f *ent.Flow) {
	if fe.deadline > 0 {
		e.db.Flow.UpdateOneID(f.ID).SetDeadline(e.now.Add(fe.deadline)).ExecX(viewer.System(context.Background()))
	}
}

func TestSignRacesFlowEnd(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		for _, tc := range flowEndings(time.Hour) {
			t.Run(tc.name, func(t *testing.T) {
				e := setupSigning(t, dbtest.New(t, b.Name))
				ft := &interruptTSA{Timestamper: e.ts.TSA}
				e.rebuild(t, func(c *flows.Config) { c.TSA = ft })
				f, doc := e.sendFlow(t, batchFlow{name: "竞态测试", parallel: true})
				sys := viewer.System(context.Background())
				tc.start(e, f)
				d0 := e.db.FlowDocument.GetX(sys, doc.ID)
				in := flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals["bob"]}
				in.Code = e.intentCode(t, "bob", in)
				end := func() error { return tc.end(e, f) }
				ft.interrupt.Store(&end)
				_, err := e.svc.Sign(e.as("bob"), in)
				wantCode(t, err, errs.Conflict, tc.want)
				ft.interrupt.Store(nil)

				if got := e.db.Flow.GetX(sys, f.ID); got.Status != tc.status {
					t.Fatalf("flow %s, want %s", got.Status, tc.status)
				}
				if d := e.db.FlowDocument.GetX(sys, doc.ID); d.Revision != d0.Revision || d.CurrentSha256 != d0.CurrentSha256 {
					t.Fatalf("document moved to revision %d", d.Revision)
				}
				bob := e.db.Participant.Query().Where(participant.FlowID(f.ID), participant.Phone(e.users["bob"].Phone)).OnlyX(sys)
				if bob.Status != participant.StatusPending || bob.SignedAt != nil {
					t.Fatalf("bob is %s", bob.Status)
				}
				if n := e.db.AuditEvent.Query().Where(auditevent.Action(string(audit.ParticipantSigned))).CountX(sys); n != 0 {
					t.Fatalf("%d signed events", n)
				}
				if n := e.db.StagedBlob.Query().CountX(sys); n != 0 {
					t.Fatalf("%d staged revisions", n)
				}
				code := e.db.SMSCode.Query().Where(smscode.Purpose(string(flows.PurposeIntent))).Order(ent.Desc(smscode.FieldID)).FirstX(sys)
				if code.ConsumedAt != nil {
					t.Fatal("the refused signature used up its code")
				}
				// And it stays refused.
				_, err = e.svc.Sign(e.as("bob"), in)
				wantCode(t, err, errs.Conflict, tc.want)
			})
		}
	})
}

// TestSignRetried: the same request sent twice — one after the other (a
// client retrying after a lost response) or at the same moment — signs
// once.
func TestSignRetried(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setupSigning(t, b)
		f, doc := e.sendFlow(t, batchFlow{name: "重试测试", parallel: true})
		in := flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals["bob"]}
		in.Code = e.intentCode(t, "bob", in)
		const tries = 4
		var wg sync.WaitGroup
		var ok atomic.Int32
		errc := make(chan error, tries)
		start := make(chan struct{})
		for range tries {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if _, err := e.svc.Sign(e.as("bob"), in); err == nil {
					ok.Add(1)
				} else {
					errc <- err
				}
			}()
		}
		close(start)
		wg.Wait()
		close(errc)
		if ok.Load() != 1 {
			t.Fatalf("%d of %d identical requests signed", ok.Load(), tries)
		}
		for err := range errc {
			if c := errs.CodeOf(err); c != errs.Invalid && c != errs.Conflict {
				t.Fatalf("a duplicate failed with %v, want a refusal", err)
			}
		}
		// And once more, afterwards.
		_, err := e.svc.Sign(e.as("bob"), in)
		wantCode(t, err, errs.Conflict, "您已签署")
		if r := revision(t, e, doc.ID); r != 1 {
			t.Fatalf("document at revision %d after retries, want 1", r)
		}
		e.checkSignatures(t, doc.ID, 1)
	})
}

// TestEndingAFlowLocksItsTrailFirst: revoking, declining, reminding and
// viewing a flow take the flow's trail before they touch its rows, as a
// signature's commit does — so while a commit holds the trail, they wait
// without holding the rows the commit updates next (they did on
// PostgreSQL, and one of the two was aborted as a deadlock). Once the
// commit (here: one that completes the flow) is in, they answer that the
// flow is no longer being signed, or record the view.
func TestEndingAFlowLocksItsTrailFirst(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setupSigning(t, b)
		conflict := func(msg string) func(*testing.T, error) {
			return func(t *testing.T, err error) { wantCode(t, err, errs.Conflict, msg) }
		}
		for _, end := range []struct {
			name  string
			do    func(id int) error
			check func(*testing.T, error)
		}{
			{"revoke", func(id int) error { _, err := e.svc.Revoke(e.as("alice"), id, "条款有误"); return err }, conflict("只有签署中的合同可以撤销")},
			{"decline", func(id int) error { _, err := e.svc.Decline(e.as("bob"), id, "不同意"); return err }, conflict("合同已完成，不能拒签")},
			{"remind", func(id int) error {
				res, err := e.svc.Remind(e.as("alice"), []int{id})
				if err == nil {
					err = res[0].Err
				}
				return err
			}, conflict("只有签署中的合同可以催办")},
			{"view", func(id int) error {
				ok, err := e.svc.MarkViewed(e.as("bob"), id)
				if err == nil && !ok {
					err = errors.New("the first view was not recorded")
				}
				return err
			}, func(t *testing.T, err error) {
				if err != nil {
					t.Errorf("view: %v", err)
				}
			}},
		} {
			f, _ := e.sendFlow(t, batchFlow{name: "锁顺序-" + end.name})
			ctx := context.Background()
			sys := viewer.System(ctx)
			tx, err := e.db.Tx(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := audit.Lock(ctx, tx, audit.FlowChain(f.ID)); err != nil {
				tx.Rollback()
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- end.do(f.ID) }()
			time.Sleep(300 * time.Millisecond)
			select {
			case err := <-done:
				tx.Rollback()
				t.Fatalf("%s went in while a commit held the trail: %v", end.name, err)
			default:
			}
			// What a completing commit does after the trail: the signer's
			// row, then the flow's.
			uctx, cancel := context.WithTimeout(sys, 5*time.Second)
			n, err := tx.Participant.Update().Where(participant.FlowID(f.ID), participant.Phone(e.users["bob"].Phone)).
				SetStatus(participant.StatusSigned).Save(uctx)
			if err == nil && n == 1 {
				n, err = tx.Flow.Update().Where(flow.ID(f.ID), flow.StatusEQ(flow.StatusSigning)).
					SetStatus(flow.StatusCompleted).SetFinishedAt(time.Now()).Save(uctx)
			}
			cancel()
			if err != nil || n != 1 {
				tx.Rollback()
				t.Fatalf("%s: the commit could not complete the flow: %d %v", end.name, n, err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				end.check(t, err)
			case <-time.After(15 * time.Second):
				t.Fatalf("%s never finished", end.name)
			}
		}
	})
}
