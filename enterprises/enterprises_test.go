package enterprises_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"signet/config"
	"signet/ent"
	"signet/ent/certificate"
	"signet/ent/certorder"
	"signet/ent/enterprise"
	entseal "signet/ent/seal"
	"signet/enterprises"
	. "signet/enterprises/enterprisestest"
	"signet/errs"
	"signet/internal/apitest"
	"signet/internal/dbtest"
	"signet/viewer"
)

func start(t *testing.T, b dbtest.Backend) *apitest.Server {
	t.Helper()
	return apitest.Start(t, b, apitest.Options{Configure: func(c *config.Config) { c.SandboxCAReviewDelay = time.Hour }})
}

func wantCode(t *testing.T, err error, code errs.Code, msg string) {
	t.Helper()
	if !errs.Is(err, code) {
		t.Fatalf("error %v, want %s", err, code)
	}
	if msg != "" && !strings.Contains(errs.MessageOf(err), msg) {
		t.Fatalf("message %q, want it to contain %q", errs.MessageOf(err), msg)
	}
}

// TestCertifyEachMethod certifies an enterprise end to end with each of the
// three methods and checks what approval leaves behind: 已认证, a hosted
// certificate for the enterprise's name and code, the three seals bound to
// it, the certifier as administrator and the result SMS.
func TestCertifyEachMethod(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		s := start(t, b)
		ctx, _ := User(t, s, "13800000001")
		for i, m := range []enterprises.Method{enterprises.MethodBankTransfer, enterprises.MethodLegalRepPhone, enterprises.MethodLegalRepBankCard} {
			name := []string{"杭州甲科技有限公司", "杭州乙科技有限公司", "杭州丙科技有限公司"}[i]
			rep := "1390000100" + string(rune('1'+i))
			o := Certify(t, s, ctx, Company{Name: name, Code: CreditCode(1000 + i), LegalRep: "张三", LegalRepPhone: rep, Method: m})
			if o.Step != certorder.StepApproved || o.PaidAt == nil || o.FeeCents != 9900 {
				t.Fatalf("%s: order %s paid %v fee %d", m, o.Step, o.PaidAt, o.FeeCents)
			}
			sys := viewer.System(context.Background())
			e := Must(s.App.DB.Client.Enterprise.Get(sys, o.EnterpriseID))(t)
			if e.Status != enterprise.StatusCertified || e.CertifiedAt == nil {
				t.Fatalf("%s: enterprise %s", m, e.Status)
			}
			certs := Must(s.App.DB.Client.Certificate.Query().Where(certificate.EnterpriseID(e.ID)).All(sys))(t)
			if len(certs) != 1 || certs[0].Status != certificate.StatusActive || certs[0].Custody != certificate.CustodyHosted {
				t.Fatalf("%s: certificates %+v", m, certs)
			}
			x := Must(x509.ParseCertificate(certs[0].Der))(t)
			if x.Subject.CommonName != name || !strings.Contains(string(x.RawSubject), "NTRCN-"+e.CreditCode) {
				t.Errorf("%s: subject %s", m, x.Subject)
			}
			seals := Must(s.App.DB.Client.Seal.Query().Where(entseal.EnterpriseID(e.ID)).All(sys))(t)
			kinds := map[entseal.Kind]bool{}
			for _, sl := range seals {
				kinds[sl.Kind] = true
				if sl.CertificateID == nil || *sl.CertificateID != certs[0].ID || len(sl.Image) < 1000 || sl.Status != entseal.StatusEnabled {
					t.Errorf("%s: seal %s not bound or empty", m, sl.Kind)
				}
			}
			if len(seals) != 3 || !kinds[entseal.KindOfficial] || !kinds[entseal.KindContract] || !kinds[entseal.KindLegalRep] {
				t.Errorf("%s: seals %v", m, kinds)
			}
			sp := Must(s.App.Enterprises.SwitchSpace(ctx, e.ID))(t)
			if sp.Role != enterprises.RoleAdmin {
				t.Errorf("%s: certifier role %s", m, sp.Role)
			}
			msgs := Outbox(t, s, "137"+rep[3:])
			if msgs[0].Template != "ent_cert_result" || !strings.Contains(msgs[0].Text, "已通过审核") {
				t.Errorf("%s: result SMS %+v", m, msgs[0])
			}
		}
		certified, _ := Must2(s.App.Enterprises.MyEnterprises(ctx, "乙科技"))(t)
		if len(certified) != 1 || certified[0].Enterprise.Name != "杭州乙科技有限公司" {
			t.Errorf("search by name: %+v", certified)
		}
		certified, _ = Must2(s.App.Enterprises.MyEnterprises(ctx, CreditCode(1002)))(t)
		if len(certified) != 1 || certified[0].Enterprise.Name != "杭州丙科技有限公司" {
			t.Errorf("search by code: %+v", certified)
		}
	})
}

