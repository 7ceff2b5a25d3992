// Package enterprises is everything about organisations on the platform
// (PRODUCT.md ENT-1…13): certifying an enterprise through the paperless
// certificate application, joining one, the personal and enterprise spaces
// of a session, and the enterprise console — organisation details, members
// and roles, seals, seal grants (授权中心) and certificates.
//
// # Certification state machine (CertOrder.step)
//
//	application ──saveApplication──▶ preview ──confirmOrder──▶ authorization
//	     ▲                              │ backToEdit                │ verifyAuthorization
//	     └──────────────────────────────┘                          ▼
//	confirmation ◀──submitDocuments── documents (uploads)
//	     │ confirmApplication (applicant's SMS code + agreement)
//	     ▼
//	payment (fee > 0: QR, callback) ──paid──▶ review (CA) ──▶ approved | rejected
//
// The enterprise's status is separate: certifying (认证中) while the order
// runs, certified (已认证) on approval, revoked (已撤销) when the applicant
// revokes — allowed until payment; never once paid or under review — and
// rejected (审核未通过) after a CA rejection. Continue (继续认证) resumes a
// revoked order where it stopped, and sends a rejected one back to
// application with its payment kept.
//
// On approval the enterprise gets a hosted key and certificate (or a UKey
// custody record), the three seals (公章, 合同专用章, 法定代表人章) bound to it,
// and the certifier becomes its administrator.
//
// # Spaces and roles
//
// A session works in the personal space or in one enterprise's space
// (SwitchSpace). Console operations act on the active space's enterprise
// and need the administrator role; ids of another enterprise's rows are not
// found. The ent privacy rules (ent/schema/rule/enterprise.go) additionally
// hide every row of an enterprise the viewer is not a member of.
//
// # Signing
//
// CanUseSeal and SealSigner are what the signing pipeline calls: a seal
// signs only when enabled, bound to a usable certificate, and the signer is
// its owner (personal seal), an administrator of its enterprise, or holds a
// grant whose period and scope cover the signature.
package enterprises

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"signet/accounts"
	"signet/blob"
	"signet/certs"
	"signet/database"
	"signet/ent"
	"signet/ent/enterprise"
	"signet/ent/membership"
	"signet/ent/sessionspace"
	"signet/errs"
	"signet/events"
	"signet/identity"
	"signet/jobs"
	"signet/signingcore/seal"
	"signet/sms"
	"signet/viewer"
)

// Fees are the certificate fees in fen (分); zero means free.
type Fees struct {
	HostedCents int
	UKeyCents   int
}

// DefaultFees: ¥99 for a hosted certificate, ¥299 for a UKey (the token and
// its mailing included).
func DefaultFees() Fees { return Fees{HostedCents: 9900, UKeyCents: 29900} }

// Service runs the enterprise workflows.
type Service struct {
	db       *ent.Client
	database *database.DB
	jobs     *jobs.Queue
	blobs    blob.Store
	events   events.Broker
	poll     time.Duration
	accounts *accounts.Service
	sms      sms.Provider
	certs    *certs.Service
	seals    *seal.Generator
	checker  identity.ElementChecker
	bank     BankTransfer
	pay      Payments
	ca       CAReview
	fees     Fees
	baseURL  string
	log      *slog.Logger
	now      func() time.Time

	keptSeals sealCache // sealcache.go
}

// Config builds a Service. Every field but Logger, Now, BaseURL and
// ReviewPoll is required.
type Config struct {
	DB *ent.Client
	// Database is DB's database, for transactions that also insert jobs
	// (jobs.WithTx).
	Database *database.DB
	// Jobs runs the CA review follow-up (ReviewWorker, ReviewSweepWorker).
	Jobs *jobs.Queue
	// Blobs keeps the application documents.
	Blobs blob.Store
	// Events carries live updates to the applicant, the joiner and the
	// console (Updates).
	Events   events.Broker
	Accounts *accounts.Service
	// SMS sends the result notices (CA review, join requests); codes go
	// through Accounts.IssueCode.
	SMS     sms.Provider
	Certs   *certs.Service
	Seals   *seal.Generator
	Checker identity.ElementChecker
	Bank    BankTransfer
	Pay     Payments
	CA      CAReview
	Fees    Fees
	BaseURL string
	Logger  *slog.Logger
	Now     func() time.Time
	// ReviewPoll is how often an order under CA review is followed at first
	// (DefaultReviewPoll when 0); see ReviewPollDelay.
	ReviewPoll time.Duration
}

