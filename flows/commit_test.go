package flows_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"signet/audit"
	"signet/blob"
	"signet/ent"
	"signet/ent/auditevent"
	"signet/ent/flow"
	"signet/ent/participant"
	entseal "signet/ent/seal"
	"signet/ent/signfield"
	"signet/ent/smscode"
	"signet/errs"
	"signet/flows"
	"signet/internal/dbtest"
	"signet/internal/sqlcount"
	"signet/viewer"
)

// groupMarker marks the contexts of the signatures whose statements
// TestGroupCommit counts.
type groupMarker struct{}

// signHeld signs ins (all bob's) at once while the commits are held, waits
// until all of them queue for their commit, and releases them as one group
// (flows.HoldCommits). Signature i comes from request "req-i". It returns
// each signature's error.
func (e *signEnv) signHeld(t *testing.T, ins []flows.SignInput, whileHeld func()) []error {
	t.Helper()
	queued, release := flows.HoldCommits(e.svc)
	errs := make([]error, len(ins))
	var wg sync.WaitGroup
	for i, in := range ins {
		ctx := context.WithValue(e.as("bob"), groupMarker{}, true)
		ctx = viewer.WithClient(ctx, viewer.Client{IP: fmt.Sprintf("10.0.0.%d", i+1), RequestID: fmt.Sprintf("req-%d", i)})
		wg.Go(func() { _, errs[i] = e.svc.Sign(ctx, in) })
	}
	for deadline := time.Now().Add(20 * time.Second); queued() < len(ins); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			release()
			t.Fatalf("%d of %d signatures reached their commit", queued(), len(ins))
		}
	}
	if whileHeld != nil {
		whileHeld()
	}
	release()
	wg.Wait()
	return errs
}

// lastActions returns the actions of the last n events of flow id's trail,
// oldest first, after checking that the chain verifies.
func lastActions(t *testing.T, e *signEnv, id, n int) string {
	t.Helper()
	ctx := viewer.System(context.Background())
	rep, err := audit.Verify(ctx, e.db, audit.FlowChain(id))
	if err != nil || !rep.OK() {
		t.Fatalf("flow %d trail: %+v %v", id, rep, err)
	}
	evs, err := e.db.AuditEvent.Query().Where(auditevent.Chain(audit.FlowChain(id))).Order(ent.Desc(auditevent.FieldSeq)).Limit(n).All(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[len(evs)-1-i] = ev.Action
	}
	return strings.Join(out, " ")
}

