package enterprises

import (
	"context"
	"fmt"
	"strings"

	"signet/accounts"
	"signet/audit"
	"signet/ent"
	"signet/ent/certificate"
	"signet/ent/enterprise"
	"signet/ent/membership"
	entseal "signet/ent/seal"
	"signet/ent/sealgrant"
	"signet/ent/user"
	"signet/errs"
	"signet/identity"
	"signet/jobs"
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
	var voided []int
	err = s.withTx(ctx, func(tx *ent.Tx, _ jobs.JobTx) error {
		upd := tx.Enterprise.UpdateOneID(e.ID).SetName(d.Name).SetCreditCode(d.CreditCode).SetAddress(d.Address).
			SetLegalRepName(d.LegalRepName).SetLegalRepIDNumber(d.LegalRepIDNumber).
			SetLegalRepIDMasked(identity.MaskIDNumber(d.LegalRepIDNumber))
		now := s.now()
		switch {
		case subjectChanged:
			upd.SetRecertifyRequired(true)
			ids, err := tx.Seal.Query().Where(entseal.EnterpriseID(e.ID), entseal.StatusNEQ(entseal.StatusVoided)).IDs(sys)
			if err != nil {
				return err
			}
			n, err := tx.Seal.Update().Where(entseal.IDIn(ids...)).
				SetStatus(entseal.StatusVoided).SetVoidedAt(now).SetVoidedReason("企业名称或统一社会信用代码变更").Save(sys)
			if err != nil {
				return err
			}
			res.VoidedSeals, voided = n, ids
			revoke, err = tx.Certificate.Query().Where(certificate.EnterpriseID(e.ID),
				certificate.StatusIn(certificate.StatusActive, certificate.StatusPending)).All(sys)
			if err != nil {
				return err
			}
		case repChanged:
			ids, err := tx.Seal.Query().Where(entseal.EnterpriseID(e.ID), entseal.KindEQ(entseal.KindLegalRep),
				entseal.StatusNEQ(entseal.StatusVoided)).IDs(sys)
			if err != nil {
				return err
			}
			n, err := tx.Seal.Update().Where(entseal.IDIn(ids...)).
				SetStatus(entseal.StatusVoided).SetVoidedAt(now).SetVoidedReason("法定代表人变更").Save(sys)
			if err != nil {
				return err
			}
			res.VoidedSeals, voided = n, ids
		}
		var grants []int
		if res.VoidedSeals > 0 {
			var err error
			grants, err = tx.SealGrant.Query().Where(sealgrant.EnterpriseID(e.ID), sealgrant.RevokedAtIsNil(),
				sealgrant.SealIDIn(voided...)).IDs(sys)
			if err != nil {
				return err
			}
			if err := tx.SealGrant.Update().Where(sealgrant.IDIn(grants...)).
				SetRevokedAt(now).SetRevokedReason("印章已作废").Exec(sys); err != nil {
				return err
			}
		}
		if err := upd.Exec(sys); err != nil {
			return err
		}
		changed := map[string]any{}
		for k, v := range map[string][2]string{"name": {e.Name, d.Name}, "credit_code": {e.CreditCode, d.CreditCode},
			"address": {e.Address, d.Address}, "legal_rep_name": {e.LegalRepName, d.LegalRepName},
			"legal_rep_id": {e.LegalRepIDMasked, identity.MaskIDNumber(d.LegalRepIDNumber)}} {
			if v[0] != v[1] {
				changed[k] = map[string]string{"from": v[0], "to": v[1]}
			}
		}
		if err := s.record(ctx, tx, fact{Enterprise: e.ID, Action: audit.OrganizationUpdated, Subject: subjectEnterprise(e.ID),
			Payload: map[string]any{"changed": changed, "voided_seals": voided, "recertify_required": subjectChanged}}); err != nil {
			return err
		}
		for _, id := range voided {
			if err := s.record(ctx, tx, fact{Enterprise: e.ID, Action: audit.SealVoided, Subject: subjectSeal(id),
				Payload: map[string]any{"reason": map[bool]string{true: "企业名称或统一社会信用代码变更", false: "法定代表人变更"}[subjectChanged]}}); err != nil {
				return err
			}
		}
		for _, g := range grants {
			if err := s.record(ctx, tx, fact{Enterprise: e.ID, Action: audit.SealGrantRevoked, Subject: subjectGrant(g),
				Payload: map[string]any{"reason": "印章已作废"}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return OrgChangeResult{}, fmt.Errorf("update organization: %w", err)
	}
	for _, c := range revoke {
		if err := s.revokeCert(ctx, e.ID, c.ID, pki.ReasonAffiliationChanged); err != nil {
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
	var m *ent.Membership
	err = s.withTx(ctx, func(tx *ent.Tx, _ jobs.JobTx) error {
		var err error
		m, err = tx.Membership.Create().SetEnterpriseID(sp.EnterpriseID).SetUserID(u.ID).
			SetRole(membership.Role(role)).SetTitle(title).Save(sys)
		if err != nil {
			return err
		}
		return s.record(ctx, tx, fact{Enterprise: sp.EnterpriseID, Action: audit.MemberAdded, Subject: subjectMember(m.ID),
			Payload: map[string]any{"user_id": u.ID, "phone": accounts.MaskPhone(u.Phone), "role": role, "title": title},
			Users:   []int{u.ID}})
	})
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
	changed := map[string]any{}
	var upd *ent.MembershipUpdateOne
	if role != nil {
		if err := checkRole(*role); err != nil {
			return nil, err
		}
		if m.Role == membership.RoleAdmin && *role != RoleAdmin {
			if err := s.keepAnAdmin(ctx, sp.EnterpriseID); err != nil {
				return nil, err
			}
		}
		if string(m.Role) != string(*role) {
			changed["role"] = map[string]string{"from": string(m.Role), "to": string(*role)}
		}
	}
	if title != nil {
		t := strings.TrimSpace(*title)
		if len([]rune(t)) > 64 {
			return nil, errs.InvalidField("title", "职务最多64个字")
		}
		if t != m.Title {
			changed["title"] = map[string]string{"from": m.Title, "to": t}
		}
	}
	if len(changed) == 0 {
		return m, nil
	}
	err = s.withTx(ctx, func(tx *ent.Tx, _ jobs.JobTx) error {
		upd = tx.Membership.UpdateOne(m)
		if role != nil {
			upd.SetRole(membership.Role(*role))
		}
		if title != nil {
			upd.SetTitle(strings.TrimSpace(*title))
		}
		var err error
		if m, err = upd.Save(sys); err != nil {
			return err
		}
		// The last administrator: checked again inside the transaction.
		if role != nil && *role != RoleAdmin {
			n, err := tx.Membership.Query().Where(membership.EnterpriseID(sp.EnterpriseID), membership.RoleEQ(membership.RoleAdmin)).Count(sys)
			if err != nil {
				return err
			}
			if n == 0 {
				return errs.New(errs.Conflict, "企业至少需要一名管理员")
			}
		}
		return s.record(ctx, tx, fact{Enterprise: sp.EnterpriseID, Action: audit.MemberUpdated, Subject: subjectMember(m.ID),
			Payload: map[string]any{"user_id": m.UserID, "changed": changed}, Users: []int{m.UserID}})
	})
	if err != nil {
		return nil, err
	}
	return m, nil
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
	return s.withTx(ctx, func(tx *ent.Tx, _ jobs.JobTx) error {
		grants, err := tx.SealGrant.Query().Where(sealgrant.EnterpriseID(sp.EnterpriseID), sealgrant.UserID(m.UserID),
			sealgrant.RevokedAtIsNil()).IDs(sys)
		if err != nil {
			return err
		}
		if err := tx.SealGrant.Update().Where(sealgrant.IDIn(grants...)).
			SetRevokedAt(s.now()).SetRevokedReason("成员已被移出企业").Exec(sys); err != nil {
			return err
		}
		if err := tx.Membership.DeleteOneID(m.ID).Exec(sys); err != nil {
			return err
		}
		if m.Role == membership.RoleAdmin {
			n, err := tx.Membership.Query().Where(membership.EnterpriseID(sp.EnterpriseID), membership.RoleEQ(membership.RoleAdmin)).Count(sys)
			if err != nil {
				return err
			}
			if n == 0 {
				return errs.New(errs.Conflict, "企业至少需要一名管理员")
			}
		}
		if err := s.record(ctx, tx, fact{Enterprise: sp.EnterpriseID, Action: audit.MemberRemoved, Subject: subjectMember(m.ID),
			Payload: map[string]any{"user_id": m.UserID, "role": m.Role, "revoked_grants": grants}, Users: []int{m.UserID}}); err != nil {
			return err
		}
		for _, g := range grants {
			if err := s.record(ctx, tx, fact{Enterprise: sp.EnterpriseID, Action: audit.SealGrantRevoked, Subject: subjectGrant(g),
				Payload: map[string]any{"reason": "成员已被移出企业"}}); err != nil {
				return err
			}
		}
		return nil
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
	nc, err := s.certs.Renew(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	err = s.withTx(ctx, func(tx *ent.Tx, _ jobs.JobTx) error {
		p := certPayload(nc)
		p["supersedes"] = c.ID
		p["old_serial"] = c.Serial
		return s.record(ctx, tx, fact{Enterprise: e.ID, Action: audit.CertificateRenewed, Subject: subjectCertificate(nc.ID), Payload: p})
	})
	if err != nil {
		return nil, err
	}
	return nc, nil
}

// RevokeCertificate revokes one of the console enterprise's certificates
// (published on the CRL and OCSP); seals bound to it can no longer sign.
func (s *Service) RevokeCertificate(ctx context.Context, certID int) (*ent.Certificate, error) {
	c, err := s.consoleCert(ctx, certID)
	if err != nil {
		return nil, err
	}
	if err := s.revokeCert(ctx, c.EnterpriseID, c.ID, pki.ReasonCessationOfOperation); err != nil {
		return nil, err
	}
	return s.db.Certificate.Get(viewer.System(ctx), c.ID)
}

// revokeCert revokes a certificate of an enterprise and records it on the
// enterprise's trail. The CA's revocation comes first (it is external and
// cannot be rolled back); the trail follows it.
func (s *Service) revokeCert(ctx context.Context, enterpriseID, certID int, reason pki.RevocationReason) error {
	if err := s.certs.Revoke(ctx, certID, reason); err != nil {
		return err
	}
	c, err := s.db.Certificate.Get(viewer.System(ctx), certID)
	if err != nil {
		return err
	}
	return s.withTx(ctx, func(tx *ent.Tx, _ jobs.JobTx) error {
		p := certPayload(c)
		p["reason"] = reason.String()
		return s.record(ctx, tx, fact{Enterprise: enterpriseID, Action: audit.CertificateRevoked, Subject: subjectCertificate(c.ID), Payload: p})
	})
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
