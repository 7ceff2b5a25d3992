package accounts

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	"signet/ent"
	"signet/ent/predicate"
	"signet/ent/smscode"
	"signet/errs"
	"signet/sms"
	"signet/viewer"
)

// Purpose says what an SMS code is for; a code only works for its purpose
// (and scope).
type Purpose string

// The purposes of account codes. Other packages (signing intent) define their
// own purposes and scopes and use IssueCode / ConsumeCode directly.
const (
	PurposeRegister       Purpose = "register"
	PurposeLogin          Purpose = "login"
	PurposeResetPassword  Purpose = "reset_password"
	PurposeChangePhoneOld Purpose = "change_phone_old"
	PurposeChangePhoneNew Purpose = "change_phone_new"

	purposeChangePhoneTicket Purpose = "change_phone_ticket"
)

var purposeTemplates = map[Purpose]sms.Template{
	PurposeRegister:       sms.TemplateRegister,
	PurposeLogin:          sms.TemplateLogin,
	PurposeResetPassword:  sms.TemplateResetPassword,
	PurposeChangePhoneOld: sms.TemplateChangePhoneOld,
	PurposeChangePhoneNew: sms.TemplateChangePhoneNew,
}

// CodeRequest asks for a code to be sent.
type CodeRequest struct {
	Phone   string
	Purpose Purpose
	// Scope binds the code to something more specific than the purpose, e.g.
	// a flow participant and document revision for an intent code.
	Scope    string
	Template sms.Template
	// Params are extra template parameters; "code" is added.
	Params map[string]string
}

// SentCode reports a code that was sent.
type SentCode struct {
	Phone       string
	ResendAfter time.Duration
	ExpiresAt   time.Time
	// Issued lets the issuer check the code later without reading it back
	// (ClaimIssued).
	Issued IssuedCode
}

// IssuedCode is what IssueCode knows of the code it stored: its row, hash
// and end. The zero value is no code.
type IssuedCode struct {
	id      int
	hash    []byte
	expires time.Time
}

// SendCode sends an account code (registration, login, password reset,
// phone change) after checking the rules of its purpose.
func (s *Service) SendCode(ctx context.Context, purpose Purpose, phone string) (SentCode, error) {
	sys := viewer.System(ctx)
	tmpl, ok := purposeTemplates[purpose]
	if !ok {
		return SentCode{}, errs.InvalidField("purpose", "不支持的验证码用途")
	}
	switch purpose {
	case PurposeChangePhoneOld:
		u, err := s.currentUser(ctx)
		if err != nil {
			return SentCode{}, err
		}
		phone = u.Phone
	case PurposeChangePhoneNew:
		u, err := s.currentUser(ctx)
		if err != nil {
			return SentCode{}, err
		}
		p, err := NormalizePhone("phone", phone)
		if err != nil {
			return SentCode{}, err
		}
		if p == u.Phone {
			return SentCode{}, errs.InvalidField("phone", "新手机号不能与当前手机号相同")
		}
		phone = p
	default:
		p, err := NormalizePhone("phone", phone)
		if err != nil {
			return SentCode{}, err
		}
		phone = p
	}
	exists, err := s.db.User.Query().Where(userPhone(phone)).Exist(sys)
	if err != nil {
		return SentCode{}, fmt.Errorf("send code: %w", err)
	}
	switch purpose {
	case PurposeRegister:
		if exists {
			return SentCode{}, errs.New(errs.Conflict, "该手机号已注册，请直接登录")
		}
	case PurposeChangePhoneNew:
		if exists {
			return SentCode{}, errs.New(errs.Conflict, "该手机号已被其他账号使用")
		}
	case PurposeLogin, PurposeResetPassword:
		if !exists {
			return SentCode{}, errs.New(errs.NotFound, "该手机号未注册，请先注册")
		}
	}
	return s.IssueCode(ctx, CodeRequest{Phone: phone, Purpose: purpose, Template: tmpl})
}