// TestGroupCommit: signatures of three flows that reach their commit at the
// same time commit as one group — one signature activates the next signer,
// one completes its flow, one places its own seal — and each ends exactly as
// if it had committed alone: the participant signed, the document on its
// new revision, the code used up, the trail in order and verifying, the
// next signer's SMS queued. The group costs far fewer statements than three
// commits.
func TestGroupCommit(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		counter := sqlcount.New()
		e := setupSigningWith(t, b, counter.Reopen)
		sys := viewer.System(context.Background())
		next, nextDoc := e.sendFlow(t, batchFlow{name: "通知下一位"})
		last, lastDoc := e.sendFlow(t, batchFlow{name: "最后一位", bobSecond: true})
		placed, placedDoc := e.sendFlow(t, batchFlow{name: "自行盖章", noField: true})
		// Carol signs first where bob is second.
		in := flows.SignInput{FlowID: last.ID, PersonalSealID: e.seals["carol"]}
		in.Code = e.intentCode(t, "carol", in)
		if _, err := e.svc.Sign(e.as("carol"), in); err != nil {
			t.Fatal(err)
		}
		ins := []flows.SignInput{
			{FlowID: next.ID, PersonalSealID: e.seals["bob"]},
			{FlowID: last.ID, PersonalSealID: e.seals["bob"]},
			{FlowID: placed.ID, PersonalSealID: e.seals["bob"],
				Placements: []flows.Placement{{DocumentID: placedDoc.ID, Kind: signfield.KindPersonalSeal, Page: 1, X: 60, Y: 60, Width: 80, Height: 80}}},
		}
		for i := range ins {
			e.now = e.now.Add(61 * time.Second)
			ins[i].Code = e.intentCode(t, "bob", ins[i])
		}
		revs := []int{revision(t, e, nextDoc.ID), revision(t, e, lastDoc.ID), revision(t, e, placedDoc.ID)}

		staged := e.db.StagedBlob.Query().CountX(sys) // carol's, alone
		counter.Watch(func(ctx context.Context) bool { return ctx.Value(groupMarker{}) != nil })
		for i, err := range e.signHeld(t, ins, nil) {
			if err != nil {
				t.Fatalf("signature %d: %v", i, err)
			}
		}
		stmts := sqlcount.SQL(counter.Stop())
		// Each signature's own reads (plan, code, certificate: 7) and the
		// group's one commit. Three commits alone would send 3 × 14.
		var commit int
		for i, s := range stmts {
			if strings.HasPrefix(s, "BEGIN") {
				commit = len(stmts) - i
				break
			}
		}
		t.Logf("three signatures sent %d statements, %d of them in the group's commit", len(stmts), commit)
		if commit == 0 || commit > 18 || len(stmts) > 3*7+18 {
			t.Fatalf("the group sent %d statements (%d in its commit):\n%s", len(stmts), commit, strings.Join(stmts, "\n"))
		}

		// The group's revisions went into one pack before its transaction
		// (blob.Disk.PutPacked); nothing was staged, and each is signed.
		packs := map[string]bool{}
		for i, d := range []int{nextDoc.ID, lastDoc.ID, placedDoc.ID} {
			if r := revision(t, e, d); r != revs[i]+1 {
				t.Errorf("document %d: revision %d, want %d", d, r, revs[i]+1)
			}
			doc := e.db.FlowDocument.GetX(sys, d)
			packs[blob.PackOf(doc.CurrentKey)] = true
			e.checkSignatures(t, d, revs[i]+1)
		}
		if len(packs) != 1 || packs[""] {
			t.Errorf("the group's revisions are in packs %v, want one", packs)
		}
		if n := e.db.StagedBlob.Query().CountX(sys); n != staged {
			t.Errorf("%d revisions staged by a group", n-staged)
		}
		for _, id := range []int{next.ID, last.ID, placed.ID} {
			p, err := e.db.Participant.Query().Where(participant.FlowID(id), participant.Phone(e.users["bob"].Phone)).Only(sys)
			if err != nil || p.Status != participant.StatusSigned || p.SignedAt == nil {
				t.Errorf("flow %d: bob %+v %v", id, p, err)
			}
		}
		if n := e.db.SMSCode.Query().Where(smscode.Phone(e.users["bob"].Phone), smscode.Purpose(string(flows.PurposeIntent)),
			smscode.ConsumedAtIsNil()).CountX(sys); n != 0 {
			t.Errorf("%d of bob's intent codes unused", n)
		}
		// The next signer: pending, texted.
		carol, err := e.db.Participant.Query().Where(participant.FlowID(next.ID), participant.Phone(e.users["carol"].Phone)).Only(sys)
		if err != nil || carol.Status != participant.StatusPending {
			t.Fatalf("carol after bob: %+v %v", carol, err)
		}
		if got := lastActions(t, e, next.ID, 3); got != "document.signed participant.signed participant.notified" {
			t.Errorf("next: trail ends %q", got)
		}
		if got := lastActions(t, e, placed.ID, 3); got != "document.signed participant.signed participant.notified" {
			t.Errorf("placed: trail ends %q", got)
		}
		if n := e.db.SignField.Query().Where(signfield.FlowID(placed.ID), signfield.PlacedBySigner(true), signfield.AppliedRevisionNotNil()).CountX(sys); n != 1 {
			t.Errorf("placed: %d fields placed by the signer", n)
		}
		// The flow bob finished: completed.
		f, err := e.db.Flow.Get(sys, last.ID)
		if err != nil || f.Status != flow.StatusCompleted || f.FinishedAt == nil {
			t.Fatalf("last: %+v %v", f, err)
		}
		if got := lastActions(t, e, last.ID, 3); got != "document.signed participant.signed flow.completed" {
			t.Errorf("last: trail ends %q", got)
		}
		// Every event of a signature records its own request, the system's
		// events (the next signer notified, the flow completed) too, though
		// one transaction committed them all.
		for i, id := range []int{next.ID, last.ID, placed.ID} {
			evs := e.db.AuditEvent.Query().Where(auditevent.Chain(audit.FlowChain(id))).Order(ent.Desc(auditevent.FieldSeq)).Limit(3).AllX(sys)
			for _, ev := range evs {
				if ev.RequestID != fmt.Sprintf("req-%d", i) || ev.IP != fmt.Sprintf("10.0.0.%d", i+1) {
					t.Errorf("flow %d: %s recorded request %q from %q", id, ev.Action, ev.RequestID, ev.IP)
				}
			}
		}
		waitSMS(t, e.outbox, e.users["carol"].Phone)
	})
}

