package flows

import (
	"context"
	"strings"
	"time"

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
		where = append(where, flow.StatusEQ(flow.StatusSigning),
			flow.HasParticipantsWith(me, signer, participant.StatusEQ(participant.StatusPending)))
	case ListDrafts:
		where = append(where, flow.StatusEQ(flow.StatusDraft), flow.InitiatorID(v.UserID))
	case ListDone:
		where = append(where, flow.StatusEQ(flow.StatusSigning),
			flow.HasParticipantsWith(me, signer, participant.StatusEQ(participant.StatusSigned)))
	case ListInitiated:
		where = append(where, flow.StatusNEQ(flow.StatusDraft), flow.InitiatorID(v.UserID),
			flow.Not(flow.And(flow.StatusIn(voidedStatuses()...), flow.InitiatorHiddenAtNotNil())))
	case ListCC:
		where = append(where, flow.StatusNEQ(flow.StatusDraft),
			flow.HasParticipantsWith(me, participant.RoleEQ(participant.RoleCc)))
	case ListCompleted:
		where = append(where, flow.StatusEQ(flow.StatusCompleted), involved(v, me))
	case ListVoided:
		where = append(where, flow.StatusIn(voidedStatuses()...), flow.Or(
			flow.And(flow.InitiatorID(v.UserID), flow.InitiatorHiddenAtIsNil()),
			flow.HasParticipantsWith(me, participant.HiddenAtIsNil()),
		))
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

// involved matches flows the viewer initiated or takes part in.
func involved(v viewer.Viewer, me predicate.Participant) predicate.Flow {
	return flow.Or(flow.InitiatorID(v.UserID), flow.HasParticipantsWith(me))
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
