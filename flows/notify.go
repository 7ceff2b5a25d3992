package flows

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/riverqueue/river"

	"signet/accounts"
	"signet/ent"
	"signet/ent/flow"
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

// Work implements river.Worker. A participant or flow that is gone, or a
// flow that is no longer being signed, is not an error: there is nothing
// left to say.
func (w *NotifyWorker) Work(ctx context.Context, job *river.Job[NotifyArgs]) error {
	n := job.Args.Notification
	sys := viewer.System(ctx)
	p, err := w.DB.Participant.Get(sys, n.ParticipantID)
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("notify: participant: %w", err)
	}
	f, err := w.DB.Flow.Query().Where(flow.ID(n.FlowID)).WithInitiator().Only(sys)
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("notify: flow: %w", err)
	}
	if f.Status != flow.StatusSigning {
		return nil
	}
	sender := f.Edges.Initiator.Name
	if sender == "" {
		sender = accounts.MaskPhone(f.Edges.Initiator.Phone)
	}
	link := strings.TrimRight(w.BaseURL, "/") + "/s/" + n.LinkCode
	err = w.SMS.Send(ctx, sms.Message{Phone: p.Phone, Template: sms.TemplateSignLink,
		Params: map[string]string{"sender": sender, "contract": f.Name, "link": link}})
	if err != nil {
		return fmt.Errorf("notify: send: %w", err)
	}
	return nil
}
