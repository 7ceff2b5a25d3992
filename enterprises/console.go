package enterprises

import (
	"context"
	"fmt"
	"strings"

	"signet/accounts"
	"signet/ent"
	"signet/ent/certificate"
	"signet/ent/enterprise"
	"signet/ent/membership"
	entseal "signet/ent/seal"
	"signet/ent/sealgrant"
	"signet/ent/user"
	"signet/errs"
	"signet/identity"
	"signet/signingcore/pki"
	"signet/viewer"
)

// OrgChange is a change of the organisation's details (组织机构管理); nil
// fields stay as they are.
type OrgChange struct {
	Name             *string
	CreditCode       *string
	Address          *string
	LegalRepName     *string
	LegalRepIDNumber *string
}

// OrgChangeResult says what a change voided.
type OrgChangeResult struct {
	Enterprise *ent.Enterprise
	// VoidedSeals counts the seals voided by the change.
	VoidedSeals int
	// RevokedCertificates counts certificates revoked because their subject
	// (name or credit code) no longer holds.
	RevokedCertificates int
}

// UpdateOrganization changes the console enterprise's details with the
// manual's rules: a changed legal representative name or ID number voids
// the 法定代表人章; a changed enterprise name or credit code voids every seal
// and revokes the certificates naming the old details, and the enterprise
// must be certified again before new seals are made.
func (s *Service) UpdateOrganization(ctx context.Context, ch OrgChange) (OrgChangeResult, error) {
	sp, err := s.admin(ctx)
	if err != nil {
		return OrgChangeResult{}, err
	}
	sys := viewer.System(ctx)
	e, err := s.db.Enterprise.Get(sys, sp.EnterpriseID)
	if err != nil {
		return OrgChangeResult{}, err
	}
	pick := func(p *string, old string) string {
		if p == nil {
			return old
		}
		return *p
	}
	d, err := s.checkEnterprise(pick(ch.Name, e.Name), pick(ch.CreditCode, e.CreditCode), pick(ch.Address, e.Address),
		pick(ch.LegalRepName, e.LegalRepName), pick(ch.LegalRepIDNumber, e.LegalRepIDNumber))
	if err != nil {
		return OrgChangeResult{}, err
	}
	subjectChanged := d.Name != e.Name || d.CreditCode != e.CreditCode
	repChanged := d.LegalRepName != e.LegalRepName || d.LegalRepIDNumber != e.LegalRepIDNumber
	if d.CreditCode != e.CreditCode {
		taken, err := s.db.Enterprise.Query().Where(enterprise.CreditCode(d.CreditCode),
			enterprise.StatusEQ(enterprise.StatusCertified), enterprise.IDNEQ(e.ID)).Exist(sys)
		if err != nil {
			return OrgChangeResult{}, err
		}
		if taken {
			return OrgChangeResult{}, errs.InvalidField("creditCode", "该统一社会信用代码已被其他企业认证")
		}
	}
	var res OrgChangeResult
	var revoke []*ent.Certificate
	err = s.withTx(ctx, func(tx *ent.Tx) error {
		upd := tx.Enterprise.UpdateOneID(e.ID).SetName(d.Name).SetCreditCode(d.CreditCode).SetAddress(d.Address).
			SetLegalRepName(d.LegalRepName).SetLegalRepIDNumber(d.LegalRepIDNumber).
			SetLegalRepIDMasked(identity.MaskIDNumber(d.LegalRepIDNumber))
		now := s.now()
		switch {
		case subjectChanged:
			upd.SetRecertifyRequired(true)
			n, err := tx.Seal.Update().Where(entseal.EnterpriseID(e.ID), entseal.StatusNEQ(entseal.StatusVoided)).
				SetStatus(entseal.StatusVoided).SetVoidedAt(now).SetVoidedReason("企业名称或统一社会信用代码变更").Save(sys)
			if err != nil {
				return err
			}
			res.VoidedSeals = n
			revoke, err = tx.Certificate.Query().Where(certificate.EnterpriseID(e.ID),
				certificate.StatusIn(certificate.StatusActive, certificate.StatusPending)).All(sys)
			if err != nil {
				return err
			}
		case repChanged:
			n, err := tx.Seal.Update().Where(entseal.EnterpriseID(e.ID), entseal.KindEQ(entseal.KindLegalRep),
				entseal.StatusNEQ(entseal.StatusVoided)).
				SetStatus(entseal.StatusVoided).SetVoidedAt(now).SetVoidedReason("法定代表人变更").Save(sys)
			if err != nil {
				return err
			}
			res.VoidedSeals = n
		}
		if res.VoidedSeals > 0 {
			if err := tx.SealGrant.Update().Where(sealgrant.EnterpriseID(e.ID), sealgrant.RevokedAtIsNil(),
				sealgrant.HasSealWith(entseal.StatusEQ(entseal.StatusVoided))).
				SetRevokedAt(now).SetRevokedReason("印章已作废").Exec(sys); err != nil {
				return err
			}
		}
		return upd.Exec(sys)
	})
	if err != nil {
		return OrgChangeResult{}, fmt.Errorf("update organization: %w", err)
	}
	for _, c := range revoke {
		if err := s.certs.Revoke(ctx, c.ID, pki.ReasonAffiliationChanged); err != nil {
			s.log.ErrorContext(ctx, "revoke certificate after name change", "certificate", c.ID, "err", err)
			continue
		}
		res.RevokedCertificates++
	}
	res.Enterprise, err = s.db.Enterprise.Get(sys, e.ID)
	return res, err
}

