package enterprises

import (
	"context"
	"fmt"
	"strings"

	"signet/audit"
	"signet/ent"
	"signet/ent/certorder"
	"signet/ent/enterprise"
	"signet/ent/joinrequest"
	"signet/ent/membership"
	"signet/ent/predicate"
	"signet/errs"
	"signet/jobs"
	"signet/sms"
	"signet/viewer"
)

// MsgEnterpriseNotFound is the manual's exact message for joining an
// enterprise that is not certified on the platform (or does not exist).
const MsgEnterpriseNotFound = "查询失败，请重新填写"

// RequestJoin asks to join the certified enterprise with exactly that name
// (加入企业). An uncertified or unknown enterprise gets 查询失败，请重新填写.
func (s *Service) RequestJoin(ctx context.Context, enterpriseName, reason string) (*ent.JoinRequest, error) {
	uid, err := s.userID(ctx)
	if err != nil {
		return nil, err
	}
	name := strings.TrimSpace(enterpriseName)
	reason = strings.TrimSpace(reason)
	if name == "" {
		return nil, errs.InvalidField("enterpriseName", "请填写企业名称")
	}
	if n := len([]rune(reason)); n == 0 || n > 200 {
		return nil, errs.InvalidField("reason", "请填写加入理由（200字以内）")
	}
	sys := viewer.System(ctx)
	e, err := s.db.Enterprise.Query().Where(enterprise.Name(name), enterprise.StatusEQ(enterprise.StatusCertified)).
		First(sys)
	if ent.IsNotFound(err) {
		return nil, errs.InvalidField("enterpriseName", MsgEnterpriseNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("request join: %w", err)
	}
	return s.createJoin(ctx, uid, e, reason)
}

func (s *Service) createJoin(ctx context.Context, uid int, e *ent.Enterprise, reason string) (*ent.JoinRequest, error) {
	sys := viewer.System(ctx)
	member, err := s.db.Membership.Query().Where(membership.EnterpriseID(e.ID), membership.UserID(uid)).Exist(sys)
	if err != nil {
		return nil, err
	}
	if member {
		return nil, errs.New(errs.Conflict, "您已是该企业的成员")
	}
	pending, err := s.db.JoinRequest.Query().
		Where(joinrequest.EnterpriseID(e.ID), joinrequest.UserID(uid), joinrequest.StatusEQ(joinrequest.StatusPending)).Exist(sys)
	if err != nil {
		return nil, err
	}
	if pending {
		return nil, errs.New(errs.Conflict, "您已提交加入申请，请等待企业管理员审核")
	}
	var r *ent.JoinRequest
	err = s.withTx(ctx, func(tx *ent.Tx, _ jobs.JobTx) error {
		var err error
		if r, err = tx.JoinRequest.Create().SetEnterpriseID(e.ID).SetUserID(uid).SetReason(reason).Save(sys); err != nil {
			return err
		}
		return s.record(ctx, tx, fact{Enterprise: e.ID, Action: audit.JoinRequested, Subject: subjectJoin(r.ID),
			Payload: map[string]any{"user_id": uid, "reason": reason}, Users: []int{uid}})
	})
	if err != nil {
		return nil, fmt.Errorf("request join: %w", err)
	}
	return r, nil
}

// RevokeJoin withdraws the viewer's pending join request (撤销).
func (s *Service) RevokeJoin(ctx context.Context, requestID int) (*ent.JoinRequest, error) {
	uid, err := s.userID(ctx)
	if err != nil {
		return nil, err
	}
	sys := viewer.System(ctx)
	done := false
	err = s.withTx(ctx, func(tx *ent.Tx, _ jobs.JobTx) error {
		n, err := tx.JoinRequest.Update().
			Where(joinrequest.ID(requestID), joinrequest.UserID(uid), joinrequest.StatusEQ(joinrequest.StatusPending)).
			SetStatus(joinrequest.StatusRevoked).Save(sys)
		if err != nil || n == 0 {
			return err
		}
		done = true
		r, err := tx.JoinRequest.Get(sys, requestID)
		if err != nil {
			return err
		}
		return s.record(ctx, tx, fact{Enterprise: r.EnterpriseID, Action: audit.JoinRevoked, Subject: subjectJoin(r.ID),
			Payload: map[string]any{"user_id": uid}, Users: []int{uid}})
	})
	if err != nil {
		return nil, err
	}
	r, err := s.db.JoinRequest.Query().Where(joinrequest.ID(requestID), joinrequest.UserID(uid)).Only(sys)
	if err != nil {
		return nil, notFound(err, "加入申请不存在")
	}
	if !done {
		return nil, errs.Newf(errs.Conflict, "该申请已%s，不能撤销", joinStatusTitle(r.Status))
	}
	return r, nil
}

// Rejoin applies again after a revoked or rejected request (重新加入), with
// the same or a new reason.
func (s *Service) Rejoin(ctx context.Context, requestID int, reason string) (*ent.JoinRequest, error) {
	uid, err := s.userID(ctx)
	if err != nil {
		return nil, err
	}
	sys := viewer.System(ctx)
	r, err := s.db.JoinRequest.Query().Where(joinrequest.ID(requestID), joinrequest.UserID(uid)).Only(sys)
	if err != nil {
		return nil, notFound(err, "加入申请不存在")
	}
	if r.Status != joinrequest.StatusRevoked && r.Status != joinrequest.StatusRejected {
		return nil, errs.New(errs.Conflict, "只有已撤销或已拒绝的申请可以重新加入")
	}
	e, err := s.db.Enterprise.Query().Where(enterprise.ID(r.EnterpriseID), enterprise.StatusEQ(enterprise.StatusCertified)).Only(sys)
	if ent.IsNotFound(err) {
		return nil, errs.New(errs.NotFound, MsgEnterpriseNotFound)
	}
	if err != nil {
		return nil, err
	}
	if reason = strings.TrimSpace(reason); reason == "" {
		reason = r.Reason
	}
	if len([]rune(reason)) > 200 {
		return nil, errs.InvalidField("reason", "请填写加入理由（200字以内）")
	}
	return s.createJoin(ctx, uid, e, reason)
}

func joinStatusTitle(st joinrequest.Status) string {
	switch st {
	case joinrequest.StatusPending:
		return "待审核"
	case joinrequest.StatusApproved:
		return "通过"
	case joinrequest.StatusRejected:
		return "拒绝"
	}
	return "撤销"
}

// JoinRequests lists the join requests of the console's enterprise, pending
// first (加入企业审核). Administrators only.
func (s *Service) JoinRequests(ctx context.Context, status *joinrequest.Status) ([]*ent.JoinRequest, error) {
	sp, err := s.admin(ctx)
	if err != nil {
		return nil, err
	}
	q := s.db.JoinRequest.Query().Where(joinrequest.EnterpriseID(sp.EnterpriseID))
	if status != nil {
		q.Where(joinrequest.StatusEQ(*status))
	}
	return q.Order(ent.Desc(joinrequest.FieldID)).All(ctx)
}

// DecideJoin approves (the applicant becomes a member) or rejects a pending
// request of the console's enterprise; the applicant is told by SMS.
func (s *Service) DecideJoin(ctx context.Context, requestID int, approve bool, reason string) (*ent.JoinRequest, error) {
	sp, err := s.admin(ctx)
	if err != nil {
		return nil, err
	}
	sys := viewer.System(ctx)
	r, err := s.db.JoinRequest.Query().
		Where(joinrequest.ID(requestID), joinrequest.EnterpriseID(sp.EnterpriseID)).Only(sys)
	if err != nil {
		return nil, notFound(err, "加入申请不存在")
	}
	if r.Status != joinrequest.StatusPending {
		return nil, errs.Newf(errs.Conflict, "该申请已%s", joinStatusTitle(r.Status))
	}
	reason = strings.TrimSpace(reason)
	if len([]rune(reason)) > 200 {
		return nil, errs.InvalidField("reason", "拒绝理由最多200字")
	}
	status := joinrequest.StatusRejected
	if approve {
		status = joinrequest.StatusApproved
	}
	err = s.withTx(ctx, func(tx *ent.Tx, _ jobs.JobTx) error {
		n, err := tx.JoinRequest.Update().Where(joinrequest.ID(r.ID), joinrequest.StatusEQ(joinrequest.StatusPending)).
			SetStatus(status).SetDecidedBy(sp.UserID).SetDecidedAt(s.now()).SetRejectReason(reason).Save(sys)
		if err != nil {
			return err
		}
		if n == 0 {
			return errs.New(errs.Conflict, "该申请已被处理")
		}
		action, payload := audit.JoinRejected, map[string]any{"user_id": r.UserID, "reason": reason}
		if approve {
			action = audit.JoinApproved
			// Someone already a member (added by phone meanwhile) keeps
			// their membership and role.
			exists, err := tx.Membership.Query().Where(membership.EnterpriseID(sp.EnterpriseID), membership.UserID(r.UserID)).Exist(sys)
			if err != nil {
				return err
			}
			if !exists {
				m, err := tx.Membership.Create().SetEnterpriseID(sp.EnterpriseID).SetUserID(r.UserID).
					SetRole(membership.RoleMember).Save(sys)
				if err != nil {
					return err
				}
				payload["membership_id"] = m.ID
			}
		}
		return s.record(ctx, tx, fact{Enterprise: sp.EnterpriseID, Action: action, Subject: subjectJoin(r.ID),
			Payload: payload, Users: []int{r.UserID}})
	})
	if err != nil {
		return nil, err
	}
	e, err := s.db.Enterprise.Get(sys, sp.EnterpriseID)
	if err != nil {
		return nil, err
	}
	u, err := s.db.User.Get(sys, r.UserID)
	if err != nil {
		return nil, err
	}
	result := "已通过，您现在可以切换到该企业空间"
	if !approve {
		result = "未通过"
		if reason != "" {
			result += "（" + reason + "）"
		}
	}
	s.notify(ctx, u.Phone, sms.TemplateJoinResult, map[string]string{"enterprise": e.Name, "result": result})
	return s.db.JoinRequest.Get(sys, r.ID)
}

// CertifiedEnterprise is a row of 我认证的企业: the enterprise with its
// certification order.
type CertifiedEnterprise struct {
	Enterprise *ent.Enterprise
	Order      *ent.CertOrder
}

// JoinedEnterprise is a row of 我加入的企业: a membership (possibly made by
// an administrator, without a request) or a join request.
type JoinedEnterprise struct {
	EnterpriseID   int
	EnterpriseName string
	CreditCode     string
	// Role is set for members.
	Role Role
	// Request is the newest join request, when there is one.
	Request *ent.JoinRequest
}

// MyEnterprises returns the viewer's two lists (我的企业), each filtered by
// search: part of the name or of the credit code.
func (s *Service) MyEnterprises(ctx context.Context, search string) ([]CertifiedEnterprise, []JoinedEnterprise, error) {
	uid, err := s.userID(ctx)
	if err != nil {
		return nil, nil, err
	}
	sys := viewer.System(ctx)
	var match []predicate.Enterprise
	if q := strings.TrimSpace(search); q != "" {
		match = append(match, enterprise.Or(enterprise.NameContains(q), enterprise.CreditCodeContains(strings.ToUpper(q))))
	}
	// An administrator who re-certifies an enterprise certified by someone
	// else finds it here too.
	recert, err := s.db.CertOrder.Query().Where(certorder.ApplicantID(uid), certorder.KindEQ(certorder.KindRecertification)).
		Select(certorder.FieldEnterpriseID).Ints(sys)
	if err != nil {
		return nil, nil, err
	}
	mine, err := s.db.Enterprise.Query().Where(enterprise.Or(enterprise.CertifierID(uid), enterprise.IDIn(recert...))).Where(match...).
		Order(ent.Desc(enterprise.FieldID)).All(sys)
	if err != nil {
		return nil, nil, err
	}
	var certified []CertifiedEnterprise
	for _, e := range mine {
		o, err := s.db.CertOrder.Query().Where(certorder.EnterpriseID(e.ID), certorder.Or(
			certorder.ApplicantID(uid), certorder.KindEQ(certorder.KindCertification))).
			Order(ent.Desc(certorder.FieldID)).First(sys)
		if err != nil && !ent.IsNotFound(err) {
			return nil, nil, err
		}
		certified = append(certified, CertifiedEnterprise{Enterprise: e, Order: o})
	}
	ms, err := s.db.Membership.Query().Where(membership.UserID(uid), membership.HasEnterpriseWith(match...)).
		WithEnterprise().Order(ent.Asc(membership.FieldID)).All(sys)
	if err != nil {
		return nil, nil, err
	}
	var joined []JoinedEnterprise
	seen := map[int]bool{}
	listed := map[int]bool{}
	for _, e := range mine {
		listed[e.ID] = true
	}
	for _, m := range ms {
		if m.Edges.Enterprise.CertifierID == uid || listed[m.EnterpriseID] {
			continue // listed under 我认证的企业
		}
		seen[m.EnterpriseID] = true
		joined = append(joined, JoinedEnterprise{EnterpriseID: m.EnterpriseID, EnterpriseName: m.Edges.Enterprise.Name,
			CreditCode: m.Edges.Enterprise.CreditCode, Role: Role(m.Role)})
	}
	reqs, err := s.db.JoinRequest.Query().Where(joinrequest.UserID(uid), joinrequest.HasEnterpriseWith(match...)).
		WithEnterprise().Order(ent.Desc(joinrequest.FieldID)).All(sys)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range reqs {
		if seen[r.EnterpriseID] {
			for i := range joined {
				if joined[i].EnterpriseID == r.EnterpriseID && joined[i].Request == nil {
					joined[i].Request = r
				}
			}
			continue
		}
		seen[r.EnterpriseID] = true
		joined = append(joined, JoinedEnterprise{EnterpriseID: r.EnterpriseID, EnterpriseName: r.Edges.Enterprise.Name,
			CreditCode: r.Edges.Enterprise.CreditCode, Request: r})
	}
	return certified, joined, nil
}