// Must2 is Must for two results.
func Must2[A, B any](a A, b B, err error) func(testing.TB) (A, B) {
	return func(t testing.TB) (A, B) {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return a, b
	}
}

// TestCertificationRefusals: bad input, mismatches, the state machine's
// order, revoke/continue and no revoke once paid; CA rejection; UKey custody.
func TestCertificationRefusals(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		s := start(t, b)
		e := s.App.Enterprises
		ctx, _ := User(t, s, "13800000002")
		good := enterprises.CertifyInput{Name: "宁波测试贸易有限公司", CreditCode: CreditCode(2000), Address: "浙江省宁波市海曙区中山路1号",
			LegalRepName: "李四", LegalRepIDNumber: IDNumber("19750505", 33)}

		bad := good
		bad.CreditCode = good.CreditCode[:17] + "0"
		if bad.CreditCode == good.CreditCode {
			bad.CreditCode = good.CreditCode[:17] + "1"
		}
		_, err := e.StartCertification(ctx, bad)
		wantCode(t, err, errs.Invalid, "")
		if errs.As(err).Field != "creditCode" {
			t.Errorf("bad credit code field %q", errs.As(err).Field)
		}
		bad = good
		bad.LegalRepIDNumber = good.LegalRepIDNumber[:17] + map[bool]string{true: "1", false: "0"}[good.LegalRepIDNumber[17] == '0']
		_, err = e.StartCertification(ctx, bad)
		wantCode(t, err, errs.Invalid, "身份证号校验位不正确")
		bad = good
		bad.Custody = enterprises.CustodyUKey
		_, err = e.StartCertification(ctx, bad)
		wantCode(t, err, errs.Invalid, "UKey类型")
		_, err = e.StartCertification(context.Background(), good)
		wantCode(t, err, errs.Unauthenticated, "")

		o := Must(e.StartCertification(ctx, good))(t)
		_, err = e.StartCertification(ctx, good)
		wantCode(t, err, errs.Conflict, "继续认证")
		// Steps out of order.
		_, err = e.ConfirmOrder(ctx, o.ID, enterprises.ConfirmSecrets{})
		wantCode(t, err, errs.Conflict, "填写申请信息")
		// Another user cannot see or drive the order.
		other, _ := User(t, s, "13800000003")
		_, err = e.Order(other, o.ID)
		wantCode(t, err, errs.NotFound, "")
		if n := Must(s.App.DB.Client.CertOrder.Query().Count(other))(t); n != 0 {
			t.Errorf("privacy: another user sees %d orders", n)
		}
		if n := Must(s.App.DB.Client.Enterprise.Query().Count(other))(t); n != 0 {
			t.Errorf("privacy: another user sees %d enterprises", n)
		}

		app := enterprises.ApplicationInput{Method: enterprises.MethodLegalRepPhone, ApplicantName: "赵经办",
			ApplicantIDNumber: IDNumber("19920303", 44), ApplicantPhone: "13700002222", LegalRepPhone: "13900000000",
			AgreementAccepted: true}
		o = Must(e.SaveApplication(ctx, o.ID, app))(t)
		// The sandbox carrier does not know 13900000000 as 李四's.
		_, err = e.ConfirmOrder(ctx, o.ID, enterprises.ConfirmSecrets{})
		wantCode(t, err, errs.Invalid, "法定代表人手机实名认证未通过")
		o = Must(e.BackToEdit(ctx, o.ID))(t)
		if o.Step != certorder.StepApplication {
			t.Fatalf("back to edit: %s", o.Step)
		}
		app.LegalRepPhone = "13900002222"
		o = Must(e.SaveApplication(ctx, o.ID, app))(t)
		o = Must(e.ConfirmOrder(ctx, o.ID, enterprises.ConfirmSecrets{}))(t)
		_, err = e.VerifyAuthorization(ctx, o.ID, "000000", "")
		wantCode(t, err, errs.Invalid, "验证码错误")

		// Revoke, refuse steps while revoked, continue where it stopped.
		o = Must(e.RevokeCertification(ctx, o.ID))(t)
		ent1 := Must(s.App.DB.Client.Enterprise.Get(viewer.System(ctx), o.EnterpriseID))(t)
		if ent1.Status != enterprise.StatusRevoked || enterprises.StatusTitle(ent1.Status) != "已撤销" {
			t.Fatalf("revoked status %s", ent1.Status)
		}
		_, err = e.VerifyAuthorization(ctx, o.ID, LastCode(t, s, "13900002222"), "")
		wantCode(t, err, errs.Conflict, "继续认证")
		o = Must(e.ContinueCertification(ctx, o.ID))(t)
		if o.Step != certorder.StepAuthorization {
			t.Fatalf("continued at %s", o.Step)
		}
		o = Must(e.VerifyAuthorization(ctx, o.ID, LastCode(t, s, "13900002222"), ""))(t)

		// Uploads: type and size checks.
		_, err = e.UploadDocument(ctx, o.ID, enterprises.Upload{Kind: "business_license", FileName: "a.txt", Data: []byte("hello")})
		wantCode(t, err, errs.Invalid, "仅支持")
		_, err = e.UploadDocument(ctx, o.ID, enterprises.Upload{Kind: "business_license", FileName: "tiny.png", Data: PNG(50, 50)})
		wantCode(t, err, errs.Invalid, "图片太小")
		_, err = e.UploadDocument(ctx, o.ID, enterprises.Upload{Kind: "business_license", FileName: "big.png", Data: make([]byte, enterprises.MaxDocumentSize+1)})
		wantCode(t, err, errs.Invalid, "5MB")
		_, err = e.UploadDocument(ctx, o.ID, enterprises.Upload{Kind: "applicant_id_front", FileName: "id.pdf", Data: []byte("%PDF-1.4\n%%EOF\n")})
		wantCode(t, err, errs.Invalid, "JPG或PNG")
		_, err = e.SubmitDocuments(ctx, o.ID)
		wantCode(t, err, errs.Invalid, "请上传")
		for _, k := range enterprises.DocumentKinds {
			Must(e.UploadDocument(ctx, o.ID, enterprises.Upload{Kind: k.Kind, FileName: "x.png", Data: PNG(300, 400)}))(t)
		}
		letter := Must(e.AuthorizationLetter(ctx, o.ID))(t)
		if !strings.Contains(string(letter), "宁波测试贸易有限公司") || !strings.Contains(string(letter), "法人授权委托书") {
			t.Error("authorisation letter template lacks the enterprise")
		}
		o = Must(e.SubmitDocuments(ctx, o.ID))(t)
		Must(e.SendConfirmationCode(ctx, o.ID))(t)
		_, err = e.ConfirmApplication(ctx, o.ID, LastCode(t, s, "13700002222"), false)
		wantCode(t, err, errs.Invalid, "用户服务协议")
		o = Must(e.ConfirmApplication(ctx, o.ID, LastCode(t, s, "13700002222"), true))(t)
		if o.Step != certorder.StepPayment {
			t.Fatalf("after confirmation: %s", o.Step)
		}
		o = Must(e.Pay(ctx, o.ID, enterprises.ChannelWeChat))(t)
		if !strings.HasPrefix(o.PaymentTxnID, "SBX-WECHAT-") || o.PaymentQr == "" {
			t.Fatalf("payment %q %q", o.PaymentTxnID, o.PaymentQr)
		}
		if qr, err := enterprises.PaymentQR(o); err != nil || qr == nil || !strings.HasPrefix(*qr, "data:image/png;base64,") {
			t.Fatalf("payment QR: %v", err)
		}
		// A forged callback pays nothing: the provider still says pending.
		if err := e.PaymentCallback(viewer.System(ctx), o.PaymentTxnID); err != nil {
			t.Fatal(err)
		}
		if o = Must(e.Order(ctx, o.ID))(t); o.Step != certorder.StepPayment {
			t.Fatalf("unpaid callback moved the order to %s", o.Step)
		}
		Must(0, s.App.Sandboxes.Pay.Settle(ctx, o.PaymentTxnID, true))(t)
		o = Must(e.Order(ctx, o.ID))(t)
		if o.Step != certorder.StepReview || o.PaidAt == nil || o.CaOrderID == "" {
			t.Fatalf("after payment: %s %v %q", o.Step, o.PaidAt, o.CaOrderID)
		}
		_, err = e.RevokeCertification(ctx, o.ID)
		wantCode(t, err, errs.Conflict, "已支付")
		// Not approved before the CA's delay.
		s.Clock.Advance(30 * time.Minute)
		o = Must(e.Refresh(ctx, o.ID))(t)
		if o.Step != certorder.StepReview {
			t.Fatalf("approved early: %s", o.Step)
		}
		s.Clock.Advance(31 * time.Minute)
		o = Must(e.Refresh(ctx, o.ID))(t)
		if o.Step != certorder.StepApproved {
			t.Fatalf("not approved after the delay: %s", o.Step)
		}
		// Now certified: nobody certifies it again.
		other2, _ := User(t, s, "13800000004")
		_, err = e.StartCertification(other2, good)
		wantCode(t, err, errs.Conflict, "加入企业")
	})
}

