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
	"signet/errs"
	"signet/sms"
	"signet/viewer"
)

// NoticeKind says what a notice (an SMS that asks for no action) tells.
type NoticeKind string

// Notice kinds.
const (
	// NoticeCC tells a CC recipient (抄送人) that a flow was sent, with a
	// link to view it (DOC-7).
	NoticeCC NoticeKind = "cc"
	// NoticeCompleted tells the initiator or a CC recipient that a flow is
	// completed.
	NoticeCompleted NoticeKind = "completed"
	// NoticeExpired tells the initiator that a flow expired (DOC-10).
	NoticeExpired NoticeKind = "expired"
)

// NoticeArgs is the River job that sends one notice.
type NoticeArgs struct {
	FlowID int        `json:"flow_id"`
	Notice NoticeKind `json:"notice"`
	// ParticipantID is the CC recipient; 0 means the initiator.
	ParticipantID int `json:"participant_id,omitempty"`
	// LinkCode is the recipient's /s/{code} link (CC recipients); the
	// initiator is sent the site's address.
	LinkCode string `json:"link_code,omitempty"`
}

// Kind implements river.JobArgs.
func (NoticeArgs) Kind() string { return "flows.notice" }

// NoticeWorker sends notices by SMS.
type NoticeWorker struct {
	river.WorkerDefaults[NoticeArgs]
	DB      *ent.Client
	SMS     sms.Provider
	BaseURL string
	Logger  *slog.Logger
}

// Work implements river.Worker. A notice that no longer fits the flow (a CC
// notice of a revoked flow, say) is dropped.
func (w *NoticeWorker) Work(ctx context.Context, job *river.Job[NoticeArgs]) error {
	a := job.Args
	sys := viewer.System(ctx)
	f, err := w.DB.Flow.Query().Where(flow.ID(a.FlowID)).WithInitiator().Only(sys)
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("notice: flow: %w", err)
	}
	phone := f.Edges.Initiator.Phone
	if a.ParticipantID != 0 {
		p, err := w.DB.Participant.Get(sys, a.ParticipantID)
		if ent.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("notice: participant: %w", err)
		}
		phone = p.Phone
	}
	base := strings.TrimRight(w.BaseURL, "/")
	link := base + "/"
	if a.LinkCode != "" {
		link = base + "/s/" + a.LinkCode
	}
	var m sms.Message
	switch a.Notice {
	case NoticeCC:
		if f.Status != flow.StatusSigning && f.Status != flow.StatusCompleted {
			return nil
		}
		sender := f.Edges.Initiator.Name
		if sender == "" {
			sender = accounts.MaskPhone(f.Edges.Initiator.Phone)
		}
		m = sms.Message{Template: sms.TemplateFlowCC, Params: map[string]string{"sender": sender, "contract": f.Name, "link": link}}
	case NoticeCompleted:
		if f.Status != flow.StatusCompleted {
			return nil
		}
		m = sms.Message{Template: sms.TemplateFlowCompleted, Params: map[string]string{"contract": f.Name, "link": link}}
	case NoticeExpired:
		if f.Status != flow.StatusExpired {
			return nil
		}
		m = sms.Message{Template: sms.TemplateFlowExpired, Params: map[string]string{"contract": f.Name}}
	default:
		return river.JobCancel(fmt.Errorf("notice: unknown kind %q", a.Notice))
	}
	m.Phone = phone
	if err := w.SMS.Send(ctx, m); err != nil {
		if errs.CodeOf(err) == errs.Invalid {
			return river.JobCancel(err) // a number that is not a mobile will not become one
		}
		return fmt.Errorf("notice: send: %w", err)
	}
	return nil
}
