package app_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"signet/app"
	"signet/config"
	"signet/internal/apitest"
	"signet/internal/benchutil"
	"signet/internal/dbtest"
	"signet/internal/testpdf"
	"signet/mail/smtptest"
)

// get performs an authenticated GET and returns status, headers and body.
func get(t *testing.T, s *apitest.Server, token, path string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body
}

// verifyUpload posts a file to POST /files/verify.
func verifyUpload(t *testing.T, s *apitest.Server, token string, pdf []byte) (int, map[string]any) {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	fw, _ := w.CreateFormFile("file", "contract.pdf")
	fw.Write(pdf)
	w.Close()
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/files/verify", &body)
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

// waitOutbox waits for an SMS of a template to phone and returns its params.
func waitOutbox(t *testing.T, s *apitest.Server, phone, template string) map[string]string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
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
			if m.Template == template {
				return m.Params
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no %s SMS to %s", template, phone)
	return nil
}

func unzipBody(t *testing.T, body []byte) map[string][]byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatalf("not a zip: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		out[f.Name], _ = io.ReadAll(rc)
		rc.Close()
	}
	return out
}

// TestCompletedContractFiles drives an HR contract through the API to its
// end and then through what DOC-5, DOC-7, DOC-8 and VER-1 promise: the CC
// recipient is told at sending and completion and may download; the zip
// holds the sealed PDF (valid in pdfsig) and the evidence report; the new
// employee is emailed through SMTP; the download verifies and names its
// flow, a tampered copy does not verify, a foreign file is not the
// platform's; outsiders are refused everywhere.
func TestCompletedContractFiles(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		srv, err := smtptest.Start(smtptest.Config{Username: "signet", Password: "pw"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		pw := filepath.Join(t.TempDir(), "smtp.pw")
		os.WriteFile(pw, []byte("pw"), 0o600)
		s := apitest.Start(t, b, apitest.Options{Configure: func(c *config.Config) {
			c.Mail = config.MailConfig{SMTPAddr: srv.Addr, Username: "signet", Password: "pw", From: "签网 <noreply@sign.example.com>", StartTLS: "off"}
		}})
		alice := s.Register("13800000001", passA)
		bob := s.Register("13800000002", passA)
		dave := s.Register("13800000004", passA)
		mallory := s.Register("13800000009", passA)

		var created struct{ CreateFlow struct{ ID string } }
		s.MustDo(alice, `mutation($in: FlowDraftInput!) { createFlow(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"name": "2026年劳动合同", "scene": "hr"}}, &created)
		fid := created.CreateFlow.ID
		st, doc := upload(t, s, alice, fid, "劳动合同", testpdf.Make(2))
		if st != http.StatusCreated {
			t.Fatalf("upload = %d %v", st, doc)
		}
		docID := fmt.Sprint(doc["id"])
		s.MustDo(alice, `mutation($id: ID!, $in: FlowDraftInput!) { updateFlowDraft(id: $id, input: $in) { id } }`, map[string]any{
			"id": fid, "in": map[string]any{"name": "2026年劳动合同", "scene": "hr", "ordered": true,
				"participants": []map[string]any{
					{"key": "b", "name": "王小明", "phone": "13800000002", "order": 1},
					{"key": "c", "name": "李四", "phone": "13800000003", "order": 2, "email": "li.si@example.cn"},
					{"key": "d", "role": "cc", "name": "赵六", "phone": "13800000004"},
				},
				"fields": []map[string]any{{"documentID": docID, "participantKey": "b", "kind": "personal_seal", "page": 2, "x": 100, "y": 100, "width": 120, "height": 60}},
			}}, nil)
		s.MustDo(alice, `mutation($id: ID!) { sendFlow(id: $id) { status } }`, map[string]any{"id": fid}, nil)

		// DOC-7: the CC recipient is told, sees it under 抄送我的, previews it.
		cc := waitOutbox(t, s, "13800000004", "flow_cc")
		if !strings.Contains(cc["link"], "/s/") || cc["contract"] != "2026年劳动合同" {
			t.Fatalf("CC notice %v", cc)
		}
		var list struct{ Flows struct{ TotalCount int } }
		s.MustDo(dave, `{ flows(list: CC, first: 5) { totalCount } }`, nil, &list)
		if list.Flows.TotalCount != 1 {
			t.Fatalf("dave's 抄送我的 = %d", list.Flows.TotalCount)
		}
		if st, _, _ := get(t, s, dave, "/files/documents/"+docID); st != http.StatusOK {
			t.Fatalf("CC preview = %d", st)
		}
		if st, _, _ := get(t, s, mallory, "/files/documents/"+docID); st != http.StatusNotFound {
			t.Fatalf("outsider preview = %d", st)
		}

		// Bob, then carol (no account yet), sign.
		bobTok := openLink(t, s, waitLink(t, s, "13800000002"), "13800000002")
		verifyRealName(t, s, bobTok, "王小明", "11010519491231002X", "13800000002")
		in := map[string]any{"flowID": fid, "personalSealID": personalSeal(t, s, bobTok)}
		s.MustDo(bobTok, `mutation($in: SignFlowInput!) { sendIntentCode(input: $in) { fingerprint } }`, map[string]any{"in": in}, nil)
		in["code"] = s.LastCode("13800000002")
		s.MustDo(bobTok, signMutation, map[string]any{"in": in}, nil)
		s.Clock.Advance(2 * time.Minute)
		carol := openLink(t, s, waitLink(t, s, "13800000003"), "13800000003")
		verifyRealName(t, s, carol, "李四", "110105194912310038", "13800000003")
		in = map[string]any{"flowID": fid, "personalSealID": personalSeal(t, s, carol),
			"placements": []map[string]any{{"documentID": docID, "kind": "personal_seal", "page": 1, "x": 300, "y": 80, "width": 100, "height": 50}}}
		s.MustDo(carol, `mutation($in: SignFlowInput!) { sendIntentCode(input: $in) { fingerprint } }`, map[string]any{"in": in}, nil)
		in["code"] = s.LastCode("13800000003")
		var done struct{ SignFlow struct{ Status string } }
		s.MustDo(carol, signMutation, map[string]any{"in": in}, &done)
		if done.SignFlow.Status != "completed" {
			t.Fatalf("status %s", done.SignFlow.Status)
		}

		// The completion job: initiator and CC are told once it is done.
		waitOutbox(t, s, "13800000001", "flow_completed")
		waitOutbox(t, s, "13800000004", "flow_completed")

		// DOC-5: the zip, for the CC recipient too; not for outsiders.
		st, hdr, body := get(t, s, dave, "/files/flows/"+fid+"/zip")
		if st != http.StatusOK || hdr.Get("Content-Type") != "application/zip" || !strings.Contains(hdr.Get("Content-Disposition"), "attachment") {
			t.Fatalf("zip = %d %v %s", st, hdr, body)
		}
		files := unzipBody(t, body)
		final := files["劳动合同.pdf"]
		if len(files) != 4 || len(final) == 0 || len(files["证据报告.html"]) == 0 || len(files["证据报告.json"]) == 0 || len(files["证据报告.json.tsr"]) == 0 {
			t.Fatalf("zip entries: %d", len(files))
		}
		var ev struct {
			Documents []struct{ FinalSha256, Verdict string }
			Chain     struct{ OK bool }
		}
		if err := json.Unmarshal(files["证据报告.json"], &ev); err != nil || len(ev.Documents) != 1 || ev.Documents[0].Verdict != "valid" || !ev.Chain.OK {
			t.Fatalf("evidence %+v %v", ev, err)
		}
		pdfsigValid(t, s, final, 2)
		for who, tok := range map[string]string{"mallory": mallory, "anonymous": ""} {
			want := http.StatusNotFound
			if tok == "" {
				want = http.StatusUnauthorized
			}
			if st, _, _ := get(t, s, tok, "/files/flows/"+fid+"/zip"); st != want {
				t.Fatalf("%s's zip = %d, want %d", who, st, want)
			}
		}
		if st, _, body := get(t, s, alice, "/files/flows/zip?ids="+fid); st != http.StatusOK || len(unzipBody(t, body)) != 4 {
			t.Fatalf("batch zip = %d", st)
		}
		if st, _, _ := get(t, s, alice, "/files/flows/zip?ids=abc"); st != http.StatusBadRequest {
			t.Fatalf("batch with a bad id = %d", st)
		}

		// The blob sweep (no grace here: nothing is in flight) removes the
		// revisions the later ones contain whole — bob's signed revision
		// and carol's, which the completion's document time-stamp extended
		// — and keeps what the contract refers to: the download is the
		// same, and so is the preview.
		// Signed revisions still staged in the database (flows/staged.go) are
		// not in the store yet: moved first, the count below does not hang
		// on the mover's timing.
		if _, err := s.App.Flows.MoveStaged(context.Background(), 100); err != nil {
			t.Fatal(err)
		}
		swept, err := s.App.SweepBlobs(context.Background(), 0)
		if err != nil {
			t.Fatal(err)
		}
		if swept.Removed != 2 || swept.Kept != 5 {
			t.Errorf("sweep = %+v, want 2 intermediate revisions removed and 5 blobs kept (original, final, evidence JSON, HTML and time-stamp)", swept)
		}
		if st, _, again := get(t, s, dave, "/files/flows/"+fid+"/zip"); st != http.StatusOK || !bytes.Equal(unzipBody(t, again)["劳动合同.pdf"], final) {
			t.Fatalf("zip after the sweep = %d", st)
		}
		if st, _, preview := get(t, s, dave, "/files/documents/"+docID); st != http.StatusOK || !bytes.Equal(preview, final) {
			t.Fatalf("preview after the sweep = %d", st)
		}
		if res, err := s.App.SweepBlobs(context.Background(), 0); err != nil || res.Removed != 0 {
			t.Errorf("second sweep = %+v %v, want nothing removed", res, err)
		}
		// The periodic job's worker, through River (its 24-hour grace keeps everything here).
		if _, err := s.App.Jobs.Insert(context.Background(), app.BlobSweepArgs{}, nil); err != nil {
			t.Fatal(err)
		}
		benchutil.WaitJobsIdle(t, s.App.DB.SQL)
		var state string
		if err := s.App.DB.SQL.QueryRow(`SELECT state FROM river_job WHERE kind = 'blob_sweep' ORDER BY id DESC LIMIT 1`).Scan(&state); err != nil || state != "completed" {
			t.Errorf("blob sweep job: %q %v, want completed", state, err)
		}

		// DOC-8: the new employee got the signed contract by email.
		deadline := time.Now().Add(20 * time.Second)
		for len(srv.Messages()) == 0 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		msgs := srv.Messages()
		if len(msgs) != 1 || msgs[0].To[0] != "li.si@example.cn" || msgs[0].Username != "signet" {
			t.Fatalf("emails %+v", msgs)
		}
		if !bytes.Contains(msgs[0].Data, []byte("Content-Type: application/pdf")) {
			t.Fatal("no PDF attached")
		}

		// GraphQL: the evidence record, and sending the contract on by email.
		var node struct {
			Node struct {
				Evidence *struct {
					Sha256  string
					ChainOK bool
				}
			}
		}
		s.MustDo(dave, `query($id: ID!) { node(id: $id) { ... on Flow { evidence { sha256 chainOK } } } }`, map[string]any{"id": fid}, &node)
		sum := sha256.Sum256(files["证据报告.json"])
		if node.Node.Evidence == nil || node.Node.Evidence.Sha256 != hex.EncodeToString(sum[:]) || !node.Node.Evidence.ChainOK {
			t.Fatalf("evidence through GraphQL: %+v", node.Node.Evidence)
		}
		const sendEmail = `mutation($id: ID!, $e: String!) { sendCompletedFlowEmail(id: $id, email: $e) }`
		if r := s.Do(bobTok, sendEmail, map[string]any{"id": fid, "e": "x@example.cn"}); r.Code() != "FORBIDDEN" {
			t.Fatalf("a signer sends the email: %q", r.Code())
		}
		if r := s.Do(mallory, sendEmail, map[string]any{"id": fid, "e": "x@example.cn"}); r.Code() != "NOT_FOUND" {
			t.Fatalf("an outsider sends the email: %q", r.Code())
		}
		if r := s.Do(alice, sendEmail, map[string]any{"id": fid, "e": "not-an-address"}); r.Code() != "INVALID_ARGUMENT" {
			t.Fatalf("a bad address: %q", r.Code())
		}
		s.MustDo(alice, sendEmail, map[string]any{"id": fid, "e": "boss@example.cn"}, nil)
		deadline = time.Now().Add(20 * time.Second)
		for len(srv.Messages()) < 2 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		if msgs := srv.Messages(); len(msgs) != 2 || msgs[1].To[0] != "boss@example.cn" {
			t.Fatalf("requested email: %+v", msgs)
		}

		// VER-1: the download verifies and names its flow; a tampered copy
		// does not verify; a file signed elsewhere is not the platform's.
		st, res := verifyUpload(t, s, bob, final)
		flowRes, _ := res["flow"].(map[string]any)
		report, _ := res["report"].(map[string]any)
		if st != http.StatusOK || res["platform"] != true || report["verdict"] != "valid" || flowRes == nil || fmt.Sprint(flowRes["id"]) != fid || flowRes["match"] != "current" {
			t.Fatalf("verify download = %d %v", st, res)
		}
		bad := append([]byte(nil), final...)
		i := bytes.Index(bad, []byte("stream")) + 20
		bad[i] ^= 0x20
		if st, res := verifyUpload(t, s, bob, bad); st != http.StatusOK || res["report"].(map[string]any)["verdict"] != "invalid" {
			t.Fatalf("verify tampered = %d %v", st, res)
		}
		if st, res := verifyUpload(t, s, mallory, final); st != http.StatusOK || res["flow"] != nil {
			t.Fatalf("outsider's verification names the flow: %v", res)
		}
		if st, res := verifyUpload(t, s, "", testpdf.Make(1)); st != http.StatusOK || res["message"] != "非本平台签署的文件" || res["platform"] != false {
			t.Fatalf("verify foreign = %d %v", st, res)
		}
		if st, _ := verifyUpload(t, s, "", []byte("hello")); st != http.StatusBadRequest {
			t.Fatalf("verify non-PDF = %d", st)
		}
		_ = bob
	})
}

// TestFlowExpiresAtDeadline (DOC-10) through the app: River runs the
// scheduled job, the flow moves to 已作废 and the initiator is told.
func TestFlowExpiresAtDeadline(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		s := apitest.Start(t, b, apitest.Options{})
		alice := s.Register("13800000001", passA)
		var created struct{ CreateFlow struct{ ID string } }
		s.MustDo(alice, `mutation($in: FlowDraftInput!) { createFlow(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"name": "限时合同"}}, &created)
		fid := created.CreateFlow.ID
		if st, doc := upload(t, s, alice, fid, "合同", testpdf.Make(1)); st != http.StatusCreated {
			t.Fatalf("upload = %d %v", st, doc)
		}
		deadline := s.Clock.Now().Add(2 * time.Second)
		s.MustDo(alice, `mutation($id: ID!, $in: FlowDraftInput!) { updateFlowDraft(id: $id, input: $in) { id } }`, map[string]any{
			"id": fid, "in": map[string]any{"name": "限时合同", "deadline": deadline.Format(time.RFC3339Nano),
				"participants": []map[string]any{{"key": "b", "name": "王小明", "phone": "13800000002"}}}}, nil)
		s.MustDo(alice, `mutation($id: ID!) { sendFlow(id: $id) { status } }`, map[string]any{"id": fid}, nil)
		s.Clock.Advance(3 * time.Second)
		msg := waitOutbox(t, s, "13800000001", "flow_expired")
		if msg["contract"] != "限时合同" {
			t.Fatalf("expiry notice %v", msg)
		}
		var list struct{ Flows struct{ TotalCount int } }
		s.MustDo(alice, `{ flows(list: VOIDED, first: 5) { totalCount } }`, nil, &list)
		if list.Flows.TotalCount != 1 {
			t.Fatalf("alice's 已作废 = %d", list.Flows.TotalCount)
		}
	})
}

