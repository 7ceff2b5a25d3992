// Package identity is personal real-name verification (个人实名认证,
// PRODUCT.md IDV-1…3). A user enters name, resident ID number, email and
// phone (IDV-2), then proves them through one provider (IDV-3): face liveness
// compared with the ID photo on record, the carrier's three-element check
// (name, ID number, phone) or the bank's four-element check (plus a bank
// card). The providers are third parties behind ElementChecker and
// FaceProvider; Sandbox stands in for them in development and tests.
//
// Only the evidence a dispute needs is kept: the provider, its transaction
// id, the method and the time — never a face image or video, and of a bank
// card only the masked number.
//
// On success the user gets a hosted personal key and certificate from the
// platform CA (package certs; the certificate names the person by a
// pseudonymous id, never the ID number), a default personal name seal, and
// their verified name as the account's name.
package identity

import (
	"context"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	"signet/accounts"
	"signet/audit"
	"signet/certs"
	"signet/ent"
	"signet/ent/identityverification"
	entseal "signet/ent/seal"
	"signet/errs"
	"signet/events"
	"signet/signingcore/seal"
	"signet/sms"
	"signet/viewer"
)

// Method is how a user proves who they are.
type Method string

// Verification methods.
const (
	MethodFace         Method = "face"
	MethodCarrierThree Method = "carrier_three"
	MethodBankFour     Method = "bank_four"
)

// MaxFailuresPerDay bounds failed checks per user in 24 h: each check costs
// money and repeated guesses of someone else's ID are what it stops.
const MaxFailuresPerDay = 5

// Service verifies people.
type Service struct {
	db       *ent.Client
	events   events.Broker
	checker  ElementChecker
	face     FaceProvider
	certs    *certs.Service
	seals    *seal.Generator
	baseURL  string
	log      *slog.Logger
	now      func() time.Time
	provName string
}