// Members lists the console enterprise's members.
func (s *Service) Members(ctx context.Context) ([]*ent.Membership, error) {
	sp, err := s.admin(ctx)
	if err != nil {
		return nil, err
	}
	return s.db.Membership.Query().Where(membership.EnterpriseID(sp.EnterpriseID)).
		WithUser().Order(ent.Asc(membership.FieldID)).All(viewer.System(ctx))
}

// AddMember adds a registered user by phone (添加用户).
func (s *Service) AddMember(ctx context.Context, phone string, role Role, title string) (*ent.Membership, error) {
	sp, err := s.admin(ctx)
	if err != nil {
		return nil, err
	}
	p, err := accounts.NormalizePhone("phone", phone)
	if err != nil {
		return nil, err
	}
	if err := checkRole(role); err != nil {
		return nil, err
	}
	title = strings.TrimSpace(title)
	if len([]rune(title)) > 64 {
		return nil, errs.InvalidField("title", "职务最多64个字")
	}
	sys := viewer.System(ctx)
	u, err := s.db.User.Query().Where(user.Phone(p)).Only(sys)
	if ent.IsNotFound(err) {
		return nil, errs.InvalidField("phone", "该手机号尚未注册，请先邀请其注册签网")
	}
	if err != nil {
		return nil, err
	}
	exists, err := s.db.Membership.Query().Where(membership.EnterpriseID(sp.EnterpriseID), membership.UserID(u.ID)).Exist(sys)
	if err != nil {
		return nil, err
	}
	if exists {
		return nil, errs.New(errs.Conflict, "该用户已是企业成员")
	}
	m, err := s.db.Membership.Create().SetEnterpriseID(sp.EnterpriseID).SetUserID(u.ID).
		SetRole(membership.Role(role)).SetTitle(title).Save(sys)
	if err != nil {
		return nil, fmt.Errorf("add member: %w", err)
	}
	return m, nil
}

// UpdateMember changes a member's role or title (编辑用户). The last
// administrator cannot be demoted.
func (s *Service) UpdateMember(ctx context.Context, membershipID int, role *Role, title *string) (*ent.Membership, error) {
	sp, err := s.admin(ctx)
	if err != nil {
		return nil, err
	}
	m, err := s.consoleMember(ctx, sp, membershipID)
	if err != nil {
		return nil, err
	}
	sys := viewer.System(ctx)
	upd := s.db.Membership.UpdateOne(m)
	if role != nil {
		if err := checkRole(*role); err != nil {
			return nil, err
		}
		if m.Role == membership.RoleAdmin && *role != RoleAdmin {
			if err := s.keepAnAdmin(ctx, sp.EnterpriseID); err != nil {
				return nil, err
			}
		}
		upd.SetRole(membership.Role(*role))
	}
	if title != nil {
		t := strings.TrimSpace(*title)
		if len([]rune(t)) > 64 {
			return nil, errs.InvalidField("title", "职务最多64个字")
		}
		upd.SetTitle(t)
	}
	return upd.Save(sys)
}