// TestGroupCommitFallsBack: when one signature of a group cannot commit
// (its flow was revoked while it was being signed), the group rolls back
// and each signature commits alone: the others sign, and that one gets its
// own refusal with nothing written and its code unused.
func TestGroupCommitFallsBack(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setupSigning(t, b)
		sys := viewer.System(context.Background())
		ok, okDoc := e.sendFlow(t, batchFlow{name: "照常签署"})
		revoked, revokedDoc := e.sendFlow(t, batchFlow{name: "签署时被撤销"})
		ins := []flows.SignInput{{FlowID: ok.ID, PersonalSealID: e.seals["bob"]}, {FlowID: revoked.ID, PersonalSealID: e.seals["bob"]}}
		for i := range ins {
			e.now = e.now.Add(61 * time.Second)
			ins[i].Code = e.intentCode(t, "bob", ins[i])
		}
		before := revision(t, e, revokedDoc.ID)
		got := e.signHeld(t, ins, func() {
			if _, err := e.svc.Revoke(e.as("alice"), revoked.ID, "条款有误"); err != nil {
				t.Fatal(err)
			}
		})
		if got[0] != nil {
			t.Fatalf("the signature of the flow still open: %v", got[0])
		}
		wantCode(t, got[1], errs.Conflict, "合同已撤销，不能签署")
		if r := revision(t, e, okDoc.ID); r != 1 {
			t.Errorf("signed document at revision %d", r)
		}
		if r := revision(t, e, revokedDoc.ID); r != before {
			t.Errorf("revoked flow's document moved to revision %d", r)
		}
		if got := lastActions(t, e, ok.ID, 3); got != "document.signed participant.signed participant.notified" {
			t.Errorf("trail ends %q", got)
		}
		if got := lastActions(t, e, revoked.ID, 1); got != string(audit.FlowRevoked) {
			t.Errorf("revoked flow's trail ends %q", got)
		}
		if n := e.db.SMSCode.Query().Where(smscode.Phone(e.users["bob"].Phone), smscode.Purpose(string(flows.PurposeIntent)),
			smscode.ConsumedAtIsNil()).CountX(sys); n != 1 {
			t.Errorf("%d of bob's intent codes unused, want the refused one", n)
		}
	})
}