// TestCARejectionAndUKey: the sandbox CA rejects a documented test name
// (the applicant is told by SMS and can continue), and UKey custody yields a
// pending custody record instead of a hosted key.
func TestCARejectionAndUKey(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		s := start(t, b)
		ctx, _ := User(t, s, "13800000005")
		o := Certify(t, s, ctx, Company{Name: "温州驳回测试有限公司", Code: CreditCode(3000), LegalRep: "钱五", LegalRepPhone: "13900003333"})
		if o.Step != certorder.StepRejected || !strings.Contains(o.RejectReason, "营业执照") {
			t.Fatalf("rejection: %s %q", o.Step, o.RejectReason)
		}
		if m := Outbox(t, s, "13700003333")[0]; !strings.Contains(m.Text, "未通过审核") {
			t.Errorf("rejection SMS %q", m.Text)
		}
		o = Must(s.App.Enterprises.ContinueCertification(ctx, o.ID))(t)
		if o.Step != certorder.StepApplication || o.PaidAt == nil {
			t.Errorf("continue after rejection: %s paid %v", o.Step, o.PaidAt)
		}

		o = Certify(t, s, ctx, Company{Name: "温州优盾有限公司", Code: CreditCode(3001), LegalRep: "孙六", LegalRepPhone: "13900004444",
			Custody: enterprises.CustodyUKey, Method: enterprises.MethodLegalRepBankCard})
		if o.Step != certorder.StepApproved || o.FeeCents != 29900 {
			t.Fatalf("ukey order %s fee %d", o.Step, o.FeeCents)
		}
		c := Must(s.App.DB.Client.Certificate.Query().Where(certificate.EnterpriseID(o.EnterpriseID)).Only(viewer.System(ctx)))(t)
		if c.Custody != certificate.CustodyUkey || c.Status != certificate.StatusPending || c.KeyURI != "" || c.UkeyType == nil {
			t.Errorf("ukey custody record %+v", c)
		}
	})
}

