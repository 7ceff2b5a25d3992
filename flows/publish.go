package flows

import (
	"context"
	"sync"

	"signet/audit"
	"signet/ent"
	"signet/ent/participant"
	"signet/ent/user"
	"signet/events"
	"signet/viewer"
)

// Live updates (ARCHITECTURE.md "Events and scale-out"). Every transition
// that writes an audit event also announces it: after the transaction
// commits, an event with the audit action as its kind and the subject's ID
// goes out on the flow's topic, and — when the transition can change what
// somebody's lists hold — a KindListsChanged event on the user topic of the
// initiator and of every party. Events carry IDs only; subscribers re-read.

// KindListsChanged is the kind of the event on a user's topic saying that
// their lists (待办 and the others) may have changed.
const KindListsChanged = "lists.changed"

// changesLists are the actions after which some party's lists may differ.
var changesLists = map[audit.Action]bool{
	audit.FlowCreated: true, audit.FlowSent: true, audit.ParticipantNotified: true,
	audit.ParticipantSigned: true, audit.ParticipantDeclined: true, audit.FlowDeclined: true,
	audit.FlowRevoked: true, audit.FlowExpired: true, audit.FlowCompleted: true, audit.FlowDeleted: true,
	audit.ParticipantPhoneVerified: true,
}

// announcement collects what one transaction announces, so a transaction
// that signs, notifies the next signer and completes publishes its flow
// events in order but reads and notifies the affected users only once.
type announcement struct {
	flows []flowRef
	evs   []events.Event
	lists map[int]bool // flow ids whose parties' lists may have changed
}

type flowRef struct{ id, initiator int }

// pending maps an open *ent.Tx to its announcement.
type pending struct {
	mu sync.Mutex
	m  map[*ent.Tx]*announcement
}

// announce publishes, once tx commits, that action happened to subjectID
// within f (and nothing when it rolls back). Call it next to audit.Append.
func (s *Service) announce(tx *ent.Tx, f *ent.Flow, action audit.Action, subjectID int) {
	if s.broker == nil || f == nil {
		return
	}
	s.announced.mu.Lock()
	defer s.announced.mu.Unlock()
	if s.announced.m == nil {
		s.announced.m = map[*ent.Tx]*announcement{}
	}
	a := s.announced.m[tx]
	if a == nil {
		a = &announcement{lists: map[int]bool{}}
		s.announced.m[tx] = a
		tx.OnCommit(func(next ent.Committer) ent.Committer {
			return ent.CommitFunc(func(ctx context.Context, tx *ent.Tx) error {
				a := s.take(tx)
				if err := next.Commit(ctx, tx); err != nil {
					return err
				}
				if a != nil {
					s.publish(context.WithoutCancel(ctx), a)
				}
				return nil
			})
		})
		tx.OnRollback(func(next ent.Rollbacker) ent.Rollbacker {
			return ent.RollbackFunc(func(ctx context.Context, tx *ent.Tx) error {
				s.take(tx)
				return next.Rollback(ctx, tx)
			})
		})
	}
	a.evs = append(a.evs, events.Event{Topic: events.FlowTopic(f.ID), Kind: string(action), ID: subjectID})
	if changesLists[action] && !a.lists[f.ID] {
		a.lists[f.ID] = true
		a.flows = append(a.flows, flowRef{id: f.ID, initiator: f.InitiatorID})
	}
}

// take removes and returns tx's announcement.
func (s *Service) take(tx *ent.Tx) *announcement {
	s.announced.mu.Lock()
	defer s.announced.mu.Unlock()
	a := s.announced.m[tx]
	delete(s.announced.m, tx)
	return a
}

// publish sends a committed transaction's events. Failures are logged by
// the broker: the change is committed and live updates are best effort.
func (s *Service) publish(ctx context.Context, a *announcement) {
	evs := a.evs
	users := map[int]bool{}
	ids := make([]int, len(a.flows))
	for i, f := range a.flows {
		users[f.initiator] = true
		ids[i] = f.id
	}
	if len(ids) > 0 {
		parties, err := s.partyUsers(ctx, ids)
		if err != nil {
			s.log.Warn("flows: affected users", "flows", ids, "err", err)
		}
		for _, id := range parties {
			users[id] = true
		}
	}
	for id := range users {
		evs = append(evs, events.Event{Topic: events.UserTopic(id), Kind: KindListsChanged})
	}
	_ = s.broker.PublishAll(ctx, evs) // one statement on PostgreSQL
}

// partyUsers returns the users whose lists hold the flows as a party: bound
// participants, and the owners of the phones of unbound ones — two
// statements however many flows (a group commit announces several).
func (s *Service) partyUsers(ctx context.Context, flowIDs []int) ([]int, error) {
	sys := viewer.System(ctx)
	parts, err := s.db.Participant.Query().Where(participant.FlowIDIn(flowIDs...)).
		Select(participant.FieldUserID, participant.FieldPhone).All(sys)
	if err != nil {
		return nil, err
	}
	var ids []int
	var phones []string
	for _, p := range parts {
		if p.UserID != nil {
			ids = append(ids, *p.UserID)
		} else {
			phones = append(phones, p.Phone)
		}
	}
	if len(phones) > 0 {
		more, err := s.db.User.Query().Where(user.PhoneIn(phones...)).IDs(sys)
		if err != nil {
			return ids, err
		}
		ids = append(ids, more...)
	}
	return ids, nil
}