// Config builds a Service.
type Config struct {
	DB      *ent.Client
	Checker ElementChecker
	Face    FaceProvider
	// ProviderName is recorded with each check ("sandbox" for the sandbox).
	ProviderName string
	Certs        *certs.Service
	Seals        *seal.Generator
	// BaseURL builds the face callback and return URLs.
	BaseURL string
	Logger  *slog.Logger
	Now     func() time.Time
	// Events, when set, carries a live update to the user's topic when a
	// verification concludes.
	Events events.Broker
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.DB == nil || cfg.Checker == nil || cfg.Face == nil || cfg.Certs == nil || cfg.Seals == nil {
		return nil, fmt.Errorf("identity: DB, Checker, Face, Certs and Seals are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ProviderName == "" {
		cfg.ProviderName = "sandbox"
	}
	return &Service{db: cfg.DB, events: cfg.Events, checker: cfg.Checker, face: cfg.Face, certs: cfg.Certs, seals: cfg.Seals,
		baseURL: strings.TrimRight(cfg.BaseURL, "/"), log: cfg.Logger, now: cfg.Now, provName: cfg.ProviderName}, nil
}

// CallbackPath is where face providers notify the platform.
const CallbackPath = "/callbacks/identity/face"

// Status says whether a user is verified.
type Status struct {
	Verified   bool
	Name       string
	Method     Method
	VerifiedAt time.Time
}

// StatusOf returns the user's real-name status (个人实名认证通知 shows when
// Verified is false).
func (s *Service) StatusOf(ctx context.Context, userID int) (Status, error) {
	v, err := s.db.IdentityVerification.Query().
		Where(identityverification.UserID(userID), identityverification.StatusEQ(identityverification.StatusVerified)).
		First(viewer.System(ctx))
	if ent.IsNotFound(err) {
		return Status{}, nil
	}
	if err != nil {
		return Status{}, fmt.Errorf("identity status: %w", err)
	}
	st := Status{Verified: true, Name: v.Name}
	if v.Method != nil {
		st.Method = Method(*v.Method)
	}
	if v.VerifiedAt != nil {
		st.VerifiedAt = *v.VerifiedAt
	}
	return st, nil
}

// Verified reports whether the user passed real-name verification.
func (s *Service) Verified(ctx context.Context, userID int) (bool, error) {
	st, err := s.StatusOf(ctx, userID)
	return st.Verified, err
}

// Details are what the user enters before choosing a method (IDV-2).
type Details struct {
	Name     string
	IDNumber string
	Email    string
	Phone    string
}

// Start records the details (信息收集, 下一步) and returns the verification
// to continue with a method. It refuses a user who is already verified
// (Conflict) and bad input (Invalid, naming the field).
func (s *Service) Start(ctx context.Context, d Details) (*ent.IdentityVerification, error) {
	uid, err := s.userID(ctx)
	if err != nil {
		return nil, err
	}
	if ok, err := s.Verified(ctx, uid); err != nil {
		return nil, err
	} else if ok {
		return nil, errs.New(errs.Conflict, "您已完成实名认证")
	}
	name, err := CheckName("name", d.Name)
	if err != nil {
		return nil, err
	}
	id, err := CheckIDNumber("idNumber", d.IDNumber)
	if err != nil {
		return nil, err
	}
	email := strings.TrimSpace(d.Email)
	if email != "" {
		if a, err := mail.ParseAddress(email); err != nil || a.Address != email || len(email) > 128 {
			return nil, errs.InvalidField("email", "邮箱格式不正确")
		}
	}
	phone := strings.TrimSpace(d.Phone)
	if !sms.ValidPhone(phone) {
		return nil, errs.InvalidField("phone", "请输入正确的11位手机号")
	}
	v, err := s.db.IdentityVerification.Create().SetUserID(uid).SetName(name).SetIDNumber(id).
		SetIDNumberMasked(MaskIDNumber(id)).SetEmail(email).SetPhone(phone).
		Save(viewer.System(ctx))
	if err != nil {
		return nil, fmt.Errorf("identity start: %w", err)
	}
	return v, nil
}

// VerifyCarrier runs the carrier three-element check (手机实名认证) on the
// details of verification id.
func (s *Service) VerifyCarrier(ctx context.Context, id int) (*ent.IdentityVerification, error) {
	v, err := s.open(ctx, id)
	if err != nil {
		return nil, err
	}
	res, err := s.checker.CheckThree(ctx, Person{Name: v.Name, IDNumber: v.IDNumber, Phone: v.Phone})
	return s.conclude(ctx, v, MethodCarrierThree, res, err, "")
}

// VerifyBankCard runs the bank four-element check (银行卡信息认证) with the
// card number; the phone is the one in the details (reserved at the bank).
func (s *Service) VerifyBankCard(ctx context.Context, id int, cardNumber string) (*ent.IdentityVerification, error) {
	card, err := CheckBankCard("cardNumber", cardNumber)
	if err != nil {
		return nil, err
	}
	v, err := s.open(ctx, id)
	if err != nil {
		return nil, err
	}
	res, err := s.checker.CheckFour(ctx, Person{Name: v.Name, IDNumber: v.IDNumber, Phone: v.Phone}, card)
	return s.conclude(ctx, v, MethodBankFour, res, err, MaskCard(card))
}

// StartFace opens a face liveness session and returns the verification with
// the provider page's URL (FaceRedirectURL). returnURL is where the
// provider sends the browser back; the result arrives by callback
// (FaceCallback) or when the client asks (CompleteFace).
func (s *Service) StartFace(ctx context.Context, id int, returnURL string) (*ent.IdentityVerification, error) {
	v, err := s.open(ctx, id)
	if err != nil {
		return nil, err
	}
	sess, err := s.face.StartLiveness(ctx, FaceRequest{
		Person:    Person{Name: v.Name, IDNumber: v.IDNumber, Phone: v.Phone},
		ReturnURL: returnURL, CallbackURL: s.baseURL + CallbackPath,
	})
	if err != nil {
		return nil, s.unavailable(ctx, v, MethodFace, err)
	}
	v, err = s.db.IdentityVerification.UpdateOne(v).SetMethod(identityverification.MethodFace).
		SetStatus(identityverification.StatusPending).SetProvider(s.provName).SetProviderTxnID(sess.ID).
		SetFaceRedirectURL(sess.RedirectURL).SetFailureReason("").Save(viewer.System(ctx))
	if err != nil {
		return nil, fmt.Errorf("start face: %w", err)
	}
	return v, nil
}

// CompleteFace asks the provider for the result of the verification's face
// session and concludes it. A session still running leaves it pending.
func (s *Service) CompleteFace(ctx context.Context, id int) (*ent.IdentityVerification, error) {
	uid, err := s.userID(ctx)
	if err != nil {
		return nil, err
	}
	v, err := s.db.IdentityVerification.Query().
		Where(identityverification.ID(id), identityverification.UserID(uid)).Only(viewer.System(ctx))
	if err != nil {
		return nil, notFound(err)
	}
	return s.finishFace(ctx, v)
}

// FaceCallback handles the provider's notification that a session ended.
// The notification only names the session: the result is always fetched from
// the provider, so a forged callback can conclude nothing.
func (s *Service) FaceCallback(ctx context.Context, sessionID string) error {
	v, err := s.db.IdentityVerification.Query().
		Where(identityverification.ProviderTxnID(sessionID), identityverification.MethodEQ(identityverification.MethodFace)).
		Only(viewer.System(ctx))
	if err != nil {
		return notFound(err)
	}
	_, err = s.finishFace(ctx, v)
	return err
}

func (s *Service) finishFace(ctx context.Context, v *ent.IdentityVerification) (*ent.IdentityVerification, error) {
	if v.Status != identityverification.StatusPending || v.Method == nil || *v.Method != identityverification.MethodFace {
		return v, nil // already concluded (callback and client both arrive)
	}
	res, err := s.face.Result(ctx, v.ProviderTxnID)
	if err != nil {
		return nil, s.unavailable(ctx, v, MethodFace, err)
	}
	switch res.Status {
	case FacePending:
		return v, nil
	case FacePassed:
		return s.conclude(ctx, v, MethodFace, CheckResult{TxnID: res.TxnID, Match: true}, nil, "")
	default:
		reason := res.Reason
		if reason == "" {
			reason = "人脸识别未通过"
		}
		return s.conclude(ctx, v, MethodFace, CheckResult{TxnID: res.TxnID, Match: false, Reason: reason}, nil, "")
	}
}

// open returns the viewer's verification id, ready for a check.
func (s *Service) open(ctx context.Context, id int) (*ent.IdentityVerification, error) {
	uid, err := s.userID(ctx)
	if err != nil {
		return nil, err
	}
	sys := viewer.System(ctx)
	v, err := s.db.IdentityVerification.Query().
		Where(identityverification.ID(id), identityverification.UserID(uid)).Only(sys)
	if err != nil {
		return nil, notFound(err)
	}
	if ok, err := s.Verified(ctx, uid); err != nil {
		return nil, err
	} else if ok {
		return nil, errs.New(errs.Conflict, "您已完成实名认证")
	}
	if v.Status == identityverification.StatusFailed {
		return nil, errs.New(errs.Conflict, "本次认证未通过，请重新填写信息后再试")
	}
	failed, err := s.db.IdentityVerification.Query().
		Where(identityverification.UserID(uid), identityverification.StatusEQ(identityverification.StatusFailed),
			identityverification.UpdatedAtGT(s.now().Add(-24*time.Hour))).Count(sys)
	if err != nil {
		return nil, fmt.Errorf("identity: count failures: %w", err)
	}
	if failed >= MaxFailuresPerDay {
		return nil, errs.New(errs.RateLimited, "今日实名认证失败次数过多，请明天再试")
	}
	return v, nil
}

// unavailable records that the provider could not be reached and returns the
// error to show; the verification stays open for another try.
func (s *Service) unavailable(ctx context.Context, v *ent.IdentityVerification, m Method, cause error) error {
	s.log.WarnContext(ctx, "identity provider unavailable", "method", m, "verification", v.ID, "err", cause)
	_ = s.db.IdentityVerification.UpdateOne(v).SetFailureReason("认证服务暂不可用").
		AddAttempts(1).Exec(viewer.System(ctx))
	return errs.Wrap(cause, errs.Internal, "认证服务暂不可用，请稍后再试")
}

// conclude records a check's outcome and, on a match, issues the
// certificate and seal.
func (s *Service) conclude(ctx context.Context, v *ent.IdentityVerification, m Method, res CheckResult, err error, card string) (*ent.IdentityVerification, error) {
	if err != nil {
		return nil, s.unavailable(ctx, v, m, err)
	}
	sys := viewer.System(ctx)
	if !res.Match {
		reason := res.Reason
		if reason == "" {
			reason = "认证信息不一致"
		}
		tx, err := s.db.Tx(sys)
		if err != nil {
			return nil, err
		}
		v, err := tx.IdentityVerification.UpdateOneID(v.ID).SetMethod(identityverification.Method(m)).
			SetProvider(s.provName).SetProviderTxnID(res.TxnID).AddAttempts(1).SetNillableBankCardMasked(nilIfEmpty(card)).
			SetStatus(identityverification.StatusFailed).SetFailureReason(reason).Save(sys)
		if err == nil {
			err = s.record(ctx, tx, v, audit.IdentityFailed, map[string]any{"reason": reason})
		}
		if err != nil {
			_ = tx.Rollback()
			return nil, fmt.Errorf("identity: record failure: %w", err)
		}
		if err := tx.Commit(); err != nil {
			return nil, fmt.Errorf("identity: commit: %w", err)
		}
		return v, errs.New(errs.Invalid, "实名认证未通过："+reason)
	}
	// Certificate and seal first (slow, outside any transaction); the row
	// turns verified only when the user can sign.
	cert, err := s.certs.IssuePerson(ctx, v.UserID, v.Name, v.IDNumber)
	if err != nil {
		return nil, fmt.Errorf("identity: certificate: %w", err)
	}
	img, err := s.seals.Personal(seal.Personal{Name: v.Name})
	if err != nil {
		return nil, fmt.Errorf("identity: seal: %w", err)
	}
	now := s.now()
	tx, err := s.db.Tx(sys)
	if err != nil {
		return nil, err
	}
	v, err = tx.IdentityVerification.UpdateOne(v).SetMethod(identityverification.Method(m)).
		SetProvider(s.provName).SetProviderTxnID(res.TxnID).SetNillableBankCardMasked(nilIfEmpty(card)).
		AddAttempts(1).SetStatus(identityverification.StatusVerified).SetVerifiedAt(now).SetFailureReason("").Save(sys)
	if err == nil {
		err = tx.Seal.Create().SetUserID(v.UserID).SetKind(entseal.KindPersonal).SetName(v.Name).
			SetImage(img.PNG).SetWidth(img.Width).SetHeight(img.Height).SetSource(entseal.SourceGenerated).
			SetIsDefault(true).SetCertificateID(cert.ID).Exec(sys)
	}
	if err == nil {
		err = tx.User.UpdateOneID(v.UserID).SetName(v.Name).Exec(sys)
	}
	if err == nil {
		err = s.record(ctx, tx, v, audit.IdentityVerified, map[string]any{"certificate_id": cert.ID, "serial": cert.Serial})
	}
	if err != nil {
		_ = tx.Rollback()
		return nil, fmt.Errorf("identity: record success: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("identity: commit: %w", err)
	}
	return v, nil
}

// record appends a verification's outcome to the user's trail in tx (the
// provider, its transaction id, the method and masked data — never the ID
// number or a face) and tells the user's live topic after commit.
func (s *Service) record(ctx context.Context, tx *ent.Tx, v *ent.IdentityVerification, action audit.Action, extra map[string]any) error {
	p := map[string]any{"verification_id": v.ID, "provider": v.Provider, "provider_txn_id": v.ProviderTxnID,
		"id_number": v.IDNumberMasked}
	if v.Method != nil {
		p["method"] = *v.Method
	}
	if v.BankCardMasked != "" {
		p["bank_card"] = v.BankCardMasked
	}
	for k, x := range extra {
		p[k] = x
	}
	act := audit.System()
	if vw := viewer.FromContext(ctx); vw.Authenticated() {
		act = audit.User(vw.UserID, accounts.MaskPhone(vw.Phone))
	}
	if _, err := audit.Append(ctx, tx, audit.Event{Chain: audit.UserChain(v.UserID), Actor: act, Action: action,
		Subject: audit.Subject{Type: "identity_verification", ID: v.ID}, Payload: p, Time: s.now()}); err != nil {
		return err
	}
	if s.events != nil {
		events.AfterCommit(tx, s.events, events.Event{Topic: events.UserTopic(v.UserID), Kind: string(action), ID: v.ID})
	}
	return nil
}

// PersonSigner returns the hosted signer of the user's personal
// certificate, for signing with their personal seals.
func (s *Service) PersonSigner(ctx context.Context, userID int) (*certs.Signer, error) {
	c, err := s.certs.ActivePerson(ctx, userID)
	if err != nil {
		return nil, err
	}
	return s.certs.Signer(ctx, c.ID)
}

// Verifications lists the viewer's verifications, newest first.
func (s *Service) Verifications(ctx context.Context) ([]*ent.IdentityVerification, error) {
	if _, err := s.userID(ctx); err != nil {
		return nil, err
	}
	return s.db.IdentityVerification.Query().Order(ent.Desc(identityverification.FieldID)).All(ctx)
}

func (s *Service) userID(ctx context.Context) (int, error) {
	v := viewer.FromContext(ctx)
	if !v.Authenticated() {
		return 0, errs.New(errs.Unauthenticated, "请先登录")
	}
	return v.UserID, nil
}

func notFound(err error) error {
	if ent.IsNotFound(err) {
		return errs.New(errs.NotFound, "实名认证记录不存在")
	}
	return err
}

func nilIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
