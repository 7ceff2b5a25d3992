package accounts

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"strconv"
	"time"

	"signet/ent"
	"signet/ent/agreementacceptance"
	"signet/ent/credential"
	"signet/ent/session"
	"signet/ent/smscode"
	"signet/ent/user"
	"signet/errs"
	"signet/viewer"
)

// RegisterInput is ACC-1's form.
type RegisterInput struct {
	Phone                   string
	Password                string
	PasswordConfirm         string
	Code                    string
	ServiceAgreementVersion string
	PrivacyStatementVersion string
}

// Register creates an account from a verified phone and a password, records
// the accepted agreement versions with time and IP, and logs the user in.
func (s *Service) Register(ctx context.Context, in RegisterInput) (AuthResult, error) {
	sys := viewer.System(ctx)
	phone, err := NormalizePhone("phone", in.Phone)
	if err != nil {
		return AuthResult{}, err
	}
	if err := CheckPasswordPolicy("password", in.Password, in.PasswordConfirm); err != nil {
		return AuthResult{}, err
	}
	if err := checkAgreements(in.ServiceAgreementVersion, in.PrivacyStatementVersion); err != nil {
		return AuthResult{}, err
	}
	exists, err := s.db.User.Query().Where(user.Phone(phone)).Exist(sys)
	if err != nil {
		return AuthResult{}, fmt.Errorf("register: %w", err)
	}
	if exists {
		return AuthResult{}, errs.New(errs.Conflict, "该手机号已注册，请直接登录")
	}
	if err := s.ConsumeCode(ctx, "code", phone, PurposeRegister, "", in.Code); err != nil {
		return AuthResult{}, err
	}
	hash, err := s.hasher.Hash(in.Password)
	if err != nil {
		return AuthResult{}, fmt.Errorf("register: %w", err)
	}
	var res AuthResult
	err = s.withTx(ctx, func(tx *ent.Tx) error {
		u, err := s.createUser(ctx, tx, phone, "该手机号已注册，请直接登录")
		if err != nil {
			return err
		}
		if err := tx.Credential.Create().SetUserID(u.ID).SetKind(credential.KindPassword).SetSecret(hash).Exec(sys); err != nil {
			return fmt.Errorf("create credential: %w", err)
		}
		res, err = s.newSession(ctx, tx, u, MethodSMS)
		return err
	})
	if err != nil {
		return AuthResult{}, err
	}
	res = res.unwrap()
	s.log.InfoContext(ctx, "user registered", "user", res.User.ID)
	become(ctx, res)
	return res, nil
}

// LoginBySMS logs in a registered phone with a login code (ACC-2).
func (s *Service) LoginBySMS(ctx context.Context, phone, code string) (AuthResult, error) {
	p, err := NormalizePhone("phone", phone)
	if err != nil {
		return AuthResult{}, err
	}
	if err := s.checkLoginThrottle(ctx, p); err != nil {
		return AuthResult{}, err
	}
	if err := s.ConsumeCode(ctx, "code", p, PurposeLogin, "", code); err != nil {
		s.recordLoginFailure(ctx, p, "sms")
		return AuthResult{}, err
	}
	u, err := s.db.User.Query().Where(user.Phone(p)).Only(viewer.System(ctx))
	if ent.IsNotFound(err) {
		return AuthResult{}, errs.New(errs.NotFound, "该手机号未注册，请先注册")
	}
	if err != nil {
		return AuthResult{}, fmt.Errorf("login: %w", err)
	}
	return s.login(ctx, u, MethodSMS)
}

// LoginByPasswordInput is ACC-3's form.
type LoginByPasswordInput struct {
	Phone         string
	Password      string
	CaptchaKey    string
	CaptchaAnswer string
}

