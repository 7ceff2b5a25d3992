package enterprises

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"

	"signet/accounts"
	"signet/audit"
	"signet/ent"
	"signet/ent/certificate"
	"signet/ent/certorder"
	"signet/ent/enterprise"
	"signet/ent/membership"
	entseal "signet/ent/seal"
	"signet/errs"
	"signet/identity"
	"signet/jobs"
	"signet/signingcore/pki"
	"signet/signingcore/seal"
	"signet/sms"
	"signet/viewer"
)

// Code purposes of certification.
const (
	PurposeAuthorization accounts.Purpose = "ent_authorization" // to the legal representative
	PurposeApplyConfirm  accounts.Purpose = "ent_apply_confirm" // to the applicant
)

// Custody is where an enterprise certificate's key lives.
type Custody string

// Custodies.
const (
	CustodyHosted Custody = "hosted"
	CustodyUKey   Custody = "ukey"
)

// Method is how the legal person's will is proven in the paperless
// application.
type Method string

// Methods (证书无纸化申请的三种认证方式).
const (
	MethodBankTransfer     Method = "bank_transfer"       // 企业对公打款认证
	MethodLegalRepPhone    Method = "legal_rep_phone"     // 法定代表人手机实名认证
	MethodLegalRepBankCard Method = "legal_rep_bank_card" // 法定代表人银行卡信息认证
)

// CertifyInput is the 认证企业 form (ENT-1).
type CertifyInput struct {
	Name             string
	CreditCode       string
	Address          string
	LegalRepName     string
	LegalRepIDNumber string
	Custody          Custody
	// UKeyType is required for UKey custody: one_key_one_seal or
	// one_key_many_seals.
	UKeyType string
}

// StartCertification creates an enterprise in 认证中 with its certificate
// application at the first step. It refuses a bad credit code or ID number
// (Invalid, naming the field), names no seal could carry, an enterprise that
// is already certified, and a second application of the same user for the
// same enterprise (Conflict: continue the existing one instead).
func (s *Service) StartCertification(ctx context.Context, in CertifyInput) (*ent.CertOrder, error) {
	uid, err := s.userID(ctx)
	if err != nil {
		return nil, err
	}
	e, err := s.checkEnterprise(in.Name, in.CreditCode, in.Address, in.LegalRepName, in.LegalRepIDNumber)
	if err != nil {
		return nil, err
	}
	custody := in.Custody
	if custody == "" {
		custody = CustodyHosted
	}
	var ukey *enterprise.UkeyType
	switch custody {
	case CustodyHosted:
	case CustodyUKey:
		t := enterprise.UkeyType(in.UKeyType)
		if enterprise.UkeyTypeValidator(t) != nil {
			return nil, errs.InvalidField("ukeyType", "请选择UKey类型：一key一章或一key多章")
		}
		ukey = &t
	default:
		return nil, errs.InvalidField("custody", "请选择证书方式：托管或UKey")
	}
	sys := viewer.System(ctx)
	certified, err := s.db.Enterprise.Query().
		Where(enterprise.CreditCode(e.CreditCode), enterprise.StatusEQ(enterprise.StatusCertified)).Exist(sys)
	if err != nil {
		return nil, fmt.Errorf("start certification: %w", err)
	}
	if certified {
		return nil, errs.New(errs.Conflict, "该企业已完成认证，请通过【加入企业】申请加入")
	}
	mine, err := s.db.Enterprise.Query().
		Where(enterprise.CreditCode(e.CreditCode), enterprise.CertifierID(uid)).Exist(sys)
	if err != nil {
		return nil, fmt.Errorf("start certification: %w", err)
	}
	if mine {
		return nil, errs.New(errs.Conflict, "您已提交过该企业的认证申请，请在“我认证的企业”中继续认证")
	}
	fee := s.fees.HostedCents
	if custody == CustodyUKey {
		fee = s.fees.UKeyCents
	}
	var order *ent.CertOrder
	err = s.withTx(ctx, func(tx *ent.Tx, _ jobs.JobTx) error {
		en, err := tx.Enterprise.Create().SetName(e.Name).SetCreditCode(e.CreditCode).SetAddress(e.Address).
			SetLegalRepName(e.LegalRepName).SetLegalRepIDNumber(e.LegalRepIDNumber).
			SetLegalRepIDMasked(identity.MaskIDNumber(e.LegalRepIDNumber)).
			SetCustody(enterprise.Custody(custody)).SetNillableUkeyType(ukey).SetCertifierID(uid).Save(sys)
		if err != nil {
			return err
		}
		order, err = tx.CertOrder.Create().SetEnterpriseID(en.ID).SetApplicantID(uid).SetFeeCents(fee).Save(sys)
		if err != nil {
			return err
		}
		return s.record(ctx, tx, fact{Enterprise: en.ID, Action: audit.CertificationStarted, Subject: subjectOrder(order.ID),
			Payload: map[string]any{"name": en.Name, "credit_code": en.CreditCode, "custody": custody, "fee_cents": fee},
			Users:   []int{uid}})
	})
	if err != nil {
		return nil, fmt.Errorf("start certification: %w", err)
	}
	// The row above belongs to the committed transaction: read it again so
	// callers can load its edges.
	return s.db.CertOrder.Get(viewer.System(ctx), order.ID)
}

// enterpriseDetails are the checked organisation fields.
type enterpriseDetails struct {
	Name, CreditCode, Address, LegalRepName, LegalRepIDNumber string
}

