package app_test

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"signet/internal/apitest"
	"signet/internal/dbtest"
	"signet/internal/testpdf"
	"signet/signingcore/verify"
)

// upload posts a PDF to a draft like the PC page does.
func upload(t *testing.T, s *apitest.Server, token string, flowID string, name string, pdf []byte) (int, map[string]any) {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	w.WriteField("name", name)
	fw, _ := w.CreateFormFile("file", name+".pdf")
	fw.Write(pdf)
	w.Close()
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/files/flows/"+flowID+"/documents", &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	dec := json.NewDecoder(resp.Body)
	dec.UseNumber()
	dec.Decode(&out)
	return resp.StatusCode, out
}

// verifyRealName takes a user through the carrier three-element check.
func verifyRealName(t *testing.T, s *apitest.Server, token, name, id, phone string) {
	t.Helper()
	var st struct{ StartRealNameVerification struct{ ID string } }
	s.MustDo(token, `mutation($in: StartRealNameInput!) { startRealNameVerification(input: $in) { id } }`,
		map[string]any{"in": map[string]any{"name": name, "idNumber": id, "phone": phone}}, &st)
	s.MustDo(token, `mutation($id: ID!) { verifyRealNameByCarrier(id: $id) { id status } }`, map[string]any{"id": st.StartRealNameVerification.ID}, nil)
}

func personalSeal(t *testing.T, s *apitest.Server, token string) string {
	t.Helper()
	var out struct{ UsableSeals []struct{ ID, Kind string } }
	s.MustDo(token, `{ usableSeals { id kind } }`, nil, &out)
	for _, sl := range out.UsableSeals {
		if sl.Kind == "personal" {
			return sl.ID
		}
	}
	t.Fatalf("no personal seal in %+v", out.UsableSeals)
	return ""
}

