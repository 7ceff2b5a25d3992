package flows

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"signet/accounts"
	"signet/ent"
	"signet/ent/flow"
	"signet/ent/signinglink"
	"signet/jobs"
	"signet/sms"
	"signet/viewer"
)

// NotifyArgs is the River job that delivers a Notification.
type NotifyArgs struct {
	Notification
}

// Kind implements river.JobArgs.
func (NotifyArgs) Kind() string { return "flows.notify" }

// NotifyWorker sends flow notifications by SMS: the signing link
// (签署通知) and reminders (催办), each with the participant's short link.
type NotifyWorker struct {
	river.WorkerDefaults[NotifyArgs]
	DB  *ent.Client
	SMS sms.Provider
	// BaseURL is the public URL the short links start with.
	BaseURL string
	Logger  *slog.Logger
}

// Work implements river.Worker. A flow (or, for a job queued without the
// phone, a participant) that is gone, or a flow that is no longer being
// signed, is not an error: there is nothing left to say.
func (w *NotifyWorker) Work(ctx context.Context, job *river.Job[NotifyArgs]) error {
	n := job.Args.Notification
	sys := viewer.System(ctx)
	if n.Phone == "" { // queued by an earlier version
		p, err := w.DB.Participant.Get(sys, n.ParticipantID)
		if ent.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("notify: participant: %w", err)
		}
		n.Phone = p.Phone
	}
	f, err := w.DB.Flow.Get(sys, n.FlowID)
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("notify: flow: %w", err)
	}
	if f.Status != flow.StatusSigning { // no link made for a flow that ended
		return nil
	}
	if n.LinkCode == "" {
		if n.LinkCode, err = w.linkCode(ctx, n.ParticipantID); err != nil {
			return fmt.Errorf("notify: link: %w", err)
		}
	}
	return w.send(ctx, f, n)
}

// send texts n (its phone and link code known) about flow f, unless f is
// no longer being signed.
func (w *NotifyWorker) send(ctx context.Context, f *ent.Flow, n Notification) error {
	m, ok, err := w.message(ctx, f, n)
	if err != nil || !ok {
		return err
	}
	if err := w.SMS.Send(ctx, m); err != nil {
		return fmt.Errorf("notify: send: %w", err)
	}
	return nil
}

// message is the text of n about flow f; ok is false when f is no longer
// being signed (nothing to say).
func (w *NotifyWorker) message(ctx context.Context, f *ent.Flow, n Notification) (m sms.Message, ok bool, err error) {
	if f.Status != flow.StatusSigning {
		return sms.Message{}, false, nil
	}
	// Sending records how the initiator is named (verified name, or masked
	// phone); a flow without it is read from the account.
	sender := f.InitiatorName
	if sender == "" {
		u, err := w.DB.User.Get(viewer.System(ctx), f.InitiatorID)
		if err != nil {
			return sms.Message{}, false, fmt.Errorf("notify: initiator: %w", err)
		}
		if sender = u.Name; sender == "" {
			sender = accounts.MaskPhone(u.Phone)
		}
	}
	link := strings.TrimRight(w.BaseURL, "/") + "/s/" + n.LinkCode
	return sms.Message{Phone: n.Phone, Template: sms.TemplateSignLink,
		Params: map[string]string{"sender": sender, "contract": f.Name, "link": link}}, true, nil
}

// NotifyBatchArgs is the River job that delivers the sign links of one
// transaction — a group commit's next signers, a flow sent to several at
// once — together: one job, one read of their flows and one of their links,
// instead of a job with two reads each.
type NotifyBatchArgs struct {
	Notifications []Notification
}

// Kind implements river.JobArgs.
func (NotifyBatchArgs) Kind() string { return "flows.notify_batch" }

// NotifyBatchWorker sends a NotifyBatchArgs's texts with its NotifyWorker.
// A text that cannot be sent is queued again as a job of its own
// (NotifyArgs, with its phone and link) and the batch succeeds: a retry of
// the whole batch would text again the signers already texted. Only when
// even that insert fails is the batch retried.
type NotifyBatchWorker struct {
	river.WorkerDefaults[NotifyBatchArgs]
	*NotifyWorker
	// Jobs queues the texts that failed again, each on its own.
	Jobs *jobs.Queue
}