// checkEnterprise validates the organisation fields, including that the
// seals can be drawn from the names.
func (s *Service) checkEnterprise(name, code, address, repName, repID string) (enterpriseDetails, error) {
	var d enterpriseDetails
	d.Name = strings.TrimSpace(name)
	if n := len([]rune(d.Name)); n < 2 || n > seal.MaxOfficialName {
		return d, errs.InvalidField("name", fmt.Sprintf("企业名称应为2至%d个字，与营业执照一致", seal.MaxOfficialName))
	}
	cc, err := pki.CheckCreditCode(strings.TrimSpace(code))
	if err != nil {
		if e := errs.As(err); e != nil {
			return d, errs.InvalidField("creditCode", e.Message)
		}
		return d, err
	}
	d.CreditCode = cc
	d.Address = strings.TrimSpace(address)
	if n := len([]rune(d.Address)); n < 5 || n > 256 {
		return d, errs.InvalidField("address", "请填写企业地址")
	}
	if d.LegalRepName, err = identity.CheckName("legalRepName", repName); err != nil {
		return d, err
	}
	if len([]rune(d.LegalRepName)) > seal.MaxLegalRepName {
		return d, errs.InvalidField("legalRepName", fmt.Sprintf("法定代表人姓名最多%d个字", seal.MaxLegalRepName))
	}
	if d.LegalRepIDNumber, err = identity.CheckIDNumber("legalRepIdNumber", repID); err != nil {
		return d, err
	}
	// A name the seal font cannot draw is refused now, not at approval.
	if _, err := s.seals.Official(seal.Official{Name: d.Name, DPI: 72}); err != nil {
		return d, fieldErr("name", err)
	}
	if _, err := s.seals.LegalRep(seal.LegalRep{Name: d.LegalRepName, DPI: 72}); err != nil {
		return d, fieldErr("legalRepName", err)
	}
	return d, nil
}

func fieldErr(field string, err error) error {
	if e := errs.As(err); e != nil && e.Code == errs.Invalid {
		return errs.InvalidField(field, e.Message)
	}
	return err
}

// ApplicationInput is the paperless application form: the method, the
// applicant (经办人) and what the method needs.
type ApplicationInput struct {
	Method            Method
	ApplicantName     string
	ApplicantIDNumber string
	ApplicantPhone    string
	// LegalRepPhone receives the authorisation code (every method) and is
	// checked against the carrier for legal_rep_phone.
	LegalRepPhone string
	// LegalRepBankCard is required for legal_rep_bank_card.
	LegalRepBankCard string
	// BankName and BankAccount are required for bank_transfer.
	BankName    string
	BankAccount string
	// AgreementAccepted: the applicant read and accepted the agreements.
	AgreementAccepted bool
}

// SaveApplication records the application and moves the order to the
// preview (订单预览). Allowed at application and preview.
func (s *Service) SaveApplication(ctx context.Context, orderID int, in ApplicationInput) (*ent.CertOrder, error) {
	o, _, err := s.activeOrder(ctx, orderID)
	if err != nil {
		return nil, err
	}
	if o.Step != certorder.StepApplication && o.Step != certorder.StepPreview {
		return nil, stepConflict(o)
	}
	m := certorder.Method(in.Method)
	if certorder.MethodValidator(m) != nil {
		return nil, errs.InvalidField("method", "请选择认证方式")
	}
	name, err := identity.CheckName("applicantName", in.ApplicantName)
	if err != nil {
		return nil, err
	}
	id, err := identity.CheckIDNumber("applicantIdNumber", in.ApplicantIDNumber)
	if err != nil {
		return nil, err
	}
	if !sms.ValidPhone(in.ApplicantPhone) {
		return nil, errs.InvalidField("applicantPhone", "请输入经办人正确的11位手机号")
	}
	if !sms.ValidPhone(in.LegalRepPhone) {
		return nil, errs.InvalidField("legalRepPhone", "请输入法定代表人正确的11位手机号")
	}
	if !in.AgreementAccepted {
		return nil, errs.InvalidField("agreementAccepted", "请阅读并勾选相关协议")
	}
	upd := s.db.CertOrder.UpdateOne(o).SetMethod(m).SetApplicantName(name).SetApplicantIDNumber(id).
		SetApplicantIDMasked(identity.MaskIDNumber(id)).SetApplicantPhone(in.ApplicantPhone).
		SetLegalRepPhone(in.LegalRepPhone).SetAgreementAcceptedAt(s.now()).SetStep(certorder.StepPreview).
		SetLegalRepCardMasked("").SetBankName("").SetBankAccountMasked("")
	switch in.Method {
	case MethodLegalRepBankCard:
		card, err := identity.CheckBankCard("legalRepBankCard", in.LegalRepBankCard)
		if err != nil {
			return nil, err
		}
		upd.SetLegalRepCardMasked(identity.MaskCard(card))
	case MethodBankTransfer:
		acct, err := checkAccount(in.BankName, in.BankAccount)
		if err != nil {
			return nil, err
		}
		upd.SetBankName(acct.Bank).SetBankAccountMasked(identity.MaskCard(acct.Number))
	}
	return upd.Save(viewer.System(ctx))
}

func checkAccount(bank, number string) (BankAccount, error) {
	bank = strings.TrimSpace(bank)
	number = strings.ReplaceAll(strings.TrimSpace(number), " ", "")
	if n := len([]rune(bank)); n < 2 || n > 64 {
		return BankAccount{}, errs.InvalidField("bankName", "请填写开户银行")
	}
	if len(number) < 8 || len(number) > 30 || strings.Trim(number, "0123456789") != "" {
		return BankAccount{}, errs.InvalidField("bankAccount", "对公账号应为8至30位数字")
	}
	return BankAccount{Bank: bank, Number: number}, nil
}

// BackToEdit returns from the order preview to the form (返回修改).
func (s *Service) BackToEdit(ctx context.Context, orderID int) (*ent.CertOrder, error) {
	o, _, err := s.activeOrder(ctx, orderID)
	if err != nil {
		return nil, err
	}
	if o.Step != certorder.StepPreview {
		return nil, stepConflict(o)
	}
	return s.db.CertOrder.UpdateOne(o).SetStep(certorder.StepApplication).Save(viewer.System(ctx))
}

// ConfirmSecrets are the full card or account number the method's check
// needs; the order keeps them only masked, so they are entered again with
// 确认订单 (the client keeps them from the form).
type ConfirmSecrets struct {
	LegalRepBankCard string
	BankAccount      string
}