// LoginByPassword logs in with phone, password and a solved image captcha
// (ACC-3). The captcha is used up whatever the outcome. Unknown phones and
// wrong passwords get the same answer, so the form does not reveal who has an
// account.
func (s *Service) LoginByPassword(ctx context.Context, in LoginByPasswordInput) (AuthResult, error) {
	p, err := NormalizePhone("phone", in.Phone)
	if err != nil {
		return AuthResult{}, err
	}
	if err := s.checkLoginThrottle(ctx, p); err != nil {
		return AuthResult{}, err
	}
	if err := s.ConsumeCaptcha(ctx, in.CaptchaKey, in.CaptchaAnswer); err != nil {
		return AuthResult{}, err
	}
	wrong := errs.InvalidField("password", "手机号或密码错误")
	u, err := s.db.User.Query().Where(user.Phone(p)).Only(viewer.System(ctx))
	if ent.IsNotFound(err) {
		// Spend the same time as a real check so timing does not reveal it.
		_, _ = s.hasher.Verify(s.hasher.dummy(), in.Password)
		s.recordLoginFailure(ctx, p, "password")
		return AuthResult{}, wrong
	}
	if err != nil {
		return AuthResult{}, fmt.Errorf("login: %w", err)
	}
	ok, err := s.checkPassword(ctx, u.ID, in.Password)
	if err != nil {
		return AuthResult{}, err
	}
	if !ok {
		s.recordLoginFailure(ctx, p, "password")
		return AuthResult{}, wrong
	}
	return s.login(ctx, u, MethodPassword)
}

func (s *Service) login(ctx context.Context, u *ent.User, method session.Method) (AuthResult, error) {
	var res AuthResult
	err := s.withTx(ctx, func(tx *ent.Tx) error {
		var err error
		res, err = s.newSession(ctx, tx, u, method)
		return err
	})
	if err != nil {
		return AuthResult{}, err
	}
	res.Session = res.Session.Unwrap() // the user was loaded outside the transaction
	s.clearLoginFailures(ctx, u.Phone)
	become(ctx, res)
	return res, nil
}

// checkPassword verifies a user's password; a user without one never matches.
func (s *Service) checkPassword(ctx context.Context, userID int, password string) (bool, error) {
	c, err := s.db.Credential.Query().
		Where(credential.UserID(userID), credential.KindEQ(credential.KindPassword)).Only(viewer.System(ctx))
	if ent.IsNotFound(err) {
		_, _ = s.hasher.Verify(s.hasher.dummy(), password)
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("password: %w", err)
	}
	ok, err := s.hasher.Verify(c.Secret, password)
	if err != nil {
		return false, fmt.Errorf("password: %w", err)
	}
	return ok, nil
}

// ResetPasswordInput is ACC-5's form.
type ResetPasswordInput struct {
	Phone              string
	NewPassword        string
	NewPasswordConfirm string
	Code               string
}

// ResetPassword sets a new password for a phone proven by a code and logs out
// every session of the account (ACC-5).
func (s *Service) ResetPassword(ctx context.Context, in ResetPasswordInput) error {
	sys := viewer.System(ctx)
	p, err := NormalizePhone("phone", in.Phone)
	if err != nil {
		return err
	}
	if err := CheckPasswordPolicy("newPassword", in.NewPassword, in.NewPasswordConfirm); err != nil {
		return err
	}
	u, err := s.db.User.Query().Where(user.Phone(p)).Only(sys)
	if ent.IsNotFound(err) {
		return errs.New(errs.NotFound, "该手机号未注册，请先注册")
	}
	if err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	if err := s.ConsumeCode(ctx, "code", p, PurposeResetPassword, "", in.Code); err != nil {
		return err
	}
	if err := s.setPassword(ctx, u.ID, in.NewPassword, 0); err != nil {
		return err
	}
	s.clearLoginFailures(ctx, p)
	return nil
}

// ChangePasswordInput is ACC-7's form.
type ChangePasswordInput struct {
	OldPassword        string
	NewPassword        string
	NewPasswordConfirm string
}

// ChangePassword replaces the viewer's password after checking the old one,
// and logs out the account's other sessions (ACC-7).
func (s *Service) ChangePassword(ctx context.Context, in ChangePasswordInput) error {
	u, err := s.currentUser(ctx)
	if err != nil {
		return err
	}
	if err := s.checkLoginThrottle(ctx, u.Phone); err != nil {
		return err
	}
	ok, err := s.checkPassword(ctx, u.ID, in.OldPassword)
	if err != nil {
		return err
	}
	if !ok {
		s.recordLoginFailure(ctx, u.Phone, "change_password")
		return errs.InvalidField("oldPassword", "原密码错误")
	}
	if err := CheckPasswordPolicy("newPassword", in.NewPassword, in.NewPasswordConfirm); err != nil {
		return err
	}
	if in.NewPassword == in.OldPassword {
		return errs.InvalidField("newPassword", "新密码不能与原密码相同")
	}
	return s.setPassword(ctx, u.ID, in.NewPassword, viewer.FromContext(ctx).SessionID)
}

