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
	phone := n.Phone
	if phone == "" { // queued by an earlier version
		p, err := w.DB.Participant.Get(sys, n.ParticipantID)
		if ent.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("notify: participant: %w", err)
		}
		phone = p.Phone
	}
	f, err := w.DB.Flow.Get(sys, n.FlowID)
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("notify: flow: %w", err)
	}
	if f.Status != flow.StatusSigning {
		return nil
	}
	// Sending records how the initiator is named (verified name, or masked
	// phone); a flow without it is read from the account.
	sender := f.InitiatorName
	if sender == "" {
		u, err := w.DB.User.Get(sys, f.InitiatorID)
		if err != nil {
			return fmt.Errorf("notify: initiator: %w", err)
		}
		if sender = u.Name; sender == "" {
			sender = accounts.MaskPhone(u.Phone)
		}
	}
	code := n.LinkCode
	if code == "" {
		if code, err = w.linkCode(ctx, n.ParticipantID); err != nil {
			return fmt.Errorf("notify: link: %w", err)
		}
	}
	link := strings.TrimRight(w.BaseURL, "/") + "/s/" + code
	err = w.SMS.Send(ctx, sms.Message{Phone: phone, Template: sms.TemplateSignLink,
		Params: map[string]string{"sender": sender, "contract": f.Name, "link": link}})
	if err != nil {
		return fmt.Errorf("notify: send: %w", err)
	}
	return nil
}

// linkCode finds the participant's signing link for a notification queued
// without its code (a signature activating the next signer leaves the
// lookup to the job). Sending makes every party's link; a flow sent before
// it did gets the link made here.
func (w *NotifyWorker) linkCode(ctx context.Context, partID int) (string, error) {
	return findOrMakeLink(ctx, w.DB, rand.Reader, time.Now(), partID)
}
