package flows

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/riverqueue/river"

	"signet/audit"
	"signet/ent"
	"signet/ent/flow"
	"signet/ent/flowdocument"
	"signet/jobs"
	"signet/mail"
	"signet/signingcore/cms"
	"signet/signingcore/pades"
	"signet/sms"
	"signet/viewer"
)

// Completion (ARCHITECTURE.md, signing pipeline point 5). The transaction
// that completes a flow queues one CompleteArgs job. The job holds no
// transaction while it works: for every document it adds validation data
// (the signers' chains, current CRLs, OCSP responses for each signer and
// TSA certificate: PAdES B-LT) and then a document time-stamp from the
// platform TSA (B-LTA), stores the new revision and moves the document row
// only if nobody moved it meanwhile; then it builds the evidence report
// (evidence.go) and, in the transaction that records it, queues the
// completion notices to the initiator and every CC recipient and, for the
// HR scene, the emails with the signed contract. Every step looks at what is
// already done first (a document time-stamp in the file, an evidence event in
// the trail), so a retried job does not time-stamp or notify twice.

// CompleteArgs is the River job that finishes a completed flow.
type CompleteArgs struct {
	FlowID int `json:"flow_id"`
}

// Kind implements river.JobArgs.
func (CompleteArgs) Kind() string { return "flows.complete" }

// CompleteWorker runs CompleteArgs jobs.
type CompleteWorker struct {
	river.WorkerDefaults[CompleteArgs]
	Service *Service
}

// Timeout allows for large documents and a slow TSA.
func (w *CompleteWorker) Timeout(*river.Job[CompleteArgs]) time.Duration { return 5 * time.Minute }

// Work implements river.Worker.
func (w *CompleteWorker) Work(ctx context.Context, job *river.Job[CompleteArgs]) error {
	return w.Service.Finish(ctx, job.Args.FlowID)
}

// WorkerDeps are the providers the flow workers deliver through.
type WorkerDeps struct {
	SMS sms.Provider
	// Mail sends HR-scene and requested emails; nil leaves emails queued
	// but refuses to work them.
	Mail mail.Provider
	// BaseURL is the public URL links start with.
	BaseURL string
}

// AddWorkers registers the workers of completion, expiry, notices (CC,
// completion, expiry) and email on q. The app calls it once while it is
// built; the signing-link worker (NotifyWorker) is registered separately.
func (s *Service) AddWorkers(q *jobs.Queue, d WorkerDeps) error {
	return errors.Join(
		jobs.AddWorker(q, &CompleteWorker{Service: s}),
		jobs.AddWorker(q, &ExpireWorker{Service: s}),
		jobs.AddWorker(q, &NoticeWorker{DB: s.db, SMS: d.SMS, BaseURL: d.BaseURL, Logger: s.log}),
		jobs.AddWorker(q, &EmailWorker{Service: s, Mail: d.Mail, BaseURL: d.BaseURL}),
	)
}

// queues reports whether jobs of kind may be inserted on this node: River
// refuses kinds without a registered worker, so a service built without
// AddWorkers (a test of another part) skips them; a node that registered no
// worker at all only inserts, and may insert anything.
func (s *Service) queues(kind string) bool {
	kinds := s.jobs.Kinds()
	return len(kinds) == 0 || slices.Contains(kinds, kind)
}

// queue inserts a job in the transaction of jtx when this node queues its kind.
func (s *Service) queue(ctx context.Context, jtx jobs.JobTx, args river.JobArgs, opts *river.InsertOpts) error {
	if !s.queues(args.Kind()) {
		s.log.WarnContext(ctx, "flows: job kind not registered; not queued", "kind", args.Kind())
		return nil
	}
	if err := s.jobs.InsertTx(ctx, jtx, args, opts); err != nil {
		return fmt.Errorf("queue %s: %w", args.Kind(), err)
	}
	return nil
}

// queueCompletion is called by advance in the completing transaction.
func (s *Service) queueCompletion(ctx context.Context, jtx jobs.JobTx, flowID int) error {
	return s.queue(ctx, jtx, CompleteArgs{FlowID: flowID}, nil)
}

// Finish does the completion work for a completed flow (the job's body; it
// is idempotent). A flow that is gone or not completed is left alone.
func (s *Service) Finish(ctx context.Context, flowID int) error {
	if s.ca == nil || s.pades == nil || s.tsa == nil {
		return errors.New("flows: completion needs the platform CA, the PDF signer and the TSA")
	}
	sys := viewer.System(ctx)
	f, err := s.db.Flow.Get(sys, flowID)
	if ent.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("finish: %w", err)
	}
	if f.Status != flow.StatusCompleted {
		return nil
	}
	docs, err := s.db.FlowDocument.Query().Where(flowdocument.FlowID(f.ID)).Order(ent.Asc(flowdocument.FieldPosition), ent.Asc(flowdocument.FieldID)).All(sys)
	if err != nil {
		return err
	}
	for _, d := range docs {
		if err := s.sealDocument(ctx, f, d); err != nil {
			return fmt.Errorf("finish %s: %w", d.Name, err)
		}
	}
	return s.generateEvidence(ctx, f)
}