// waitCode polls the outbox for a new code to phone (SMS go out through River).
func waitLink(t *testing.T, s *apitest.Server, phone string) string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		_, body := s.Get("/dev/outbox?phone=" + phone)
		var out struct {
			Messages []struct {
				Template string
				Params   map[string]string
			}
		}
		json.Unmarshal(body, &out)
		for _, m := range out.Messages {
			if m.Template == "sign_link" {
				link := m.Params["link"]
				return link[strings.LastIndex(link, "/s/")+3:]
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no signing link SMS to %s", phone)
	return ""
}

const signMutation = `mutation($in: SignFlowInput!) { signFlow(input: $in) { id status } }`

// TestContractEndToEnd drives a contract through the API the pages use:
// alice drafts and uploads, sends to bob (registered) then carol (no account
// yet); each opens the SMS link, proves the phone, verifies their real name,
// confirms intent and signs; the document verifies; every outsider is
// refused.
func TestContractEndToEnd(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		s := apitest.Start(t, b, apitest.Options{})
		alice := s.Register("13800000001", passA)
		bob := s.Register("13800000002", passA)
		mallory := s.Register("13800000009", passA)

		var created struct{ CreateFlow struct{ ID, Number string } }
		s.MustDo(alice, `mutation($in: FlowDraftInput!) { createFlow(input: $in) { id number } }`,
			map[string]any{"in": map[string]any{"name": "房屋租赁合同"}}, &created)
		fid := created.CreateFlow.ID
		if st, _ := upload(t, s, mallory, fid, "偷传", testpdf.Make(1)); st != http.StatusNotFound {
			t.Fatalf("mallory's upload = %d, want 404", st)
		}
		if st, out := upload(t, s, alice, fid, "坏文件", []byte("hello")); st != http.StatusBadRequest {
			t.Fatalf("bad upload = %d %v, want 400", st, out)
		}
		st, doc := upload(t, s, alice, fid, "租赁合同", testpdf.Make(2))
		if st != http.StatusCreated {
			t.Fatalf("upload = %d %v", st, doc)
		}
		docID := fmt.Sprint(doc["id"])
		s.MustDo(alice, `mutation($id: ID!, $in: FlowDraftInput!) { updateFlowDraft(id: $id, input: $in) { id } }`, map[string]any{
			"id": fid, "in": map[string]any{"name": "房屋租赁合同", "ordered": true,
				"participants": []map[string]any{
					{"key": "b", "name": "王小明", "phone": "13800000002", "order": 1},
					{"key": "c", "name": "李四", "phone": "13800000003", "order": 2},
				},
				"fields": []map[string]any{{"documentID": docID, "participantKey": "b", "kind": "personal_seal", "page": 2, "x": 100, "y": 100, "width": 120, "height": 60}},
			}}, nil)
		s.MustDo(alice, `mutation($id: ID!) { sendFlow(id: $id) { status } }`, map[string]any{"id": fid}, nil)

		// Lists: alice's 我发起的, bob's 待办 with a count.
		var list struct {
			Flows struct {
				TotalCount int
				Edges      []struct{ Node struct{ ID, Name string } }
			}
		}
		s.MustDo(bob, `{ flows(list: TODO, first: 10) { totalCount edges { node { id name participants { name status } } } } }`, nil, &list)
		if list.Flows.TotalCount != 1 || list.Flows.Edges[0].Node.ID != fid {
			t.Fatalf("bob's 待办 = %+v", list)
		}
		s.MustDo(mallory, `{ flows(list: TODO, first: 10) { totalCount } }`, nil, &list)
		if list.Flows.TotalCount != 0 {
			t.Fatal("mallory sees bob's 待办")
		}
		if r := s.Do(mallory, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": fid}); !strings.Contains(string(r.Data), "null") && r.Code() == "" {
			t.Fatalf("mallory reads the flow: %s", r.Data)
		}
		if st, _ := s.Get("/files/documents/" + docID); st != http.StatusNotFound {
			t.Fatalf("anonymous download = %d, want 404", st)
		}

		// Bob opens his SMS link, proves the phone, verifies, signs.
		code := waitLink(t, s, "13800000002")
		var info struct {
			SigningLink struct{ FlowName, MaskedPhone string }
		}
		s.MustDo("", `query($c: String!) { signingLink(code: $c) { flowName maskedPhone } }`, map[string]any{"c": code}, &info)
		if info.SigningLink.FlowName != "房屋租赁合同" || info.SigningLink.MaskedPhone != "138****0002" {
			t.Fatalf("link info = %+v", info)
		}
		bobTok := openLink(t, s, code, "13800000002")
		verifyRealName(t, s, bobTok, "王小明", "11010519491231002X", "13800000002")
		in := map[string]any{"flowID": fid, "personalSealID": personalSeal(t, s, bobTok)}
		s.MustDo(bobTok, `mutation($in: SignFlowInput!) { sendIntentCode(input: $in) { fingerprint } }`, map[string]any{"in": in}, nil)
		in["code"] = s.LastCode("13800000002")
		if r := s.Do(mallory, signMutation, map[string]any{"in": in}); r.Code() != "NOT_FOUND" {
			t.Fatalf("mallory signs for bob: %q %q", r.Code(), r.Message())
		}
		s.MustDo(bobTok, signMutation, map[string]any{"in": in}, nil)
		if r := s.Do(bobTok, signMutation, map[string]any{"in": in}); r.Code() != "CONFLICT" {
			t.Fatalf("bob signs twice: %q", r.Code())
		}
		_ = bob

		// Carol has no account: the link creates it.
		s.Clock.Advance(2 * time.Minute)
		code = waitLink(t, s, "13800000003")
		carol := openLink(t, s, code, "13800000003")
		verifyRealName(t, s, carol, "李四", "110105194912310038", "13800000003")
		in = map[string]any{"flowID": fid, "personalSealID": personalSeal(t, s, carol),
			"placements": []map[string]any{{"documentID": docID, "kind": "personal_seal", "page": 1, "x": 300, "y": 80, "width": 100, "height": 50}}}
		s.MustDo(carol, `mutation($in: SignFlowInput!) { sendIntentCode(input: $in) { fingerprint } }`, map[string]any{"in": in}, nil)
		in["code"] = s.LastCode("13800000003")
		var done struct{ SignFlow struct{ Status string } }
		s.MustDo(carol, signMutation, map[string]any{"in": in}, &done)
		if done.SignFlow.Status != "completed" {
			t.Fatalf("after the last signature: %s", done.SignFlow.Status)
		}

		// The initiator downloads it: two valid platform signatures.
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/files/documents/"+docID, nil)
		req.Header.Set("Authorization", "Bearer "+alice)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		pdf, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pdf" {
			t.Fatalf("download: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		root, _ := s.App.Trust.CA.RootCertificate()
		rep, err := verify.Verify(pdf, verify.Options{Roots: []*x509.Certificate{root}, Revocation: verify.PKIRevocation{CA: s.App.Trust.CA}})
		if err != nil || rep.Verdict != verify.VerdictValid || len(rep.Signatures) != 2 {
			t.Fatalf("verify: %v %+v", err, rep)
		}
		s.MustDo(alice, `{ flows(list: COMPLETED, first: 5) { totalCount } }`, nil, &list)
		if list.Flows.TotalCount != 1 {
			t.Fatalf("alice's 已完成 = %d", list.Flows.TotalCount)
		}
	})
}

func openLink(t *testing.T, s *apitest.Server, code, phone string) string {
	t.Helper()
	s.MustDo("", `mutation($c: String!) { sendSigningLinkCode(code: $c) { maskedPhone } }`, map[string]any{"c": code}, nil)
	var out struct {
		OpenSigningLink struct {
			Auth struct{ Token string }
			Flow struct{ ID string }
		}
	}
	s.MustDo("", `mutation($in: OpenSigningLinkInput!) { openSigningLink(input: $in) { auth { token } flow { id name } } }`, map[string]any{"in": map[string]any{
		"code": code, "smsCode": s.LastCode(phone), "serviceAgreementVersion": "2026-11-01", "privacyStatementVersion": "2026-11-01"}}, &out)
	return out.OpenSigningLink.Auth.Token
}