// AddNotifyWorkers registers w for single notifications and for batches
// on q.
func AddNotifyWorkers(q *jobs.Queue, w *NotifyWorker) error {
	if err := jobs.AddWorker(q, w); err != nil {
		return err
	}
	return jobs.AddWorker(q, &NotifyBatchWorker{NotifyWorker: w, Jobs: q})
}

// Work implements river.Worker.
func (w *NotifyBatchWorker) Work(ctx context.Context, job *river.Job[NotifyBatchArgs]) error {
	ns := job.Args.Notifications
	sys := viewer.System(ctx)
	var flowIDs, need []int
	for _, n := range ns {
		flowIDs = append(flowIDs, n.FlowID)
		if n.LinkCode == "" {
			need = append(need, n.ParticipantID)
		}
	}
	// Only what message reads: a group's flows, whole, were most of the
	// job's scanning.
	fs, err := w.DB.Flow.Query().Where(flow.IDIn(flowIDs...)).
		Select(flow.FieldStatus, flow.FieldName, flow.FieldInitiatorID, flow.FieldInitiatorName).All(sys)
	if err != nil {
		return fmt.Errorf("notify: flows: %w", err)
	}
	byID := make(map[int]*ent.Flow, len(fs))
	for _, f := range fs {
		byID[f.ID] = f
	}
	codes := map[int]string{}
	if len(need) > 0 {
		links, err := w.DB.SigningLink.Query().Where(signinglink.ParticipantIDIn(need...)).
			Order(ent.Asc(signinglink.FieldID)).All(sys)
		if err != nil {
			return fmt.Errorf("notify: links: %w", err)
		}
		for _, l := range links {
			if _, ok := codes[l.ParticipantID]; !ok { // a participant's first link
				codes[l.ParticipantID] = l.Code
			}
		}
	}
	var (
		again []river.InsertManyParams
		msgs  []sms.Message
		sent  []Notification // sent[k] is msgs[k]'s
	)
	retry := func(n Notification, err error) {
		w.logger().Warn("notify: a text of a batch failed; it is queued again on its own",
			"flow", n.FlowID, "participant", n.ParticipantID, "err", err)
		again = append(again, river.InsertManyParams{Args: NotifyArgs{n}})
	}
	for _, n := range ns {
		f := byID[n.FlowID]
		if f == nil { // deleted: nothing left to say
			continue
		}
		if n.LinkCode == "" {
			n.LinkCode = codes[n.ParticipantID]
		}
		if n.LinkCode == "" || n.Phone == "" { // the single job finds or makes what is missing
			again = append(again, river.InsertManyParams{Args: NotifyArgs{n}})
			continue
		}
		m, ok, err := w.message(ctx, f, n)
		if err != nil {
			retry(n, err)
			continue
		}
		if ok {
			msgs, sent = append(msgs, m), append(sent, n)
		}
	}
	// The texts go together (one insert into the development outbox).
	for k, err := range sms.SendAll(ctx, w.SMS, msgs) {
		if err != nil {
			retry(sent[k], fmt.Errorf("notify: send: %w", err))
		}
	}
	if len(again) == 0 {
		return nil
	}
	c, err := w.Jobs.Client()
	if err == nil {
		_, err = c.InsertMany(ctx, again)
	}
	if err != nil {
		return fmt.Errorf("notify: queue the texts that failed: %w", err)
	}
	return nil
}

func (w *NotifyWorker) logger() *slog.Logger {
	if w.Logger != nil {
		return w.Logger
	}
	return slog.Default()
}

// linkCode finds the participant's signing link for a notification queued
// without its code (a signature activating the next signer leaves the
// lookup to the job). Sending makes every party's link; a flow sent before
// it did gets the link made here.
func (w *NotifyWorker) linkCode(ctx context.Context, partID int) (string, error) {
	return findOrMakeLink(ctx, w.DB, rand.Reader, time.Now(), partID)
}