// IssueCode creates a 6-digit code for the request, stores its hash and
// sends it by SMS. It enforces the resend interval per phone, purpose and
// scope and the daily caps per phone and per client IP (RateLimited), and
// returns Internal when the SMS provider fails (the code is then withdrawn).
func (s *Service) IssueCode(ctx context.Context, req CodeRequest) (SentCode, error) {
	sys := viewer.System(ctx)
	now := s.now()
	client := viewer.ClientFrom(ctx)

	last, err := s.db.SMSCode.Query().
		Where(smscode.Phone(req.Phone), smscode.Purpose(string(req.Purpose)), smscode.Scope(req.Scope)).
		Order(ent.Desc(smscode.FieldCreatedAt)).First(sys)
	if err != nil && !ent.IsNotFound(err) {
		return SentCode{}, fmt.Errorf("issue code: last: %w", err)
	}
	if last != nil {
		if wait := last.CreatedAt.Add(s.policy.CodeResendAfter).Sub(now); wait > 0 {
			secs := int((wait + time.Second - 1) / time.Second)
			return SentCode{}, errs.Newf(errs.RateLimited, "验证码发送过于频繁，请%d秒后再试", secs)
		}
	}
	dayAgo := now.Add(-24 * time.Hour)
	n, err := s.db.SMSCode.Query().Where(smscode.Phone(req.Phone), smscode.CreatedAtGT(dayAgo)).Count(sys)
	if err != nil {
		return SentCode{}, fmt.Errorf("issue code: count phone: %w", err)
	}
	if n >= s.policy.CodeDailyPerPhone {
		return SentCode{}, errs.New(errs.RateLimited, "该手机号今日获取验证码次数已达上限，请明天再试")
	}
	if client.IP != "" {
		n, err := s.db.SMSCode.Query().Where(smscode.IP(client.IP), smscode.CreatedAtGT(dayAgo)).Count(sys)
		if err != nil {
			return SentCode{}, fmt.Errorf("issue code: count ip: %w", err)
		}
		if n >= s.policy.CodeDailyPerIP {
			return SentCode{}, errs.New(errs.RateLimited, "当前网络今日获取验证码次数已达上限，请明天再试")
		}
	}

	code, err := randomDigits(s.rand, 6)
	if err != nil {
		return SentCode{}, fmt.Errorf("issue code: %w", err)
	}
	hash, err := s.hashSecret(code)
	if err != nil {
		return SentCode{}, err
	}
	row, err := s.db.SMSCode.Create().
		SetPhone(req.Phone).SetPurpose(string(req.Purpose)).SetScope(req.Scope).
		SetCodeHash(hash).SetIP(client.IP).
		SetCreatedAt(now).SetExpiresAt(now.Add(s.policy.CodeTTL)).
		Save(sys)
	if err != nil {
		return SentCode{}, fmt.Errorf("issue code: save: %w", err)
	}
	params := map[string]string{"code": code}
	for k, v := range req.Params {
		params[k] = v
	}
	if err := s.sms.Send(ctx, sms.Message{Phone: req.Phone, Template: req.Template, Params: params}); err != nil {
		// Nothing was delivered: withdraw the code so it neither works nor counts.
		if derr := s.db.SMSCode.DeleteOneID(row.ID).Exec(sys); derr != nil {
			s.log.ErrorContext(ctx, "withdraw unsent code", "err", derr)
		}
		return SentCode{}, fmt.Errorf("issue code: send: %w", err)
	}
	return SentCode{Phone: req.Phone, ResendAfter: s.policy.CodeResendAfter, ExpiresAt: row.ExpiresAt,
		Issued: IssuedCode{id: row.ID, hash: hash, expires: row.ExpiresAt}}, nil
}

// ConsumeCode checks code against the newest code issued for phone, purpose
// and scope, and uses it up when it matches. field names the input for
// errors. Each wrong try counts; after Policy.CodeMaxAttempts the code is
// dead. All refusals are Invalid with a message saying what to do.
func (s *Service) ConsumeCode(ctx context.Context, field, phone string, purpose Purpose, scope, code string) error {
	c, err := s.CheckCode(ctx, field, phone, purpose, scope, code)
	if err != nil {
		return err
	}
	return c.Consume(ctx, s.db)
}

// CodeClaim is a code CheckCode (or ClaimIssued) found right, not yet used
// up.
type CodeClaim struct {
	id, maxAttempts int
	field           string
	at              time.Time
	// issued: checked against what its issuer kept, not read; only the
	// statement that uses it up sees the row (see ClaimIssued).
	issued bool
}

// ClaimIssued checks code against a code this process issued (IssueCode's
// SentCode.Issued, kept by the caller with what the code was sent for) in
// memory, without reading the row again: a signature's intent code is
// asked for seconds before it is typed, on the same node. It says false
// when it cannot tell — no code kept, a wrong or malformed code, past its
// end — and the caller then checks with CheckCode, which reads the row,
// counts a wrong try and says what is wrong.
//
// What the row may say that memory does not — used up, too many wrong
// tries, or no longer the newest code of its phone, purpose and scope (one
// issued on another node since) — the statement that uses the claim up
// checks (Consume, ConsumeAll), and refuses it (验证码已失效).
func (s *Service) ClaimIssued(field string, c IssuedCode, code string) (CodeClaim, bool) {
	now := s.now()
	if c.id == 0 || len(code) != 6 || !now.Before(c.expires) || !checkSecret(c.hash, code) {
		return CodeClaim{}, false
	}
	return CodeClaim{id: c.id, maxAttempts: s.policy.CodeMaxAttempts, field: field, at: now, issued: true}, true
}

