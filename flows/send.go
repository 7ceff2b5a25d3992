package flows

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"time"

	"signet/audit"
	"signet/ent"
	"signet/ent/flow"
	"signet/ent/participant"
	"signet/ent/signinglink"
	"signet/ent/user"
	"signet/errs"
	"signet/jobs"
	"signet/viewer"
)

// Send freezes a draft and starts signing: the first signers (all of them
// when the flow is parallel) become pending and are sent their links.
func (s *Service) Send(ctx context.Context, id int) (*ent.Flow, error) {
	err := s.withTx(ctx, func(tx *ent.Tx, jtx jobs.JobTx) error {
		sys := viewer.System(ctx)
		f, err := s.ownDraft(ctx, tx.Flow, id)
		if err != nil {
			return err
		}
		ndocs, err := f.QueryDocuments().Count(sys)
		if err != nil {
			return err
		}
		if ndocs == 0 {
			return errs.InvalidField("documents", "请先上传合同文件")
		}
		parts, err := tx.Participant.Query().Where(participant.FlowID(f.ID)).All(sys)
		if err != nil {
			return err
		}
		var signers []*ent.Participant
		seen := map[string]bool{}
		phones := []string{}
		for _, p := range parts {
			phones = append(phones, p.Phone)
			if p.Role != participant.RoleSigner {
				continue
			}
			key := p.Phone + "|" + p.EnterpriseName
			if seen[key] {
				return errs.InvalidField("participants", "同一签署方不能重复添加："+p.Name)
			}
			seen[key] = true
			signers = append(signers, p)
		}
		if len(signers) == 0 {
			return errs.InvalidField("participants", "请至少添加一个签署方")
		}
		now := s.now()
		if f.Deadline != nil && !f.Deadline.After(now) {
			return errs.InvalidField("deadline", "签署截止时间已过，请重新设置")
		}
		// Parties who already have accounts are bound now; others when they
		// prove their phone.
		users, err := tx.User.Query().Where(user.PhoneIn(phones...)).All(sys)
		if err != nil {
			return err
		}
		for _, u := range users {
			if _, err := tx.Participant.Update().
				Where(participant.FlowID(f.ID), participant.Phone(u.Phone)).
				SetUserID(u.ID).Save(sys); err != nil {
				return err
			}
		}
		initiator, err := s.displayName(ctx, tx.Client(), f.InitiatorID)
		if err != nil {
			return err
		}
		if err := tx.Flow.UpdateOne(f).SetStatus(flow.StatusSigning).SetSentAt(now).SetInitiatorName(initiator).Exec(sys); err != nil {
			return fmt.Errorf("send: %w", err)
		}
		if _, err := audit.Append(ctx, tx, audit.Event{Chain: audit.FlowChain(f.ID), Actor: s.actor(ctx),
			Action: audit.FlowSent, Subject: audit.Subject{Type: "flow", ID: f.ID},
			Payload: map[string]any{"signers": len(signers), "ordered": f.Ordered}}); err != nil {
			return err
		}
		s.announce(tx, f, audit.FlowSent, f.ID)
		codes, err := s.createLinks(ctx, tx, parts)
		if err != nil {
			return err
		}
		if err := s.onSent(ctx, tx, jtx, f, codes); err != nil { // expiry job, CC notices (expire.go)
			return err
		}
		events, err := s.activate(ctx, tx, jtx, f, nextSigners(f.Ordered, signers), codes)
		if err == nil && len(events) > 0 {
			_, err = audit.AppendAll(ctx, tx, events...)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.reload(ctx, id)
}

// nextSigners returns the signers whose turn it is: every unsigned one of a
// parallel flow, or those with the lowest order among the unsigned.
func nextSigners(ordered bool, signers []*ent.Participant) []*ent.Participant {
	var open []*ent.Participant
	for _, p := range signers {
		if p.Role == participant.RoleSigner && p.Status != participant.StatusSigned && p.Status != participant.StatusDeclined {
			open = append(open, p)
		}
	}
	if !ordered || len(open) == 0 {
		return open
	}
	sort.Slice(open, func(i, j int) bool { return open[i].SignOrder < open[j].SignOrder })
	var out []*ent.Participant
	for _, p := range open {
		if p.SignOrder == open[0].SignOrder {
			out = append(out, p)
		}
	}
	return out
}

// activation is a flow whose next signers are made pending.
type activation struct {
	flow *ent.Flow
	next []*ent.Participant
}

// activate makes participants pending and queues the SMS with each one's
// signing link. Sending made the links (createLinks) and passes their codes;
// a signature that activates the next signers does not read them: the job
// looks the link up (NotifyWorker), which keeps two statements off the
// signing commit.
func (s *Service) activate(ctx context.Context, tx *ent.Tx, jtx jobs.JobTx, f *ent.Flow, ps []*ent.Participant, codes map[int]string) ([]audit.Event, error) {
	events, err := s.activateAll(ctx, tx, jtx, []activation{{f, ps}}, codes)
	return events[f.ID], err
}

// activateAll is activate for several flows at once (a group commit): one
// update makes all of their next signers pending. It returns each flow's
// audit events by flow ID.
func (s *Service) activateAll(ctx context.Context, tx *ent.Tx, jtx jobs.JobTx, acts []activation, codes map[int]string) (map[int][]audit.Event, error) {
	events := map[int][]audit.Event{}
	var (
		ids   []int
		texts []Notification
	)
	for _, a := range acts {
		for _, p := range a.next {
			if p.Status == participant.StatusPending {
				continue
			}
			ids = append(ids, p.ID)
			texts = append(texts, Notification{Type: NotifySignLink, FlowID: a.flow.ID, ParticipantID: p.ID, LinkCode: codes[p.ID], Phone: p.Phone})
			events[a.flow.ID] = append(events[a.flow.ID], audit.Event{Chain: audit.FlowChain(a.flow.ID), Actor: audit.System(),
				Action: audit.ParticipantNotified, Subject: audit.Subject{Type: "participant", ID: p.ID},
				Payload: map[string]any{"name": p.Name, "order": p.SignOrder}})
			s.announce(tx, a.flow, audit.ParticipantNotified, p.ID)
		}
	}
	if len(ids) == 0 {
		return events, nil
	}
	// One job texts them all (NotifyBatchWorker); one alone keeps the
	// single job.
	var err error
	if len(texts) == 1 {
		err = s.notify(ctx, jtx, texts[0])
	} else {
		err = s.jobs.InsertTx(ctx, jtx, NotifyBatchArgs{texts}, nil)
	}
	if err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	// A bulk update: UpdateOne would read each row back.
	if err := tx.Participant.Update().Where(participant.IDIn(ids...)).SetStatus(participant.StatusPending).Exec(viewer.System(ctx)); err != nil {
		return nil, fmt.Errorf("activate: %w", err)
	}
	return events, nil
}

// createLinks gives every party of a flow being sent its signing link (the
// /s/{code} short code), in one statement, and returns the codes by
// participant ID. The links of signers whose turn comes later exist from
// now on but are sent only when their turn comes; a link proves nothing by
// itself (the phone is proven first).
func (s *Service) createLinks(ctx context.Context, tx *ent.Tx, parts []*ent.Participant) (map[int]string, error) {
	list, err := freeLinkCodes(ctx, tx.Client(), s.rand, len(parts))
	if err != nil {
		return nil, err
	}
	codes := make(map[int]string, len(parts))
	creates := make([]*ent.SigningLinkCreate, 0, len(parts))
	now := s.now()
	for i, p := range parts {
		codes[p.ID] = list[i]
		creates = append(creates, tx.SigningLink.Create().SetCode(list[i]).SetParticipantID(p.ID).SetCreatedAt(now))
	}
	if err := tx.SigningLink.CreateBulk(creates...).Exec(viewer.System(ctx)); err != nil {
		return nil, fmt.Errorf("signing links: %w", err)
	}
	return codes, nil
}

// linkFor returns the participant's signing link code, creating it once
// (flows sent before sending made every party's link may lack it).
func (s *Service) linkFor(ctx context.Context, tx *ent.Tx, p *ent.Participant) (string, error) {
	return findOrMakeLink(ctx, tx.Client(), s.rand, s.now(), p.ID)
}

// findOrMakeLink returns participant partID's signing link code from db,
// making the link (at now, its code read from r) when there is none.
func findOrMakeLink(ctx context.Context, db *ent.Client, r io.Reader, now time.Time, partID int) (string, error) {
	sys := viewer.System(ctx)
	l, err := db.SigningLink.Query().Where(signinglink.ParticipantID(partID)).Order(ent.Asc(signinglink.FieldID)).First(sys)
	if err == nil {
		return l.Code, nil
	}
	if !ent.IsNotFound(err) {
		return "", err
	}
	list, err := freeLinkCodes(ctx, db, r, 1)
	if err != nil {
		return "", err
	}
	code := list[0]
	if err := db.SigningLink.Create().SetCode(code).SetParticipantID(partID).SetCreatedAt(now).Exec(sys); err != nil {
		return "", fmt.Errorf("signing link: %w", err)
	}
	return code, nil
}

// freeLinkCodes returns n new signing link codes (8 characters read from r,
// one of 56⁸ ≈ 10¹⁴) that no link has: a code taken already is drawn again,
// so that a send does not fail on the codes' unique index as links
// accumulate. Two sends drawing one code at the same moment is left to
// that index.
func freeLinkCodes(ctx context.Context, db *ent.Client, r io.Reader, n int) ([]string, error) {
	codes := make([]string, 0, n)
	for attempt := 0; len(codes) < n; attempt++ {
		if attempt == 5 {
			return nil, errs.New(errs.Conflict, "签署链接生成冲突，请重试")
		}
		var drawn []string
		for range n - len(codes) {
			code, err := randomCode(r, 8)
			if err != nil {
				return nil, err
			}
			drawn = append(drawn, code)
		}
		taken, err := db.SigningLink.Query().Where(signinglink.CodeIn(drawn...)).Select(signinglink.FieldCode).Strings(viewer.System(ctx))
		if err != nil {
			return nil, fmt.Errorf("signing links: %w", err)
		}
		// Kept: the codes no link has, each once.
		for _, c := range drawn {
			if !slices.Contains(taken, c) && !slices.Contains(codes, c) {
				codes = append(codes, c)
			}
		}
	}
	return codes, nil
}

// RemindResult is the outcome of reminding one flow's signers.
type RemindResult struct {
	FlowID   int
	Reminded int
	// Err says why nothing (or not everyone) was reminded; nil on success.
	Err error
}

// Remind sends each pending signer of the viewer's flows a reminder (催办)
// with their link, at most once per Limits.RemindEvery per signer. Each
// reminder is an audit event.
func (s *Service) Remind(ctx context.Context, ids []int) ([]RemindResult, error) {
	v := viewer.FromContext(ctx)
	if !v.Authenticated() {
		return nil, errs.New(errs.Unauthenticated, "请先登录")
	}
	if len(ids) == 0 || len(ids) > 100 {
		return nil, errs.InvalidField("ids", "请选择1到100个合同")
	}
	out := make([]RemindResult, 0, len(ids))
	for _, id := range ids {
		res := RemindResult{FlowID: id}
		res.Err = s.withTx(ctx, func(tx *ent.Tx, jtx jobs.JobTx) error {
			sys := viewer.System(ctx)
			trail, err := lockFirst(ctx, tx, id)
			if err != nil {
				return err
			}
			f, err := tx.Flow.Get(sys, id)
			if ent.IsNotFound(err) || (err == nil && f.InitiatorID != v.UserID) {
				return notFound()
			}
			if err != nil {
				return err
			}
			if f.Status != flow.StatusSigning {
				return errs.New(errs.Conflict, "只有签署中的合同可以催办")
			}
			pending, err := tx.Participant.Query().
				Where(participant.FlowID(f.ID), participant.StatusEQ(participant.StatusPending)).All(sys)
			if err != nil {
				return err
			}
			now := s.now()
			for _, p := range pending {
				if p.LastRemindedAt != nil && now.Sub(*p.LastRemindedAt) < s.limits.RemindEvery {
					continue
				}
				code, err := s.linkFor(ctx, tx, p)
				if err != nil {
					return err
				}
				if err := tx.Participant.UpdateOne(p).SetLastRemindedAt(now).Exec(sys); err != nil {
					return err
				}
				if err := s.notify(ctx, jtx, Notification{Type: NotifyReminder, FlowID: f.ID, ParticipantID: p.ID, LinkCode: code, Phone: p.Phone}); err != nil {
					return err
				}
				if _, err := trail.Append(ctx, audit.Event{Chain: audit.FlowChain(f.ID), Actor: s.actor(ctx),
					Action: audit.FlowReminded, Subject: audit.Subject{Type: "participant", ID: p.ID},
					Payload: map[string]any{"name": p.Name}}); err != nil {
					return err
				}
				s.announce(tx, f, audit.FlowReminded, p.ID)
				res.Reminded++
			}
			if res.Reminded == 0 {
				mins := int(s.limits.RemindEvery.Minutes())
				return errs.Newf(errs.RateLimited, "催办过于频繁：同一签署方%d分钟内只能催办一次", mins)
			}
			return nil
		})
		out = append(out, res)
	}
	return out, nil
}

// lockFirst locks flow id's trail before a transaction that records an
// event of a sent flow touches the flow's rows (revoke, decline, expiry,
// reminders, views, a proven phone, the passcode). A signature's commit
// locks the trail first and then updates the participants and, when it
// completes, the flow; a transaction that updated the flow or a participant
// first and locked the trail after could wait for that commit while it
// waits for them (a deadlock on PostgreSQL, which gives up one of the two).
// Taking the trail first, both queue on it. An unknown flow has no trail
// yet: locking creates its head, which the transaction's refusal rolls
// back.
func lockFirst(ctx context.Context, tx *ent.Tx, id int) (*audit.Writer, error) {
	return audit.Lock(ctx, tx, audit.FlowChain(id))
}

// Revoke (撤销) ends a flow of the viewer's while someone has not signed;
// it moves to 已作废.
func (s *Service) Revoke(ctx context.Context, id int, reason string) (*ent.Flow, error) {
	v := viewer.FromContext(ctx)
	if !v.Authenticated() {
		return nil, errs.New(errs.Unauthenticated, "请先登录")
	}
	if n := len([]rune(reason)); n == 0 || n > 200 {
		return nil, errs.InvalidField("reason", "请填写撤销原因（200字以内）")
	}
	err := s.withTx(ctx, func(tx *ent.Tx, jtx jobs.JobTx) error {
		sys := viewer.System(ctx)
		// The trail first, as a signature's commit locks it (lockFirst).
		trail, err := lockFirst(ctx, tx, id)
		if err != nil {
			return err
		}
		f, err := tx.Flow.Get(sys, id)
		if ent.IsNotFound(err) || (err == nil && f.InitiatorID != v.UserID) {
			return notFound()
		}
		if err != nil {
			return err
		}
		if f.Status != flow.StatusSigning {
			return errs.New(errs.Conflict, "只有签署中的合同可以撤销")
		}
		n, err := tx.Flow.Update().Where(flow.ID(f.ID), flow.StatusEQ(flow.StatusSigning)).
			SetStatus(flow.StatusRevoked).SetFinishedAt(s.now()).SetEndReason(reason).Save(sys)
		if err != nil {
			return err
		}
		if n == 0 {
			return errs.New(errs.Conflict, "合同状态已变化，请刷新后重试")
		}
		_, err = trail.Append(ctx, audit.Event{Chain: audit.FlowChain(f.ID), Actor: s.actor(ctx),
			Action: audit.FlowRevoked, Subject: audit.Subject{Type: "flow", ID: f.ID}, Payload: map[string]any{"reason": reason}})
		s.announce(tx, f, audit.FlowRevoked, f.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.reload(ctx, id)
}

// Delete removes flows from the viewer's lists: a draft of theirs is deleted
// for good; a flow in 已作废 disappears from their 已作废 list while its trail
// stays. Other flows cannot be deleted.
func (s *Service) Delete(ctx context.Context, ids []int) error {
	v := viewer.FromContext(ctx)
	if !v.Authenticated() {
		return errs.New(errs.Unauthenticated, "请先登录")
	}
	if len(ids) == 0 || len(ids) > 100 {
		return errs.InvalidField("ids", "请选择1到100个合同")
	}
	return s.withTx(ctx, func(tx *ent.Tx, jtx jobs.JobTx) error {
		sys := viewer.System(ctx)
		for _, id := range ids {
			f, err := tx.Flow.Get(sys, id)
			if ent.IsNotFound(err) {
				return notFound()
			}
			if err != nil {
				return err
			}
			now := s.now()
			switch f.Status {
			case flow.StatusDraft:
				if f.InitiatorID != v.UserID {
					return notFound()
				}
				if err := tx.Flow.DeleteOne(f).Exec(sys); err != nil {
					return fmt.Errorf("delete draft: %w", err)
				}
			case flow.StatusRevoked, flow.StatusDeclined, flow.StatusExpired:
				hidden := 0
				if f.InitiatorID == v.UserID {
					if err := tx.Flow.UpdateOne(f).SetInitiatorHiddenAt(now).Exec(sys); err != nil {
						return err
					}
					hidden++
				}
				n, err := tx.Participant.Update().Where(participant.FlowID(f.ID), mine(v)).SetHiddenAt(now).Save(sys)
				if err != nil {
					return err
				}
				if hidden+n == 0 {
					return notFound()
				}
			default:
				return errs.New(errs.Conflict, "只有草稿和已作废的合同可以删除")
			}
			if _, err := audit.Append(ctx, tx, audit.Event{Chain: audit.FlowChain(f.ID), Actor: s.actor(ctx),
				Action: audit.FlowDeleted, Subject: audit.Subject{Type: "flow", ID: f.ID},
				Payload: map[string]any{"status": string(f.Status)}}); err != nil {
				return err
			}
			s.announce(tx, f, audit.FlowDeleted, f.ID)
		}
		return nil
	})
}
