package app_test

import (
	"context"
	"crypto"
	"encoding/base64"
	"fmt"
	"net/http"
	"testing"
	"time"

	"signet/ent/certificate"
	"signet/internal/apitest"
	"signet/internal/dbtest"
	"signet/internal/testpdf"
	"signet/signingcore/keystore"
	"signet/signingcore/pki"
	"signet/ukey"
	"signet/ukey/ukeytest"
	"signet/viewer"
)

const (
	prepareUKey  = `mutation($in: UKeySignFlowInput!) { prepareUKeySign(input: $in) { pendingID flowID contractName fingerprint round done digests { documentID digest certificate } } }`
	completeUKey = `mutation($in: CompleteUKeySignInput!) { completeUKeySign(input: $in) { pendingID done round digests { documentID digest certificate } flow { id status } } }`
)

type ukeyStep struct {
	PendingID, FlowID         string
	ContractName, Fingerprint string
	Round                     int
	Done                      bool
	Digests                   []struct{ DocumentID, Digest, Certificate string }
	Flow                      *struct{ ID, Status string }
}

// TestUKeySignAPI signs a contract with a bound personal UKey through the
// GraphQL API the pages use (prepareUKeySign → the token signs each digest →
// completeUKeySign), with an outsider's completion and cancel refused.
func TestUKeySignAPI(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		s := apitest.Start(t, b, apitest.Options{})
		s.Clock.Advance(time.Until(s.Clock.Now()) * -1) // the CA stamps certificates with the real time
		alice := s.Register("13800000001", passA)
		bob := s.Register("13800000002", passA)
		mallory := s.Register("13800000009", passA)
		verifyRealName(t, s, bob, "王小明", "11010519491231002X", "13800000002")

		// Bob's UKey: keys by pkcs11-tool, a person certificate from the
		// platform CA, bound to his account (the row bindUKey writes).
		ctx := context.Background()
		sys := viewer.System(ctx)
		var me struct{ Me struct{ ID string } }
		s.MustDo(bob, `{ me { id } }`, nil, &me)
		var uid int
		fmt.Sscan(me.Me.ID, &uid)
		hosted, err := s.App.DB.Client.Certificate.Query().Where(certificate.UserID(uid)).Only(sys)
		if err != nil {
			t.Fatal(err)
		}
		tok := ukeytest.New(t, ukeytest.ECP256)
		iss, err := s.App.Trust.CA.IssuePerson(ctx, pki.PersonRequest{Name: "王小明", SubjectID: hosted.SubjectID, Key: pki.SubjectKey{PublicKey: tok.MustPublicKey(t)}})
		if err != nil {
			t.Fatal(err)
		}
		fp := ukey.Fingerprint(iss.DER())
		if _, err := s.App.DB.Client.UKeyBinding.Create().SetUserID(uid).SetFingerprint(fp).SetSerial(iss.Serial).
			SetSubject(iss.Certificate.Subject.String()).SetDer(iss.DER()).SetNotAfter(iss.Certificate.NotAfter).SetBoundAt(time.Now()).Save(sys); err != nil {
			t.Fatal(err)
		}

		var created struct{ CreateFlow struct{ ID string } }
		s.MustDo(alice, `mutation($in: FlowDraftInput!) { createFlow(input: $in) { id } }`, map[string]any{"in": map[string]any{"name": "UKey合同"}}, &created)
		fid := created.CreateFlow.ID
		st, doc := upload(t, s, alice, fid, "合同", testpdf.Make(2))
		if st != http.StatusCreated {
			t.Fatalf("upload = %d", st)
		}
		docID := fmt.Sprint(doc["id"])
		s.MustDo(alice, `mutation($id: ID!, $in: FlowDraftInput!) { updateFlowDraft(id: $id, input: $in) { id } }`, map[string]any{
			"id": fid, "in": map[string]any{"name": "UKey合同",
				"participants": []map[string]any{{"key": "b", "name": "王小明", "phone": "13800000002", "order": 1}},
				"fields":       []map[string]any{{"documentID": docID, "participantKey": "b", "kind": "personal_seal", "page": 2, "x": 100, "y": 100, "width": 120, "height": 60}},
			}}, nil)
		s.MustDo(alice, `mutation($id: ID!) { sendFlow(id: $id) { status } }`, map[string]any{"id": fid}, nil)

		in := map[string]any{"flowID": fid, "personalSealID": personalSeal(t, s, bob), "ukeyCertificate": fp}
		s.MustDo(bob, `mutation($in: SignFlowInput!) { sendIntentCode(input: $in) { fingerprint } }`,
			map[string]any{"in": map[string]any{"flowID": fid, "personalSealID": in["personalSealID"]}}, nil)
		in["code"] = s.LastCode("13800000002")
		var prep struct{ PrepareUKeySign ukeyStep }
		s.MustDo(bob, prepareUKey, map[string]any{"in": in}, &prep)
		step := prep.PrepareUKeySign
		if step.Done || step.PendingID == "" || step.ContractName != "UKey合同" || len(step.Digests) != 1 || step.Digests[0].Certificate != fp {
			t.Fatalf("prepared %+v", step)
		}
		digest, _ := base64.StdEncoding.DecodeString(step.Digests[0].Digest)
		sig, err := keystore.SignDigest(ctx, tok.Module, "pkcs11:token="+tok.Label+";id=%4B%01", keystore.Secret(tok.PIN), digest, crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		done := map[string]any{"pendingID": step.PendingID, "signatures": []map[string]any{
			{"documentID": step.Digests[0].DocumentID, "signature": base64.StdEncoding.EncodeToString(sig)}}}
		if r := s.Do(mallory, completeUKey, map[string]any{"in": done}); r.Code() != "NOT_FOUND" {
			t.Fatalf("mallory completes bob's signature: %q %q", r.Code(), r.Message())
		}
		if r := s.Do(mallory, `mutation($id: ID!) { cancelUKeySign(pendingID: $id) }`, map[string]any{"id": step.PendingID}); r.Code() != "NOT_FOUND" {
			t.Fatalf("mallory cancels bob's signature: %q", r.Code())
		}
		var out struct{ CompleteUKeySign ukeyStep }
		s.MustDo(bob, completeUKey, map[string]any{"in": done}, &out)
		if !out.CompleteUKeySign.Done || out.CompleteUKeySign.Flow == nil || out.CompleteUKeySign.Flow.Status != "completed" {
			t.Fatalf("completed %+v", out.CompleteUKeySign)
		}
		if r := s.Do(bob, completeUKey, map[string]any{"in": done}); r.Code() != "CONFLICT" {
			t.Fatalf("completing twice: %q", r.Code())
		}
	})
}
