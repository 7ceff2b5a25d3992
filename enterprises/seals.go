package enterprises

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"net/http"
	"slices"
	"strings"
	"time"

	"signet/audit"
	"signet/certs"
	"signet/ent"
	"signet/ent/certificate"
	"signet/ent/enterprise"
	"signet/ent/membership"
	entseal "signet/ent/seal"
	"signet/ent/sealgrant"
	"signet/errs"
	"signet/jobs"
	"signet/signingcore/seal"
	"signet/viewer"
)

// Seals lists the console enterprise's seals (印章管理).
func (s *Service) Seals(ctx context.Context) ([]*ent.Seal, error) {
	sp, err := s.admin(ctx)
	if err != nil {
		return nil, err
	}
	return s.db.Seal.Query().Where(entseal.EnterpriseID(sp.EnterpriseID)).Order(ent.Asc(entseal.FieldID)).
		Select(sealListFields()...).All(viewer.System(ctx))
}

// sealListFields are the seal columns a list reads: all but the appearance,
// which only signing uses (≈ 25 KB a seal; the image stays, the pages show
// it).
func sealListFields() []string {
	return slices.DeleteFunc(slices.Clone(entseal.Columns), func(c string) bool { return c == entseal.FieldAppearance })
}

// SealInput creates an enterprise seal: drawn by the generator (Image nil)
// or uploaded (a PNG).
type SealInput struct {
	Kind entseal.Kind
	// Name is the seal's display name (e.g. 财务专用章); defaults by kind.
	Name string
	// Horizontal is the text under the star of a generated custom round seal
	// (e.g. 财务专用章).
	Horizontal string
	// Image is an uploaded PNG with a transparent background.
	Image []byte
}

// Limits of uploaded seal images.
const (
	MaxSealImageSize = 1 << 20
	MinSealPixels    = 100
	MaxSealPixels    = 2000
)

// CreateSeal makes a seal for the console enterprise, bound to its current
// certificate. A 法定代表人章 is drawn from the current legal
// representative's name. Not allowed while the enterprise must be certified
// again after a change of name or credit code.
func (s *Service) CreateSeal(ctx context.Context, in SealInput) (*ent.Seal, error) {
	sp, err := s.admin(ctx)
	if err != nil {
		return nil, err
	}
	sys := viewer.System(ctx)
	e, err := s.db.Enterprise.Get(sys, sp.EnterpriseID)
	if err != nil {
		return nil, err
	}
	if e.RecertifyRequired {
		return nil, errs.New(errs.Conflict, "企业名称或统一社会信用代码已变更，请重新认证企业后再创建印章")
	}
	// A certificate must exist before a seal is drawn (一key一章 makes a
	// new UKey custody record for it below).
	if _, err := s.certs.ActiveEnterprise(ctx, e.ID); err != nil {
		return nil, err
	}
	name := strings.TrimSpace(in.Name)
	if len([]rune(name)) > 64 {
		return nil, errs.InvalidField("name", "印章名称最多64个字")
	}
	var img seal.Image
	source := entseal.SourceGenerated
	switch {
	case in.Image != nil:
		if in.Kind == entseal.KindPersonal || in.Kind == entseal.KindHandwritten || entseal.KindValidator(in.Kind) != nil {
			return nil, errs.InvalidField("kind", "不支持的印章类型")
		}
		img, err = checkSealImage(in.Image)
		if err != nil {
			return nil, err
		}
		source = entseal.SourceUploaded
	default:
		switch in.Kind {
		case entseal.KindOfficial:
			img, err = s.seals.Official(seal.Official{Name: e.Name})
		case entseal.KindContract:
			img, err = s.seals.Official(seal.Official{Name: e.Name, Horizontal: "合同专用章"})
		case entseal.KindLegalRep:
			img, err = s.seals.LegalRep(seal.LegalRep{Name: e.LegalRepName})
		case entseal.KindCustom:
			h := strings.TrimSpace(in.Horizontal)
			if h == "" {
				return nil, errs.InvalidField("horizontal", "请填写印章横向文，如“财务专用章”")
			}
			img, err = s.seals.Official(seal.Official{Name: e.Name, Horizontal: h})
			if name == "" {
				name = h
			}
		default:
			return nil, errs.InvalidField("kind", "不支持的印章类型")
		}
		if err != nil {
			return nil, fieldErr("horizontal", err)
		}
	}
	if name == "" {
		name = defaultSealName(in.Kind)
	}
	var cert *ent.Certificate
	fresh := e.Custody == enterprise.CustodyUkey && e.UkeyType != nil && *e.UkeyType == enterprise.UkeyTypeOneKeyOneSeal
	if fresh {
		// 一key一章: every seal has its own key; the CA mails one more.
		cert, err = s.certs.RecordUKey(ctx, e.ID, e.Name, e.CreditCode, certificate.UkeyTypeOneKeyOneSeal)
	} else {
		cert, err = s.certs.ActiveEnterprise(ctx, e.ID)
	}
	if err != nil {
		return nil, err
	}
	var sl *ent.Seal
	err = s.withTx(ctx, func(tx *ent.Tx, _ jobs.JobTx) error {
		var err error
		sl, err = tx.Seal.Create().SetEnterpriseID(e.ID).SetKind(in.Kind).SetName(name).SetImage(img.PNG).
			SetWidth(img.Width).SetHeight(img.Height).SetSource(source).SetCertificateID(cert.ID).Save(sys)
		if err != nil {
			return err
		}
		if err := s.record(ctx, tx, fact{Enterprise: e.ID, Action: audit.SealCreated, Subject: subjectSeal(sl.ID),
			Payload: map[string]any{"kind": in.Kind, "name": name, "source": source, "certificate_id": cert.ID}}); err != nil {
			return err
		}
		if fresh {
			return s.record(ctx, tx, fact{Enterprise: e.ID, Action: audit.CertificateIssued, Subject: subjectCertificate(cert.ID),
				Payload: certPayload(cert)})
		}
		return nil
	})
	if err != nil {
		if fresh {
			s.dropCerts(ctx, []*ent.Certificate{cert})
		}
		return nil, fmt.Errorf("create seal: %w", err)
	}
	return sl, nil
}