// setPassword stores a new password hash and revokes sessions except keep.
func (s *Service) setPassword(ctx context.Context, userID int, password string, keep int) error {
	sys := viewer.System(ctx)
	hash, err := s.hasher.Hash(password)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	return s.withTx(ctx, func(tx *ent.Tx) error {
		err := tx.Credential.Create().SetUserID(userID).SetKind(credential.KindPassword).SetSecret(hash).
			OnConflictColumns(credential.FieldUserID, credential.FieldKind).
			Update(func(u *ent.CredentialUpsert) { u.UpdateSecret().UpdateUpdatedAt() }).
			Exec(sys)
		if err != nil {
			return fmt.Errorf("set password: %w", err)
		}
		return s.revokeAll(ctx, tx, userID, keep)
	})
}

// PhoneTicket proves the old phone was verified during a phone change.
type PhoneTicket struct {
	Ticket    string
	ExpiresAt time.Time
}

// VerifyOldPhone checks the code sent to the viewer's current phone and
// returns a ticket for ChangePhone (ACC-6, step one).
func (s *Service) VerifyOldPhone(ctx context.Context, code string) (PhoneTicket, error) {
	u, err := s.currentUser(ctx)
	if err != nil {
		return PhoneTicket{}, err
	}
	if err := s.ConsumeCode(ctx, "code", u.Phone, PurposeChangePhoneOld, "", code); err != nil {
		return PhoneTicket{}, err
	}
	raw := make([]byte, 24)
	if _, err := io.ReadFull(s.rand, raw); err != nil {
		return PhoneTicket{}, fmt.Errorf("ticket: %w", err)
	}
	ticket := base64.RawURLEncoding.EncodeToString(raw)
	hash, err := s.hashSecret(ticket)
	if err != nil {
		return PhoneTicket{}, err
	}
	now := s.now()
	row, err := s.db.SMSCode.Create().
		SetPhone(u.Phone).SetPurpose(string(purposeChangePhoneTicket)).SetScope(strconv.Itoa(u.ID)).
		SetCodeHash(hash).SetIP(viewer.ClientFrom(ctx).IP).
		SetCreatedAt(now).SetExpiresAt(now.Add(s.policy.TicketTTL)).Save(viewer.System(ctx))
	if err != nil {
		return PhoneTicket{}, fmt.Errorf("ticket: %w", err)
	}
	return PhoneTicket{Ticket: ticket, ExpiresAt: row.ExpiresAt}, nil
}

// ChangePhoneInput is ACC-6's second step.
type ChangePhoneInput struct {
	Ticket   string
	NewPhone string
	Code     string
}