// TestGroupCommitSameFlow: two signers of one parallel flow queue for the
// same group; the second commits after the group (its document moved, so
// it is signed again on the new revision) and both signatures are valid.
func TestGroupCommitSameFlow(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setupSigning(t, b)
		f, doc := e.parallelFlow(t, "同一合同")
		var ins []flows.SignInput
		queued, release := flows.HoldCommits(e.svc)
		errc := make(chan error, 2)
		for _, who := range []string{"bob", "carol"} {
			in := flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals[who]}
			in.Code = e.intentCode(t, who, in)
			ins = append(ins, in)
			go func() {
				_, err := e.svc.Sign(e.as(who), in)
				if err != nil {
					err = fmt.Errorf("%s: %w", who, err)
				}
				errc <- err
			}()
		}
		for deadline := time.Now().Add(20 * time.Second); queued() < 2; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				release()
				t.Fatal("the signatures never reached their commit")
			}
		}
		release()
		for range ins {
			if err := <-errc; err != nil {
				t.Error(err)
			}
		}
		if r := revision(t, e, doc.ID); r != 2 {
			t.Fatalf("revision %d, want 2", r)
		}
		e.checkSignatures(t, doc.ID, 2)
	})
}

// TestGroupCommitRechecksSeals: the commit checks the signatures' seals
// again (a node's kept seal may be older than the row, and a UKey signer
// was at the token): a seal disabled while its signature was being signed
// makes the group fall back, and that signature alone is refused, with
// nothing written and its code unused; the other signs.
func TestGroupCommitRechecksSeals(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setupSigning(t, b)
		sys := viewer.System(context.Background())
		// Bob's second seal, bound to the same certificate.
		sl := e.db.Seal.GetX(sys, e.seals["bob"])
		other := e.db.Seal.Create().SetUserID(*sl.UserID).SetKind(sl.Kind).SetName("备用签名").SetImage(sl.Image).
			SetAppearance(sl.Appearance).SetWidth(sl.Width).SetHeight(sl.Height).SetSource(sl.Source).
			SetCertificateID(*sl.CertificateID).SaveX(sys)
		ok, okDoc := e.sendFlow(t, batchFlow{name: "照常签署"})
		disabled, disabledDoc := e.sendFlow(t, batchFlow{name: "签署时印章被停用"})
		ins := []flows.SignInput{{FlowID: ok.ID, PersonalSealID: sl.ID}, {FlowID: disabled.ID, PersonalSealID: other.ID}}
		for i := range ins {
			e.now = e.now.Add(61 * time.Second)
			ins[i].Code = e.intentCode(t, "bob", ins[i])
		}
		before := revision(t, e, disabledDoc.ID)
		got := e.signHeld(t, ins, func() {
			e.db.Seal.UpdateOneID(other.ID).SetStatus(entseal.StatusDisabled).ExecX(sys)
		})
		if got[0] != nil {
			t.Fatalf("the signature with the enabled seal: %v", got[0])
		}
		wantCode(t, got[1], errs.Forbidden, "印章已停用，不能使用")
		if r := revision(t, e, okDoc.ID); r != 1 {
			t.Errorf("signed document at revision %d", r)
		}
		if r := revision(t, e, disabledDoc.ID); r != before {
			t.Errorf("the refused signature's document moved to revision %d", r)
		}
		if p := e.db.Participant.Query().Where(participant.FlowID(disabled.ID), participant.Phone(e.users["bob"].Phone)).OnlyX(sys); p.Status != participant.StatusPending {
			t.Errorf("bob is %s on the refused flow", p.Status)
		}
		if n := e.db.SMSCode.Query().Where(smscode.Phone(e.users["bob"].Phone), smscode.Purpose(string(flows.PurposeIntent)),
			smscode.ConsumedAtIsNil()).CountX(sys); n != 1 {
			t.Errorf("%d of bob's intent codes unused, want the refused one", n)
		}
		// Enabled again, the same code signs.
		e.db.Seal.UpdateOneID(other.ID).SetStatus(entseal.StatusEnabled).ExecX(sys)
		if _, err := e.svc.Sign(e.as("bob"), ins[1]); err != nil {
			t.Fatal(err)
		}
		if r := revision(t, e, disabledDoc.ID); r != before+1 {
			t.Errorf("document at revision %d after the signature", r)
		}
	})
}
