package flows_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"signet/ent"
	"signet/ent/signinglink"
	"signet/errs"
	"signet/flows"
	"signet/internal/dbtest"
	"signet/sms"
	"signet/viewer"
)

// flakySMS fails the first text about one contract, as a gateway that is
// briefly unavailable does, and sends everything else through next.
type flakySMS struct {
	next     sms.Provider
	contract string
	mu       sync.Mutex
	failed   bool
	// sends and batches count the calls of Send and SendBatch.
	sends, batches int
}

func (f *flakySMS) Send(ctx context.Context, m sms.Message) error {
	f.mu.Lock()
	f.sends++
	f.mu.Unlock()
	if err := f.refuse(m); err != nil {
		return err
	}
	return f.next.Send(ctx, m)
}

// refuse fails the first text to f.contract, once.
func (f *flakySMS) refuse(m sms.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failed || m.Params["contract"] != f.contract {
		return nil
	}
	f.failed = true
	return errs.Wrap(errors.New("gateway unavailable"), errs.Internal, "短信发送失败，请稍后再试")
}

func (f *flakySMS) counts() (sends, batches int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sends, f.batches
}

// flakyBatchSMS is flakySMS as a BatchProvider: the texts of a batch go to
// next's SendBatch in one call, but for the first to f.contract, refused.
type flakyBatchSMS struct{ *flakySMS }

func (f flakyBatchSMS) SendBatch(ctx context.Context, ms []sms.Message) []error {
	f.mu.Lock()
	f.batches++
	f.mu.Unlock()
	out := make([]error, len(ms))
	var pass []sms.Message
	var at []int
	for i, m := range ms {
		if out[i] = f.refuse(m); out[i] != nil {
			continue
		}
		pass, at = append(pass, m), append(at, i)
	}
	for k, err := range f.next.(sms.BatchProvider).SendBatch(ctx, pass) {
		out[at[k]] = err
	}
	return out
}

// TestNotifyBatch: a batch job texts each signer of its flows once — the
// link looked up when the batch has none — skips a flow that ended, and a
// text that fails is queued again on its own (and arrives) while the batch
// succeeds, so the texts already sent are not sent twice.
func TestNotifyBatch(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setupSigning(t, b)
		for _, batch := range []bool{false, true} {
			t.Run(fmt.Sprintf("batch=%v", batch), func(t *testing.T) { testNotifyBatch(t, e, batch) })
		}
	})
}

// testNotifyBatch is TestNotifyBatch with a provider that sends one text
// at a time, or (batch) all of a job's texts in one call.
func testNotifyBatch(t *testing.T, e *signEnv, batch bool) {
	ctx := context.Background()
	sfx := fmt.Sprint(batch)
	one, carol1 := e.sentToCarol(t, "批量通知一"+sfx)
	ended, carol2 := e.sentToCarol(t, "批量通知二"+sfx)
	flaky, carol3 := e.sentToCarol(t, "批量通知三"+sfx)
	if _, err := e.svc.Revoke(e.as("alice"), ended.ID, "作废"); err != nil {
		t.Fatal(err)
	}
	phone := e.users["carol"].Phone
	e.waitJobsIdle(t) // the sending texts are all out
	before, _ := e.outbox.List(ctx, phone, 100)

	var provider sms.Provider = &flakySMS{next: sms.NewOutbox(e.outbox, nil), contract: flaky.Name}
	if batch {
		provider = flakyBatchSMS{provider.(*flakySMS)}
	}
	w := &flows.NotifyBatchWorker{
		NotifyWorker: &flows.NotifyWorker{DB: e.db, SMS: provider, BaseURL: "https://sign.example.com"},
		Jobs:         e.jobs,
	}
	var ns []flows.Notification
	for _, x := range []struct {
		f *ent.Flow
		p *ent.Participant
	}{{one, carol1}, {ended, carol2}, {flaky, carol3}} {
		ns = append(ns, flows.Notification{Type: flows.NotifySignLink, FlowID: x.f.ID, ParticipantID: x.p.ID, Phone: phone})
	}
	if err := w.Work(ctx, &river.Job[flows.NotifyBatchArgs]{Args: flows.NotifyBatchArgs{Notifications: ns}}); err != nil {
		t.Fatalf("the batch failed (its texts would be sent again): %v", err)
	}
	flk := provider.(interface{ counts() (int, int) })
	if sends, batches := flk.counts(); batch && (sends != 0 || batches != 1) || !batch && (sends != 2 || batches != 0) {
		t.Errorf("the job called Send %d and SendBatch %d times; want %s", sends, batches,
			map[bool]string{true: "SendBatch once", false: "Send for each text of a flow still signing"}[batch])
	}

	// The failed text was queued on its own; the queue's worker sends it.
	var got map[string]int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		msgs, _ := e.outbox.List(ctx, phone, 100)
		got = map[string]int{}
		for _, m := range msgs[:len(msgs)-len(before)] {
			got[m.Params["contract"]]++
		}
		if got[flaky.Name] > 0 {
			break
		}
	}
	if got[one.Name] != 1 || got[flaky.Name] != 1 || got[ended.Name] != 0 || len(got) != 2 {
		t.Fatalf("texts by contract %v; want one each for %q and %q, none for the revoked %q", got, one.Name, flaky.Name, ended.Name)
	}
	for _, x := range []struct {
		f *ent.Flow
		p *ent.Participant
	}{{one, carol1}, {flaky, carol3}} {
		msgs, _ := e.outbox.List(ctx, phone, 100)
		for _, m := range msgs {
			if m.Params["contract"] == x.f.Name && m.Params["link"] != "https://sign.example.com/s/"+linkCode(t, e, x.p.ID) {
				t.Errorf("%s: link %q", x.f.Name, m.Params["link"])
			}
		}
	}
}

// linkCode is participant partID's signing link code.
func linkCode(t *testing.T, e *signEnv, partID int) string {
	t.Helper()
	l, err := e.db.SigningLink.Query().Where(signinglink.ParticipantID(partID)).Order(ent.Asc(signinglink.FieldID)).First(viewer.System(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	return l.Code
}