// ConfirmOrder (确认订单) runs the method's check — the applicant's and, for
// legal_rep_phone, the legal representative's carrier three-element check,
// the legal representative's bank four-element check, or a transfer of a
// random amount to the corporate account — and sends the authorisation code
// to the legal representative's phone. A mismatch is Invalid with the
// provider's reason; the order stays at the preview.
func (s *Service) ConfirmOrder(ctx context.Context, orderID int, sec ConfirmSecrets) (*ent.CertOrder, error) {
	o, e, err := s.activeOrder(ctx, orderID)
	if err != nil {
		return nil, err
	}
	if o.Step != certorder.StepPreview {
		return nil, stepConflict(o)
	}
	applicant := identity.Person{Name: o.ApplicantName, IDNumber: o.ApplicantIDNumber, Phone: o.ApplicantPhone}
	res, err := s.checker.CheckThree(ctx, applicant)
	if err != nil {
		return nil, unavailable(err)
	}
	if !res.Match {
		return nil, errs.InvalidField("applicant", "经办人信息核验未通过："+res.Reason)
	}
	rep := identity.Person{Name: e.LegalRepName, IDNumber: e.LegalRepIDNumber, Phone: o.LegalRepPhone}
	upd := s.db.CertOrder.UpdateOne(o)
	switch Method(*o.Method) {
	case MethodLegalRepPhone:
		r, err := s.checker.CheckThree(ctx, rep)
		if err != nil {
			return nil, unavailable(err)
		}
		if !r.Match {
			return nil, errs.InvalidField("legalRepPhone", "法定代表人手机实名认证未通过："+r.Reason)
		}
		upd.SetCheckTxnID(r.TxnID)
	case MethodLegalRepBankCard:
		card, err := identity.CheckBankCard("legalRepBankCard", sec.LegalRepBankCard)
		if err != nil {
			return nil, err
		}
		if identity.MaskCard(card) != o.LegalRepCardMasked {
			return nil, errs.InvalidField("legalRepBankCard", "银行卡号与订单中的不一致，请返回修改")
		}
		r, err := s.checker.CheckFour(ctx, rep, card)
		if err != nil {
			return nil, unavailable(err)
		}
		if !r.Match {
			return nil, errs.InvalidField("legalRepBankCard", "法定代表人银行卡信息认证未通过："+r.Reason)
		}
		upd.SetCheckTxnID(r.TxnID)
	case MethodBankTransfer:
		acct, err := checkAccount(o.BankName, sec.BankAccount)
		if err != nil {
			return nil, err
		}
		if identity.MaskCard(acct.Number) != o.BankAccountMasked {
			return nil, errs.InvalidField("bankAccount", "对公账号与订单中的不一致，请返回修改")
		}
		acct.Name = e.Name
		cents, err := randomCents()
		if err != nil {
			return nil, err
		}
		txn, err := s.bank.SendVerification(ctx, acct, cents)
		if err != nil {
			if errs.Is(err, errs.Invalid) {
				return nil, err
			}
			return nil, unavailable(err)
		}
		upd.SetCheckTxnID(txn).SetTransferAmountCents(cents).SetTransferAttempts(0)
	}
	o, err = upd.SetStep(certorder.StepAuthorization).Save(viewer.System(ctx))
	if err != nil {
		return nil, fmt.Errorf("confirm order: %w", err)
	}
	if _, err := s.sendAuthorizationCode(ctx, o, e); err != nil {
		return o, err
	}
	return o, nil
}

// ResendAuthorizationCode sends the legal representative a new
// authorisation code (60 s apart at most).
func (s *Service) ResendAuthorizationCode(ctx context.Context, orderID int) (accounts.SentCode, error) {
	o, e, err := s.activeOrder(ctx, orderID)
	if err != nil {
		return accounts.SentCode{}, err
	}
	if o.Step != certorder.StepAuthorization {
		return accounts.SentCode{}, stepConflict(o)
	}
	return s.sendAuthorizationCode(ctx, o, e)
}

func (s *Service) sendAuthorizationCode(ctx context.Context, o *ent.CertOrder, e *ent.Enterprise) (accounts.SentCode, error) {
	return s.accounts.IssueCode(ctx, accounts.CodeRequest{
		Phone: o.LegalRepPhone, Purpose: PurposeAuthorization, Scope: orderScope(o),
		Template: sms.TemplateEnterpriseAuthCode, Params: map[string]string{"enterprise": e.Name},
	})
}

// MaxTransferAttempts bounds wrong amounts for the bank transfer check.
const MaxTransferAttempts = 3

// VerifyAuthorization checks the authorisation code the legal
// representative received (证书授权码验证) and, for the bank transfer method,
// the amount received (in yuan, e.g. "0.37"); then the documents step opens.
func (s *Service) VerifyAuthorization(ctx context.Context, orderID int, code, amount string) (*ent.CertOrder, error) {
	o, _, err := s.activeOrder(ctx, orderID)
	if err != nil {
		return nil, err
	}
	if o.Step != certorder.StepAuthorization {
		return nil, stepConflict(o)
	}
	sys := viewer.System(ctx)
	if Method(*o.Method) == MethodBankTransfer {
		if o.TransferAttempts >= MaxTransferAttempts {
			return nil, errs.InvalidField("amount", "打款金额错误次数过多，请返回修改后重新确认订单")
		}
		cents, ok := parseYuan(amount)
		if !ok {
			return nil, errs.InvalidField("amount", "请输入收到的打款金额，如0.37")
		}
		if o.TransferAmountCents == nil || cents != *o.TransferAmountCents {
			if err := s.db.CertOrder.UpdateOne(o).AddTransferAttempts(1).Exec(sys); err != nil {
				return nil, err
			}
			return nil, errs.InvalidField("amount", fmt.Sprintf("打款金额不正确，还可尝试%d次", MaxTransferAttempts-o.TransferAttempts-1))
		}
	}
	if err := s.accounts.ConsumeCode(ctx, "code", o.LegalRepPhone, PurposeAuthorization, orderScope(o), code); err != nil {
		return nil, err
	}
	n, err := s.db.CertOrder.Update().Where(certorder.ID(o.ID), certorder.StepEQ(certorder.StepAuthorization)).
		SetStep(certorder.StepDocuments).SetAuthorizedAt(s.now()).Save(sys)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, errs.New(errs.Conflict, "订单状态已变化，请刷新后重试")
	}
	return s.db.CertOrder.Get(sys, o.ID)
}