func defaultSealName(k entseal.Kind) string {
	switch k {
	case entseal.KindOfficial:
		return "公章"
	case entseal.KindContract:
		return "合同专用章"
	case entseal.KindLegalRep:
		return "法定代表人章"
	}
	return "印章"
}

// checkSealImage accepts a PNG of 100–2000 pixels a side, at most 1 MiB,
// with transparency (a seal is stamped over the text).
func checkSealImage(b []byte) (seal.Image, error) {
	if len(b) == 0 || len(b) > MaxSealImageSize {
		return seal.Image{}, errs.InvalidField("image", "印章图片应为1MB以内的PNG图片")
	}
	if http.DetectContentType(b) != "image/png" {
		return seal.Image{}, errs.InvalidField("image", "印章图片仅支持透明背景的PNG格式")
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		return seal.Image{}, errs.InvalidField("image", "印章图片已损坏，请重新上传")
	}
	if cfg.Width < MinSealPixels || cfg.Height < MinSealPixels || cfg.Width > MaxSealPixels || cfg.Height > MaxSealPixels {
		return seal.Image{}, errs.InvalidField("image", fmt.Sprintf("印章图片尺寸应在%d至%d像素之间", MinSealPixels, MaxSealPixels))
	}
	im, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return seal.Image{}, errs.InvalidField("image", "印章图片已损坏，请重新上传")
	}
	if !hasTransparency(im) {
		return seal.Image{}, errs.InvalidField("image", "印章图片需为透明背景")
	}
	return seal.Image{PNG: b, Width: cfg.Width, Height: cfg.Height, DPI: seal.DefaultDPI}, nil
}

func hasTransparency(im image.Image) bool {
	r := im.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y += 4 {
		for x := r.Min.X; x < r.Max.X; x += 4 {
			if _, _, _, a := im.At(x, y).RGBA(); a < 0x8000 {
				return true
			}
		}
	}
	return false
}

// SealStatus is what an administrator may set: enabled or disabled. Voiding
// is VoidSeal and final.
type SealStatus string

// Settable seal states.
const (
	SealEnabled  SealStatus = "enabled"
	SealDisabled SealStatus = "disabled"
)

