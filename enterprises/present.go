package enterprises

import (
	"context"
	"encoding/base64"

	qrcode "github.com/skip2/go-qrcode"

	"signet/accounts"
	"signet/ent"
	"signet/ent/certorder"
	"signet/ent/enterprise"
	"signet/viewer"
)

// This file holds what the API shows about rows the viewer already holds:
// names of the other party of a join request, grant or membership, which the
// privacy rules would otherwise hide (a user row is visible only to itself).

// StatusTitle names an enterprise status as 我认证的企业 shows it.
func StatusTitle(st enterprise.Status) string {
	switch st {
	case enterprise.StatusCertifying:
		return "认证中"
	case enterprise.StatusCertified:
		return "已认证"
	case enterprise.StatusRevoked:
		return "已撤销"
	case enterprise.StatusRejected:
		return "审核未通过"
	}
	return string(st)
}

// CanRevoke reports whether the order's certification may be revoked now:
// the enterprise is 认证中 and the order is neither paid nor under review.
func (s *Service) CanRevoke(ctx context.Context, o *ent.CertOrder) (bool, error) {
	if o.PaidAt != nil || o.RevokedAt != nil {
		return false, nil
	}
	switch o.Step {
	case certorder.StepReview, certorder.StepApproved, certorder.StepRejected:
		return false, nil
	}
	if o.Kind == certorder.KindRecertification {
		return true, nil
	}
	e, err := s.db.Enterprise.Get(viewer.System(ctx), o.EnterpriseID)
	if err != nil {
		return false, err
	}
	return e.Status == enterprise.StatusCertifying, nil
}

// PaymentQR returns the order's payment QR code as a PNG data URL, or nil
// when no payment is open.
func PaymentQR(o *ent.CertOrder) (*string, error) {
	if o.PaymentQr == "" || o.Step != certorder.StepPayment {
		return nil, nil
	}
	png, err := qrcode.Encode(o.PaymentQr, qrcode.Medium, 256)
	if err != nil {
		return nil, err
	}
	u := "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)
	return &u, nil
}

// EnterpriseName returns the name of an enterprise the viewer holds a row
// of (a join request), which the privacy rules hide before they join.
func (s *Service) EnterpriseName(ctx context.Context, enterpriseID int) (string, error) {
	e, err := s.db.Enterprise.Get(viewer.System(ctx), enterpriseID)
	if err != nil {
		return "", err
	}
	return e.Name, nil
}

// Person is how the console shows another user: the verified (or display)
// name and the masked phone.
type Person struct {
	Name        *string
	MaskedPhone string
}

// PersonOf returns how the console shows the user of a row the viewer
// holds (a member, a join applicant, a grantee).
func (s *Service) PersonOf(ctx context.Context, userID int) (Person, error) {
	u, err := s.db.User.Get(viewer.System(ctx), userID)
	if err != nil {
		return Person{}, err
	}
	var name *string
	if u.Name != "" {
		name = &u.Name
	}
	return Person{Name: name, MaskedPhone: accounts.MaskPhone(u.Phone)}, nil
}

// SealName returns the name of a seal the viewer holds a grant of.
func (s *Service) SealName(ctx context.Context, sealID int) (string, error) {
	sl, err := s.db.Seal.Get(viewer.System(ctx), sealID)
	if err != nil {
		return "", err
	}
	return sl.Name, nil
}

// SpaceView is a space with its enterprise (nil in the personal space).
type SpaceView struct {
	Space
	Enterprise *ent.Enterprise
}

// ActiveSpaceView is ActiveSpace with the enterprise loaded.
func (s *Service) ActiveSpaceView(ctx context.Context) (SpaceView, error) {
	sp, err := s.ActiveSpace(ctx)
	if err != nil {
		return SpaceView{}, err
	}
	return s.view(ctx, sp)
}

// SwitchSpaceView is SwitchSpace with the enterprise loaded.
func (s *Service) SwitchSpaceView(ctx context.Context, enterpriseID int) (SpaceView, error) {
	sp, err := s.SwitchSpace(ctx, enterpriseID)
	if err != nil {
		return SpaceView{}, err
	}
	return s.view(ctx, sp)
}

func (s *Service) view(ctx context.Context, sp Space) (SpaceView, error) {
	if sp.Personal() {
		return SpaceView{Space: sp}, nil
	}
	e, err := s.db.Enterprise.Get(viewer.System(ctx), sp.EnterpriseID)
	if err != nil {
		return SpaceView{}, err
	}
	return SpaceView{Space: sp, Enterprise: e}, nil
}
