// Package flows owns contracts (签约任务) from draft to a final status:
// drafting (documents, parties, fields, deadline, passcode), sending, the
// seven lists of the manual, reminding, revoking, declining, expiry and
// deletion from 已作废. Signing itself is in sign.go. PRODUCT.md DOC-1…10.
//
// State is small: a flow has one status (draft, signing, completed,
// revoked, declined, expired) and each participant one (waiting, pending,
// signed, declined); the lists are queries over them. Every transition writes
// one audit event in the same transaction (package audit) and queues its
// notifications through a Dispatcher in that transaction too.
package flows

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"time"

	"signet/accounts"
	"signet/blob"
	"signet/database"
	"signet/ent"
	"signet/errs"
	"signet/events"
	"signet/jobs"
	"signet/signingcore/pades"
	"signet/signingcore/pdfnorm"
	"signet/signingcore/pki"
	"signet/signingcore/tsa"
)

// NotificationKind says what a notification tells its recipient.
type NotificationKind string

// Notification kinds.
const (
	// NotifySignLink asks a participant to sign, with the short link.
	NotifySignLink NotificationKind = "sign_link"
	// NotifyReminder is a reminder (催办) with the short link.
	NotifyReminder NotificationKind = "reminder"
)

// Notification is a message to one participant about one flow.
type Notification struct {
	Type          NotificationKind
	FlowID        int
	ParticipantID int
	// LinkCode is the /s/{code} short code, for sign links and reminders.
	LinkCode string
	// Phone is the participant's, as it was when the notification was
	// queued (a sent flow's parties do not change), so the job need not
	// read the participant; jobs queued without it read it.
	Phone string `json:",omitempty"`
}

// Limits bound what a flow may hold.
type Limits struct {
	MaxDocuments    int
	MaxParticipants int
	MaxFields       int
	Upload          pdfnorm.Limits
	// RemindEvery is the least time between two reminders to one signer.
	RemindEvery time.Duration
}

// DefaultLimits are Signet's defaults: 10 documents of up to 20 MiB and 500
// pages, 30 parties, 300 fields, one reminder per signer every 10 minutes.
func DefaultLimits() Limits {
	return Limits{
		MaxDocuments: 10, MaxParticipants: 30, MaxFields: 300,
		Upload:      pdfnorm.Limits{MaxBytes: 20 << 20, MaxPages: 500},
		RemindEvery: 10 * time.Minute,
	}
}

// Config builds a Service.
type Config struct {
	DB *database.DB
	// Jobs carries notifications (SMS) as River jobs inserted in the same
	// transaction as the change; their worker is NotifyWorker.
	Jobs  *jobs.Queue
	Blobs blob.Store
	// Accounts issues and checks SMS codes and logs in signing-link users.
	Accounts *accounts.Service
	// Certs gives the hosted signers of certificates; Seals decides who may
	// apply which seal; Signer writes PAdES signatures and TSA time-stamps
	// them. They are needed for signing only.
	Certs  Certs
	Seals  Seals
	Signer *pades.Signer
	TSA    tsa.Timestamper
	Logger *slog.Logger
	Limits Limits
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Rand is the randomness for numbers and link codes; crypto/rand when nil.
	Rand io.Reader
	// Broker carries live updates: every transition is published on the
	// flow's topic after commit, and "lists changed" on the user topics of
	// the parties (progress.go). Nil publishes nothing and refuses
	// subscriptions.
	Broker events.Broker
	// Contacts adds the parties of a completed flow to each other's
	// contacts (联系人, USR-2) in the completing transaction; nil skips it.
	Contacts CoSigners
	// StageLimit is the largest signed revision staged in the database
	// (staged.go): DefaultStageLimit when 0; negative writes every revision
	// to the blob store before the commit.
	StageLimit int
	// CA is the platform CA: the completion job takes the validation data
	// (chains, CRLs, OCSP responses) from it, and verification (verify.go)
	// trusts its root. Needed for completion and verification only.
	CA *pki.CA
}