// SetSealStatus enables or disables a seal of the console enterprise.
func (s *Service) SetSealStatus(ctx context.Context, sealID int, st SealStatus) (*ent.Seal, error) {
	sl, err := s.consoleSeal(ctx, sealID)
	if err != nil {
		return nil, err
	}
	if st != SealEnabled && st != SealDisabled {
		return nil, errs.InvalidField("status", "只能启用或停用印章")
	}
	if sl.Status == entseal.StatusVoided {
		return nil, errs.New(errs.Conflict, "印章已作废，不能再启用或停用")
	}
	if sl.Status == entseal.Status(st) {
		return sl, nil
	}
	sys := viewer.System(ctx)
	err = s.withTx(ctx, func(tx *ent.Tx, _ jobs.JobTx) error {
		n, err := tx.Seal.Update().Where(entseal.ID(sl.ID), entseal.StatusEQ(sl.Status)).SetStatus(entseal.Status(st)).Save(sys)
		if err != nil {
			return err
		}
		if n == 0 {
			return errs.New(errs.Conflict, "印章状态已变化，请刷新后重试")
		}
		action := audit.SealEnabled
		if st == SealDisabled {
			action = audit.SealDisabled
		}
		return s.record(ctx, tx, fact{Enterprise: *sl.EnterpriseID, Action: action, Subject: subjectSeal(sl.ID),
			Payload: map[string]any{"name": sl.Name, "from": sl.Status}})
	})
	if err != nil {
		return nil, err
	}
	return s.db.Seal.Get(sys, sl.ID)
}

