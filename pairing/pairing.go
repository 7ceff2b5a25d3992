// Package pairing is QR pairing of a PC session with a phone for handwriting
// capture (USR-1, 添加手写签名) and the user's personal seals (USR-3).
//
// The logged-in PC user creates a pairing: a random token, stored only as its
// SHA-256, bound to the user, valid for TTL (5 minutes) and usable once, and
// scoped to handwriting capture — it grants nothing else, in particular no
// session. The PC shows the QR code of {BaseURL}/p/{token}; the phone opens it
// without logging in, asks Info whether it is still valid, and Submits a PNG
// and the strokes (points with timing). The capture becomes a personal seal of
// kind handwritten bound to the user's active personal certificate. A user who
// is not yet real-name verified has no certificate: the signature is kept
// anyway, unbound (certificate_id empty), and is bound to the personal
// certificate when the user sets it as the default seal after verification
// (SetDefault refuses while there is no certificate). The PC
// follows the pairing with Watch (GraphQL subscription pairingUpdated) and
// shows the signature as soon as it is committed.
package pairing

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"signet/accounts"
	"signet/audit"
	"signet/ent"
	"signet/ent/certificate"
	"signet/ent/pairingsession"
	entseal "signet/ent/seal"
	"signet/errs"
	"signet/events"
	"signet/viewer"
)

// DefaultTTL is how long a pairing's QR code stays valid.
const DefaultTTL = 5 * time.Minute

// MaxRecent bounds the unexpired pairings of one user.
const MaxRecent = 20

// Config configures a Service.
type Config struct {
	DB     *ent.Client
	Broker events.Broker
	// BaseURL is the public URL the capture link starts with.
	BaseURL string
	// TTL is a pairing's lifetime (DefaultTTL when zero).
	TTL    time.Duration
	Now    func() time.Time
	Rand   io.Reader
	Logger *slog.Logger
}