// SubmitDocuments (确认申请) checks that every document is uploaded and
// moves to the applicant's confirmation.
func (s *Service) SubmitDocuments(ctx context.Context, orderID int) (*ent.CertOrder, error) {
	o, _, err := s.activeOrder(ctx, orderID)
	if err != nil {
		return nil, err
	}
	if o.Step != certorder.StepDocuments {
		return nil, stepConflict(o)
	}
	sys := viewer.System(ctx)
	docs, err := o.QueryDocuments().All(sys)
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, d := range docs {
		have[string(d.Kind)] = true
	}
	for _, k := range DocumentKinds {
		if !have[string(k.Kind)] {
			return nil, errs.InvalidField("documents", "请上传"+k.Title)
		}
	}
	return s.db.CertOrder.UpdateOne(o).SetStep(certorder.StepConfirmation).Save(sys)
}

// SendConfirmationCode sends the applicant the code that signs the
// application (证书申请签名确认).
func (s *Service) SendConfirmationCode(ctx context.Context, orderID int) (accounts.SentCode, error) {
	o, e, err := s.activeOrder(ctx, orderID)
	if err != nil {
		return accounts.SentCode{}, err
	}
	if o.Step != certorder.StepConfirmation {
		return accounts.SentCode{}, stepConflict(o)
	}
	return s.accounts.IssueCode(ctx, accounts.CodeRequest{
		Phone: o.ApplicantPhone, Purpose: PurposeApplyConfirm, Scope: orderScope(o),
		Template: sms.TemplateCertApplyConfirm, Params: map[string]string{"enterprise": e.Name},
	})
}

// ConfirmApplication is the applicant's electronic signature of the
// application: the SMS code and the 《用户服务协议》. Then payment opens when a
// fee applies, else the CA review starts.
func (s *Service) ConfirmApplication(ctx context.Context, orderID int, code string, agreementAccepted bool) (*ent.CertOrder, error) {
	o, _, err := s.activeOrder(ctx, orderID)
	if err != nil {
		return nil, err
	}
	if o.Step != certorder.StepConfirmation {
		return nil, stepConflict(o)
	}
	if !agreementAccepted {
		return nil, errs.InvalidField("agreementAccepted", "请阅读并勾选《用户服务协议》")
	}
	if err := s.accounts.ConsumeCode(ctx, "code", o.ApplicantPhone, PurposeApplyConfirm, orderScope(o), code); err != nil {
		return nil, err
	}
	next := certorder.StepPayment
	if o.FeeCents == 0 || o.PaidAt != nil {
		next = certorder.StepReview
	}
	sys := viewer.System(ctx)
	err = s.withTx(ctx, func(tx *ent.Tx, jtx jobs.JobTx) error {
		n, err := tx.CertOrder.Update().Where(certorder.ID(o.ID), certorder.StepEQ(certorder.StepConfirmation)).
			SetStep(next).SetConfirmedAt(s.now()).Save(sys)
		if err != nil {
			return err
		}
		if n == 0 {
			return errs.New(errs.Conflict, "订单状态已变化，请刷新后重试")
		}
		if next != certorder.StepReview {
			return nil
		}
		return s.intoReview(ctx, tx, jtx, o)
	})
	if err != nil {
		return nil, err
	}
	if next == certorder.StepReview {
		s.submitToCA(ctx, o.ID)
	}
	return s.db.CertOrder.Get(sys, o.ID)
}

// PaymentCallbackPath is where payment providers notify the platform.
const PaymentCallbackPath = "/callbacks/payment"

// Pay creates a QR payment of the order's fee on the channel (or returns
// the pending one of that channel). The order's PaymentQr is the QR code's
// content.
func (s *Service) Pay(ctx context.Context, orderID int, ch PaymentChannel) (*ent.CertOrder, error) {
	o, e, err := s.activeOrder(ctx, orderID)
	if err != nil {
		return nil, err
	}
	if o.Step != certorder.StepPayment {
		return nil, stepConflict(o)
	}
	if ch != ChannelAlipay && ch != ChannelWeChat {
		return nil, errs.InvalidField("channel", "请选择支付宝或微信支付")
	}
	if o.PaymentChannel != nil && string(*o.PaymentChannel) == string(ch) && o.PaymentTxnID != "" {
		if st, err := s.pay.Query(ctx, o.PaymentTxnID); err == nil && st.State == PaymentPending {
			return o, nil
		}
	}
	p, err := s.pay.Create(ctx, PaymentRequest{
		OrderRef: fmt.Sprintf("CERT-%d-%s", o.ID, randHex(4)), Channel: ch, AmountCents: o.FeeCents,
		Subject: e.Name + " 企业数字证书", NotifyURL: s.baseURL + PaymentCallbackPath,
	})
	if err != nil {
		if errs.Is(err, errs.Invalid) {
			return nil, err
		}
		return nil, unavailable(err)
	}
	return s.db.CertOrder.UpdateOne(o).SetPaymentChannel(certorder.PaymentChannel(ch)).
		SetPaymentTxnID(p.TxnID).SetPaymentQr(p.QRCode).Save(viewer.System(ctx))
}

// PaymentCallback handles a provider's notification about a payment: it
// asks the provider for the state and, when paid, moves the order to the CA
// review. Unknown or stale transactions are ignored.
func (s *Service) PaymentCallback(ctx context.Context, txnID string) error {
	o, err := s.db.CertOrder.Query().Where(certorder.PaymentTxnID(txnID)).Only(viewer.System(ctx))
	if err != nil {
		return notFound(err, "订单不存在")
	}
	return s.checkPayment(ctx, o)
}