// VoidSeal voids a seal for good and revokes its grants.
func (s *Service) VoidSeal(ctx context.Context, sealID int, reason string) (*ent.Seal, error) {
	sl, err := s.consoleSeal(ctx, sealID)
	if err != nil {
		return nil, err
	}
	if sl.Status == entseal.StatusVoided {
		return nil, errs.New(errs.Conflict, "印章已作废")
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		reason = "管理员作废"
	}
	if len([]rune(reason)) > 100 {
		return nil, errs.InvalidField("reason", "作废原因最多100个字")
	}
	sys := viewer.System(ctx)
	err = s.withTx(ctx, func(tx *ent.Tx, _ jobs.JobTx) error {
		now := s.now()
		n, err := tx.Seal.Update().Where(entseal.ID(sl.ID), entseal.StatusNEQ(entseal.StatusVoided)).
			SetStatus(entseal.StatusVoided).SetVoidedAt(now).SetVoidedReason(reason).Save(sys)
		if err != nil {
			return err
		}
		if n == 0 {
			return errs.New(errs.Conflict, "印章已作废")
		}
		grants, err := tx.SealGrant.Query().Where(sealgrant.SealID(sl.ID), sealgrant.RevokedAtIsNil()).IDs(sys)
		if err != nil {
			return err
		}
		if err := tx.SealGrant.Update().Where(sealgrant.IDIn(grants...)).
			SetRevokedAt(now).SetRevokedReason("印章已作废").Exec(sys); err != nil {
			return err
		}
		if err := s.record(ctx, tx, fact{Enterprise: *sl.EnterpriseID, Action: audit.SealVoided, Subject: subjectSeal(sl.ID),
			Payload: map[string]any{"name": sl.Name, "reason": reason, "revoked_grants": grants}}); err != nil {
			return err
		}
		for _, g := range grants {
			if err := s.record(ctx, tx, fact{Enterprise: *sl.EnterpriseID, Action: audit.SealGrantRevoked, Subject: subjectGrant(g),
				Payload: map[string]any{"reason": "印章已作废"}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.db.Seal.Get(sys, sl.ID)
}

func (s *Service) consoleSeal(ctx context.Context, sealID int) (*ent.Seal, error) {
	sp, err := s.admin(ctx)
	if err != nil {
		return nil, err
	}
	sl, err := s.db.Seal.Query().Where(entseal.ID(sealID), entseal.EnterpriseID(sp.EnterpriseID)).Only(viewer.System(ctx))
	return sl, notFound(err, "印章不存在")
}

// GrantInput is a seal grant (授权).
type GrantInput struct {
	SealID int
	// UserID is the member allowed to use the seal.
	UserID     int
	ValidFrom  time.Time
	ValidUntil time.Time
	// Scenes limits the grant to flow scenes ("general", "hr"); empty: any.
	Scenes []string
	// Counterparties limits it to contracts with these parties (names);
	// empty: any.
	Counterparties []string
}

// Scenes a grant may name.
var Scenes = []string{"general", "hr"}

// MaxGrantPeriod is the longest validity of one grant.
const MaxGrantPeriod = 3 * 366 * 24 * time.Hour

// GrantSeal lets a member of the console enterprise use one of its seals.
func (s *Service) GrantSeal(ctx context.Context, in GrantInput) (*ent.SealGrant, error) {
	sp, err := s.admin(ctx)
	if err != nil {
		return nil, err
	}
	sl, err := s.consoleSeal(ctx, in.SealID)
	if err != nil {
		return nil, err
	}
	if sl.Status != entseal.StatusEnabled {
		return nil, errs.New(errs.Conflict, "只能授权已启用的印章")
	}
	sys := viewer.System(ctx)
	ok, err := s.db.Membership.Query().Where(membership.EnterpriseID(sp.EnterpriseID), membership.UserID(in.UserID)).Exist(sys)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errs.InvalidField("userId", "被授权人不是本企业成员")
	}
	if !in.ValidUntil.After(in.ValidFrom) {
		return nil, errs.InvalidField("validUntil", "授权截止时间应晚于开始时间")
	}
	if !in.ValidUntil.After(s.now()) {
		return nil, errs.InvalidField("validUntil", "授权截止时间已过")
	}
	if in.ValidUntil.Sub(in.ValidFrom) > MaxGrantPeriod {
		return nil, errs.InvalidField("validUntil", "单次授权期限最长3年")
	}
	for _, sc := range in.Scenes {
		if !slices.Contains(Scenes, sc) {
			return nil, errs.InvalidField("scenes", "不支持的签约场景："+sc)
		}
	}
	var cps []string
	for _, c := range in.Counterparties {
		if c = strings.TrimSpace(c); c != "" {
			if len([]rune(c)) > 128 {
				return nil, errs.InvalidField("counterparties", "签约方名称过长")
			}
			cps = append(cps, c)
		}
	}
	if len(cps) > 50 {
		return nil, errs.InvalidField("counterparties", "签约方最多50个")
	}
	var g *ent.SealGrant
	err = s.withTx(ctx, func(tx *ent.Tx, _ jobs.JobTx) error {
		var err error
		g, err = tx.SealGrant.Create().SetEnterpriseID(sp.EnterpriseID).SetSealID(sl.ID).SetUserID(in.UserID).
			SetGrantedBy(sp.UserID).SetValidFrom(in.ValidFrom).SetValidUntil(in.ValidUntil).
			SetScenes(slices.Clone(in.Scenes)).SetCounterparties(cps).Save(sys)
		if err != nil {
			return err
		}
		return s.record(ctx, tx, fact{Enterprise: sp.EnterpriseID, Action: audit.SealGranted, Subject: subjectGrant(g.ID),
			Payload: map[string]any{"seal_id": sl.ID, "seal": sl.Name, "user_id": in.UserID,
				"valid_from": in.ValidFrom.UTC().Format(time.RFC3339), "valid_until": in.ValidUntil.UTC().Format(time.RFC3339),
				"scenes": in.Scenes, "counterparties": cps},
			Users: []int{in.UserID}})
	})
	if err != nil {
		return nil, fmt.Errorf("grant seal: %w", err)
	}
	return g, nil
}

// Grants lists the console enterprise's grants, newest first.
func (s *Service) Grants(ctx context.Context) ([]*ent.SealGrant, error) {
	sp, err := s.admin(ctx)
	if err != nil {
		return nil, err
	}
	return s.db.SealGrant.Query().Where(sealgrant.EnterpriseID(sp.EnterpriseID)).
		Order(ent.Desc(sealgrant.FieldID)).All(viewer.System(ctx))
}

// RevokeGrant revokes a grant of the console enterprise.
func (s *Service) RevokeGrant(ctx context.Context, grantID int) (*ent.SealGrant, error) {
	sp, err := s.admin(ctx)
	if err != nil {
		return nil, err
	}
	sys := viewer.System(ctx)
	g, err := s.db.SealGrant.Query().Where(sealgrant.ID(grantID), sealgrant.EnterpriseID(sp.EnterpriseID)).Only(sys)
	if err != nil {
		return nil, notFound(err, "授权不存在")
	}
	err = s.withTx(ctx, func(tx *ent.Tx, _ jobs.JobTx) error {
		n, err := tx.SealGrant.Update().Where(sealgrant.ID(g.ID), sealgrant.RevokedAtIsNil()).
			SetRevokedAt(s.now()).SetRevokedReason("管理员撤销授权").Save(sys)
		if err != nil {
			return err
		}
		if n == 0 {
			return errs.New(errs.Conflict, "授权已撤销")
		}
		return s.record(ctx, tx, fact{Enterprise: sp.EnterpriseID, Action: audit.SealGrantRevoked, Subject: subjectGrant(g.ID),
			Payload: map[string]any{"seal_id": g.SealID, "user_id": g.UserID, "reason": "管理员撤销授权"}, Users: []int{g.UserID}})
	})
	if err != nil {
		return nil, err
	}
	return s.db.SealGrant.Get(sys, grantID)
}

// Scope describes the signature a seal is about to make, for the grant
// check.
type Scope struct {
	// Scene is the flow's scene ("general", "hr").
	Scene string
	// Counterparties are the other parties of the contract (names).
	Counterparties []string
	// At is the signing time; zero means now.
	At time.Time
}

// CanUseSeal reports (nil) whether the user may sign with the seal in the
// scope: the seal is enabled and the user is its owner (personal seals), an
// administrator of its enterprise, or a member holding an unrevoked grant
// whose period covers At, whose scenes (if any) include the scene and whose
// counterparties (if any) include every counterparty. Otherwise Forbidden
// with the reason, or NotFound for a seal the user cannot see.
func (s *Service) CanUseSeal(ctx context.Context, userID, sealID int, sc Scope) error {
	_, err := s.checkSealUse(ctx, userID, sealID, sc)
	return err
}

// UsableSeal is CanUseSeal returning the seal it checked, for the signing
// pipeline that applies it next.
func (s *Service) UsableSeal(ctx context.Context, userID, sealID int, sc Scope) (*ent.Seal, error) {
	return s.checkSealUse(ctx, userID, sealID, sc)
}

// checkSealUse is CanUseSeal returning the seal as SealForSigning reads it.
func (s *Service) checkSealUse(ctx context.Context, userID, sealID int, sc Scope) (*ent.Seal, error) {
	sys := viewer.System(ctx)
	sl, err := s.sealForSigning(ctx, sealID)
	if err != nil {
		return nil, notFound(err, "印章不存在")
	}
	at := sc.At
	if at.IsZero() {
		at = s.now()
	}
	var (
		m      *ent.Membership
		grants []*ent.SealGrant
	)
	if sl.EnterpriseID != nil {
		m, err = s.db.Membership.Query().Where(membership.EnterpriseID(*sl.EnterpriseID), membership.UserID(userID)).Only(sys)
		switch {
		case ent.IsNotFound(err):
			m = nil
		case err != nil:
			return nil, err
		}
		if m != nil && m.Role != membership.RoleAdmin {
			grants, err = s.db.SealGrant.Query().Where(sealgrant.SealID(sl.ID), sealgrant.UserID(userID),
				sealgrant.RevokedAtIsNil(), sealgrant.ValidFromLTE(at), sealgrant.ValidUntilGT(at)).All(sys)
			if err != nil {
				return nil, err
			}
		}
	}
	if err := usableBy(sl, userID, m, grants, sc); err != nil {
		return nil, err
	}
	return sl, nil
}

// usableBy is CanUseSeal's rule: whether the user may apply seal sl in the
// scope, given the user's membership of the seal's enterprise (nil: none)
// and their grants for the seal that are unrevoked and in their period at
// the scope's time (read only for a member who is not an administrator).
func usableBy(sl *ent.Seal, userID int, m *ent.Membership, grants []*ent.SealGrant, sc Scope) error {
	if sl.EnterpriseID == nil {
		if sl.UserID == nil || *sl.UserID != userID {
			return errs.New(errs.NotFound, "印章不存在")
		}
	} else {
		if m == nil {
			return errs.New(errs.NotFound, "印章不存在")
		}
		if m.Role != membership.RoleAdmin && !slices.ContainsFunc(grants, func(g *ent.SealGrant) bool { return grantCovers(g, sc) }) {
			return errs.New(errs.Forbidden, "您没有该印章的有效授权，请联系企业管理员授权")
		}
	}
	switch sl.Status {
	case entseal.StatusVoided:
		return errs.New(errs.Forbidden, "印章已作废，不能使用")
	case entseal.StatusDisabled:
		return errs.New(errs.Forbidden, "印章已停用，不能使用")
	}
	if sl.CertificateID == nil {
		return errs.New(errs.Forbidden, "印章未绑定证书，不能使用")
	}
	return nil
}

func grantCovers(g *ent.SealGrant, sc Scope) bool {
	if len(g.Scenes) > 0 && !slices.Contains(g.Scenes, sc.Scene) {
		return false
	}
	if len(g.Counterparties) > 0 {
		if len(sc.Counterparties) == 0 {
			return false
		}
		for _, c := range sc.Counterparties {
			if !slices.Contains(g.Counterparties, c) {
				return false
			}
		}
	}
	return true
}

// SealUse is a seal the user may sign with, and the hosted signer of the
// certificate it is bound to.
type SealUse struct {
	Seal   *ent.Seal
	Signer *certs.Signer
}

// SealSigner checks CanUseSeal and returns the seal with its certificate's
// hosted signer. A UKey certificate returns Conflict: it signs on the PC.
func (s *Service) SealSigner(ctx context.Context, userID, sealID int, sc Scope) (*SealUse, error) {
	sl, err := s.checkSealUse(ctx, userID, sealID, sc)
	if err != nil {
		return nil, err
	}
	signer, err := s.certs.SignerWith(ctx, *sl.CertificateID, sl.Edges.Certificate)
	if err != nil {
		return nil, err
	}
	return &SealUse{Seal: sl, Signer: signer}, nil
}

// UsableSeals lists the seals the viewer may sign with now (their personal
// seals, and in the active enterprise space the seals they administer or
// hold a grant for, without scope filtering) — what the stamping page
// offers.
func (s *Service) UsableSeals(ctx context.Context) ([]*ent.Seal, error) {
	sp, err := s.ActiveSpace(ctx)
	if err != nil {
		return nil, err
	}
	sys := viewer.System(ctx)
	if sp.Personal() {
		return s.db.Seal.Query().Where(entseal.UserID(sp.UserID), entseal.StatusEQ(entseal.StatusEnabled)).
			Order(ent.Desc(entseal.FieldIsDefault), ent.Asc(entseal.FieldID)).Select(sealListFields()...).All(sys)
	}
	q := s.db.Seal.Query().Where(entseal.EnterpriseID(sp.EnterpriseID), entseal.StatusEQ(entseal.StatusEnabled),
		entseal.HasCertificateWith(certificate.StatusIn(certificate.StatusActive, certificate.StatusPending)))
	if sp.Role != RoleAdmin {
		now := s.now()
		q.Where(entseal.IDIn(s.grantedSealIDs(ctx, sp, now)...))
	}
	return q.Order(ent.Asc(entseal.FieldID)).Select(sealListFields()...).All(sys)
}

func (s *Service) grantedSealIDs(ctx context.Context, sp Space, now time.Time) []int {
	ids, err := s.db.SealGrant.Query().Where(sealgrant.EnterpriseID(sp.EnterpriseID), sealgrant.UserID(sp.UserID),
		sealgrant.RevokedAtIsNil(), sealgrant.ValidFromLTE(now), sealgrant.ValidUntilGT(now)).
		Select(sealgrant.FieldSealID).Ints(viewer.System(ctx))
	if err != nil {
		s.log.ErrorContext(ctx, "granted seals", "err", err)
		return nil
	}
	return ids
}

// MyGrants lists the viewer's grants in the active enterprise space.
func (s *Service) MyGrants(ctx context.Context) ([]*ent.SealGrant, error) {
	sp, err := s.member(ctx)
	if err != nil {
		return nil, err
	}
	return s.db.SealGrant.Query().Where(sealgrant.EnterpriseID(sp.EnterpriseID), sealgrant.UserID(sp.UserID)).
		Order(ent.Desc(sealgrant.FieldID)).All(viewer.System(ctx))
}

// EncodeSealAppearances gives every seal stored without its appearance —
// before seals carried one (ent/schema Seal) — its appearance, a batch at
// a time, and returns how many it encoded. Signing with such a seal works
// without it, but decodes and compresses the image at each signature once
// more seals are in use than signingcore's cache holds. An image that is
// not a PNG stays without one. `signet migrate` runs it, and so does a
// development start.
func EncodeSealAppearances(ctx context.Context, db *ent.Client) (int, error) {
	sys := viewer.System(ctx)
	before, err := db.Seal.Query().Where(entseal.AppearanceIsNil()).Count(sys)
	if err != nil || before == 0 {
		return 0, err
	}
	for last := 0; ; {
		seals, err := db.Seal.Query().Where(entseal.AppearanceIsNil(), entseal.IDGT(last)).
			Order(ent.Asc(entseal.FieldID)).Limit(50).All(sys)
		if err != nil {
			return 0, err
		}
		if len(seals) == 0 {
			break
		}
		for _, sl := range seals {
			last = sl.ID
			// Setting the image again runs the Seal hook that encodes it.
			if err := db.Seal.Update().Where(entseal.ID(sl.ID), entseal.AppearanceIsNil()).SetImage(sl.Image).Exec(sys); err != nil {
				return 0, fmt.Errorf("seal %d: %w", sl.ID, err)
			}
		}
	}
	after, err := db.Seal.Query().Where(entseal.AppearanceIsNil()).Count(sys)
	if err != nil {
		return 0, err
	}
	return before - after, nil
}
