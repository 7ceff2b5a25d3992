package enterprises_test

import (
	"context"
	"testing"
	"time"

	"signet/ent/certificate"
	entseal "signet/ent/seal"
	"signet/enterprises"
	. "signet/enterprises/enterprisestest"
	"signet/errs"
	"signet/internal/apitest"
	"signet/internal/dbtest"
	"signet/viewer"
)

// recheck runs RecheckSeals in a transaction of its own, rolled back, at at.
func recheck(t *testing.T, s *apitest.Server, at time.Time, checks ...enterprises.SealCheck) []error {
	t.Helper()
	ctx := viewer.System(context.Background())
	tx := Must(s.App.DB.Client.Tx(ctx))(t)
	defer tx.Rollback()
	out := Must(s.App.Enterprises.RecheckSeals(ctx, tx, at, checks))(t)
	if len(out) != len(checks) {
		t.Fatalf("%d answers for %d checks", len(out), len(checks))
	}
	return out
}

// TestRecheckSeals: what the commit of a signature checks again, from the
// rows, in one statement for all its checks — the same rules as
// CanUseSeal, plus the certificate that signed — and each refusal on its
// own: the seal disabled or voided, the grant revoked, out of scope or
// ended, the member removed, the certificate revoked, expired or replaced.
func TestRecheckSeals(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		s := start(t, b)
		e := s.App.Enterprises
		sys := viewer.System(context.Background())
		admin, _ := User(t, s, "13800000021")
		eid := Certify(t, s, admin, Company{Name: "杭州复核有限公司", Code: CreditCode(4100), LegalRep: "钱一", LegalRepPhone: "13900006666"}).EnterpriseID
		member, _ := User(t, s, "13800000022")
		outsider, _ := User(t, s, "13800000023")
		Must(e.SwitchSpace(admin, eid))(t)
		ms := Must(e.AddMember(admin, "13800000022", enterprises.RoleMember, "财务"))(t)
		av, mv, ov := viewer.FromContext(admin), viewer.FromContext(member), viewer.FromContext(outsider)

		official, contract := mustSeal(t, s, eid, entseal.KindOfficial), mustSeal(t, s, eid, entseal.KindContract)
		cert := Must(s.App.DB.Client.Certificate.Get(sys, *official.CertificateID))(t)
		scope := enterprises.Scope{Scene: "general", Counterparties: []string{"上海甲方有限公司"}}
		now := s.Clock.Now()
		g := Must(e.GrantSeal(admin, enterprises.GrantInput{SealID: contract.ID, UserID: mv.UserID,
			ValidFrom: now.Add(-time.Minute), ValidUntil: now.Add(24 * time.Hour),
			Scenes: []string{"general"}, Counterparties: scope.Counterparties}))(t)

		byAdmin := enterprises.SealCheck{UserID: av.UserID, SealID: official.ID, CertificateID: cert.ID, Scope: scope}
		byMember := enterprises.SealCheck{UserID: mv.UserID, SealID: contract.ID, CertificateID: *contract.CertificateID, Scope: scope}
		want := func(t *testing.T, err error, code errs.Code, msg string) {
			t.Helper()
			if code == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantCode(t, err, code, msg)
		}
		// checks answers each check in order at time at.
		checks := func(t *testing.T, at time.Time, cs []enterprises.SealCheck, wants ...struct {
			code errs.Code
			msg  string
		}) {
			t.Helper()
			got := recheck(t, s, at, cs...)
			for i, w := range wants {
				want(t, got[i], w.code, w.msg)
			}
		}
		type w = struct {
			code errs.Code
			msg  string
		}
		ok := w{}

		// As CanUseSeal: the administrator without a grant, the member
		// under the grant, the grant's scope and period, and an outsider.
		outOfScene, otherParty := byMember, byMember
		outOfScene.Scope = enterprises.Scope{Scene: "hr", Counterparties: scope.Counterparties}
		otherParty.Scope = enterprises.Scope{Scene: "general", Counterparties: []string{"别的公司"}}
		byOutsider := enterprises.SealCheck{UserID: ov.UserID, SealID: contract.ID, CertificateID: *contract.CertificateID, Scope: scope}
		missing := enterprises.SealCheck{UserID: av.UserID, SealID: contract.ID + 1000, Scope: scope}
		checks(t, now, []enterprises.SealCheck{byAdmin, byMember, outOfScene, otherParty, byOutsider, missing},
			ok, ok, w{errs.Forbidden, "授权"}, w{errs.Forbidden, "授权"}, w{errs.NotFound, "印章不存在"}, w{errs.NotFound, "印章不存在"})
		checks(t, now.Add(25*time.Hour), []enterprises.SealCheck{byAdmin, byMember}, ok, w{errs.Forbidden, "授权"})
		// The certificate that signed must still be the seal's, and able
		// to sign; 0 (the signer's bound UKey signed) leaves it aside.
		moved, unchecked := byAdmin, byAdmin
		moved.CertificateID = cert.ID + 1000
		unchecked.CertificateID = 0
		checks(t, now, []enterprises.SealCheck{moved, unchecked}, w{errs.Conflict, "证书已更换"}, ok)
		checks(t, *cert.NotAfter, []enterprises.SealCheck{byAdmin, unchecked}, w{errs.Conflict, "证书已过期"}, ok)

		// A disabled seal, for everyone; enabled again, usable again.
		Must(e.SetSealStatus(admin, contract.ID, enterprises.SealDisabled))(t)
		checks(t, now, []enterprises.SealCheck{byAdmin, byMember}, ok, w{errs.Forbidden, "停用"})
		Must(e.SetSealStatus(admin, contract.ID, enterprises.SealEnabled))(t)
		checks(t, now, []enterprises.SealCheck{byMember}, ok)
		// The grant revoked: the member is refused, the administrator not.
		Must(e.RevokeGrant(admin, g.ID))(t)
		asAdmin := byMember
		asAdmin.UserID = av.UserID
		checks(t, now, []enterprises.SealCheck{byMember, asAdmin}, w{errs.Forbidden, "授权"}, ok)
		// A new grant, then the member removed.
		Must(e.GrantSeal(admin, enterprises.GrantInput{SealID: contract.ID, UserID: mv.UserID,
			ValidFrom: now.Add(-time.Minute), ValidUntil: now.Add(time.Hour)}))(t)
		checks(t, now, []enterprises.SealCheck{byMember}, ok)
		Must(0, e.RemoveMember(admin, ms.ID))(t)
		checks(t, now, []enterprises.SealCheck{byMember}, w{errs.NotFound, "印章不存在"})
		// The certificate revoked: what it signed is refused, the seal
		// itself is still enabled.
		Must(s.App.DB.Client.Certificate.UpdateOneID(cert.ID).SetStatus(certificate.StatusRevoked).Save(sys))(t)
		checks(t, now, []enterprises.SealCheck{byAdmin, unchecked}, w{errs.Conflict, "证书已失效"}, ok)
		// A voided seal.
		Must(e.VoidSeal(admin, official.ID, "测试作废"))(t)
		checks(t, now, []enterprises.SealCheck{unchecked}, w{errs.Forbidden, "作废"})
	})
}