func (s *Service) checkPayment(ctx context.Context, o *ent.CertOrder) error {
	if o.Step != certorder.StepPayment || o.PaymentTxnID == "" {
		return nil
	}
	st, err := s.pay.Query(ctx, o.PaymentTxnID)
	if err != nil {
		return unavailable(err)
	}
	if st.State != PaymentPaid {
		return nil
	}
	sys := viewer.System(ctx)
	moved := false
	err = s.withTx(ctx, func(tx *ent.Tx, jtx jobs.JobTx) error {
		n, err := tx.CertOrder.Update().
			Where(certorder.ID(o.ID), certorder.StepEQ(certorder.StepPayment), certorder.PaymentTxnID(o.PaymentTxnID)).
			SetStep(certorder.StepReview).SetPaidAt(st.PaidAt).ClearRevokedAt().Save(sys)
		if err != nil || n == 0 {
			return err
		}
		moved = true
		// Paid means it goes on, even if it was revoked while the QR code
		// was still open: a paid order cannot be revoked.
		if o.Kind == certorder.KindCertification {
			if err := tx.Enterprise.UpdateOneID(o.EnterpriseID).SetStatus(enterprise.StatusCertifying).Exec(sys); err != nil {
				return err
			}
		}
		return s.intoReview(ctx, tx, jtx, o)
	})
	if err != nil {
		return err
	}
	if moved {
		s.submitToCA(ctx, o.ID)
	}
	return nil
}

// intoReview records that an order went to the CA review and inserts its
// review job, in the transaction that moved it.
func (s *Service) intoReview(ctx context.Context, tx *ent.Tx, jtx jobs.JobTx, o *ent.CertOrder) error {
	if err := s.record(ctx, tx, fact{Enterprise: o.EnterpriseID, Action: audit.CertificationSubmitted,
		Subject: subjectOrder(o.ID), Payload: map[string]any{"kind": o.Kind, "fee_cents": o.FeeCents},
		Users: []int{o.ApplicantID}}); err != nil {
		return err
	}
	return s.enqueueReview(ctx, jtx, o.ID)
}

// submitToCA hands the application to the CA. An unreachable CA leaves the
// order in review without a CA order id; PollReviews submits it again.
func (s *Service) submitToCA(ctx context.Context, orderID int) {
	sys := viewer.System(ctx)
	o, err := s.db.CertOrder.Get(sys, orderID)
	if err != nil {
		s.log.ErrorContext(ctx, "submit to CA", "order", orderID, "err", err)
		return
	}
	e, err := s.db.Enterprise.Get(sys, o.EnterpriseID)
	if err != nil {
		s.log.ErrorContext(ctx, "submit to CA", "order", orderID, "err", err)
		return
	}
	if o.Step != certorder.StepReview || o.CaOrderID != "" {
		return
	}
	n, _ := o.QueryDocuments().Count(sys)
	id, err := s.ca.Submit(ctx, Application{Reference: submissionRef(o), EnterpriseName: e.Name, CreditCode: e.CreditCode,
		LegalRepName: e.LegalRepName, ApplicantName: o.ApplicantName, Method: string(*o.Method), Documents: n,
		Recertification: o.Kind == certorder.KindRecertification})
	if err != nil {
		s.log.WarnContext(ctx, "CA unreachable; the review job will submit again", "order", orderID, "err", err)
		return
	}
	// Whoever submitted first recorded the same CA order (the reference
	// makes submission idempotent).
	if err := s.db.CertOrder.Update().Where(certorder.ID(o.ID), certorder.StepEQ(certorder.StepReview),
		certorder.Or(certorder.CaOrderIDIsNil(), certorder.CaOrderID(""))).
		SetCaOrderID(id).SetSubmittedAt(s.now()).Exec(sys); err != nil {
		s.log.ErrorContext(ctx, "record CA order", "order", orderID, "err", err)
	}
}

// submissionRef is the platform's reference of one review round of an
// order: the CA answers a repeated submission with the same CA order.
func submissionRef(o *ent.CertOrder) string {
	var round int64
	if o.ConfirmedAt != nil {
		round = o.ConfirmedAt.UnixMicro()
	}
	return fmt.Sprintf("SIGNET-CERT-%d-%d", o.ID, round)
}

// Refresh asks the providers about an order waiting for them (a payment or
// the CA review) and returns it as it is now. Clients call it when the user
// comes back from paying or opens 我认证的企业.
func (s *Service) Refresh(ctx context.Context, orderID int) (*ent.CertOrder, error) {
	o, _, err := s.applicantOrder(ctx, orderID)
	if err != nil {
		return nil, err
	}
	switch o.Step {
	case certorder.StepPayment:
		if err := s.checkPayment(ctx, o); err != nil {
			return nil, err
		}
	case certorder.StepReview:
		if err := s.pollOne(ctx, o); err != nil {
			return nil, err
		}
	}
	return s.db.CertOrder.Get(viewer.System(ctx), o.ID)
}

// PollReviews follows every order under CA review: submits those the CA
// has not taken yet, and concludes those it has decided. It returns how
// many were concluded. The review jobs do this per order (review.go);
// PollReviews serves operators and tests.
func (s *Service) PollReviews(ctx context.Context) (int, error) {
	sys := viewer.System(ctx)
	orders, err := s.db.CertOrder.Query().Where(certorder.StepEQ(certorder.StepReview)).Limit(500).All(sys)
	if err != nil {
		return 0, fmt.Errorf("poll reviews: %w", err)
	}
	done := 0
	for _, o := range orders {
		if err := s.pollOne(ctx, o); err != nil {
			s.log.WarnContext(ctx, "poll review", "order", o.ID, "err", err)
			continue
		}
		if o2, err := s.db.CertOrder.Get(sys, o.ID); err == nil && o2.Step != certorder.StepReview {
			done++
		}
	}
	return done, nil
}

