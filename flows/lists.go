package flows

import (
	"context"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"signet/ent"
	"signet/ent/flow"
	"signet/ent/flowdocument"
	"signet/ent/participant"
	"signet/ent/predicate"
	"signet/errs"
	"signet/viewer"
)

// List is one of the manual's seven lists.
type List string

// The lists (文件管理).
const (
	ListTodo      List = "todo"      // 待办: my turn to sign
	ListDrafts    List = "drafts"    // 草稿
	ListDone      List = "done"      // 已办: I signed, others pending
	ListInitiated List = "initiated" // 我发起的
	ListCC        List = "cc"        // 抄送我的
	ListCompleted List = "completed" // 已完成
	ListVoided    List = "voided"    // 已作废: revoked, declined or expired
)

// Filter is the manual's search: task name or number, and under 更多 the
// party, initiation time range, contract name or number, scene and deadline.
type Filter struct {
	Keyword      string
	Party        string
	Contract     string
	Scene        flow.Scene
	SentFrom     *time.Time
	SentTo       *time.Time
	DeadlineFrom *time.Time
	DeadlineTo   *time.Time
}

// mine matches the viewer's participant rows: bound to them, or addressed
// to their verified phone while unbound.
func mine(v viewer.Viewer) predicate.Participant {
	return participant.Or(
		participant.UserID(v.UserID),
		participant.And(participant.UserIDIsNil(), participant.Phone(v.Phone)),
	)
}

// ListQuery returns the query for one list of the viewer's with the filter
// applied; the caller paginates it. It is one SQL statement per page (plus
// one for a total count when asked for).
func (s *Service) ListQuery(ctx context.Context, list List, f Filter) (*ent.FlowQuery, error) {
	where, err := s.listWhere(ctx, list, f)
	if err != nil {
		return nil, err
	}
	return s.db.Flow.Query().Where(where...), nil
}

// listWhere returns the predicates of one list of the viewer's with the
// filter applied. Each list's predicates imply the flow privacy rule (the
// viewer initiated the flow or takes part in it).
func (s *Service) listWhere(ctx context.Context, list List, f Filter) ([]predicate.Flow, error) {
	v := viewer.FromContext(ctx)
	if !v.Authenticated() {
		return nil, errs.New(errs.Unauthenticated, "请先登录")
	}
	me := mine(v)
	signer := participant.RoleEQ(participant.RoleSigner)
	var where []predicate.Flow
	switch list {
	case ListTodo:
		where = append(where, statusIn(flow.StatusSigning),
			flowIn(partyFlows(me, signer, participant.StatusEQ(participant.StatusPending))))
	case ListDrafts:
		where = append(where, flow.StatusEQ(flow.StatusDraft), flow.InitiatorID(v.UserID))
	case ListDone:
		where = append(where, statusIn(flow.StatusSigning),
			flowIn(partyFlows(me, signer, participant.StatusEQ(participant.StatusSigned))))
	case ListInitiated:
		where = append(where, flow.StatusNEQ(flow.StatusDraft), flow.InitiatorID(v.UserID),
			flow.Not(flow.And(flow.StatusIn(voidedStatuses()...), flow.InitiatorHiddenAtNotNil())))
	case ListCC:
		where = append(where, statusNot(flow.StatusDraft),
			flowIn(partyFlows(me, participant.RoleEQ(participant.RoleCc))))
	case ListCompleted:
		where = append(where, statusIn(flow.StatusCompleted),
			flowIn(initiatedFlows(v.UserID), partyFlows(me)))
	case ListVoided:
		where = append(where, statusIn(voidedStatuses()...),
			flowIn(initiatedFlows(v.UserID, flow.InitiatorHiddenAtIsNil()), partyFlows(me, participant.HiddenAtIsNil())))
	default:
		return nil, errs.InvalidField("list", "不支持的列表")
	}
	if k := strings.TrimSpace(f.Keyword); k != "" {
		where = append(where, flow.Or(flow.NameContainsFold(k), flow.NumberContainsFold(k)))
	}
	if p := strings.TrimSpace(f.Party); p != "" {
		where = append(where, flow.HasParticipantsWith(participant.Or(
			participant.NameContainsFold(p), participant.EnterpriseNameContainsFold(p))))
	}
	if c := strings.TrimSpace(f.Contract); c != "" {
		where = append(where, flow.HasDocumentsWith(flowdocument.Or(
			flowdocument.NameContainsFold(c), flowdocument.ContractNumberContainsFold(c))))
	}
	if f.Scene != "" {
		where = append(where, flow.SceneEQ(f.Scene))
	}
	if f.SentFrom != nil {
		where = append(where, flow.SentAtGTE(*f.SentFrom))
	}
	if f.SentTo != nil {
		where = append(where, flow.SentAtLT(*f.SentTo))
	}
	if f.DeadlineFrom != nil {
		where = append(where, flow.DeadlineGTE(*f.DeadlineFrom))
	}
	if f.DeadlineTo != nil {
		where = append(where, flow.DeadlineLT(*f.DeadlineTo))
	}
	return where, nil
}