// usable is what the statement using codes up requires of each row beyond
// its id: not used, not tried too often, not past its end at the claim's
// time, and still the newest code of its phone, purpose and scope (newest
// as latestCode orders them: by creation, then by id).
func usable(at time.Time, maxAttempts int) []predicate.SMSCode {
	return []predicate.SMSCode{smscode.ConsumedAtIsNil(), smscode.AttemptsLT(maxAttempts), smscode.ExpiresAtGT(at),
		func(s *sql.Selector) {
			n := sql.Table(smscode.Table).As("newer")
			col := func(f string) (string, string) { return n.C(f), s.C(f) }
			s.Where(sql.Not(sql.Exists(sql.Select(n.C(smscode.FieldID)).From(n).Where(sql.And(
				sql.ColumnsEQ(col(smscode.FieldPhone)),
				sql.ColumnsEQ(col(smscode.FieldPurpose)),
				sql.ColumnsEQ(col(smscode.FieldScope)),
				sql.Or(sql.ColumnsGT(col(smscode.FieldCreatedAt)),
					sql.And(sql.ColumnsEQ(col(smscode.FieldCreatedAt)), sql.ColumnsGT(col(smscode.FieldID)))),
			)))))
		}}
}

// refused is the error of a claim its statement did not use up: another
// request used it first, or — for an issued claim, whose row was not read
// — it was also tried too often, superseded or past its end meanwhile.
func (c CodeClaim) refused() error {
	if c.issued {
		return errs.InvalidField(c.field, "验证码已失效，请重新获取")
	}
	return errs.InvalidField(c.field, "验证码已使用，请重新获取")
}

// Consume uses the code up through db — the client of the transaction that
// acts on the code, so that the code is used exactly when that commits. It
// is refused (Invalid, 验证码已使用) when another request used it first.
func (c CodeClaim) Consume(ctx context.Context, db *ent.Client) error {
	n, err := db.SMSCode.Update().
		Where(append(usable(c.at, c.maxAttempts), smscode.ID(c.id))...).
		SetConsumedAt(c.at).Save(viewer.System(ctx))
	if err != nil {
		return fmt.Errorf("consume code: %w", err)
	}
	if n == 0 {
		return c.refused()
	}
	return nil
}

// ConsumeAll uses several claimed codes up through db in one statement,
// each as Consume would (at the latest of their check times). It is refused
// as a whole (Invalid, 验证码已使用) when any of them was used first: the
// caller's transaction then rolls back, and nothing is used up.
func ConsumeAll(ctx context.Context, db *ent.Client, claims ...CodeClaim) error {
	switch len(claims) {
	case 0:
		return nil
	case 1:
		return claims[0].Consume(ctx, db)
	}
	ids := make([]int, len(claims))
	at, most := claims[0].at, claims[0].maxAttempts
	for i, c := range claims {
		ids[i] = c.id
		if c.at.After(at) {
			at = c.at
		}
		most = min(most, c.maxAttempts)
	}
	n, err := db.SMSCode.Update().
		Where(append(usable(at, most), smscode.IDIn(ids...))...).
		SetConsumedAt(at).Save(viewer.System(ctx))
	if err != nil {
		return fmt.Errorf("consume codes: %w", err)
	}
	if n != len(claims) {
		return claims[0].refused()
	}
	return nil
}

// CheckCode is ConsumeCode but for the last step: a right code is returned
// as a claim, for the caller to use up in the transaction that acts on it
// (CodeClaim.Consume). A request that fails before that commit leaves the
// code usable; of two requests with the same code only one commits. Wrong
// tries count at once, as in ConsumeCode.
func (s *Service) CheckCode(ctx context.Context, field, phone string, purpose Purpose, scope, code string) (CodeClaim, error) {
	sys := viewer.System(ctx)
	now := s.now()
	if len(code) != 6 {
		return CodeClaim{}, errs.InvalidField(field, "请输入6位数字验证码")
	}
	row, err := s.latestCode(sys, phone, purpose, scope)
	if errors.Is(err, errNoCode) {
		return CodeClaim{}, errs.InvalidField(field, "验证码无效，请先获取验证码")
	}
	if err != nil {
		return CodeClaim{}, fmt.Errorf("consume code: %w", err)
	}
	switch {
	case row.ConsumedAt != nil:
		return CodeClaim{}, errs.InvalidField(field, "验证码已使用，请重新获取")
	case row.Attempts >= s.policy.CodeMaxAttempts:
		return CodeClaim{}, errs.InvalidField(field, "验证码错误次数过多，请重新获取")
	case !now.Before(row.ExpiresAt):
		return CodeClaim{}, errs.InvalidField(field, "验证码已过期，请重新获取")
	}
	if !checkSecret(row.CodeHash, code) {
		n, err := s.db.SMSCode.Update().
			Where(smscode.ID(row.ID), smscode.AttemptsLT(s.policy.CodeMaxAttempts)).
			AddAttempts(1).Save(sys)
		if err != nil {
			return CodeClaim{}, fmt.Errorf("consume code: count attempt: %w", err)
		}
		left := s.policy.CodeMaxAttempts - row.Attempts - 1
		if n == 0 || left <= 0 {
			return CodeClaim{}, errs.InvalidField(field, "验证码错误次数过多，请重新获取")
		}
		return CodeClaim{}, errs.InvalidField(field, fmt.Sprintf("验证码错误，还可尝试%d次", left))
	}
	return CodeClaim{id: row.ID, maxAttempts: s.policy.CodeMaxAttempts, field: field, at: now}, nil
}