func (s *Service) pollOne(ctx context.Context, o *ent.CertOrder) error {
	if o.CaOrderID == "" {
		s.submitToCA(ctx, o.ID)
		return nil
	}
	st, err := s.ca.Status(ctx, o.CaOrderID)
	if err != nil {
		return unavailable(err)
	}
	switch st.State {
	case ReviewApproved:
		return s.approve(ctx, o)
	case ReviewRejected:
		return s.reject(ctx, o, st.Reason)
	}
	return nil
}

// sealSpec is one of the three seals approval generates.
type sealSpec struct {
	kind entseal.Kind
	name string
	img  seal.Image
}

// standardSeals draws the 公章, 合同专用章 and 法定代表人章 of an enterprise.
func (s *Service) standardSeals(e *ent.Enterprise) ([]sealSpec, error) {
	official, err := s.seals.Official(seal.Official{Name: e.Name})
	if err != nil {
		return nil, fmt.Errorf("official seal: %w", err)
	}
	contract, err := s.seals.Official(seal.Official{Name: e.Name, Horizontal: "合同专用章"})
	if err != nil {
		return nil, fmt.Errorf("contract seal: %w", err)
	}
	legal, err := s.seals.LegalRep(seal.LegalRep{Name: e.LegalRepName})
	if err != nil {
		return nil, fmt.Errorf("legal representative seal: %w", err)
	}
	return []sealSpec{{entseal.KindOfficial, "公章", official}, {entseal.KindContract, "合同专用章", contract},
		{entseal.KindLegalRep, "法定代表人章", legal}}, nil
}

// issueFor makes the certificates n new seals of the enterprise are bound
// to: one hosted certificate for all; for UKey custody a pending custody
// record (the CA mails the key) — one for all seals with 一key多章, one per
// seal with 一key一章. The result has one entry per seal.
func (s *Service) issueFor(ctx context.Context, e *ent.Enterprise, n int) ([]*ent.Certificate, error) {
	out := make([]*ent.Certificate, n)
	if e.Custody != enterprise.CustodyUkey {
		c, err := s.certs.IssueEnterprise(ctx, e.ID, e.Name, e.CreditCode)
		if err != nil {
			return nil, err
		}
		for i := range out {
			out[i] = c
		}
		return out, nil
	}
	t := certificate.UkeyTypeOneKeyManySeals
	if e.UkeyType != nil {
		t = certificate.UkeyType(*e.UkeyType)
	}
	for i := range out {
		if i > 0 && t == certificate.UkeyTypeOneKeyManySeals {
			out[i] = out[0]
			continue
		}
		c, err := s.certs.RecordUKey(ctx, e.ID, e.Name, e.CreditCode, t)
		if err != nil {
			s.dropCerts(ctx, out)
			return nil, err
		}
		out[i] = c
	}
	return out, nil
}

// dropCerts revokes (or cancels, for pending UKey records) certificates
// made for a change that did not happen.
func (s *Service) dropCerts(ctx context.Context, cs []*ent.Certificate) {
	seen := map[int]bool{}
	for _, c := range cs {
		if c == nil || seen[c.ID] {
			continue
		}
		seen[c.ID] = true
		if err := s.certs.Revoke(ctx, c.ID, pki.ReasonCessationOfOperation); err != nil {
			s.log.ErrorContext(ctx, "drop certificate", "certificate", c.ID, "err", err)
		}
	}
}