// Service creates pairings, takes captures and manages personal seals.
type Service struct {
	db      *ent.Client
	broker  events.Broker
	baseURL string
	ttl     time.Duration
	now     func() time.Time
	rand    io.Reader
	log     *slog.Logger
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.DB == nil {
		return nil, errors.New("pairing: no database")
	}
	s := &Service{db: cfg.DB, broker: cfg.Broker, baseURL: strings.TrimRight(cfg.BaseURL, "/"),
		ttl: cfg.TTL, now: cfg.Now, rand: cfg.Rand, log: cfg.Logger}
	if s.ttl <= 0 {
		s.ttl = DefaultTTL
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// Status is where a pairing stands.
type Status string

// Statuses.
const (
	// StatusWaiting: the QR code is valid and nothing was submitted yet.
	StatusWaiting Status = "waiting"
	// StatusCompleted: a signature was submitted (the token is used).
	StatusCompleted Status = "completed"
	// StatusExpired: the QR code expired unused.
	StatusExpired Status = "expired"
	// StatusInvalid: no such token (Info only).
	StatusInvalid Status = "invalid"
)

// Topic is the events topic of one pairing.
func Topic(id int) string { return "pairing:" + strconv.Itoa(id) }

// KindCompleted is the event published when a capture is stored.
const KindCompleted = "pairing.completed"

// Ticket is a new pairing as its creator sees it, once: the token is not
// stored and cannot be read again.
type Ticket struct {
	Session *ent.PairingSession
	Token   string
	// URL is the capture page {BaseURL}/p/{token}, what the QR code holds.
	URL string
}

// View is a pairing as its owner follows it.
type View struct {
	Session *ent.PairingSession
	Status  Status
	// Seal is the captured signature once completed.
	Seal *ent.Seal
}

func hashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

func (s *Service) captureURL(token string) string { return s.baseURL + "/p/" + token }

func (s *Service) status(p *ent.PairingSession) Status {
	switch {
	case p.UsedAt != nil:
		return StatusCompleted
	case !s.now().Before(p.ExpiresAt):
		return StatusExpired
	default:
		return StatusWaiting
	}
}

func actor(ctx context.Context) audit.Actor {
	v := viewer.FromContext(ctx)
	return audit.User(v.UserID, accounts.MaskPhone(v.Phone))
}

func requireUser(ctx context.Context) (viewer.Viewer, error) {
	v := viewer.FromContext(ctx)
	if !v.Authenticated() {
		return v, errs.New(errs.Unauthenticated, "请先登录")
	}
	return v, nil
}

// Create starts a pairing for the logged-in viewer.
func (s *Service) Create(ctx context.Context) (*Ticket, error) {
	v, err := requireUser(ctx)
	if err != nil {
		return nil, err
	}
	var b [32]byte
	if _, err := io.ReadFull(s.rand, b[:]); err != nil {
		return nil, fmt.Errorf("pairing: token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(b[:])
	sys := viewer.System(ctx)
	c := viewer.ClientFrom(ctx)
	now := s.now()
	recent, err := s.db.PairingSession.Query().Where(pairingsession.UserID(v.UserID),
		pairingsession.ExpiresAtGT(now)).Count(sys)
	if err != nil {
		return nil, fmt.Errorf("pairing: count: %w", err)
	}
	if recent >= MaxRecent {
		return nil, errs.New(errs.RateLimited, "生成二维码过于频繁，请稍后再试")
	}
	// Unused codes that expired a day ago are of no further interest (used
	// ones keep the stroke data of their signature).
	if _, err := s.db.PairingSession.Delete().Where(pairingsession.UserID(v.UserID), pairingsession.UsedAtIsNil(),
		pairingsession.ExpiresAtLT(now.Add(-24*time.Hour))).Exec(sys); err != nil {
		s.log.WarnContext(ctx, "pairing: clean up", "err", err)
	}
	var p *ent.PairingSession
	err = s.withTx(ctx, func(tx *ent.Tx) error {
		var err error
		p, err = tx.PairingSession.Create().SetTokenHash(hashToken(token)).SetUserID(v.UserID).
			SetExpiresAt(s.now().Add(s.ttl)).Save(sys)
		if err != nil {
			return fmt.Errorf("pairing: create: %w", err)
		}
		_, err = audit.Append(ctx, tx, audit.Event{Chain: audit.UserChain(v.UserID), Actor: actor(ctx),
			Action: audit.PairingCreated, Subject: audit.Subject{Type: "pairing", ID: p.ID},
			Payload: map[string]any{"purpose": "handwriting", "ip": c.IP}})
		return err
	})
	if err != nil {
		return nil, err
	}
	return &Ticket{Session: p, Token: token, URL: s.captureURL(token)}, nil
}

func (s *Service) withTx(ctx context.Context, fn func(tx *ent.Tx) error) error {
	tx, err := s.db.Tx(viewer.System(ctx))
	if err != nil {
		return fmt.Errorf("pairing: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("pairing: commit: %w", err)
	}
	return nil
}

// byToken finds the pairing of token (nil when none).
func (s *Service) byToken(ctx context.Context, token string) (*ent.PairingSession, error) {
	if token == "" || len(token) > 128 {
		return nil, nil
	}
	p, err := s.db.PairingSession.Query().Where(pairingsession.TokenHash(hashToken(token))).Only(viewer.System(ctx))
	if ent.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pairing: load: %w", err)
	}
	return p, nil
}

// Info is what the capture page learns about a token: whether it may still
// be used, and a message to show when not.
type Info struct {
	Status    Status
	Message   string
	ExpiresAt time.Time
	// OwnerName is the masked name of the account the capture goes to.
	OwnerName string
}

// Messages shown on the phone.
const (
	msgInvalid = "二维码无效，请在电脑上重新打开“添加手写签名”并扫描新的二维码"
	msgExpired = "二维码已过期，请在电脑上刷新二维码后重新扫描"
	msgUsed    = "该二维码已使用，手写签名已提交。如需再次添加，请在电脑上生成新的二维码"
)

// Info tells the capture page (no login) whether token may be used.
func (s *Service) Info(ctx context.Context, token string) (*Info, error) {
	p, err := s.byToken(ctx, token)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return &Info{Status: StatusInvalid, Message: msgInvalid}, nil
	}
	in := &Info{Status: s.status(p), ExpiresAt: p.ExpiresAt}
	switch in.Status {
	case StatusExpired:
		in.Message = msgExpired
	case StatusCompleted:
		in.Message = msgUsed
	default:
		if u, err := s.db.User.Get(viewer.System(ctx), p.UserID); err == nil {
			in.OwnerName = maskName(u.Name, u.Phone)
		}
	}
	return in, nil
}

func maskName(name, phone string) string {
	r := []rune(name)
	if len(r) == 0 {
		return accounts.MaskPhone(phone)
	}
	if len(r) == 1 {
		return string(r)
	}
	return "*" + string(r[1:])
}

// refusal is the error for a token that may not be used.
func (s *Service) refusal(p *ent.PairingSession) error {
	if p == nil {
		return errs.New(errs.NotFound, msgInvalid)
	}
	switch s.status(p) {
	case StatusExpired:
		return errs.New(errs.Forbidden, msgExpired)
	case StatusCompleted:
		return errs.New(errs.Conflict, msgUsed)
	}
	return nil
}

// QR returns the PNG QR code of token's capture URL while the token is valid.
// The token itself is the credential: whoever holds it could open the URL.
func (s *Service) QR(ctx context.Context, token string, size int) ([]byte, error) {
	p, err := s.byToken(ctx, token)
	if err != nil {
		return nil, err
	}
	if err := s.refusal(p); err != nil {
		return nil, err
	}
	if size < 128 || size > 1024 {
		size = 256
	}
	png, err := qrcode.Encode(s.captureURL(token), qrcode.Medium, size)
	if err != nil {
		return nil, fmt.Errorf("pairing: qr: %w", err)
	}
	return png, nil
}

// Submit stores a capture for token (no login): png is the drawn signature,
// strokes the points with timing (see ValidateStrokes). The token is used up
// whatever happens next; a second submission is refused.
func (s *Service) Submit(ctx context.Context, token string, png []byte, strokes []byte) (*ent.Seal, error) {
	p, err := s.byToken(ctx, token)
	if err != nil {
		return nil, err
	}
	if err := s.refusal(p); err != nil {
		return nil, err
	}
	img, err := ValidatePNG(png)
	if err != nil {
		return nil, err
	}
	if img.points, err = parseStrokes(strokes, img.Width, img.Height); err != nil {
		return nil, err
	}
	sys := viewer.System(ctx)
	c := viewer.ClientFrom(ctx)
	certID, err := s.personalCert(ctx, p.UserID)
	if err != nil {
		return nil, err
	}
	var sl *ent.Seal
	err = s.withTx(ctx, func(tx *ent.Tx) error {
		now := s.now()
		// Claim the token: only one submission can flip used_at.
		n, err := tx.PairingSession.Update().Where(pairingsession.ID(p.ID), pairingsession.UsedAtIsNil(),
			pairingsession.ExpiresAtGT(now)).SetUsedAt(now).Save(sys)
		if err != nil {
			return fmt.Errorf("pairing: claim: %w", err)
		}
		if n == 0 {
			p2, _ := tx.PairingSession.Get(sys, p.ID)
			if p2 != nil && p2.UsedAt == nil {
				return errs.New(errs.Forbidden, msgExpired)
			}
			return errs.New(errs.Conflict, msgUsed)
		}
		count, err := tx.Seal.Query().Where(entseal.UserID(p.UserID), entseal.KindEQ(entseal.KindHandwritten)).Count(sys)
		if err != nil {
			return err
		}
		hasDefault, err := tx.Seal.Query().Where(entseal.UserID(p.UserID), entseal.IsDefault(true),
			entseal.StatusEQ(entseal.StatusEnabled)).Exist(sys)
		if err != nil {
			return err
		}
		sl, err = tx.Seal.Create().SetUserID(p.UserID).SetKind(entseal.KindHandwritten).
			SetName("手写签名" + strconv.Itoa(count+1)).SetImage(png).SetWidth(img.Width).SetHeight(img.Height).
			SetSource(entseal.SourceHandwritten).SetIsDefault(!hasDefault && certID != nil).
			SetNillableCertificateID(certID).Save(sys)
		if err != nil {
			return fmt.Errorf("pairing: seal: %w", err)
		}
		if err := tx.PairingSession.UpdateOneID(p.ID).SetSealID(sl.ID).SetStrokes(strokes).
			SetIP(truncate(c.IP, 64)).SetUserAgent(truncate(c.UserAgent, 256)).Exec(sys); err != nil {
			return fmt.Errorf("pairing: strokes: %w", err)
		}
		if _, err := audit.Append(ctx, tx, audit.Event{Chain: audit.UserChain(p.UserID),
			Actor:   audit.User(p.UserID, "手机扫码"),
			Action:  audit.HandwritingCaptured,
			Subject: audit.Subject{Type: "seal", ID: sl.ID},
			Payload: map[string]any{"pairing_id": p.ID, "width": img.Width, "height": img.Height,
				"points": img.points, "bound": certID != nil}}); err != nil {
			return err
		}
		if s.broker != nil {
			events.AfterCommit(tx, s.broker, events.Event{Topic: Topic(p.ID), Kind: KindCompleted, ID: p.ID})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return sl, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// personalCert is the user's active personal certificate (nil when the user
// is not real-name verified).
func (s *Service) personalCert(ctx context.Context, userID int) (*int, error) {
	c, err := s.db.Certificate.Query().Where(certificate.UserID(userID), certificate.KindEQ(certificate.KindPerson),
		certificate.StatusEQ(certificate.StatusActive)).Order(ent.Desc(certificate.FieldID)).First(viewer.System(ctx))
	if ent.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pairing: certificate: %w", err)
	}
	return &c.ID, nil
}

// Get returns the viewer's pairing id; others: NotFound.
func (s *Service) Get(ctx context.Context, id int) (*View, error) {
	v, err := requireUser(ctx)
	if err != nil {
		return nil, err
	}
	sys := viewer.System(ctx)
	p, err := s.db.PairingSession.Get(sys, id)
	if ent.IsNotFound(err) || (err == nil && p.UserID != v.UserID) {
		return nil, errs.New(errs.NotFound, "二维码会话不存在")
	}
	if err != nil {
		return nil, fmt.Errorf("pairing: load: %w", err)
	}
	out := &View{Session: p, Status: s.status(p)}
	if p.SealID != nil {
		if out.Seal, err = s.db.Seal.Get(sys, *p.SealID); err != nil && !ent.IsNotFound(err) {
			return nil, err
		}
	}
	return out, nil
}

// Watch follows the viewer's pairing id: the current state first, then each
// change (completed, or expired when its time comes). The channel closes when
// the pairing is completed or expired, or ctx ends.
func (s *Service) Watch(ctx context.Context, id int) (<-chan *View, error) {
	if _, err := s.Get(ctx, id); err != nil {
		return nil, err
	}
	if s.broker == nil {
		return nil, errors.New("pairing: no broker")
	}
	ch, cancel := s.broker.Subscribe(ctx, Topic(id))
	first, err := s.Get(ctx, id)
	if err != nil {
		cancel()
		return nil, err
	}
	out := make(chan *View, 4)
	go func() {
		defer func() { cancel() }()
		defer close(out)
		send := func(v *View) bool {
			select {
			case out <- v:
				return v.Status == StatusWaiting
			case <-ctx.Done():
				return false
			}
		}
		if !send(first) {
			return
		}
		timer := time.NewTimer(time.Until(first.Session.ExpiresAt) + 200*time.Millisecond)
		defer timer.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-ch:
				if !ok {
					// Dropped or broker closed: re-read once, then resubscribe.
					ch, cancel = s.broker.Subscribe(ctx, Topic(id))
				}
			case <-timer.C:
			}
			v, err := s.Get(ctx, id)
			if err != nil {
				s.log.ErrorContext(ctx, "pairing: watch", "err", err)
				return
			}
			if v.Status == StatusWaiting && v.Session.UsedAt == nil && s.now().Before(v.Session.ExpiresAt) {
				// Spurious wake-up; keep waiting.
				continue
			}
			send(v)
			return
		}
	}()
	return out, nil
}