// codeRow is what checking a code reads of it.
type codeRow struct {
	ID, Attempts int
	CodeHash     []byte
	ExpiresAt    time.Time
	ConsumedAt   *time.Time
}

// errNoCode says that no code was sent for the phone, purpose and scope.
var errNoCode = errors.New("accounts: no code")

// latestCode reads the newest code sent to phone for purpose and scope
// (errNoCode when there is none). Every signature and every SMS login
// checks a code, so it is one statement written once per database, scanned
// into plain variables, as Authenticate's session read is.
func (s *Service) latestCode(ctx context.Context, phone string, purpose Purpose, scope string) (codeRow, error) {
	var row codeRow
	query, ok := latestCodeSQL[s.db.Dialect()]
	if !ok {
		return row, fmt.Errorf("unsupported database %q", s.db.Dialect())
	}
	var consumed sql.NullTime
	found, err := s.queryRow(ctx, query, []any{phone, string(purpose), scope},
		&row.ID, &row.CodeHash, &row.Attempts, &row.ExpiresAt, &consumed)
	if err != nil {
		return row, err
	}
	if !found {
		return row, errNoCode
	}
	if consumed.Valid {
		row.ConsumedAt = &consumed.Time
	}
	return row, nil
}

var latestCodeSQL = map[string]string{
	dialect.SQLite:   buildLatestCodeSQL(dialect.SQLite),
	dialect.Postgres: buildLatestCodeSQL(dialect.Postgres),
}

func buildLatestCodeSQL(d string) string {
	t := sql.Table(smscode.Table)
	q, _ := sql.Dialect(d).Select(t.C(smscode.FieldID), t.C(smscode.FieldCodeHash), t.C(smscode.FieldAttempts),
		t.C(smscode.FieldExpiresAt), t.C(smscode.FieldConsumedAt)).From(t).
		Where(sql.And(sql.EQ(t.C(smscode.FieldPhone), ""), sql.EQ(t.C(smscode.FieldPurpose), ""), sql.EQ(t.C(smscode.FieldScope), ""))).
		OrderBy(sql.Desc(t.C(smscode.FieldCreatedAt)), sql.Desc(t.C(smscode.FieldID))).Limit(1).Query()
	return q
}

// hashSecret returns salt || SHA-256(salt || secret).
func (s *Service) hashSecret(secret string) ([]byte, error) {
	salt := make([]byte, 16)
	if _, err := io.ReadFull(s.rand, salt); err != nil {
		return nil, fmt.Errorf("salt: %w", err)
	}
	h := sha256.Sum256(append(append([]byte{}, salt...), secret...))
	return append(salt, h[:]...), nil
}

func checkSecret(stored []byte, secret string) bool {
	if len(stored) != 16+sha256.Size {
		return false
	}
	h := sha256.Sum256(append(append([]byte{}, stored[:16]...), secret...))
	return subtle.ConstantTimeCompare(h[:], stored[16:]) == 1
}

// randomDigits returns n uniformly random decimal digits.
func randomDigits(r io.Reader, n int) (string, error) {
	limit := uint64(1)
	for range n {
		limit *= 10
	}
	// Reject values past the largest multiple of limit to avoid modulo bias.
	max := (^uint64(0) / limit) * limit
	var b [8]byte
	for {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return "", fmt.Errorf("random digits: %w", err)
		}
		v := binary.BigEndian.Uint64(b[:])
		if v < max {
			s := strconv.FormatUint(v%limit, 10)
			for len(s) < n {
				s = "0" + s
			}
			return s, nil
		}
	}
}