// approve issues the certificate, generates the seals and makes the
// applicant administrator. A re-certification approves an enterprise that
// is already certified: its voided seals stay voided (they signed what they
// signed), three new seals are made on a new certificate for the current
// name and credit code, and seal creation and renewal open again.
func (s *Service) approve(ctx context.Context, o *ent.CertOrder) error {
	sys := viewer.System(ctx)
	e, err := s.db.Enterprise.Get(sys, o.EnterpriseID)
	if err != nil {
		return err
	}
	// Seals first: drawing can fail on input, and nothing is issued then.
	specs, err := s.standardSeals(e)
	if err != nil {
		return fmt.Errorf("approve: %w", err)
	}
	certsFor, err := s.issueFor(ctx, e, len(specs))
	if err != nil {
		return fmt.Errorf("approve: certificate: %w", err)
	}
	now := s.now()
	err = s.withTx(ctx, func(tx *ent.Tx, _ jobs.JobTx) error {
		n, err := tx.CertOrder.Update().Where(certorder.ID(o.ID), certorder.StepEQ(certorder.StepReview)).
			SetStep(certorder.StepApproved).SetDecidedAt(now).Save(sys)
		if err != nil {
			return err
		}
		if n == 0 {
			return errAlreadyDecided
		}
		upd := tx.Enterprise.UpdateOneID(e.ID).SetStatus(enterprise.StatusCertified).SetRecertifyRequired(false)
		if o.Kind == certorder.KindCertification || e.CertifiedAt == nil {
			upd.SetCertifiedAt(now)
		}
		if err := upd.Exec(sys); err != nil {
			return err
		}
		var sealIDs []int
		for i, sl := range specs {
			row, err := tx.Seal.Create().SetEnterpriseID(e.ID).SetKind(sl.kind).SetName(sl.name).
				SetImage(sl.img.PNG).SetWidth(sl.img.Width).SetHeight(sl.img.Height).
				SetSource(entseal.SourceGenerated).SetCertificateID(certsFor[i].ID).Save(sys)
			if err != nil {
				return err
			}
			sealIDs = append(sealIDs, row.ID)
		}
		if err := tx.Membership.Create().SetEnterpriseID(e.ID).SetUserID(o.ApplicantID).SetRole(membership.RoleAdmin).
			OnConflictColumns(membership.FieldEnterpriseID, membership.FieldUserID).
			Update(func(u *ent.MembershipUpsert) { u.SetRole(membership.RoleAdmin) }).Exec(sys); err != nil {
			return err
		}
		if err := s.record(ctx, tx, fact{Enterprise: e.ID, Action: audit.CertificationApproved, Subject: subjectOrder(o.ID),
			Payload: map[string]any{"kind": o.Kind, "ca_order_id": o.CaOrderID, "seals": sealIDs, "name": e.Name, "credit_code": e.CreditCode},
			Users:   []int{o.ApplicantID}}); err != nil {
			return err
		}
		seen := map[int]bool{}
		for _, c := range certsFor {
			if seen[c.ID] {
				continue
			}
			seen[c.ID] = true
			if err := s.record(ctx, tx, fact{Enterprise: e.ID, Action: audit.CertificateIssued, Subject: subjectCertificate(c.ID),
				Payload: certPayload(c)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err == errAlreadyDecided {
		s.dropCerts(ctx, certsFor)
		return nil
	}
	if err != nil {
		s.dropCerts(ctx, certsFor)
		return fmt.Errorf("approve: %w", err)
	}
	result := "已通过审核，企业认证成功，印章已生成"
	if o.Kind == certorder.KindRecertification {
		result = "已通过审核，企业重新认证成功，新印章已生成"
	}
	s.notify(ctx, o.ApplicantPhone, sms.TemplateCertResult, map[string]string{"enterprise": e.Name, "result": result})
	return nil
}

// certPayload is what the trail keeps of a certificate.
func certPayload(c *ent.Certificate) map[string]any {
	p := map[string]any{"serial": c.Serial, "custody": c.Custody, "status": c.Status, "subject": c.Subject}
	if c.UkeyType != nil {
		p["ukey_type"] = *c.UkeyType
	}
	if c.NotAfter != nil {
		p["not_after"] = c.NotAfter.UTC().Format(time.RFC3339)
	}
	return p
}

var errAlreadyDecided = fmt.Errorf("order already decided")

func (s *Service) reject(ctx context.Context, o *ent.CertOrder, reason string) error {
	sys := viewer.System(ctx)
	if reason == "" {
		reason = "审核未通过"
	}
	var name string
	err := s.withTx(ctx, func(tx *ent.Tx, _ jobs.JobTx) error {
		n, err := tx.CertOrder.Update().Where(certorder.ID(o.ID), certorder.StepEQ(certorder.StepReview)).
			SetStep(certorder.StepRejected).SetDecidedAt(s.now()).SetRejectReason(reason).Save(sys)
		if err != nil || n == 0 {
			return err
		}
		e, err := tx.Enterprise.Get(sys, o.EnterpriseID)
		if err != nil {
			return err
		}
		// A rejected re-certification leaves the enterprise certified (and
		// still waiting for its re-certification).
		if o.Kind == certorder.KindCertification {
			if e, err = tx.Enterprise.UpdateOne(e).SetStatus(enterprise.StatusRejected).Save(sys); err != nil {
				return err
			}
		}
		name = e.Name
		return s.record(ctx, tx, fact{Enterprise: e.ID, Action: audit.CertificationRejected, Subject: subjectOrder(o.ID),
			Payload: map[string]any{"kind": o.Kind, "reason": reason, "ca_order_id": o.CaOrderID}, Users: []int{o.ApplicantID}})
	})
	if err != nil {
		return fmt.Errorf("reject: %w", err)
	}
	if name != "" {
		s.notify(ctx, o.ApplicantPhone, sms.TemplateCertResult, map[string]string{
			"enterprise": name, "result": "未通过审核（" + reason + "），请修改后继续认证"})
	}
	return nil
}

// RevokeCertification (撤销) stops a certification in progress: the
// enterprise shows 已撤销. An order that is paid or under CA review cannot
// be revoked (Conflict). Revoking a re-certification stops only that
// order: the enterprise stays certified, its seals voided.
func (s *Service) RevokeCertification(ctx context.Context, orderID int) (*ent.CertOrder, error) {
	o, e, err := s.applicantOrder(ctx, orderID)
	if err != nil {
		return nil, err
	}
	recert := o.Kind == certorder.KindRecertification
	switch {
	case !recert && e.Status != enterprise.StatusCertifying:
		return nil, errs.New(errs.Conflict, "只有认证中的企业可以撤销")
	case recert && o.RevokedAt != nil:
		return nil, errs.New(errs.Conflict, "重新认证已撤销")
	}
	switch {
	case o.PaidAt != nil:
		return nil, errs.New(errs.Conflict, "订单已支付，不能撤销")
	case o.Step == certorder.StepReview:
		return nil, errs.New(errs.Conflict, "订单正在CA审核中，不能撤销")
	case o.Step == certorder.StepApproved || o.Step == certorder.StepRejected:
		return nil, errs.New(errs.Conflict, "订单已审核完成，不能撤销")
	}
	sys := viewer.System(ctx)
	err = s.withTx(ctx, func(tx *ent.Tx, _ jobs.JobTx) error {
		// Conditional on the order not having moved on meanwhile (paid by a
		// callback, say).
		upd := tx.CertOrder.Update().Where(certorder.ID(o.ID), certorder.StepEQ(o.Step), certorder.PaidAtIsNil(),
			certorder.RevokedAtIsNil()).SetUpdatedAt(s.now())
		if recert {
			upd.SetRevokedAt(s.now())
		}
		n, err := upd.Save(sys)
		if err != nil {
			return err
		}
		if n == 0 {
			return errs.New(errs.Conflict, "订单状态已变化，请刷新后重试")
		}
		if !recert {
			if err := tx.Enterprise.UpdateOneID(e.ID).SetStatus(enterprise.StatusRevoked).Exec(sys); err != nil {
				return err
			}
		}
		return s.record(ctx, tx, fact{Enterprise: e.ID, Action: audit.CertificationRevoked, Subject: subjectOrder(o.ID),
			Payload: map[string]any{"kind": o.Kind, "step": o.Step}, Users: []int{o.ApplicantID}})
	})
	if err != nil {
		return nil, err
	}
	return s.db.CertOrder.Get(sys, o.ID)
}

// ContinueCertification (继续认证) resumes a revoked certification where it
// stopped, or sends a rejected one back to the application form (the
// payment, if made, is kept).
func (s *Service) ContinueCertification(ctx context.Context, orderID int) (*ent.CertOrder, error) {
	o, e, err := s.applicantOrder(ctx, orderID)
	if err != nil {
		return nil, err
	}
	sys := viewer.System(ctx)
	recert := o.Kind == certorder.KindRecertification
	rejected := o.Step == certorder.StepRejected
	switch {
	case recert && (o.RevokedAt != nil || rejected):
		if !e.RecertifyRequired || e.Status != enterprise.StatusCertified {
			return nil, errs.New(errs.Conflict, "企业无需重新认证")
		}
	case !recert && (e.Status == enterprise.StatusRevoked || e.Status == enterprise.StatusRejected):
		rejected = e.Status == enterprise.StatusRejected
		certified, err := s.db.Enterprise.Query().
			Where(enterprise.CreditCode(e.CreditCode), enterprise.StatusEQ(enterprise.StatusCertified)).Exist(sys)
		if err != nil {
			return nil, err
		}
		if certified {
			return nil, errs.New(errs.Conflict, "该企业已由他人完成认证，请通过【加入企业】申请加入")
		}
	default:
		return nil, errs.New(errs.Conflict, "只有已撤销或审核未通过的企业可以继续认证")
	}
	err = s.withTx(ctx, func(tx *ent.Tx, _ jobs.JobTx) error {
		upd := tx.CertOrder.UpdateOneID(o.ID).ClearRevokedAt()
		if rejected {
			upd.SetStep(certorder.StepApplication).ClearCaOrderID().ClearSubmittedAt().ClearDecidedAt()
		}
		if err := upd.Exec(sys); err != nil {
			return err
		}
		if !recert {
			if err := tx.Enterprise.UpdateOneID(e.ID).SetStatus(enterprise.StatusCertifying).Exec(sys); err != nil {
				return err
			}
		}
		return s.record(ctx, tx, fact{Enterprise: e.ID, Action: audit.CertificationContinued, Subject: subjectOrder(o.ID),
			Payload: map[string]any{"kind": o.Kind, "after_rejection": rejected}, Users: []int{o.ApplicantID}})
	})
	if err != nil {
		return nil, err
	}
	return s.db.CertOrder.Get(sys, o.ID)
}

// Order returns one of the viewer's certification orders.
func (s *Service) Order(ctx context.Context, orderID int) (*ent.CertOrder, error) {
	o, _, err := s.applicantOrder(ctx, orderID)
	return o, err
}

// applicantOrder loads an order of the viewer's with its enterprise. Other
// users' orders are not found.
func (s *Service) applicantOrder(ctx context.Context, orderID int) (*ent.CertOrder, *ent.Enterprise, error) {
	uid, err := s.userID(ctx)
	if err != nil {
		return nil, nil, err
	}
	sys := viewer.System(ctx)
	o, err := s.db.CertOrder.Query().Where(certorder.ID(orderID), certorder.ApplicantID(uid)).Only(sys)
	if err != nil {
		return nil, nil, notFound(err, "认证订单不存在")
	}
	e, err := s.db.Enterprise.Get(sys, o.EnterpriseID)
	if err != nil {
		return nil, nil, err
	}
	return o, e, nil
}

// activeOrder is applicantOrder for the steps of a certification in
// progress: a revoked one must be continued first.
func (s *Service) activeOrder(ctx context.Context, orderID int) (*ent.CertOrder, *ent.Enterprise, error) {
	o, e, err := s.applicantOrder(ctx, orderID)
	if err != nil {
		return nil, nil, err
	}
	if o.Kind == certorder.KindRecertification {
		switch {
		case o.RevokedAt != nil:
			return nil, nil, errs.New(errs.Conflict, "重新认证已撤销，请先点击【继续认证】")
		case o.Step == certorder.StepApproved:
			return nil, nil, errs.New(errs.Conflict, "企业已完成重新认证")
		}
		return o, e, nil
	}
	switch e.Status {
	case enterprise.StatusRevoked:
		return nil, nil, errs.New(errs.Conflict, "认证已撤销，请先点击【继续认证】")
	case enterprise.StatusCertified:
		return nil, nil, errs.New(errs.Conflict, "企业已完成认证")
	}
	return o, e, nil
}

func stepConflict(o *ent.CertOrder) error {
	return errs.Newf(errs.Conflict, "当前步骤为“%s”，不能进行此操作", StepTitle(o.Step))
}

// StepTitle names a step in Chinese.
func StepTitle(st certorder.Step) string {
	switch st {
	case certorder.StepApplication:
		return "填写申请信息"
	case certorder.StepPreview:
		return "订单预览"
	case certorder.StepAuthorization:
		return "证书授权码验证"
	case certorder.StepDocuments:
		return "证件照片提交"
	case certorder.StepConfirmation:
		return "证书申请签名确认"
	case certorder.StepPayment:
		return "订单支付"
	case certorder.StepReview:
		return "CA审核中"
	case certorder.StepApproved:
		return "审核通过"
	case certorder.StepRejected:
		return "审核未通过"
	}
	return string(st)
}

func orderScope(o *ent.CertOrder) string { return "cert_order:" + strconv.Itoa(o.ID) }

func unavailable(err error) error {
	return errs.Wrap(err, errs.Internal, "认证服务暂不可用，请稍后再试")
}

func randomCents() (int, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, err
	}
	return 1 + int(binary.BigEndian.Uint64(b[:])%99), nil
}

// parseYuan parses an amount like "0.37" or "0.3" into fen.
func parseYuan(s string) (int, bool) {
	s = strings.TrimSpace(s)
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" || len(frac) > 2 || strings.Trim(whole+frac, "0123456789") != "" {
		return 0, false
	}
	for len(frac) < 2 {
		frac += "0"
	}
	w, err1 := strconv.Atoi(whole)
	f, err2 := strconv.Atoi(frac)
	if err1 != nil || err2 != nil || w > 1000 {
		return 0, false
	}
	return w*100 + f, true
}
