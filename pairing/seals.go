package pairing

import (
	"context"
	"fmt"

	"signet/audit"
	"signet/ent"
	entseal "signet/ent/seal"
	"signet/errs"
	"signet/viewer"
)

// Personal seals (USR-3): the name seal made at real-name verification and
// the handwritten signatures captured by QR. A user lists, chooses the
// default of, and deletes only their own; anyone else's seal is "not found".

// PersonalSeals lists the viewer's personal seals (name seal and handwritten
// signatures, enabled ones): the default first, then oldest first.
func (s *Service) PersonalSeals(ctx context.Context) ([]*ent.Seal, error) {
	v, err := requireUser(ctx)
	if err != nil {
		return nil, err
	}
	return s.db.Seal.Query().Where(entseal.UserID(v.UserID), entseal.EnterpriseIDIsNil(),
		entseal.KindIn(entseal.KindPersonal, entseal.KindHandwritten), entseal.StatusEQ(entseal.StatusEnabled)).
		Order(ent.Desc(entseal.FieldIsDefault), ent.Asc(entseal.FieldID)).All(viewer.System(ctx))
}

func (s *Service) ownSeal(ctx context.Context, id int) (*ent.Seal, error) {
	v, err := requireUser(ctx)
	if err != nil {
		return nil, err
	}
	sl, err := s.db.Seal.Get(viewer.System(ctx), id)
	if ent.IsNotFound(err) || (err == nil && (sl.UserID == nil || *sl.UserID != v.UserID || sl.EnterpriseID != nil ||
		sl.Status != entseal.StatusEnabled ||
		(sl.Kind != entseal.KindPersonal && sl.Kind != entseal.KindHandwritten))) {
		return nil, errs.New(errs.NotFound, "印章不存在")
	}
	if err != nil {
		return nil, fmt.Errorf("pairing: seal: %w", err)
	}
	return sl, nil
}

// SetDefault makes the viewer's personal seal id their default. A
// handwritten signature captured before real-name verification is bound to
// the personal certificate here; without one it cannot be the default.
func (s *Service) SetDefault(ctx context.Context, id int) (*ent.Seal, error) {
	sl, err := s.ownSeal(ctx, id)
	if err != nil {
		return nil, err
	}
	sys := viewer.System(ctx)
	certID := sl.CertificateID
	if certID == nil {
		if certID, err = s.personalCert(ctx, *sl.UserID); err != nil {
			return nil, err
		}
		if certID == nil {
			return nil, errs.New(errs.Forbidden, "完成个人实名认证后才能将手写签名设为默认印章")
		}
	}
	err = s.withTx(ctx, func(tx *ent.Tx) error {
		if err := tx.Seal.Update().Where(entseal.UserID(*sl.UserID), entseal.EnterpriseIDIsNil(), entseal.IsDefault(true)).
			SetIsDefault(false).Exec(sys); err != nil {
			return err
		}
		if sl, err = tx.Seal.UpdateOneID(sl.ID).SetIsDefault(true).SetNillableCertificateID(certID).Save(sys); err != nil {
			return err
		}
		_, err := audit.Append(ctx, tx, audit.Event{Chain: audit.UserChain(*sl.UserID), Actor: actor(ctx),
			Action: audit.SealDefaultSet, Subject: audit.Subject{Type: "seal", ID: sl.ID},
			Payload: map[string]any{"kind": string(sl.Kind)}})
		return err
	})
	if err != nil {
		return nil, err
	}
	return sl, nil
}

// DeleteSeal deletes the viewer's handwritten signature id. The row is kept
// (voided) because signed documents may refer to it; it is no longer listed
// or usable. The name seal made at real-name verification cannot be deleted.
// When the default is deleted, the name seal becomes the default.
func (s *Service) DeleteSeal(ctx context.Context, id int) error {
	sl, err := s.ownSeal(ctx, id)
	if err != nil {
		return err
	}
	if sl.Kind != entseal.KindHandwritten {
		return errs.New(errs.Forbidden, "实名认证生成的姓名章不能删除")
	}
	sys := viewer.System(ctx)
	return s.withTx(ctx, func(tx *ent.Tx) error {
		n, err := tx.Seal.Update().Where(entseal.ID(sl.ID), entseal.StatusEQ(entseal.StatusEnabled)).
			SetStatus(entseal.StatusVoided).SetVoidedAt(s.now()).SetVoidedReason("用户删除").SetIsDefault(false).Save(sys)
		if err != nil {
			return err
		}
		if n == 0 {
			return errs.New(errs.NotFound, "印章不存在")
		}
		if sl.IsDefault {
			next, err := tx.Seal.Query().Where(entseal.UserID(*sl.UserID), entseal.EnterpriseIDIsNil(),
				entseal.KindIn(entseal.KindPersonal, entseal.KindHandwritten), entseal.StatusEQ(entseal.StatusEnabled),
				entseal.CertificateIDNotNil()).Order(ent.Desc(entseal.FieldKind), ent.Asc(entseal.FieldID)).First(sys)
			if err == nil {
				if err := tx.Seal.UpdateOneID(next.ID).SetIsDefault(true).Exec(sys); err != nil {
					return err
				}
			} else if !ent.IsNotFound(err) {
				return err
			}
		}
		_, err = audit.Append(ctx, tx, audit.Event{Chain: audit.UserChain(*sl.UserID), Actor: actor(ctx),
			Action: audit.SealDeleted, Subject: audit.Subject{Type: "seal", ID: sl.ID},
			Payload: map[string]any{"kind": string(sl.Kind)}})
		return err
	})
}
