package flows_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	netmail "net/mail"
	"strings"
	"testing"
	"time"

	"signet/audit"
	"signet/ent/flow"
	"signet/errs"
	"signet/flows"
	"signet/internal/dbtest"
	"signet/mail"
	"signet/mail/smtptest"
	"signet/viewer"
)

// TestHREmail: an HR-scene flow, once completed, is emailed through SMTP to
// the parties with an address, with the final (time-stamped) PDF attached;
// the initiator may send it to another address, within the rate limit; and
// every refusal says why.
func TestHREmail(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		srv, err := smtptest.Start(smtptest.Config{Username: "signet", Password: "pw", StartTLS: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		smtp, err := mail.NewSMTP(mail.SMTPConfig{Addr: srv.Addr, Username: "signet", Password: "pw", From: "签网 <noreply@sign.example.com>",
			StartTLS: mail.StartTLSRequire, TLS: srv.ClientTLS()})
		if err != nil {
			t.Fatal(err)
		}
		e := setupFinish(t, b, smtp)
		f, doc := e.draftWith(t, "2026年劳动合同", func(in *flows.DraftInput) {
			in.Scene = flow.SceneHr
			in.Participants[1].Email = "li.si@example.cn" // the new employee, no account needed
			in.Participants[2].Email = "hr@example.cn"
		})

		// Before completion the initiator cannot send it.
		if _, err := e.svc.Send(e.as("alice"), f.ID); err != nil {
			t.Fatal(err)
		}
		wantCode(t, e.svc.SendCompletedFlowEmail(e.as("alice"), f.ID, "boss@example.cn"), errs.Conflict, "只有已完成的合同")
		if _, err := e.sign(t, "bob", flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals["bob"]}); err != nil {
			t.Fatal(err)
		}
		carol := flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals["carol"],
			Placements: []flows.Placement{{DocumentID: doc.ID, Kind: "personal_seal", Page: 1, X: 300, Y: 80, Width: 100, Height: 40}}}
		if _, err := e.sign(t, "carol", carol); err != nil {
			t.Fatal(err)
		}
		e.waitEvidence(t, f.ID)
		_, final, err := e.svc.DocumentPDF(e.as("alice"), doc.ID)
		if err != nil {
			t.Fatal(err)
		}

		msgs := waitMessages(t, srv, 2)
		got := map[string]bool{}
		for _, m := range msgs {
			if !m.TLS || m.Username != "signet" || m.From != "noreply@sign.example.com" {
				t.Fatalf("envelope %+v", m)
			}
			subject, files := parseMail(t, m.Data)
			if subject != "《2026年劳动合同》已签署完成" {
				t.Fatalf("subject %q", subject)
			}
			if len(files) != 1 || !bytes.Equal(files["劳动合同.pdf"], final) {
				t.Fatalf("attachments %d; the final PDF attached: %v", len(files), bytes.Equal(files["劳动合同.pdf"], final))
			}
			got[m.To[0]] = true
		}
		if !got["li.si@example.cn"] || !got["hr@example.cn"] {
			t.Fatalf("recipients %v", got)
		}
		if n := e.countEvents(t, f.ID, audit.FlowEmailed); n != 2 {
			t.Fatalf("%d flow.emailed events", n)
		}

		// The initiator sends it on; others may not; bad addresses and too
		// many requests are refused.
		wantCode(t, e.svc.SendCompletedFlowEmail(e.as("mallory"), f.ID, "x@example.cn"), errs.NotFound, "合同不存在")
		wantCode(t, e.svc.SendCompletedFlowEmail(e.as("bob"), f.ID, "x@example.cn"), errs.Forbidden, "只有发起方")
		wantCode(t, e.svc.SendCompletedFlowEmail(viewer.NewContext(context.Background(), viewer.Viewer{}), f.ID, "x@example.cn"), errs.Unauthenticated, "请先登录")
		for _, bad := range []string{"", "boss", "boss@example", "a@b.cn\r\nBcc: c@d.cn", "张三 <a@b.cn>"} {
			wantCode(t, e.svc.SendCompletedFlowEmail(e.as("alice"), f.ID, bad), errs.Invalid, "邮箱地址格式不正确")
		}
		for i := 0; i < flows.EmailsPerHour; i++ {
			if err := e.svc.SendCompletedFlowEmail(e.as("alice"), f.ID, "boss@example.cn"); err != nil {
				t.Fatalf("email %d: %v", i+1, err)
			}
		}
		wantCode(t, e.svc.SendCompletedFlowEmail(e.as("alice"), f.ID, "boss@example.cn"), errs.RateLimited, "每小时最多发送5次")
		waitMessages(t, srv, 2+flows.EmailsPerHour)
		e.now = e.now.Add(time.Hour + time.Second)
		if err := e.svc.SendCompletedFlowEmail(e.as("alice"), f.ID, "boss@example.cn"); err != nil {
			t.Fatalf("after an hour: %v", err)
		}
		waitMessages(t, srv, 3+flows.EmailsPerHour)
	})
}

// TestGeneralSceneNoEmail: outside the HR scene nobody is emailed unasked.
func TestGeneralSceneNoEmail(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		out := mail.NewOutbox(10, nil)
		e := setupFinish(t, b, out)
		f, doc := e.draftWith(t, "普通合同", func(in *flows.DraftInput) { in.Participants[1].Email = "li.si@example.cn" })
		e.signAll(t, f, doc)
		e.waitEvidence(t, f.ID)
		time.Sleep(300 * time.Millisecond)
		if n := len(out.To("li.si@example.cn")); n != 0 {
			t.Fatalf("%d emails in the general scene", n)
		}
	})
}

func waitMessages(t *testing.T, srv *smtptest.Server, n int) []smtptest.Message {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := srv.Messages(); len(m) >= n {
			if len(m) > n {
				t.Fatalf("%d messages, want %d", len(m), n)
			}
			return m
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%d messages within 20 s, want %d", len(srv.Messages()), n)
	return nil
}

// parseMail returns a message's decoded subject and attachments.
func parseMail(t *testing.T, data []byte) (string, map[string][]byte) {
	t.Helper()
	m, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	_, params, _ := mime.ParseMediaType(m.Header.Get("Content-Type"))
	mr := multipart.NewReader(m.Body, params["boundary"])
	files := map[string][]byte{}
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if p.FileName() == "" {
			continue
		}
		raw, _ := io.ReadAll(p)
		dec, err := decodeBase64(string(raw))
		if err != nil {
			t.Fatal(err)
		}
		files[p.FileName()] = dec
	}
	return subject, files
}

func decodeBase64(s string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.ReplaceAll(s, "\r\n", ""))
}
