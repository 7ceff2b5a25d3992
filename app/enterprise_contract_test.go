package app_test

import (
	"context"
	"crypto/x509"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"signet/config"
	entseal "signet/ent/seal"
	"signet/enterprises"
	et "signet/enterprises/enterprisestest"
	"signet/internal/apitest"
	"signet/internal/dbtest"
	"signet/internal/testpdf"
	"signet/signingcore/verify"
	"signet/viewer"
)

// TestContractWithEnterprise drives a contract between an enterprise and a
// person through the API: the enterprise is certified end to end, its
// handler joins and must hold a grant for the contract seal — refused
// without one, signing under it — and the person signs after; both
// signatures verify, the enterprise's under its own certificate.
func TestContractWithEnterprise(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		s := apitest.Start(t, b, apitest.Options{Configure: func(c *config.Config) { c.SandboxCAReviewDelay = time.Minute }})
		e := s.App.Enterprises
		sys := viewer.System(context.Background())
		const company = "星河科技有限公司"
		admin, _ := et.User(t, s, "13800004001")
		order := et.Certify(t, s, admin, et.Company{Name: company, Code: et.CreditCode(6001), LegalRep: "张法人", LegalRepPhone: "13900007001"})

		et.Must(e.SwitchSpace(admin, order.EnterpriseID))(t)
		// The handler (经办人) joins the enterprise and works in its space.
		handler, tokH := et.User(t, s, "13800004002")
		jr := et.Must(e.RequestJoin(handler, company, "合同经办"))(t)
		et.Must(e.DecideJoin(admin, jr.ID, true, ""))(t)
		verifyRealName(t, s, tokH, "赵经办", et.IDNumber("19900101", 21), "13800004002")
		s.MustDo(tokH, `mutation($id: ID) { switchSpace(enterpriseId: $id) { enterprise { id } } }`, map[string]any{"id": order.EnterpriseID}, nil)
		seal := et.Must(s.App.DB.Client.Seal.Query().Where(entseal.EnterpriseID(order.EnterpriseID), entseal.KindEQ(entseal.KindContract)).Only(sys))(t)

		// A person initiates a contract with the enterprise first, then herself.
		alice := s.Register("13800004003", passA)
		verifyRealName(t, s, alice, "钱多多", et.IDNumber("19850505", 31), "13800004003")
		var created struct{ CreateFlow struct{ ID string } }
		s.MustDo(alice, `mutation($in: FlowDraftInput!) { createFlow(input: $in) { id } }`, map[string]any{"in": map[string]any{"name": "技术服务合同"}}, &created)
		fid := created.CreateFlow.ID
		st, doc := upload(t, s, alice, fid, "技术服务合同", testpdf.Make(1))
		if st != http.StatusCreated {
			t.Fatalf("upload: %d %v", st, doc)
		}
		docID := doc["id"].(string)
		s.MustDo(alice, `mutation($id: ID!, $in: FlowDraftInput!) { updateFlowDraft(id: $id, input: $in) { id } }`, map[string]any{
			"id": fid, "in": map[string]any{"name": "技术服务合同", "ordered": true,
				"participants": []map[string]any{
					{"key": "e", "kind": "enterprise", "enterpriseName": company, "name": "赵经办", "phone": "13800004002", "order": 1},
					{"key": "a", "name": "钱多多", "phone": "13800004003", "order": 2},
				},
				"fields": []map[string]any{
					{"documentID": docID, "participantKey": "e", "kind": "enterprise_seal", "page": 1, "x": 80, "y": 80, "width": 140, "height": 140},
					{"documentID": docID, "participantKey": "a", "kind": "personal_seal", "page": 1, "x": 350, "y": 80, "width": 120, "height": 60},
				},
			}}, nil)
		s.MustDo(alice, `mutation($id: ID!) { sendFlow(id: $id) { status } }`, map[string]any{"id": fid}, nil)

		in := map[string]any{"flowID": fid, "enterpriseSealID": strconv.Itoa(seal.ID)}
		// Without a grant the handler is refused, with the manual's reason.
		r := s.Do(tokH, `mutation($in: SignFlowInput!) { sendIntentCode(input: $in) { fingerprint } }`, map[string]any{"in": in})
		if r.Code() != "FORBIDDEN" {
			t.Fatalf("signing without a grant: %q %q, want FORBIDDEN", r.Code(), r.Message())
		}
		var seals struct {
			UsableSeals []struct{ ID, Kind, ImageDataURL string }
		}
		// The administrator grants the contract seal for this scene.
		et.Must(e.GrantSeal(admin, enterprises.GrantInput{SealID: seal.ID, UserID: viewer.FromContext(handler).UserID,
			ValidFrom: s.Clock.Now().Add(-time.Minute), ValidUntil: s.Clock.Now().Add(24 * time.Hour)}))(t)
		s.MustDo(tokH, `{ usableSeals { id kind imageDataURL } }`, nil, &seals)
		found := false
		for _, sl := range seals.UsableSeals {
			found = found || sl.ID == strconv.Itoa(seal.ID)
			if !strings.HasPrefix(sl.ImageDataURL, "data:image/png;base64,iVBOR") { // the stamping page draws it
				t.Errorf("usable seal %s: image %.40q", sl.ID, sl.ImageDataURL)
			}
		}
		if !found {
			t.Fatalf("the granted seal is not usable: %+v", seals.UsableSeals)
		}
		s.MustDo(tokH, `mutation($in: SignFlowInput!) { sendIntentCode(input: $in) { fingerprint } }`, map[string]any{"in": in}, nil)
		in["code"] = s.LastCode("13800004002")
		s.MustDo(tokH, signMutation, map[string]any{"in": in}, nil)

		// Alice signs last with her personal seal: completed.
		in = map[string]any{"flowID": fid, "personalSealID": personalSeal(t, s, alice)}
		s.Clock.Advance(2 * time.Minute)
		s.MustDo(alice, `mutation($in: SignFlowInput!) { sendIntentCode(input: $in) { fingerprint } }`, map[string]any{"in": in}, nil)
		in["code"] = s.LastCode("13800004003")
		var done struct{ SignFlow struct{ Status string } }
		s.MustDo(alice, signMutation, map[string]any{"in": in}, &done)
		if done.SignFlow.Status != "completed" {
			t.Fatalf("status %s", done.SignFlow.Status)
		}

		req, _ := http.NewRequest(http.MethodGet, s.URL+"/files/documents/"+docID, nil)
		req.Header.Set("Authorization", "Bearer "+tokH)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		pdf, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		root, _ := s.App.Trust.CA.RootCertificate()
		rep, err := verify.Verify(pdf, verify.Options{Roots: []*x509.Certificate{root}, Revocation: verify.PKIRevocation{CA: s.App.Trust.CA}})
		if err != nil || rep.Verdict != verify.VerdictValid || len(rep.Signatures) != 2 {
			t.Fatalf("verify: %v %+v", err, rep)
		}
		if got := rep.Signatures[0].Signer.Organization; got != company {
			t.Errorf("first signature's organisation = %q, want %q", got, company)
		}
	})
}
