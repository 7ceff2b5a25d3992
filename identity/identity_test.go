package identity_test

import (
	"context"
	"crypto/x509"
	"net/http"
	"strings"
	"testing"

	"signet/ent/certificate"
	"signet/ent/identityverification"
	entseal "signet/ent/seal"
	. "signet/enterprises/enterprisestest"
	"signet/errs"
	"signet/identity"
	"signet/internal/apitest"
	"signet/internal/dbtest"
	"signet/viewer"
)

func TestCheckIDNumber(t *testing.T) {
	good := IDNumber("19900307", 123)
	for _, tc := range []struct {
		in, want string
	}{
		{good, ""},
		{strings.ToLower(IDNumber("19900307", 10)), ""},
		{good[:17], "18位"},
		{good[:17] + "Y", "格式"},
		{good[:17] + string("0123456789X"[(strings.IndexByte("0123456789X", good[17])+1)%11]), "校验位"},
		{"11010119901332001" + "X", "出生日期"},
		{"1101011990030712A3", "格式"},
	} {
		_, err := identity.CheckIDNumber("idNumber", tc.in)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.in, err)
			}
			continue
		}
		if !errs.Is(err, errs.Invalid) || !strings.Contains(errs.MessageOf(err), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.in, err, tc.want)
		}
	}
	if got := identity.MaskIDNumber(good); got != good[:4]+"**********"+good[14:] {
		t.Errorf("mask %s", got)
	}
	if _, err := identity.CheckBankCard("card", BankCard("622202")); err != nil {
		t.Error(err)
	}
	if _, err := identity.CheckBankCard("card", "6222021234567890123"); !errs.Is(err, errs.Invalid) {
		t.Error("a card with a bad Luhn digit was accepted")
	}
}

// TestRealNameVerification takes new users through each method on both
// databases: the notice flag, refusals (bad ID, mismatches, outage), and on
// success a hosted certificate without the ID number, a default name seal
// and the verified name.
func TestRealNameVerification(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		s := apitest.Start(t, b, apitest.Options{})
		idv := s.App.Identity
		id := IDNumber("19880808", 321)

		// Through the API: me says not verified.
		ctx, token := User(t, s, "13800001001")
		var me struct {
			Me struct{ RealNameVerified bool }
		}
		s.MustDo(token, `{ me { realNameVerified } }`, nil, &me)
		if me.Me.RealNameVerified {
			t.Fatal("a new user is verified")
		}
		_, err := idv.Start(ctx, identity.Details{Name: "王小明", IDNumber: id[:17] + "0", Phone: "13800001001"})
		if id[17] != '0' && !errs.Is(err, errs.Invalid) {
			t.Fatalf("bad ID number accepted: %v", err)
		}
		_, err = idv.Start(ctx, identity.Details{Name: "王小明", IDNumber: id, Phone: "13800001001", Email: "not-an-email"})
		if !errs.Is(err, errs.Invalid) || errs.As(err).Field != "email" {
			t.Fatalf("bad email: %v", err)
		}

		// Carrier three elements: a mismatch first (phone not registered to him).
		v := Must(idv.Start(ctx, identity.Details{Name: "王小明", IDNumber: id, Phone: "13800000000", Email: "wang@example.com"}))(t)
		_, err = idv.VerifyCarrier(ctx, v.ID)
		if !errs.Is(err, errs.Invalid) || !strings.Contains(errs.MessageOf(err), "手机号不是本人") {
			t.Fatalf("mismatch: %v", err)
		}
		_, err = idv.VerifyCarrier(ctx, v.ID)
		if !errs.Is(err, errs.Conflict) {
			t.Fatalf("a failed verification was retried: %v", err)
		}
		v = Must(idv.Start(ctx, identity.Details{Name: "王小明", IDNumber: id, Phone: "13800001001"}))(t)
		// Another user cannot use this verification.
		other, _ := User(t, s, "13800001002")
		if _, err := idv.VerifyCarrier(other, v.ID); !errs.Is(err, errs.NotFound) {
			t.Fatalf("another user's verification: %v", err)
		}
		if n := Must(s.App.DB.Client.IdentityVerification.Query().Count(other))(t); n != 0 {
			t.Fatalf("privacy: another user sees %d verifications", n)
		}
		v = Must(idv.VerifyCarrier(ctx, v.ID))(t)
		if v.Status != identityverification.StatusVerified || !strings.HasPrefix(v.ProviderTxnID, "SBX-3E-") || v.VerifiedAt == nil {
			t.Fatalf("verified row %+v", v)
		}
		s.MustDo(token, `{ me { realNameVerified } }`, nil, &me)
		if !me.Me.RealNameVerified {
			t.Fatal("me does not say verified")
		}
		uid := viewer.FromContext(ctx).UserID
		checkIssued(t, s, uid, "王小明", id)
		if _, err := idv.Start(ctx, identity.Details{Name: "王小明", IDNumber: id, Phone: "13800001001"}); !errs.Is(err, errs.Conflict) {
			t.Errorf("verified twice: %v", err)
		}

		// Bank card four elements: a card of someone else, then a good one; only the masked number is kept.
		ctx2, _ := User(t, s, "13800001003")
		id2 := IDNumber("19950101", 7)
		v = Must(idv.Start(ctx2, identity.Details{Name: "李小红", IDNumber: id2, Phone: "13800001003"}))(t)
		if _, err := idv.VerifyBankCard(ctx2, v.ID, BankCard("621700")); !strings.Contains(errs.MessageOf(err), "银行卡与身份信息不一致") {
			t.Fatalf("card mismatch: %v", err)
		}
		v = Must(idv.Start(ctx2, identity.Details{Name: "李小红", IDNumber: id2, Phone: "13800001003"}))(t)
		card := BankCard("622202")
		v = Must(idv.VerifyBankCard(ctx2, v.ID, card))(t)
		if v.Status != identityverification.StatusVerified || v.BankCardMasked != strings.Repeat("*", 15)+card[15:] {
			t.Fatalf("bank card row %+v", v)
		}
		checkIssued(t, s, viewer.FromContext(ctx2).UserID, "李小红", id2)

		// Outage: an error the user can retry, nothing concluded.
		ctx3, _ := User(t, s, "13800001004")
		v = Must(idv.Start(ctx3, identity.Details{Name: "故障测试", IDNumber: IDNumber("19700101", 9), Phone: "13800001004"}))(t)
		if _, err := idv.VerifyCarrier(ctx3, v.ID); !errs.Is(err, errs.Internal) {
			t.Fatalf("outage: %v", err)
		}
		v = Must(s.App.DB.Client.IdentityVerification.Get(viewer.System(ctx3), v.ID))(t)
		if v.Status != identityverification.StatusCollected {
			t.Fatalf("outage concluded the verification: %s", v.Status)
		}

		// Face: the provider page, the callback, a failure and a pass.
		ctx4, _ := User(t, s, "13800001005")
		id4 := IDNumber("19850505", 55)
		v = Must(idv.Start(ctx4, identity.Details{Name: "赵大海", IDNumber: id4, Phone: "13800001005"}))(t)
		v = Must(idv.StartFace(ctx4, v.ID, "/healthz"))(t)
		if v.Status != identityverification.StatusPending || !strings.Contains(v.FaceRedirectURL, "/sandbox/face/") {
			t.Fatalf("face session %+v", v)
		}
		if v2 := Must(idv.CompleteFace(ctx4, v.ID))(t); v2.Status != identityverification.StatusPending {
			t.Fatalf("face concluded before the user did anything: %s", v2.Status)
		}
		// The user fails the liveness check on the provider page (served by this server in development).
		path := v.FaceRedirectURL[strings.Index(v.FaceRedirectURL, "/sandbox/"):]
		if code, _ := s.Get(path); code != http.StatusOK {
			t.Fatalf("face page %d", code)
		}
		if code, _ := s.Get(path + "/complete?outcome=fail"); code != http.StatusOK && code != http.StatusSeeOther {
			t.Fatalf("complete %d", code)
		}
		v = Must(s.App.DB.Client.IdentityVerification.Get(viewer.System(ctx4), v.ID))(t)
		if v.Status != identityverification.StatusFailed || v.FailureReason != "活体检测未通过" {
			t.Fatalf("after a failed liveness check: %s %q", v.Status, v.FailureReason)
		}
		v = Must(idv.Start(ctx4, identity.Details{Name: "赵大海", IDNumber: id4, Phone: "13800001005"}))(t)
		v = Must(idv.StartFace(ctx4, v.ID, ""))(t)
		if _, err := s.App.Sandboxes.Identity.Complete(ctx4, v.ProviderTxnID, true); err != nil {
			t.Fatal(err)
		}
		v = Must(idv.CompleteFace(ctx4, v.ID))(t)
		if v.Status != identityverification.StatusVerified || *v.Method != identityverification.MethodFace {
			t.Fatalf("face pass: %+v", v)
		}
		checkIssued(t, s, viewer.FromContext(ctx4).UserID, "赵大海", id4)
		signer := Must(idv.PersonSigner(ctx4, viewer.FromContext(ctx4).UserID))(t)
		if signer.Certificate.Subject.CommonName != "赵大海" {
			t.Errorf("person signer %s", signer.Certificate.Subject)
		}
	})
}

