// Package accounts owns who a user is and how they prove it: registration,
// login by SMS code and by password + image captcha, password reset and
// change, phone change, sessions, SMS verification codes and the throttles
// that protect them (PRODUCT.md ACC-1, 2, 3, 5, 6, 7).
//
// Every method takes the request context: the viewer (package viewer) says
// who is acting and viewer.ClientFrom where from. Methods return errors from
// package errs with a clear Chinese message; anything else is internal.
package accounts

import (
	"context"
	"crypto/rand"
	_ "embed" // the agreement texts
	"fmt"
	"io"
	"log/slog"
	"time"

	"signet/ent"
	"signet/events"
	"signet/sms"
)

// Policy holds the limits of the account rules. DefaultPolicy documents the
// values Signet ships with.
type Policy struct {
	CodeTTL           time.Duration // an SMS code's life
	CodeMaxAttempts   int           // wrong tries before a code is dead
	CodeResendAfter   time.Duration // minimum gap between two codes to one phone for one purpose
	CodeDailyPerPhone int           // codes per phone per rolling 24 h, all purposes
	CodeDailyPerIP    int           // codes per client IP per rolling 24 h
	CaptchaTTL        time.Duration
	SessionTTL        time.Duration // a session's life without use
	LoginWindow       time.Duration // the window failed logins are counted over
	LoginMaxPerPhone  int           // failed logins per phone in LoginWindow before refusing
	LoginMaxPerIP     int           // failed logins per IP in LoginWindow before refusing
	TicketTTL         time.Duration // life of the change-phone ticket
}

// DefaultPolicy is the policy of the foundation issue: 6-digit codes valid 5
// minutes with 5 tries, 60 s between sends, 10 per phone and 50 per IP a day;
// 5 failed logins per account and 20 per IP in 15 minutes.
func DefaultPolicy() Policy {
	return Policy{
		CodeTTL:           5 * time.Minute,
		CodeMaxAttempts:   5,
		CodeResendAfter:   60 * time.Second,
		CodeDailyPerPhone: 10,
		CodeDailyPerIP:    50,
		CaptchaTTL:        2 * time.Minute,
		SessionTTL:        30 * 24 * time.Hour,
		LoginWindow:       15 * time.Minute,
		LoginMaxPerPhone:  5,
		LoginMaxPerIP:     20,
		TicketTTL:         10 * time.Minute,
	}
}

// Agreement is one version of a legal document users accept on registering.
type Agreement struct {
	Document string // "service_agreement" or "privacy_statement"
	Title    string
	Version  string
	URL      string
	// Content is the document's text (Markdown).
	Content string
}

//go:embed legal/service-agreement.md
var serviceAgreementText string

//go:embed legal/privacy-statement.md
var privacyStatementText string

// CurrentAgreements are the versions a new user must accept. Changing a
// text means raising its version (the Markdown states it too).
func CurrentAgreements() []Agreement {
	return []Agreement{
		{Document: "service_agreement", Title: "服务协议", Version: "2026-11-01", URL: "/legal/service-agreement", Content: serviceAgreementText},
		{Document: "privacy_statement", Title: "隐私声明", Version: "2026-11-01", URL: "/legal/privacy-statement", Content: privacyStatementText},
	}
}

// Config builds a Service.
type Config struct {
	DB     *ent.Client
	SMS    sms.Provider
	Logger *slog.Logger
	Policy Policy
	Hasher *PasswordHasher
	// Now returns the current time; time.Now when nil.
	Now func() time.Time
	// Rand is the randomness source; crypto/rand when nil.
	Rand io.Reader
	// CaptchaText chooses a captcha's answer; random when nil. Tests set it
	// to know the answer without reading the image.
	CaptchaText func() (string, error)
	// UKey enables certificate login and UKey binding (ukey.go); disabled
	// when its CA is nil.
	UKey UKeyConfig
	// Events lets a node keep the sessions it read while WatchSessions
	// listens to the other nodes' session changes; nil reads the session on
	// every request.
	Events events.Broker
}

// Service implements the account workflows.
type Service struct {
	db     *ent.Client
	sms    sms.Provider
	log    *slog.Logger
	policy Policy
	hasher *PasswordHasher
	now    func() time.Time
	rand   io.Reader

	captchaText func() (string, error)
	ukey        UKeyConfig

	events   events.Broker
	sessions sessionCache
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.DB == nil || cfg.SMS == nil || cfg.Hasher == nil {
		return nil, fmt.Errorf("accounts.New: DB, SMS and Hasher are required")
	}
	s := &Service{db: cfg.DB, sms: cfg.SMS, log: cfg.Logger, policy: cfg.Policy, hasher: cfg.Hasher, now: cfg.Now, rand: cfg.Rand,
		captchaText: cfg.CaptchaText, ukey: cfg.UKey, events: cfg.Events}
	if err := cfg.UKey.check(); err != nil {
		return nil, err
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.captchaText == nil {
		s.captchaText = s.randomCaptchaText
	}
	if s.policy == (Policy{}) {
		s.policy = DefaultPolicy()
	}
	return s, nil
}

// Policy returns the limits in force.
func (s *Service) Policy() Policy { return s.policy }

// withTx runs fn in a transaction, rolling back on error.
func (s *Service) withTx(ctx context.Context, fn func(tx *ent.Tx) error) error {
	tx, err := s.db.Tx(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