// voided are the statuses of 已作废.
func voidedStatuses() []flow.Status {
	return []flow.Status{flow.StatusRevoked, flow.StatusDeclined, flow.StatusExpired}
}

// The lists that depend on the viewer's parties select the flows whose ID
// is in a subquery of those parties (flowIn), not with a correlated EXISTS
// per flow (ent's HasParticipantsWith), and their status test is kept off
// SQLite's status index (statusIn). SQLite planned the EXISTS as a probe of
// every flow of the list's status — with 1M flows, a third of the table
// for 待办 — and, given the subquery, still searched the status index and
// tested each flow against it. Now it reads the subquery once through the
// parties' indexes (participant_user_id_status, and for the phone of an
// unbound party participant_unbound_phone_status: the OR becomes two index
// searches) and fetches those flows by key. PostgreSQL plans both forms as
// a semi join, from the parties' indexes. The flows' privacy rule still
// applies, to each flow found.

// statusIn matches flows in one of statuses, and statusNot those in
// another status. On SQLite the column is written +status, which SQLite
// does not look up in an index (its documented way to leave one out), so
// the flows are found from the other terms; elsewhere they are ent's.
func statusIn(statuses ...flow.Status) predicate.Flow {
	return unindexedStatus("IN", flow.StatusIn, statuses)
}

func statusNot(st flow.Status) predicate.Flow {
	return unindexedStatus("NOT IN", flow.StatusNotIn, []flow.Status{st})
}

func unindexedStatus(op string, other func(...flow.Status) predicate.Flow, statuses []flow.Status) predicate.Flow {
	return func(s *entsql.Selector) {
		if s.Dialect() != dialect.SQLite {
			other(statuses...)(s)
			return
		}
		args := make([]any, len(statuses))
		for i, st := range statuses {
			args[i] = string(st)
		}
		s.Where(entsql.ExprP("+"+s.C(flow.FieldStatus)+" "+op+" ("+strings.TrimSuffix(strings.Repeat("?, ", len(args)), ", ")+")", args...))
	}
}

// flowIDs builds a subquery of flow IDs in a dialect.
type flowIDs func(dialect string) *entsql.Selector

// partyFlows is the subquery of the flow IDs of the parties matching preds.
func partyFlows(preds ...predicate.Participant) flowIDs {
	return func(d string) *entsql.Selector {
		t := entsql.Table(participant.Table)
		sub := entsql.Dialect(d).Select(t.C(participant.FieldFlowID)).From(t)
		for _, p := range preds {
			p(sub)
		}
		return sub
	}
}

// initiatedFlows is the subquery of the IDs of the flows userID initiated
// that match preds.
func initiatedFlows(userID int, preds ...predicate.Flow) flowIDs {
	return func(d string) *entsql.Selector {
		t := entsql.Table(flow.Table).As("initiated")
		sub := entsql.Dialect(d).Select(t.C(flow.FieldID)).From(t).Where(entsql.EQ(t.C(flow.FieldInitiatorID), userID))
		for _, p := range preds {
			p(sub)
		}
		return sub
	}
}

// flowIn matches the flows whose ID one of the subqueries returns (UNION
// ALL: a flow found twice is still one row of the outer query). The
// subqueries are built anew each time the predicate is applied (the page
// and its count).
func flowIn(subs ...flowIDs) predicate.Flow {
	return func(s *entsql.Selector) {
		sub := subs[0](s.Dialect())
		for _, next := range subs[1:] {
			sub = sub.UnionAll(next(s.Dialect()))
		}
		s.Where(entsql.In(s.C(flow.FieldID), sub))
	}
}

// Counts are the sizes of the viewer's lists (the 待办 badge and friends).
type Counts map[List]int

// CountLists counts the viewer's lists.
func (s *Service) CountLists(ctx context.Context, lists ...List) (Counts, error) {
	out := Counts{}
	for _, l := range lists {
		q, err := s.ListQuery(ctx, l, Filter{})
		if err != nil {
			return nil, err
		}
		n, err := q.Count(ctx)
		if err != nil {
			return nil, err
		}
		out[l] = n
	}
	return out, nil
}
