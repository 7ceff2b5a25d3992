package flows

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"signet/audit"
	"signet/ent"
	"signet/ent/auditevent"
	"signet/ent/flow"
	"signet/ent/flowdocument"
	"signet/errs"
	"signet/jobs"
	"signet/mail"
	"signet/viewer"
)

// Email (DOC-8). In the HR scene the completion job emails the signed
// contract to every party with an email address (new employees often have
// no account); and the initiator of a completed flow may send it to an
// address of their choice, at most EmailsPerHour times per flow per hour.
// Each email is an audit event (flow.emailed, with the address masked) in
// the transaction that queues its job; the job attaches the final PDFs.

// EmailsPerHour bounds the emails an initiator may request for one flow in
// a rolling hour.
const EmailsPerHour = 5

// EmailArgs is the River job that emails a completed flow's documents.
type EmailArgs struct {
	FlowID int    `json:"flow_id"`
	To     string `json:"to"`
}

// Kind implements river.JobArgs.
func (EmailArgs) Kind() string { return "flows.email" }

// EmailWorker sends EmailArgs jobs through a mail provider.
type EmailWorker struct {
	river.WorkerDefaults[EmailArgs]
	Service *Service
	Mail    mail.Provider
	BaseURL string
}

// Work implements river.Worker. It waits (snoozes) while the completion job
// has not sealed the documents, so the email carries the final revision.
func (w *EmailWorker) Work(ctx context.Context, job *river.Job[EmailArgs]) error {
	if w.Mail == nil {
		return fmt.Errorf("email: no mail provider configured")
	}
	msg, ready, err := w.Service.completedEmail(ctx, job.Args, w.BaseURL)
	if err != nil {
		return err
	}
	if msg == nil {
		return nil // the flow is gone
	}
	if !ready {
		if job.Attempt > 20 {
			return fmt.Errorf("email: flow %d has no evidence report yet", job.Args.FlowID)
		}
		return river.JobSnooze(3 * time.Second)
	}
	if err := w.Mail.Send(ctx, *msg); err != nil {
		if errs.CodeOf(err) == errs.Invalid {
			return river.JobCancel(err) // the address will not get better
		}
		return err
	}
	return nil
}

// SendCompletedFlowEmail queues an email with the signed documents of a
// completed flow of the viewer's to addr. Errors: Unauthenticated; NotFound
// for a flow that is not the viewer's to follow; Forbidden for a party who is
// not the initiator; Conflict while the flow is not completed; Invalid
// (field "email") for a bad address; RateLimited beyond EmailsPerHour.
func (s *Service) SendCompletedFlowEmail(ctx context.Context, flowID int, addr string) error {
	f, _, err := s.follow(ctx, flowID)
	if err != nil {
		return err
	}
	v := viewer.FromContext(ctx)
	if f.InitiatorID != v.UserID {
		return errs.New(errs.Forbidden, "只有发起方可以发送合同邮件")
	}
	if f.Status != flow.StatusCompleted {
		return errs.New(errs.Conflict, "只有已完成的合同可以发送邮件")
	}
	addr = strings.TrimSpace(addr)
	if !mail.ValidAddress(addr) {
		return errs.InvalidField("email", "邮箱地址格式不正确")
	}
	return s.withTx(ctx, func(tx *ent.Tx, jtx jobs.JobTx) error {
		sys := viewer.System(ctx)
		n, err := tx.AuditEvent.Query().Where(auditevent.Chain(audit.FlowChain(f.ID)),
			auditevent.Action(string(audit.FlowEmailed)), auditevent.ActorType(string(audit.ActorUser)),
			auditevent.CreatedAtGT(s.now().Add(-time.Hour))).Count(sys)
		if err != nil {
			return err
		}
		if n >= EmailsPerHour {
			return errs.Newf(errs.RateLimited, "发送过于频繁：每个合同每小时最多发送%d次邮件", EmailsPerHour)
		}
		return s.queueEmail(ctx, tx, jtx, f, addr, s.actor(ctx), 0)
	})
}

// queueEmail records and queues one email of f's documents to addr.
func (s *Service) queueEmail(ctx context.Context, tx *ent.Tx, jtx jobs.JobTx, f *ent.Flow, addr string, actor audit.Actor, partID int) error {
	payload := map[string]any{"to": mail.MaskAddress(addr)}
	if partID != 0 {
		payload["participant"] = partID
	}
	if _, err := audit.Append(ctx, tx, audit.Event{Chain: audit.FlowChain(f.ID), Actor: actor, Action: audit.FlowEmailed,
		Subject: audit.Subject{Type: "flow", ID: f.ID}, Payload: payload, Time: s.now()}); err != nil {
		return err
	}
	s.announce(tx, f, audit.FlowEmailed, f.ID)
	return s.queue(ctx, jtx, EmailArgs{FlowID: f.ID, To: addr}, nil)
}

// completedEmail builds the email of a job; ready is false while the
// completion job has not finished.
func (s *Service) completedEmail(ctx context.Context, a EmailArgs, baseURL string) (msg *mail.Message, ready bool, err error) {
	sys := viewer.System(ctx)
	f, err := s.db.Flow.Get(sys, a.FlowID)
	if ent.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	msg = &mail.Message{To: []string{a.To}, Subject: "《" + f.Name + "》已签署完成"}
	rec, err := s.evidenceRecord(ctx, f.ID)
	if err != nil || rec == nil {
		return msg, false, err
	}
	docs, err := s.db.FlowDocument.Query().Where(flowdocument.FlowID(f.ID)).
		Order(ent.Asc(flowdocument.FieldPosition), ent.Asc(flowdocument.FieldID)).All(sys)
	if err != nil {
		return nil, false, err
	}
	var text strings.Builder
	fmt.Fprintf(&text, "您好：\n\n《%s》（任务编号 %s）已于 %s 签署完成，签署后的合同文件见附件。\n\n", f.Name, f.Number,
		f.FinishedAt.In(shanghai()).Format("2006-01-02 15:04"))
	names := map[string]int{}
	for _, d := range docs {
		pdf, err := s.getPDF(ctx, d.CurrentKey)
		if err != nil {
			return nil, false, fmt.Errorf("email: read %s: %w", d.Name, err)
		}
		name := uniqueName(names, safeName(d.Name)+".pdf")
		fmt.Fprintf(&text, "· %s  SHA-256 %s\n", name, d.CurrentSha256)
		msg.Attachments = append(msg.Attachments, mail.Attachment{Name: name, ContentType: "application/pdf", Data: pdf})
	}
	fmt.Fprintf(&text, "\n文件的数字签名和时间戳可在 %s 的“文档验证”中核验，或用 PDF 阅读器查看签名面板。\n\n签网（本邮件由系统发送，请勿回复）\n",
		strings.TrimRight(baseURL, "/"))
	msg.Text = text.String()
	return msg, true, nil
}
