package enterprises

import (
	"context"
	"fmt"

	"signet/audit"
	"signet/ent"
	"signet/ent/certorder"
	"signet/errs"
	"signet/jobs"
	"signet/viewer"
)

// StartRecertification opens a re-certification (重新认证) of the console
// enterprise after its name or credit code changed (UpdateOrganization):
// a new certification order for the existing enterprise, run through the
// same steps as the first certification (application, authorisation code,
// documents, confirmation, payment, CA review). Its approval issues a new
// certificate for the current name and credit code and generates new
// seals; until then the old seals stay voided and seal creation and
// certificate renewal are refused. Administrators only; Conflict when the
// enterprise needs no re-certification or one is already open.
func (s *Service) StartRecertification(ctx context.Context) (*ent.CertOrder, error) {
	sp, err := s.admin(ctx)
	if err != nil {
		return nil, err
	}
	sys := viewer.System(ctx)
	e, err := s.db.Enterprise.Get(sys, sp.EnterpriseID)
	if err != nil {
		return nil, err
	}
	if !e.RecertifyRequired {
		return nil, errs.New(errs.Conflict, "企业信息未变更名称或统一社会信用代码，无需重新认证")
	}
	fee := s.fees.HostedCents
	if e.Custody == "ukey" {
		fee = s.fees.UKeyCents
	}
	var o *ent.CertOrder
	err = s.withTx(ctx, func(tx *ent.Tx, _ jobs.JobTx) error {
		// One open re-certification at a time; a rejected or revoked one is
		// continued instead.
		open, err := tx.CertOrder.Query().Where(certorder.EnterpriseID(e.ID), certorder.KindEQ(certorder.KindRecertification),
			certorder.StepNEQ(certorder.StepApproved)).First(sys)
		if err != nil && !ent.IsNotFound(err) {
			return err
		}
		if open != nil {
			if open.ApplicantID == sp.UserID {
				return errs.New(errs.Conflict, "已有进行中的重新认证，请在“我认证的企业”中继续认证")
			}
			return errs.New(errs.Conflict, "其他管理员已发起重新认证，请等待其完成")
		}
		o, err = tx.CertOrder.Create().SetEnterpriseID(e.ID).SetApplicantID(sp.UserID).
			SetKind(certorder.KindRecertification).SetFeeCents(fee).Save(sys)
		if err != nil {
			return err
		}
		return s.record(ctx, tx, fact{Enterprise: e.ID, Action: audit.RecertificationStarted, Subject: subjectOrder(o.ID),
			Payload: map[string]any{"name": e.Name, "credit_code": e.CreditCode, "fee_cents": fee}, Users: []int{sp.UserID}})
	})
	if err != nil {
		return nil, fmt.Errorf("start recertification: %w", err)
	}
	// Read the row again outside the committed transaction (edges load later).
	return s.db.CertOrder.Get(viewer.System(ctx), o.ID)
}