// RemoveMember removes a member (删除用户) and revokes every seal grant
// they hold in the enterprise. The last administrator cannot be removed.
func (s *Service) RemoveMember(ctx context.Context, membershipID int) error {
	sp, err := s.admin(ctx)
	if err != nil {
		return err
	}
	m, err := s.consoleMember(ctx, sp, membershipID)
	if err != nil {
		return err
	}
	if m.Role == membership.RoleAdmin {
		if err := s.keepAnAdmin(ctx, sp.EnterpriseID); err != nil {
			return err
		}
	}
	sys := viewer.System(ctx)
	return s.withTx(ctx, func(tx *ent.Tx) error {
		if err := tx.SealGrant.Update().Where(sealgrant.EnterpriseID(sp.EnterpriseID), sealgrant.UserID(m.UserID),
			sealgrant.RevokedAtIsNil()).SetRevokedAt(s.now()).SetRevokedReason("成员已被移出企业").Exec(sys); err != nil {
			return err
		}
		return tx.Membership.DeleteOneID(m.ID).Exec(sys)
	})
}

func (s *Service) consoleMember(ctx context.Context, sp Space, id int) (*ent.Membership, error) {
	m, err := s.db.Membership.Query().Where(membership.ID(id), membership.EnterpriseID(sp.EnterpriseID)).
		Only(viewer.System(ctx))
	return m, notFound(err, "成员不存在")
}

func (s *Service) keepAnAdmin(ctx context.Context, enterpriseID int) error {
	n, err := s.db.Membership.Query().Where(membership.EnterpriseID(enterpriseID), membership.RoleEQ(membership.RoleAdmin)).
		Count(viewer.System(ctx))
	if err != nil {
		return err
	}
	if n <= 1 {
		return errs.New(errs.Conflict, "企业至少需要一名管理员")
	}
	return nil
}

func checkRole(r Role) error {
	if r != RoleAdmin && r != RoleMember {
		return errs.InvalidField("role", "角色只能是管理员或成员")
	}
	return nil
}

// Certificates lists the console enterprise's certificates, newest first.
func (s *Service) Certificates(ctx context.Context) ([]*ent.Certificate, error) {
	sp, err := s.admin(ctx)
	if err != nil {
		return nil, err
	}
	return s.db.Certificate.Query().Where(certificate.EnterpriseID(sp.EnterpriseID)).
		Order(ent.Desc(certificate.FieldID)).All(viewer.System(ctx))
}

// RenewCertificate renews one of the console enterprise's hosted
// certificates; its seals move to the new one.
func (s *Service) RenewCertificate(ctx context.Context, certID int) (*ent.Certificate, error) {
	c, err := s.consoleCert(ctx, certID)
	if err != nil {
		return nil, err
	}
	e, err := s.db.Enterprise.Get(viewer.System(ctx), c.EnterpriseID)
	if err != nil {
		return nil, err
	}
	if e.RecertifyRequired {
		return nil, errs.New(errs.Conflict, "企业信息已变更，请重新认证后再续期证书")
	}
	return s.certs.Renew(ctx, c.ID)
}

// RevokeCertificate revokes one of the console enterprise's certificates
// (published on the CRL and OCSP); seals bound to it can no longer sign.
func (s *Service) RevokeCertificate(ctx context.Context, certID int) (*ent.Certificate, error) {
	c, err := s.consoleCert(ctx, certID)
	if err != nil {
		return nil, err
	}
	if err := s.certs.Revoke(ctx, c.ID, pki.ReasonCessationOfOperation); err != nil {
		return nil, err
	}
	return s.db.Certificate.Get(viewer.System(ctx), c.ID)
}

type consoleCertificate struct {
	*ent.Certificate
	EnterpriseID int
}

func (s *Service) consoleCert(ctx context.Context, certID int) (consoleCertificate, error) {
	sp, err := s.admin(ctx)
	if err != nil {
		return consoleCertificate{}, err
	}
	c, err := s.db.Certificate.Query().Where(certificate.ID(certID), certificate.EnterpriseID(sp.EnterpriseID)).
		Only(viewer.System(ctx))
	if err != nil {
		return consoleCertificate{}, notFound(err, "证书不存在")
	}
	return consoleCertificate{Certificate: c, EnterpriseID: sp.EnterpriseID}, nil
}