// ChangePhone moves the viewer's account to a new phone proven by its own
// code, given the ticket from VerifyOldPhone (ACC-6). The new phone becomes
// the login.
func (s *Service) ChangePhone(ctx context.Context, in ChangePhoneInput) (*ent.User, error) {
	sys := viewer.System(ctx)
	u, err := s.currentUser(ctx)
	if err != nil {
		return nil, err
	}
	p, err := NormalizePhone("newPhone", in.NewPhone)
	if err != nil {
		return nil, err
	}
	ticket, err := s.findTicket(ctx, u, in.Ticket)
	if err != nil {
		return nil, err
	}
	if err := s.ConsumeCode(ctx, "code", p, PurposeChangePhoneNew, "", in.Code); err != nil {
		return nil, err
	}
	var out *ent.User
	err = s.withTx(ctx, func(tx *ent.Tx) error {
		n, err := tx.SMSCode.Update().Where(smscode.ID(ticket.ID), smscode.ConsumedAtIsNil()).
			SetConsumedAt(s.now()).Save(sys)
		if err != nil {
			return fmt.Errorf("use ticket: %w", err)
		}
		if n == 0 {
			return errs.InvalidField("ticket", "原手机号验证已失效，请重新验证")
		}
		out, err = tx.User.UpdateOneID(u.ID).SetPhone(p).SetPhoneVerifiedAt(s.now()).Save(sys)
		if ent.IsConstraintError(err) {
			return errs.New(errs.Conflict, "该手机号已被其他账号使用")
		}
		if err != nil {
			return fmt.Errorf("change phone: %w", err)
		}
		s.sessionsChangeWith(ctx, tx, u.ID) // the sessions kept carry the phone
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.clearLoginFailures(ctx, u.Phone)
	return out.Unwrap(), nil
}

func (s *Service) findTicket(ctx context.Context, u *ent.User, ticket string) (*ent.SMSCode, error) {
	bad := errs.InvalidField("ticket", "原手机号验证已失效，请重新验证")
	row, err := s.db.SMSCode.Query().
		Where(smscode.Phone(u.Phone), smscode.Purpose(string(purposeChangePhoneTicket)), smscode.Scope(strconv.Itoa(u.ID))).
		Order(ent.Desc(smscode.FieldCreatedAt)).First(viewer.System(ctx))
	if ent.IsNotFound(err) {
		return nil, bad
	}
	if err != nil {
		return nil, fmt.Errorf("ticket: %w", err)
	}
	if row.ConsumedAt != nil || !s.now().Before(row.ExpiresAt) || !checkSecret(row.CodeHash, ticket) {
		return nil, bad
	}
	return row, nil
}

// HasPassword reports whether the user has set a password.
func (s *Service) HasPassword(ctx context.Context, userID int) (bool, error) {
	ok, err := s.db.Credential.Query().
		Where(credential.UserID(userID), credential.KindEQ(credential.KindPassword)).Exist(viewer.System(ctx))
	if err != nil {
		return false, fmt.Errorf("has password: %w", err)
	}
	return ok, nil
}

// SignInProvenPhone logs in the owner of a phone that the caller has just
// proven with a code (a signing link's phone check), creating the account
// when the phone has none. A new account records the agreement versions
// accepted on the page that asked for the code; it has no password until the
// user sets one (找回密码). Callers must have consumed a code for phone.
func (s *Service) SignInProvenPhone(ctx context.Context, phone, serviceAgreementVersion, privacyStatementVersion string) (AuthResult, error) {
	sys := viewer.System(ctx)
	u, err := s.db.User.Query().Where(user.Phone(phone)).Only(sys)
	if err != nil && !ent.IsNotFound(err) {
		return AuthResult{}, fmt.Errorf("sign in: %w", err)
	}
	if u != nil {
		return s.login(ctx, u, MethodSMS)
	}
	if err := checkAgreements(serviceAgreementVersion, privacyStatementVersion); err != nil {
		return AuthResult{}, err
	}
	var res AuthResult
	err = s.withTx(ctx, func(tx *ent.Tx) error {
		u, err := s.createUser(ctx, tx, phone, "请重试")
		if err != nil {
			return err
		}
		res, err = s.newSession(ctx, tx, u, MethodSMS)
		return err
	})
	if err != nil {
		return AuthResult{}, err
	}
	res = res.unwrap()
	become(ctx, res)
	return res, nil
}

// checkAgreements requires the current versions of the agreements.
func checkAgreements(serviceAgreementVersion, privacyStatementVersion string) error {
	versions := map[string]string{
		"service_agreement": serviceAgreementVersion,
		"privacy_statement": privacyStatementVersion,
	}
	for _, a := range CurrentAgreements() {
		switch v := versions[a.Document]; {
		case v == "":
			return errs.InvalidField("agreements", "请阅读并同意《服务协议》和《隐私声明》")
		case v != a.Version:
			return errs.InvalidField("agreements", "《"+a.Title+"》已更新，请重新阅读并同意")
		}
	}
	return nil
}

// createUser creates an account for a proven phone and records the accepted
// agreement versions with time and client; taken is the message for a phone
// registered meanwhile.
func (s *Service) createUser(ctx context.Context, tx *ent.Tx, phone, taken string) (*ent.User, error) {
	sys := viewer.System(ctx)
	now := s.now()
	client := viewer.ClientFrom(ctx)
	u, err := tx.User.Create().SetPhone(phone).SetPhoneVerifiedAt(now).Save(sys)
	if ent.IsConstraintError(err) {
		return nil, errs.New(errs.Conflict, taken)
	}
	if err != nil {
		return nil, fmt.Errorf("create user: %w", err)
	}
	for _, a := range CurrentAgreements() {
		err := tx.AgreementAcceptance.Create().SetUserID(u.ID).
			SetDocument(agreementacceptance.Document(a.Document)).SetVersion(a.Version).
			SetAcceptedAt(now).SetIP(client.IP).SetUserAgent(truncate(client.UserAgent, 512)).Exec(sys)
		if err != nil {
			return nil, fmt.Errorf("record agreement: %w", err)
		}
	}
	return u, nil
}