// New returns a Service. It registers the review workers on cfg.Jobs, so
// it must be built before the queue starts.
func New(cfg Config) (*Service, error) {
	if cfg.DB == nil || cfg.Database == nil || cfg.Jobs == nil || cfg.Blobs == nil || cfg.Events == nil ||
		cfg.Accounts == nil || cfg.SMS == nil || cfg.Certs == nil || cfg.Seals == nil ||
		cfg.Checker == nil || cfg.Bank == nil || cfg.Pay == nil || cfg.CA == nil {
		return nil, fmt.Errorf("enterprises: incomplete config")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ReviewPoll <= 0 {
		cfg.ReviewPoll = DefaultReviewPoll
	}
	s := &Service{db: cfg.DB, database: cfg.Database, jobs: cfg.Jobs, blobs: cfg.Blobs, events: cfg.Events,
		poll: cfg.ReviewPoll, accounts: cfg.Accounts, sms: cfg.SMS, certs: cfg.Certs, seals: cfg.Seals,
		checker: cfg.Checker, bank: cfg.Bank, pay: cfg.Pay, ca: cfg.CA, fees: cfg.Fees,
		baseURL: strings.TrimRight(cfg.BaseURL, "/"), log: cfg.Logger, now: cfg.Now}
	// On every client of the database, jobs.WithTx's too (sealcache.go).
	cfg.Database.Use(func(c *ent.Client) {
		c.Seal.Use(s.dropSealsOnChange)
		c.Certificate.Use(s.dropSealsOnChange)
	})
	if err := jobs.AddWorker(cfg.Jobs, &ReviewWorker{s: s}); err != nil {
		return nil, err
	}
	if err := jobs.AddWorker(cfg.Jobs, &ReviewSweepWorker{s: s}); err != nil {
		return nil, err
	}
	return s, nil
}

// Role is a member's role in an enterprise.
type Role string

// Roles.
const (
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
)

// Space is where a session works: the personal space (EnterpriseID 0) or an
// enterprise's, with the user's role there.
type Space struct {
	UserID       int
	EnterpriseID int
	Role         Role
}

// Personal reports whether s is the personal space.
func (s Space) Personal() bool { return s.EnterpriseID == 0 }

// ActiveSpace returns the viewer's session's space. A space whose
// membership has ended (removed from the enterprise) falls back to personal.
func (s *Service) ActiveSpace(ctx context.Context) (Space, error) {
	v := viewer.FromContext(ctx)
	if !v.Authenticated() {
		return Space{}, errs.New(errs.Unauthenticated, "请先登录")
	}
	sys := viewer.System(ctx)
	sp, err := s.db.SessionSpace.Query().Where(sessionspace.SessionID(v.SessionID)).Only(sys)
	if ent.IsNotFound(err) || (err == nil && sp.EnterpriseID == nil) {
		return Space{UserID: v.UserID}, nil
	}
	if err != nil {
		return Space{}, fmt.Errorf("active space: %w", err)
	}
	m, err := s.db.Membership.Query().
		Where(membership.EnterpriseID(*sp.EnterpriseID), membership.UserID(v.UserID),
			membership.HasEnterpriseWith(enterprise.StatusEQ(enterprise.StatusCertified))).Only(sys)
	if ent.IsNotFound(err) {
		return Space{UserID: v.UserID}, nil
	}
	if err != nil {
		return Space{}, fmt.Errorf("active space: %w", err)
	}
	return Space{UserID: v.UserID, EnterpriseID: m.EnterpriseID, Role: Role(m.Role)}, nil
}

// SwitchSpace makes the session work in an enterprise's space (enterpriseID
// > 0: the viewer must be a member of that certified enterprise) or in the
// personal space (0).
func (s *Service) SwitchSpace(ctx context.Context, enterpriseID int) (Space, error) {
	v := viewer.FromContext(ctx)
	if !v.Authenticated() || v.SessionID == 0 {
		return Space{}, errs.New(errs.Unauthenticated, "请先登录")
	}
	sys := viewer.System(ctx)
	var ep *int
	if enterpriseID != 0 {
		ok, err := s.db.Membership.Query().
			Where(membership.EnterpriseID(enterpriseID), membership.UserID(v.UserID),
				membership.HasEnterpriseWith(enterprise.StatusEQ(enterprise.StatusCertified))).Exist(sys)
		if err != nil {
			return Space{}, fmt.Errorf("switch space: %w", err)
		}
		if !ok {
			return Space{}, errs.New(errs.Forbidden, "您不是该企业的成员，无法切换到企业空间")
		}
		ep = &enterpriseID
	}
	err := s.db.SessionSpace.Create().SetSessionID(v.SessionID).SetNillableEnterpriseID(ep).
		OnConflictColumns(sessionspace.FieldSessionID).
		Update(func(u *ent.SessionSpaceUpsert) {
			if ep == nil {
				u.ClearEnterpriseID()
			} else {
				u.SetEnterpriseID(*ep)
			}
			u.UpdateUpdatedAt()
		}).Exec(sys)
	if err != nil {
		return Space{}, fmt.Errorf("switch space: %w", err)
	}
	return s.ActiveSpace(ctx)
}

// admin returns the active space when the viewer administers its
// enterprise: Forbidden in the personal space or for a plain member.
func (s *Service) admin(ctx context.Context) (Space, error) {
	sp, err := s.member(ctx)
	if err != nil {
		return Space{}, err
	}
	if sp.Role != RoleAdmin {
		return Space{}, errs.New(errs.Forbidden, "仅企业管理员可以进行此操作")
	}
	return sp, nil
}

// member returns the active space when it is an enterprise's.
func (s *Service) member(ctx context.Context) (Space, error) {
	sp, err := s.ActiveSpace(ctx)
	if err != nil {
		return Space{}, err
	}
	if sp.Personal() {
		return Space{}, errs.New(errs.Forbidden, "请先切换到企业空间")
	}
	return sp, nil
}

// Console returns the enterprise of the active space for its administrator
// (企业控制台).
func (s *Service) Console(ctx context.Context) (*ent.Enterprise, error) {
	sp, err := s.admin(ctx)
	if err != nil {
		return nil, err
	}
	return s.db.Enterprise.Get(viewer.System(ctx), sp.EnterpriseID)
}

// Enterprise returns the enterprise of the active space for any member.
func (s *Service) Enterprise(ctx context.Context) (*ent.Enterprise, error) {
	sp, err := s.member(ctx)
	if err != nil {
		return nil, err
	}
	return s.db.Enterprise.Get(viewer.System(ctx), sp.EnterpriseID)
}

func (s *Service) userID(ctx context.Context) (int, error) {
	v := viewer.FromContext(ctx)
	if !v.Authenticated() {
		return 0, errs.New(errs.Unauthenticated, "请先登录")
	}
	return v.UserID, nil
}

// notify sends a notice by SMS; a failure is logged, never returned: the
// decision it reports is already recorded.
func (s *Service) notify(ctx context.Context, phone string, t sms.Template, params map[string]string) {
	if err := s.sms.Send(ctx, sms.Message{Phone: phone, Template: t, Params: params}); err != nil {
		s.log.WarnContext(ctx, "notice not sent", "template", t, "err", err)
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}

func notFound(err error, msg string) error {
	if ent.IsNotFound(err) {
		return errs.New(errs.NotFound, msg)
	}
	return err
}

// withTx runs fn in a transaction as the system: tx for the rows and their
// audit events, jtx for the jobs the change causes.
func (s *Service) withTx(ctx context.Context, fn func(tx *ent.Tx, jtx jobs.JobTx) error) error {
	return jobs.WithTx(viewer.System(ctx), s.database, fn)
}
