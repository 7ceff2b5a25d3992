package flows_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"signet/audit"
	"signet/ent/flow"
	"signet/errs"
	"signet/flows"
	"signet/internal/dbtest"
	"signet/sms"
	"signet/viewer"
)

// TestExpiry: a flow with a deadline expires when its job runs after the
// deadline, and the initiator is told; a flow finished earlier is left
// alone; the job does nothing before the deadline by the service clock.
func TestExpiry(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setupFinish(t, b, nil)
		deadline := e.now.Add(2 * time.Second)
		f, _ := e.draftWith(t, "短期合同", func(in *flows.DraftInput) { in.Deadline = &deadline })
		revoked, _ := e.draftWith(t, "撤销的合同", func(in *flows.DraftInput) { in.Deadline = &deadline })
		for _, id := range []int{f.ID, revoked.ID} {
			if _, err := e.svc.Send(e.as("alice"), id); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.svc.Revoke(e.as("alice"), revoked.ID, "条款有误"); err != nil {
			t.Fatal(err)
		}

		// Before the deadline the job only asks to run again later.
		err := e.svc.Expire(context.Background(), f.ID)
		var snooze *river.JobSnoozeError
		if !errors.As(err, &snooze) {
			t.Fatalf("Expire before the deadline = %v, want a snooze", err)
		}
		if got, _ := e.db.Flow.Get(viewer.System(context.Background()), f.ID); got.Status != flow.StatusSigning {
			t.Fatalf("status before the deadline: %s", got.Status)
		}

		// The scheduled job runs at the deadline (River polls, so a little
		// late): the flow expires.
		e.now = e.now.Add(3 * time.Second)
		waitStatus(t, e, f.ID, flow.StatusExpired, 20*time.Second)
		got, _ := e.db.Flow.Get(viewer.System(context.Background()), f.ID)
		if got.EndReason != flows.EndReasonExpired || got.FinishedAt == nil {
			t.Fatalf("expired flow: %+v", got)
		}
		if n := e.countEvents(t, f.ID, audit.FlowExpired); n != 1 {
			t.Fatalf("%d flow.expired events", n)
		}
		msg := waitTemplate(t, e.outbox, "13800000001", sms.TemplateFlowExpired)
		if !strings.Contains(msg.Text, "《短期合同》") {
			t.Fatalf("expiry notice %q", msg.Text)
		}
		if ids := e.list(t, "alice", flows.ListVoided, flows.Filter{}); len(ids) != 2 {
			t.Fatalf("alice's 已作废 = %v", ids)
		}
		if ids := e.list(t, "bob", flows.ListTodo, flows.Filter{}); len(ids) != 0 {
			t.Fatalf("bob's 待办 after expiry = %v", ids)
		}
		_, _, err = e.svc.SendIntentCode(e.as("bob"), flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals["bob"]})
		wantCode(t, err, errs.Conflict, "已过期")

		// Running it again, or on the revoked flow, changes nothing.
		if err := e.svc.Expire(context.Background(), f.ID); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond) // the revoked flow's job ran with the other one
		if r, _ := e.db.Flow.Get(viewer.System(context.Background()), revoked.ID); r.Status != flow.StatusRevoked || r.EndReason != "条款有误" {
			t.Fatalf("revoked flow after its deadline: %s %q", r.Status, r.EndReason)
		}
		if n := e.countEvents(t, revoked.ID, audit.FlowExpired) + e.countEvents(t, f.ID, audit.FlowExpired); n != 1 {
			t.Fatalf("%d flow.expired events in all", n)
		}
		if n := countTemplate(e.outbox, "13800000001", sms.TemplateFlowExpired); n != 1 {
			t.Fatalf("initiator told of expiry %d times", n)
		}
	})
}

// TestCCNotice: sending tells each CC recipient with a link of their own;
// the flow is under their 抄送我的; they may read the documents.
func TestCCNotice(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setupFinish(t, b, nil)
		f, doc := e.draftWith(t, "采购合同", nil)
		if countTemplate(e.outbox, "13900000004", sms.TemplateFlowCC) != 0 {
			t.Fatal("CC told about a draft")
		}
		if _, err := e.svc.Send(e.as("alice"), f.ID); err != nil {
			t.Fatal(err)
		}
		msg := waitTemplate(t, e.outbox, "13900000004", sms.TemplateFlowCC)
		if msg.Params["sender"] != "alice" || msg.Params["contract"] != "采购合同" || !strings.HasPrefix(msg.Params["link"], "https://sign.example.com/s/") {
			t.Fatalf("CC notice %+v", msg)
		}
		if n := e.countEvents(t, f.ID, audit.ParticipantCCNotified); n != 1 {
			t.Fatalf("%d participant.cc_notified events", n)
		}
		if ids := e.list(t, "dave", flows.ListCC, flows.Filter{}); len(ids) != 1 || ids[0] != f.ID {
			t.Fatalf("dave's 抄送我的 = %v", ids)
		}
		if _, _, err := e.svc.DocumentPDF(e.as("dave"), doc.ID); err != nil {
			t.Fatalf("the CC recipient previews: %v", err)
		}
		_, _, err := e.svc.DocumentPDF(e.as("mallory"), doc.ID)
		wantCode(t, err, errs.NotFound, "文件不存在")
		// A CC recipient does not sign.
		_, _, err = e.svc.SendIntentCode(e.as("dave"), flows.SignInput{FlowID: f.ID, PersonalSealID: e.seals["bob"]})
		wantCode(t, err, errs.Forbidden, "不是该合同的签署方")
	})
}

func waitStatus(t *testing.T, e *finishEnv, id int, want flow.Status, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		f, err := e.db.Flow.Get(viewer.System(context.Background()), id)
		if err != nil {
			t.Fatal(err)
		}
		if f.Status == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("flow %d did not become %s within %s", id, want, within)
}