func mustSeal(t *testing.T, s *apitest.Server, enterpriseID int, kind entseal.Kind) *ent.Seal {
	t.Helper()
	return Must(s.App.DB.Client.Seal.Query().Where(entseal.EnterpriseID(enterpriseID), entseal.KindEQ(kind)).
		First(viewer.System(context.Background())))(t)
}

// TestJoinGrantSignAndOrganisation: join with approval, grant a seal and sign
// with it under the grant (and fail without it), the console refuses a plain
// member, removal revokes grants, and organisation changes void seals.
func TestJoinGrantSignAndOrganisation(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		s := start(t, b)
		e := s.App.Enterprises
		admin, _ := User(t, s, "13800000006")
		o := Certify(t, s, admin, Company{Name: "苏州签章有限公司", Code: CreditCode(4000), LegalRep: "周七", LegalRepPhone: "13900005555"})
		eid := o.EnterpriseID
		member, _ := User(t, s, "13800000007")

		// Join: the exact message for an uncertified or unknown enterprise.
		_, err := e.RequestJoin(member, "不存在的公司", "工作需要")
		wantCode(t, err, errs.Invalid, "")
		if errs.MessageOf(err) != "查询失败，请重新填写" {
			t.Fatalf("unknown enterprise message %q", errs.MessageOf(err))
		}
		pending, _ := User(t, s, "13800000008")
		Must(e.StartCertification(pending, enterprises.CertifyInput{Name: "未认证有限公司", CreditCode: CreditCode(4001),
			Address: "江苏省苏州市工业园区1号", LegalRepName: "吴八", LegalRepIDNumber: IDNumber("19700101", 1)}))(t)
		_, err = e.RequestJoin(member, "未认证有限公司", "工作需要")
		if errs.MessageOf(err) != "查询失败，请重新填写" {
			t.Fatalf("uncertified enterprise message %q", errs.MessageOf(err))
		}
		r := Must(e.RequestJoin(member, "苏州签章有限公司", "我是财务"))(t)
		_, err = e.RequestJoin(member, "苏州签章有限公司", "再来一次")
		wantCode(t, err, errs.Conflict, "等待")
		r = Must(e.RevokeJoin(member, r.ID))(t)
		r = Must(e.Rejoin(member, r.ID, ""))(t)
		_, joined := Must2(e.MyEnterprises(member, ""))(t)
		if len(joined) != 1 || joined[0].Request == nil || joined[0].Request.ID != r.ID || joined[0].EnterpriseName != "苏州签章有限公司" {
			t.Fatalf("joined list %+v", joined)
		}
		// The applicant cannot switch to the enterprise before approval.
		_, err = e.SwitchSpace(member, eid)
		wantCode(t, err, errs.Forbidden, "")
		// The administrator decides in the enterprise space.
		_, err = e.JoinRequests(admin, nil)
		wantCode(t, err, errs.Forbidden, "切换到企业空间")
		Must(e.SwitchSpace(admin, eid))(t)
		reqs := Must(e.JoinRequests(admin, nil))(t)
		if len(reqs) != 2 {
			t.Fatalf("join requests %d", len(reqs))
		}
		Must(e.DecideJoin(admin, r.ID, true, ""))(t)
		if m := Outbox(t, s, "13800000007")[0]; m.Template != "ent_join_result" || !strings.Contains(m.Text, "已通过") {
			t.Errorf("join SMS %+v", m)
		}
		sp := Must(e.SwitchSpace(member, eid))(t)
		if sp.Role != enterprises.RoleMember {
			t.Fatalf("member role %s", sp.Role)
		}

		// A plain member has no console.
		_, err = e.Seals(member)
		wantCode(t, err, errs.Forbidden, "管理员")
		_, err = e.Members(member)
		wantCode(t, err, errs.Forbidden, "")

		// Sign with the contract seal: refused without a grant, allowed with one
		// in scope, refused out of scope and after revocation.
		seal := mustSeal(t, s, eid, entseal.KindContract)
		v := viewer.FromContext(member)
		scope := enterprises.Scope{Scene: "general", Counterparties: []string{"上海甲方有限公司"}}
		wantCode(t, e.CanUseSeal(member, v.UserID, seal.ID, scope), errs.Forbidden, "授权")
		g := Must(e.GrantSeal(admin, enterprises.GrantInput{SealID: seal.ID, UserID: v.UserID,
			ValidFrom: s.Clock.Now().Add(-time.Minute), ValidUntil: s.Clock.Now().Add(24 * time.Hour),
			Scenes: []string{"general"}, Counterparties: []string{"上海甲方有限公司"}}))(t)
		use := Must(e.SealSigner(member, v.UserID, seal.ID, scope))(t)
		digest := sha256.Sum256([]byte("合同内容"))
		sig := Must(use.Signer.Key.Sign(rand.Reader, digest[:], crypto.SHA256))(t)
		if !ecdsa.VerifyASN1(use.Signer.Certificate.PublicKey.(*ecdsa.PublicKey), digest[:], sig) {
			t.Fatal("signature does not verify with the seal's certificate")
		}
		if use.Signer.Certificate.Subject.CommonName != "苏州签章有限公司" {
			t.Errorf("signer certificate %s", use.Signer.Certificate.Subject)
		}
		wantCode(t, e.CanUseSeal(member, v.UserID, seal.ID, enterprises.Scope{Scene: "hr", Counterparties: scope.Counterparties}), errs.Forbidden, "")
		wantCode(t, e.CanUseSeal(member, v.UserID, seal.ID, enterprises.Scope{Scene: "general", Counterparties: []string{"别的公司"}}), errs.Forbidden, "")
		wantCode(t, e.CanUseSeal(member, v.UserID, seal.ID, enterprises.Scope{Scene: "general", Counterparties: scope.Counterparties, At: s.Clock.Now().Add(48 * time.Hour)}), errs.Forbidden, "")
		if len(Must(e.UsableSeals(member))(t)) != 1 {
			t.Error("the member's usable seals should be the granted one")
		}
		// The administrator may use every seal without a grant.
		av := viewer.FromContext(admin)
		if err := e.CanUseSeal(admin, av.UserID, mustSeal(t, s, eid, entseal.KindOfficial).ID, enterprises.Scope{}); err != nil {
			t.Errorf("administrator: %v", err)
		}
		// A disabled seal cannot sign, even for the administrator.
		Must(e.SetSealStatus(admin, seal.ID, enterprises.SealDisabled))(t)
		wantCode(t, e.CanUseSeal(admin, av.UserID, seal.ID, enterprises.Scope{}), errs.Forbidden, "停用")
		Must(e.SetSealStatus(admin, seal.ID, enterprises.SealEnabled))(t)
		Must(e.RevokeGrant(admin, g.ID))(t)
		wantCode(t, e.CanUseSeal(member, v.UserID, seal.ID, scope), errs.Forbidden, "授权")

		// Removing a member revokes their grants and leaves their space.
		g = Must(e.GrantSeal(admin, enterprises.GrantInput{SealID: seal.ID, UserID: v.UserID,
			ValidFrom: s.Clock.Now(), ValidUntil: s.Clock.Now().Add(time.Hour)}))(t)
		ms := Must(e.Members(admin))(t)
		var memberID int
		for _, m := range ms {
			if m.UserID == v.UserID {
				memberID = m.ID
			}
		}
		Must(0, e.RemoveMember(admin, memberID))(t)
		g = Must(s.App.DB.Client.SealGrant.Get(viewer.System(admin), g.ID))(t)
		if g.RevokedAt == nil {
			t.Error("removal did not revoke the grant")
		}
		if sp := Must(e.ActiveSpace(member))(t); !sp.Personal() {
			t.Error("a removed member still works in the enterprise space")
		}
		wantCode(t, e.CanUseSeal(member, v.UserID, seal.ID, enterprises.Scope{}), errs.NotFound, "")
		// The last administrator stays.
		ms = Must(e.Members(admin))(t)
		wantCode(t, e.RemoveMember(admin, ms[0].ID), errs.Conflict, "至少")

		// Changing the legal representative voids only the 法定代表人章.
		newRep := "郑九"
		res := Must(e.UpdateOrganization(admin, enterprises.OrgChange{LegalRepName: &newRep}))(t)
		if res.VoidedSeals != 1 || res.Enterprise.LegalRepName != "郑九" {
			t.Fatalf("legal rep change: %+v", res)
		}
		if st := mustSeal(t, s, eid, entseal.KindLegalRep); st.Status != entseal.StatusVoided || st.VoidedReason != "法定代表人变更" {
			t.Errorf("legal rep seal %s %q", st.Status, st.VoidedReason)
		}
		if st := mustSeal(t, s, eid, entseal.KindOfficial); st.Status != entseal.StatusEnabled {
			t.Errorf("official seal %s after a legal rep change", st.Status)
		}
		// A new 法定代表人章 is drawn from the new name.
		nl := Must(e.CreateSeal(admin, enterprises.SealInput{Kind: entseal.KindLegalRep}))(t)
		if nl.Status != entseal.StatusEnabled || nl.CertificateID == nil {
			t.Errorf("new legal rep seal %+v", nl)
		}
		// Changing the name voids every seal and revokes the certificate (on the CRL).
		newName := "苏州新签章有限公司"
		res = Must(e.UpdateOrganization(admin, enterprises.OrgChange{Name: &newName}))(t)
		if res.VoidedSeals != 3 || res.RevokedCertificates != 1 {
			t.Fatalf("name change: %+v", res)
		}
		cs := Must(e.Certificates(admin))(t)
		if cs[0].Status != certificate.StatusRevoked {
			t.Fatalf("certificate %s after a name change", cs[0].Status)
		}
		crl := Must(s.App.Trust.CA.CRL(context.Background()))(t)
		rl := Must(x509.ParseRevocationList(crl))(t)
		found := false
		for _, rc := range rl.RevokedCertificateEntries {
			if strings.EqualFold(rc.SerialNumber.Text(16), cs[0].Serial) {
				found = true
			}
		}
		if !found {
			t.Error("the revoked certificate is not on the CRL")
		}
		_, err = e.CreateSeal(admin, enterprises.SealInput{Kind: entseal.KindOfficial})
		wantCode(t, err, errs.Conflict, "重新认证")
	})
}
