package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"signet/ent/signfield"
	"signet/ent/user"
	"signet/flows"
	"signet/internal/apitest"
	"signet/internal/dbtest"
	"signet/internal/testpdf"
	"signet/viewer"
)

// sendFlows has the user of phone send n flows to bob (13800000002) and
// carol; with bobField false bob has no position (he would place his seal).
func sendFlows(t *testing.T, s *apitest.Server, phone string, n int, bobField bool) []string {
	t.Helper()
	ctx := context.Background()
	u, err := s.App.DB.Client.User.Query().Where(user.Phone(phone)).Only(viewer.System(ctx))
	if err != nil {
		t.Fatal(err)
	}
	actx := viewer.NewContext(ctx, viewer.Viewer{UserID: u.ID, Phone: u.Phone})
	var ids []string
	for i := range n {
		name := fmt.Sprintf("供货合同%02d", i+1)
		f, err := s.App.Flows.CreateDraft(actx, flows.DraftInput{Name: name, Ordered: true})
		if err != nil {
			t.Fatal(err)
		}
		doc, err := s.App.Flows.AddDocument(actx, f.ID, "合同.pdf", bytes.NewReader(testpdf.Make(1)))
		if err != nil {
			t.Fatal(err)
		}
		in := flows.DraftInput{Name: name, Ordered: true,
			Participants: []flows.ParticipantInput{{Key: "b", Name: "王小明", Phone: "13800000002", Order: 1}, {Key: "c", Name: "李四", Phone: "13800000003", Order: 2}}}
		if bobField {
			in.Fields = []flows.FieldInput{{DocumentID: doc.ID, ParticipantKey: "b", Kind: signfield.KindPersonalSeal, Page: 1, X: 100, Y: 100, Width: 100, Height: 100}}
		}
		if _, err := s.App.Flows.UpdateDraft(actx, f.ID, in); err != nil {
			t.Fatal(err)
		}
		if _, err := s.App.Flows.Send(actx, f.ID); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, fmt.Sprint(f.ID))
	}
	return ids
}

// intentCode returns the code of the newest 意愿认证 SMS to phone (signing
// links are sent by jobs and may arrive after it).
func intentCode(t *testing.T, s *apitest.Server, phone string) string {
	t.Helper()
	_, body := s.Get("/dev/outbox?phone=" + phone)
	var out struct {
		Messages []struct {
			Template string
			Params   map[string]string
		}
	}
	json.Unmarshal(body, &out)
	for _, m := range out.Messages {
		if m.Template == "sign_intent" {
			return m.Params["code"]
		}
	}
	t.Fatalf("no intent code SMS to %s", phone)
	return ""
}

const batchResultFields = `flowID ok error code flow { id status }`

type batchResult struct {
	FlowID, Code, Error string
	Ok                  bool
	Flow                *struct{ ID, Status string }
}

// TestBatchSignAPI drives 批量签署 through GraphQL: eligible flows mixed
// with one needing self-placement, one code, a result per flow; an outsider
// and a reused code are refused.
func TestBatchSignAPI(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		s := apitest.Start(t, b, apitest.Options{})
		s.Register("13800000001", passA)
		bob := s.Register("13800000002", passA)
		mallory := s.Register("13800000009", passA)
		verifyRealName(t, s, bob, "王小明", "11010519491231002X", "13800000002")
		ok := sendFlows(t, s, "13800000001", 3, true)
		self := sendFlows(t, s, "13800000001", 1, false)[0]
		in := map[string]any{"flowIDs": append(append([]string{}, ok...), self), "personalSealID": personalSeal(t, s, bob)}

		// Without a code-holder's seal, mallory gets nothing of bob's.
		var ms struct {
			SendBatchIntentCode struct {
				Sent    bool
				Results []batchResult
			}
		}
		s.MustDo(mallory, `mutation($in: BatchSignInput!) { sendBatchIntentCode(input: $in) { sent results { `+batchResultFields+` } } }`,
			map[string]any{"in": in}, &ms)
		if ms.SendBatchIntentCode.Sent {
			t.Fatal("a code was sent for mallory's batch of bob's flows")
		}
		for _, r := range ms.SendBatchIntentCode.Results {
			if r.Ok || r.Code != "NOT_FOUND" {
				t.Fatalf("mallory's batch item: %+v", r)
			}
		}

		var sent struct {
			SendBatchIntentCode struct {
				Sent        bool
				MaskedPhone string
				Fingerprint string
				Results     []batchResult
			}
		}
		s.MustDo(bob, `mutation($in: BatchSignInput!) { sendBatchIntentCode(input: $in) { sent maskedPhone fingerprint results { `+batchResultFields+` } } }`,
			map[string]any{"in": in}, &sent)
		p := sent.SendBatchIntentCode
		if !p.Sent || p.MaskedPhone != "138****0002" || len(p.Results) != 4 || p.Fingerprint == "" {
			t.Fatalf("sendBatchIntentCode = %+v", p)
		}
		for i, r := range p.Results {
			if want := i < 3; r.Ok != want {
				t.Fatalf("eligibility of %s: %+v", r.FlowID, r)
			}
		}
		if r := p.Results[3]; r.Code != "INVALID_ARGUMENT" || r.Error != "需要自行放置印章的合同不能批量签署" {
			t.Fatalf("self-placement flow: %+v", r)
		}
		in["code"] = intentCode(t, s, "13800000002")
		const signBatch = `mutation($in: BatchSignInput!) { batchSignFlows(input: $in) { ` + batchResultFields + ` } }`
		if r := s.Do(mallory, signBatch, map[string]any{"in": in}); r.Code() == "" {
			t.Fatalf("mallory signs bob's batch: %s", r.Data)
		}
		var done struct{ BatchSignFlows []batchResult }
		s.MustDo(bob, signBatch, map[string]any{"in": in}, &done)
		if len(done.BatchSignFlows) != 4 {
			t.Fatalf("batchSignFlows = %+v", done)
		}
		for i, r := range done.BatchSignFlows {
			if i < 3 && (!r.Ok || r.Flow == nil || r.Flow.Status != "signing") {
				t.Fatalf("flow %s not signed: %+v", r.FlowID, r)
			}
			if i == 3 && (r.Ok || r.Flow != nil || r.Error != "需要自行放置印章的合同不能批量签署") {
				t.Fatalf("self-placement flow in the batch: %+v", r)
			}
		}
		// Reused: nothing left to sign.
		if r := s.Do(bob, signBatch, map[string]any{"in": in}); r.Code() != "CONFLICT" {
			t.Fatalf("batch signed twice: %q %q", r.Code(), r.Message())
		}
		var todo struct{ Flows struct{ TotalCount int } }
		s.MustDo(bob, `{ flows(list: TODO, first: 10) { totalCount } }`, nil, &todo)
		if todo.Flows.TotalCount != 1 {
			t.Fatalf("bob's 待办 after the batch: %d", todo.Flows.TotalCount)
		}
	})
}