// checkIssued checks the certificate and seal of a verified user.
func checkIssued(t *testing.T, s *apitest.Server, userID int, name, idNumber string) {
	t.Helper()
	sys := viewer.System(context.Background())
	c := Must(s.App.DB.Client.Certificate.Query().Where(certificate.UserID(userID)).Only(sys))(t)
	if c.Status != certificate.StatusActive || c.Custody != certificate.CustodyHosted || c.KeyURI == "" {
		t.Fatalf("certificate %+v", c)
	}
	x := Must(x509.ParseCertificate(c.Der))(t)
	if x.Subject.CommonName != name {
		t.Errorf("certificate CN %q", x.Subject.CommonName)
	}
	if strings.Contains(string(c.Der), idNumber) || strings.Contains(x.Subject.String(), idNumber) {
		t.Error("the certificate carries the raw ID number")
	}
	if !strings.HasPrefix(x.Subject.SerialNumber, "ID-") {
		t.Errorf("subject serialNumber %q, want a pseudonymous id", x.Subject.SerialNumber)
	}
	if _, err := s.App.Trust.Keys.Find(context.Background(), c.KeyURI); err != nil {
		t.Errorf("hosted key: %v", err)
	}
	sl := Must(s.App.DB.Client.Seal.Query().Where(entseal.UserID(userID)).Only(sys))(t)
	if sl.Kind != entseal.KindPersonal || !sl.IsDefault || sl.CertificateID == nil || *sl.CertificateID != c.ID || len(sl.Image) < 500 {
		t.Errorf("personal seal %+v", sl.Kind)
	}
	u := Must(s.App.DB.Client.User.Get(sys, userID))(t)
	if u.Name != name {
		t.Errorf("user name %q", u.Name)
	}
}