// Service implements the flow workflows.
type Service struct {
	database *database.DB
	db       *ent.Client
	jobs     *jobs.Queue
	blobs    blob.Store
	acc      *accounts.Service
	certs    Certs
	seals    Seals
	pades    *pades.Signer
	tsa      tsa.Timestamper
	log      *slog.Logger
	limits   Limits
	now      func() time.Time
	rand     io.Reader
	broker   events.Broker
	contacts CoSigners
	ca       *pki.CA
	// announced collects each open transaction's live updates (publish.go);
	// hubs fan one flow's updates out to its watchers on this node.
	announced pending
	// group commits signatures together (commit.go).
	group committer
	hubs  hubs
	// stageLimit and staged: staged revisions (staged.go).
	stageLimit int
	staged     chan struct{}
	// plansql: the signing plan's reads (planread.go).
	plansql planSQL
	// intents keeps SendIntentCode's plans for Sign (intentplan.go).
	intents intentPlans
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.DB == nil || cfg.Blobs == nil || cfg.Jobs == nil {
		return nil, fmt.Errorf("flows.New: DB, Jobs and Blobs are required")
	}
	s := &Service{database: cfg.DB, db: cfg.DB.Client, jobs: cfg.Jobs, blobs: cfg.Blobs, acc: cfg.Accounts,
		certs: cfg.Certs, seals: cfg.Seals, pades: cfg.Signer, tsa: cfg.TSA,
		log: cfg.Logger, limits: cfg.Limits, now: cfg.Now, rand: cfg.Rand,
		broker: cfg.Broker, contacts: cfg.Contacts, ca: cfg.CA,
		stageLimit: cfg.StageLimit, staged: make(chan struct{}, 1), plansql: planStatements(cfg.DB.Dialect)}
	if s.stageLimit == 0 {
		s.stageLimit = DefaultStageLimit
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
	if s.limits == (Limits{}) {
		s.limits = DefaultLimits()
	}
	return s, nil
}

// withTx runs fn in a transaction in which jobs can be queued; it rolls
// back on error, so nothing half-written and no notification is left.
func (s *Service) withTx(ctx context.Context, fn func(tx *ent.Tx, jtx jobs.JobTx) error) error {
	return jobs.WithTx(ctx, s.database, fn)
}

// notify queues a notification in the transaction of jtx.
func (s *Service) notify(ctx context.Context, jtx jobs.JobTx, n Notification) error {
	if err := s.jobs.InsertTx(ctx, jtx, NotifyArgs{n}, nil); err != nil {
		return fmt.Errorf("queue notification: %w", err)
	}
	return nil
}

// randomCode returns n characters of r from an alphabet without look-alikes.
func randomCode(r io.Reader, n int) (string, error) {
	const alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz"
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	var b [1]byte
	for len(out) < n {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return "", fmt.Errorf("random code: %w", err)
		}
		if int(b[0]) < limit {
			out = append(out, alphabet[int(b[0])%len(alphabet)])
		}
	}
	return string(out), nil
}

// notFound is the answer for a flow that does not exist or is not the viewer's.
func notFound() error { return errs.New(errs.NotFound, "合同不存在或无权查看") }

// putPDF stores a document revision under its content hash.
func (s *Service) putPDF(ctx context.Context, pdf []byte) (key, sum string, err error) {
	info, err := s.blobs.PutContent(ctx, bytes.NewReader(pdf))
	if err != nil {
		return "", "", err
	}
	return info.Key, info.SHA256, nil
}

// getPDF reads a stored document revision.
func (s *Service) getPDF(ctx context.Context, key string) ([]byte, error) {
	rc, err := s.OpenRevision(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return readSized(rc)
}

// readSized reads r whole. When r knows its size (a file, a member of a
// pack) it reads into one slice of that size: io.ReadAll grows its buffer
// from 512 bytes, allocating and copying about twice a document's size on
// every signature.
func readSized(r io.Reader) ([]byte, error) {
	n := int64(-1)
	switch x := r.(type) {
	case interface{ Size() int64 }:
		n = x.Size()
	case interface{ Stat() (fs.FileInfo, error) }:
		if st, err := x.Stat(); err == nil && st.Mode().IsRegular() {
			n = st.Size()
		}
	}
	if n < 0 || n > 1<<30 {
		return io.ReadAll(r)
	}
	buf := make([]byte, n)
	k, err := io.ReadFull(r, buf)
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF): // shorter than it said
		return buf[:k], nil
	case err != nil:
		return nil, err
	}
	// Longer than it said? One byte tells (io.ReadAll's probe took a
	// buffer of 512); then the rest too.
	var probe [1]byte
	switch _, err := io.ReadFull(r, probe[:]); {
	case errors.Is(err, io.EOF):
		return buf, nil
	case err != nil:
		return nil, err
	}
	rest, err := io.ReadAll(r)
	return append(append(buf, probe[0]), rest...), err
}