// pdfsigValid checks the approval signatures with poppler, trusting the
// platform root through an NSS database.
func pdfsigValid(t *testing.T, s *apitest.Server, pdf []byte, want int) {
	t.Helper()
	if _, err := exec.LookPath("pdfsig"); err != nil {
		t.Log("pdfsig not installed; skipping")
		return
	}
	dir := t.TempDir()
	root, _ := s.App.Trust.CA.RootCertificate()
	rootPEM := filepath.Join(dir, "root.pem")
	os.WriteFile(rootPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw}), 0o600)
	nss := filepath.Join(dir, "nss")
	os.Mkdir(nss, 0o700)
	for _, args := range [][]string{{"-N", "-d", "sql:" + nss, "--empty-password"}, {"-A", "-d", "sql:" + nss, "-n", "root", "-t", "CT,C,C", "-i", rootPEM}} {
		if out, err := exec.Command("certutil", args...).CombinedOutput(); err != nil {
			t.Fatalf("certutil: %v\n%s", err, out)
		}
	}
	file := filepath.Join(dir, "final.pdf")
	os.WriteFile(file, pdf, 0o600)
	out, err := exec.Command("pdfsig", "-nssdir", "sql:"+nss, file).CombinedOutput()
	if err != nil {
		t.Fatalf("pdfsig: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "Signature Validation: Signature is Valid."); n != want {
		t.Fatalf("pdfsig: %d valid, want %d\n%s", n, want, out)
	}
}
