package flows

import (
	"context"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"signet/audit"
	"signet/ent"
	"signet/ent/flow"
	"signet/ent/participant"
	"signet/jobs"
	"signet/viewer"
)

// Expiry (DOC-10): sending a flow with a deadline queues an ExpireArgs job
// scheduled at the deadline. When it runs and the flow is still being
// signed, the flow expires (已过期, one of 已作废) and the initiator is told; a
// flow that finished earlier is left alone. Signing after the deadline is
// refused by plan() even before the job has run.

// ExpireArgs is the River job that expires a flow at its deadline.
type ExpireArgs struct {
	FlowID int `json:"flow_id"`
}

// Kind implements river.JobArgs.
func (ExpireArgs) Kind() string { return "flows.expire" }

// ExpireWorker runs ExpireArgs jobs.
type ExpireWorker struct {
	river.WorkerDefaults[ExpireArgs]
	Service *Service
}

// Work implements river.Worker.
func (w *ExpireWorker) Work(ctx context.Context, job *river.Job[ExpireArgs]) error {
	return w.Service.Expire(ctx, job.Args.FlowID)
}

// EndReasonExpired is the end reason of an expired flow.
const EndReasonExpired = "已超过签署截止时间"

// onSent queues what sending starts besides the signers' links: the expiry
// job at the deadline, and the CC recipients' notices (DOC-7), each with its
// own link and an audit event. Send calls it in its transaction.
func (s *Service) onSent(ctx context.Context, tx *ent.Tx, jtx jobs.JobTx, f *ent.Flow, codes map[int]string) error {
	if f.Deadline != nil {
		// River schedules on the wall clock; the service clock decides
		// whether the deadline has passed (Expire snoozes when it has not).
		at := time.Now().Add(f.Deadline.Sub(s.now()))
		if err := s.queue(ctx, jtx, ExpireArgs{FlowID: f.ID}, &river.InsertOpts{ScheduledAt: at}); err != nil {
			return err
		}
	}
	return s.noticeCC(ctx, tx, jtx, f, NoticeCC, codes)
}

// noticeCC queues a notice to every CC recipient of f, with their link
// (from codes when the caller has it).
func (s *Service) noticeCC(ctx context.Context, tx *ent.Tx, jtx jobs.JobTx, f *ent.Flow, kind NoticeKind, codes map[int]string) error {
	if !s.queues(NoticeArgs{}.Kind()) {
		return nil // nobody would send it: record nothing
	}
	sys := viewer.System(ctx)
	ccs, err := tx.Participant.Query().Where(participant.FlowID(f.ID), participant.RoleEQ(participant.RoleCc)).All(sys)
	if err != nil {
		return err
	}
	for _, p := range ccs {
		code, ok := codes[p.ID]
		if !ok {
			if code, err = s.linkFor(ctx, tx, p); err != nil {
				return err
			}
		}
		if err := s.queue(ctx, jtx, NoticeArgs{FlowID: f.ID, Notice: kind, ParticipantID: p.ID, LinkCode: code}, nil); err != nil {
			return err
		}
		if _, err := audit.Append(ctx, tx, audit.Event{Chain: audit.FlowChain(f.ID), Actor: audit.System(),
			Action: audit.ParticipantCCNotified, Subject: audit.Subject{Type: "participant", ID: p.ID},
			Payload: map[string]any{"name": p.Name, "notice": string(kind)}}); err != nil {
			return err
		}
		s.announce(tx, f, audit.ParticipantCCNotified, p.ID)
	}
	return nil
}

// Expire moves flow id to expired when its deadline has passed and it is
// still being signed (the job's body). Before the deadline (by the service
// clock) it asks River to try again at the deadline.
func (s *Service) Expire(ctx context.Context, id int) error {
	sys := viewer.System(ctx)
	f, err := s.db.Flow.Get(sys, id)
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("expire: %w", err)
	}
	if f.Status != flow.StatusSigning || f.Deadline == nil {
		return nil
	}
	if now := s.now(); now.Before(*f.Deadline) {
		return river.JobSnooze(f.Deadline.Sub(now) + 100*time.Millisecond)
	}
	return s.withTx(ctx, func(tx *ent.Tx, jtx jobs.JobTx) error {
		trail, err := lockFirst(ctx, tx, f.ID)
		if err != nil {
			return err
		}
		n, err := tx.Flow.Update().Where(flow.ID(f.ID), flow.StatusEQ(flow.StatusSigning)).
			SetStatus(flow.StatusExpired).SetFinishedAt(s.now()).SetEndReason(EndReasonExpired).Save(sys)
		if err != nil || n == 0 {
			return err // n == 0: it finished meanwhile
		}
		if _, err := trail.Append(ctx, audit.Event{Chain: audit.FlowChain(f.ID), Actor: audit.System(),
			Action: audit.FlowExpired, Subject: audit.Subject{Type: "flow", ID: f.ID},
			Payload: map[string]any{"deadline": f.Deadline.UTC().Format(time.RFC3339), "reason": EndReasonExpired}}); err != nil {
			return err
		}
		s.announce(tx, f, audit.FlowExpired, f.ID)
		return s.queue(ctx, jtx, NoticeArgs{FlowID: f.ID, Notice: NoticeExpired}, nil)
	})
}