// HasDocumentTimestamp reports whether pdf ends its signing with a document
// time-stamp, i.e. the completion job has sealed it.
func HasDocumentTimestamp(pdf []byte) (bool, error) {
	sigs, err := pades.ExtractSignatures(pdf)
	if err != nil {
		return false, err
	}
	for _, sg := range sigs {
		if sg.Type == "DocTimeStamp" {
			return true, nil
		}
	}
	return false, nil
}

// sealDocument adds validation data and a document time-stamp to d, once.
func (s *Service) sealDocument(ctx context.Context, f *ent.Flow, d *ent.FlowDocument) error {
	pdf, err := s.getPDF(ctx, d.CurrentKey)
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	sigs, err := pades.ExtractSignatures(pdf)
	if err != nil {
		return err
	}
	var certs []*x509.Certificate
	var leaves []*x509.Certificate
	seen := map[[32]byte]bool{}
	add := func(c *x509.Certificate) bool {
		k := sha256.Sum256(c.Raw)
		if seen[k] {
			return false
		}
		seen[k] = true
		certs = append(certs, c)
		return true
	}
	for _, sg := range sigs {
		if sg.Type == "DocTimeStamp" {
			return nil // sealed by an earlier run
		}
		sd, err := cms.Parse(sg.Contents)
		if err != nil {
			return fmt.Errorf("signature %s: %w", sg.FieldName, err)
		}
		for _, c := range sd.Certificates {
			isSigner := false
			for _, si := range sd.Signers {
				if si.Serial != nil && c.SerialNumber.Cmp(si.Serial) == 0 && bytes.Equal(c.RawIssuer, si.IssuerRaw) {
					isSigner = true
				}
			}
			if add(c) && isSigner {
				leaves = append(leaves, c)
			}
		}
	}
	chain, err := s.ca.Chain()
	if err != nil {
		return err
	}
	for _, c := range chain {
		add(c)
	}
	_, tsaChain, err := s.ca.TSA()
	if err != nil {
		return err
	}
	for i, c := range tsaChain {
		if add(c) && i == 0 {
			leaves = append(leaves, c)
		}
	}
	issuing := chain[0]
	var ocsps [][]byte
	for _, c := range leaves {
		if !bytes.Equal(c.RawIssuer, issuing.RawSubject) {
			continue // not the platform's: nothing to ask
		}
		der, err := s.ca.OCSPForCertificate(ctx, c)
		if err != nil {
			return fmt.Errorf("ocsp for %s: %w", c.Subject.CommonName, err)
		}
		ocsps = append(ocsps, der)
	}
	crl, err := s.ca.CRL(ctx)
	if err != nil {
		return err
	}
	rootCRL, err := s.ca.RootCRL(ctx)
	if err != nil {
		return err
	}
	ders := make([][]byte, len(certs))
	for i, c := range certs {
		ders[i] = c.Raw
	}
	lt, err := s.pades.AddValidationData(pdf, ders, [][]byte{crl, rootCRL}, ocsps)
	if err != nil {
		return fmt.Errorf("validation data: %w", err)
	}
	lta, err := s.pades.AddDocumentTimestamp(ctx, lt, s.tsa)
	if err != nil {
		return fmt.Errorf("document time-stamp: %w", err)
	}
	key, hexSum, err := s.putPDF(ctx, lta)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return s.withTx(ctx, func(tx *ent.Tx, _ jobs.JobTx) error {
		sys := viewer.System(ctx)
		n, err := tx.FlowDocument.Update().
			Where(flowdocument.ID(d.ID), flowdocument.Revision(d.Revision), flowdocument.CurrentSha256(d.CurrentSha256)).
			SetCurrentKey(key).SetCurrentSha256(hexSum).AddRevision(1).Save(sys)
		if err != nil {
			return err
		}
		if n == 0 {
			return errRevisionMoved // the job is retried on the new revision
		}
		if _, err := audit.Append(ctx, tx, audit.Event{Chain: audit.FlowChain(f.ID), Actor: audit.System(),
			Action: audit.DocumentTimestamped, Subject: audit.Subject{Type: "document", ID: d.ID},
			Payload: map[string]any{"sha256": hexSum, "revision": d.Revision + 1, "previousSha256": d.CurrentSha256,
				"certificates": len(ders), "crls": 2, "ocsps": len(ocsps)}}); err != nil {
			return err
		}
		s.announce(tx, f, audit.DocumentTimestamped, d.ID)
		return nil
	})
}
