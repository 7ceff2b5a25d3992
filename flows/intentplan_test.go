package flows_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"signet/audit"
	"signet/ent"
	"signet/ent/auditevent"
	"signet/ent/flow"
	"signet/ent/participant"
	"signet/ent/smscode"
	"signet/enterprises"
	"signet/errs"
	"signet/flows"
	"signet/internal/dbtest"
	"signet/viewer"
)

// revocableSeals is ownerSeals whose seals can be made unusable, as an
// enterprise revoking a grant or a seal makes them (enterprises.UsableSeal
// refuses with Forbidden).
type revocableSeals struct {
	ownerSeals
	revoked atomic.Bool
}

func (r *revocableSeals) UsableSeal(ctx context.Context, userID, sealID int, sc enterprises.Scope) (*ent.Seal, error) {
	if r.revoked.Load() {
		return nil, errs.New(errs.Forbidden, "您对该印章的授权已被撤销")
	}
	return r.ownerSeals.UsableSeal(ctx, userID, sealID, sc)
}

// TestSignReusesIntentPlan: Sign takes back the plan SendIntentCode made
// (intentplan.go) once, for the same signer and input only, and what may
// have changed in between is refused exactly as when Sign planned again.
func TestSignReusesIntentPlan(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		sys := viewer.System(context.Background())
		// nothingSigned checks that a refused signature changed nothing and
		// left its intent code usable.
		nothingSigned := func(t *testing.T, e *signEnv, f *ent.Flow, status flow.Status) {
			t.Helper()
			if got := e.db.Flow.GetX(sys, f.ID); got.Status != status {
				t.Fatalf("flow %s, want %s", got.Status, status)
			}
			bob := e.db.Participant.Query().Where(participant.FlowID(f.ID), participant.Phone(e.users["bob"].Phone)).OnlyX(sys)
			if bob.Status != participant.StatusPending {
				t.Fatalf("bob is %s", bob.Status)
			}
			if n := e.db.AuditEvent.Query().Where(auditevent.Chain(audit.FlowChain(f.ID)), auditevent.Action(string(audit.ParticipantSigned))).CountX(sys); n != 0 {
				t.Fatalf("%d signed events", n)
			}
			code := e.db.SMSCode.Query().Where(smscode.Purpose(string(flows.PurposeIntent))).Order(ent.Desc(smscode.FieldID)).FirstX(sys)
			if code.ConsumedAt != nil {
				t.Fatal("the refused signature used up its code")
			}
		}

		t.Run("once, for the signer only", func(t *testing.T) {
			e := setupSigning(t, dbtest.New(t, b.Name))
			f, _ := e.sendFlow(t, batchFlow{name: "计划复用"})
			in := flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals["bob"]}
			in.Code = e.intentCode(t, "bob", in)
			if n := flows.IntentPlansKept(e.svc); n != 1 {
				t.Fatalf("%d plans kept after the intent code, want 1", n)
			}
			// Carol, a party whose turn has not come, and mallory, an
			// outsider, sending bob's very input get what they always got.
			_, err := e.svc.Sign(e.as("carol"), in)
			wantCode(t, err, errs.Conflict, "还未轮到您签署")
			_, err = e.svc.Sign(e.as("mallory"), in)
			wantCode(t, err, errs.NotFound, "")
			// Another seal or a placement is another input: planned again,
			// and its code is not bob's.
			other := in
			other.Placements = []flows.Placement{{DocumentID: 0, Page: 1}}
			_, err = e.svc.Sign(e.as("bob"), other)
			wantCode(t, err, errs.Invalid, "")
			if n := flows.IntentPlansKept(e.svc); n != 1 {
				t.Fatalf("%d plans kept after others' tries, want bob's", n)
			}
			got, err := e.svc.Sign(e.as("bob"), in)
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != f.ID || got.Status != flow.StatusSigning {
				t.Fatalf("answer %d %s", got.ID, got.Status)
			}
			if n := flows.IntentPlansKept(e.svc); n != 0 {
				t.Fatalf("%d plans kept after the signature, want 0", n)
			}
			// The same request again plans again and is refused as before.
			_, err = e.svc.Sign(e.as("bob"), in)
			wantCode(t, err, errs.Conflict, "您已签署该合同")
		})

		t.Run("flow ended in between", func(t *testing.T) {
			// The deadline within the code's life, so the plan is kept.
			for _, tc := range flowEndings(2 * time.Minute) {
				t.Run(tc.name, func(t *testing.T) {
					e := setupSigning(t, dbtest.New(t, b.Name))
					f, _ := e.sendFlow(t, batchFlow{name: "计划复用", parallel: true})
					tc.start(e, f)
					in := flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals["bob"]}
					in.Code = e.intentCode(t, "bob", in)
					if err := tc.end(e, f); err != nil {
						t.Fatal(err)
					}
					if n := flows.IntentPlansKept(e.svc); n != 1 {
						t.Fatalf("%d plans kept, want bob's", n)
					}
					_, err := e.svc.Sign(e.as("bob"), in)
					wantCode(t, err, errs.Conflict, tc.want)
					nothingSigned(t, e, f, tc.status)
				})
			}
		})

		t.Run("seal no longer usable", func(t *testing.T) {
			e := setupSigning(t, dbtest.New(t, b.Name))
			seals := &revocableSeals{ownerSeals: ownerSeals{e.database}}
			e.rebuild(t, func(c *flows.Config) { c.Seals = seals })
			f, _ := e.sendFlow(t, batchFlow{name: "计划复用"})
			in := flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals["bob"]}
			in.Code = e.intentCode(t, "bob", in)
			seals.revoked.Store(true)
			if n := flows.IntentPlansKept(e.svc); n != 1 {
				t.Fatalf("%d plans kept, want bob's", n)
			}
			_, err := e.svc.Sign(e.as("bob"), in)
			wantCode(t, err, errs.Forbidden, "授权已被撤销")
			nothingSigned(t, e, f, flow.StatusSigning)
			// Usable again: planned anew (the kept plan was taken), signed.
			seals.revoked.Store(false)
			if _, err := e.svc.Sign(e.as("bob"), in); err != nil {
				t.Fatal(err)
			}
		})

		// The kept code is checked in memory; what only its row knows, the
		// statement that uses it up checks.
		t.Run("code superseded or dead on another node", func(t *testing.T) {
			for _, tc := range []struct {
				name  string
				other func(t *testing.T, e *signEnv, in flows.SignInput) (newer string)
			}{
				{"a newer code", func(t *testing.T, e *signEnv, in flows.SignInput) string {
					e.now = e.now.Add(time.Minute) // past the resend interval, within the first code's life
					return e.intentCode(t, "bob", in)
				}},
				{"too many wrong tries", func(t *testing.T, e *signEnv, in flows.SignInput) string {
					wrong := in
					wrong.Code = wrongCode(in.Code)
					for range 5 {
						if _, err := e.svc.Sign(e.as("bob"), wrong); errs.CodeOf(err) != errs.Invalid {
							t.Fatalf("a wrong code: %v", err)
						}
					}
					return ""
				}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					e := setupSigning(t, dbtest.New(t, b.Name))
					f, _ := e.sendFlow(t, batchFlow{name: "计划复用"})
					in := flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals["bob"]}
					in.Code = e.intentCode(t, "bob", in)
					nodeA := e.svc
					e.rebuild(t, nil) // node B, on the same database
					newer := tc.other(t, e, in)
					e.svc = nodeA
					if n := flows.IntentPlansKept(e.svc); n != 1 {
						t.Fatalf("%d plans kept on node A, want bob's", n)
					}
					_, err := e.svc.Sign(e.as("bob"), in)
					wantCode(t, err, errs.Invalid, "验证码已失效")
					if newer == "" {
						return
					}
					nothingSigned(t, e, f, flow.StatusSigning)
					in.Code = newer
					if _, err := e.svc.Sign(e.as("bob"), in); err != nil {
						t.Fatal(err)
					}
				})
			}
		})

		t.Run("wrong code, then the right one", func(t *testing.T) {
			e := setupSigning(t, dbtest.New(t, b.Name))
			f, _ := e.sendFlow(t, batchFlow{name: "计划复用"})
			in := flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals["bob"]}
			right := e.intentCode(t, "bob", in)
			in.Code = wrongCode(right)
			_, err := e.svc.Sign(e.as("bob"), in)
			wantCode(t, err, errs.Invalid, "验证码错误，还可尝试4次") // read and counted
			nothingSigned(t, e, f, flow.StatusSigning)
			in.Code = right
			if _, err := e.svc.Sign(e.as("bob"), in); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("code's life over", func(t *testing.T) {
			e := setupSigning(t, dbtest.New(t, b.Name))
			f, _ := e.sendFlow(t, batchFlow{name: "计划复用"})
			in := flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals["bob"]}
			in.Code = e.intentCode(t, "bob", in)
			e.now = e.now.Add(6 * time.Minute)
			_, err := e.svc.Sign(e.as("bob"), in)
			wantCode(t, err, errs.Invalid, "验证码已过期")
			nothingSigned(t, e, f, flow.StatusSigning)
		})
	})
}

// wrongCode is a six-digit code other than code.
func wrongCode(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}
