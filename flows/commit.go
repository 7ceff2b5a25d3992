package flows

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	entsql "entgo.io/ent/dialect/sql"

	"signet/accounts"
	"signet/audit"
	"signet/blob"
	"signet/database"
	"signet/ent"
	"signet/ent/flow"
	"signet/ent/flowdocument"
	"signet/ent/participant"
	"signet/ent/predicate"
	"signet/ent/signfield"
	"signet/enterprises"
	"signet/errs"
	"signet/jobs"
	"signet/viewer"
)

// Group commit. A signature's commit is a short write transaction of a
// dozen statements; under load, signers would queue for the database's
// writer (SQLite) or pay a round trip per statement each (PostgreSQL).
// Instead, signatures that are ready to commit while another group is
// committing wait, and the next group commits them together: one
// transaction, and per group — not per signature — one statement for each
// step (the codes used up, the trails locked, the revisions packed, the
// documents, fields and participants updated, the next signers made
// pending, the jobs queued, the events appended). A signature that arrives
// when nothing is committing commits at once, alone.
//
// A group is all or nothing: when any of its signatures cannot commit (its
// code was used meanwhile, its document moved, its flow ended), the group
// rolls back and each signature is committed alone, which gives each its
// own answer exactly as before. The signatures of one group belong to
// different flows; a second signature of the same flow commits alone after
// the group.

// maxGroup bounds how many signatures commit together.
const maxGroup = 32

// groupWait is how long a group's leader waits for the signatures still
// being signed, when there are any, before it commits without them: under
// load the signatures of a moment commit together instead of one by one.
// A signature signed while no other is waits for nothing.
const groupWait = 2 * time.Millisecond

// committer queues the signatures waiting to commit; the request at the
// head of the queue leads the next group.
type committer struct {
	mu      sync.Mutex
	queue   []*commitItem
	leading bool
	// arrived is poked when a signature queues; signing counts the
	// signatures between their plan and the end of their commit.
	arrived chan struct{}
	signing atomic.Int64
}

// commitItem is one signature ready to commit: the checked plan, the signed
// documents and the signer's request (actor and client for the trail); done
// and err are its commit's outcome.
type commitItem struct {
	ctx     context.Context
	plan    *signPlan
	results []signedDoc
	done    committed
	err     error
	ready   chan struct{} // closed when done and err are set (finish)
	lead    chan struct{} // closed when this request leads the next group
	// finished says that ready is closed; only the group's leader touches it.
	finished bool
}

// finish hands the item its outcome.
func (it *commitItem) finish(err error) {
	if !it.finished {
		it.finished, it.err = true, err
		close(it.ready)
	}
}

// committed is what a signature's commit did besides signing: the flow
// completed (at). The commit tells the mover itself when it staged a
// revision.
type committed struct {
	completed bool
	at        time.Time
}

// errGroupConflict says that a group could not commit together.
var errGroupConflict = errors.New("flows: a signature of the group cannot commit")

// commitSigned records the signed documents (their revisions packed just
// before the transaction, or staged in it: staged.go), the participant's
// signature and what follows —
// the next signers notified, or the flow completed — in one transaction,
// together with the other signatures ready at the same time (group commit,
// above). Errors: errRevisionMoved when a document is no longer on the
// revision it was signed on; the plan's refusals when the flow ended or the
// code was used meanwhile.
func (s *Service) commitSigned(ctx context.Context, plan *signPlan, results []signedDoc) (committed, error) {
	it := &commitItem{ctx: ctx, plan: plan, results: results, ready: make(chan struct{}), lead: make(chan struct{})}
	g := &s.group
	g.mu.Lock()
	g.queue = append(g.queue, it)
	if g.arrived == nil {
		g.arrived = make(chan struct{}, 1)
	}
	select {
	case g.arrived <- struct{}{}:
	default:
	}
	if g.leading {
		g.mu.Unlock()
		select {
		case <-it.ready:
			return it.done, it.err
		case <-it.lead: // at the head of the queue: lead the next group
		}
	} else {
		g.leading = true
		g.mu.Unlock()
	}
	g.wait()
	g.mu.Lock()
	n := min(len(g.queue), maxGroup)
	group := append([]*commitItem(nil), g.queue[:n]...)
	g.queue = append(g.queue[:0], g.queue[n:]...)
	g.mu.Unlock()

	func() {
		// A group that panics must not leave its signers waiting for ever,
		// nor the queue without a leader: each gets an error instead.
		defer func() {
			if p := recover(); p != nil {
				s.log.Error("flows: group commit panicked", "panic", p, "stack", string(debug.Stack()))
				for _, x := range group {
					x.finish(errs.New(errs.Internal, "签署提交失败，请稍后重试"))
				}
			}
		}()
		s.commitGroup(group) // it is the group's first
	}()

	g.mu.Lock()
	if len(g.queue) > 0 {
		close(g.queue[0].lead)
	} else {
		g.leading = false
	}
	g.mu.Unlock()
	return it.done, it.err
}

// wait lets the signatures being signed join the leader's group: it returns
// when all have queued, the group is full, or groupWait has passed.
func (g *committer) wait() {
	var deadline <-chan time.Time
	for {
		g.mu.Lock()
		n := len(g.queue)
		g.mu.Unlock()
		if int64(n) >= g.signing.Load() || n >= maxGroup {
			return
		}
		if deadline == nil {
			t := time.NewTimer(groupWait)
			defer t.Stop()
			deadline = t.C
		}
		select {
		case <-g.arrived:
		case <-deadline:
			return
		}
	}
}

// commitGroup commits the signatures of group, together where it can.
func (s *Service) commitGroup(group []*commitItem) {
	var together, alone []*commitItem
	seen := map[int]bool{}
	for _, it := range group {
		if seen[it.plan.flow.ID] {
			alone = append(alone, it)
			continue
		}
		seen[it.plan.flow.ID] = true
		together = append(together, it)
	}
	if len(together) > 1 {
		// The transaction belongs to the group, not to the request that
		// leads it: it is not cancelled with that request.
		err := s.commitAll(context.WithoutCancel(together[0].ctx), together)
		if err == nil {
			for _, it := range together {
				it.finish(nil)
			}
			together = nil
		} else if !errors.Is(err, errGroupConflict) {
			s.log.Warn("flows: group commit failed; committing each signature alone", "signatures", len(together), "err", err)
		}
	}
	for _, it := range append(together, alone...) {
		it.finish(s.commitAll(it.ctx, []*commitItem{it}))
	}
}

// commitAll commits items in one transaction (ctx is the transaction's;
// each item's own context gives its actor and client). For a single item
// the errors are that signature's; for several, errGroupConflict when any
// of them cannot commit.
func (s *Service) commitAll(ctx context.Context, items []*commitItem) error {
	alone := len(items) == 1
	refuse := func(single error) error {
		if alone {
			return single
		}
		return errGroupConflict
	}
	if err := s.packRevisions(ctx, items); err != nil {
		return err
	}
	var staged bool
	err := s.withTx(ctx, func(tx *ent.Tx, jtx jobs.JobTx) error {
		sys := viewer.System(ctx)
		var (
			claims []accounts.CodeClaim
			chains []string
		)
		for _, it := range items {
			it.done = committed{}
			if it.plan.beforeCommit != nil {
				if err := it.plan.beforeCommit(it.ctx, tx); err != nil {
					return refuse(err)
				}
			}
			if it.plan.claim != nil {
				claims = append(claims, *it.plan.claim)
			}
			chains = append(chains, audit.FlowChain(it.plan.flow.ID))
		}
		// The intent codes are used up in the commit that signs.
		if err := accounts.ConsumeAll(sys, tx.Client(), claims...); err != nil {
			return refuse(err)
		}
		// The flows' trails are locked first: commits of one flow take
		// turns, so advance sees whether the other parties have signed. The
		// events are appended together at the end (one insert).
		trail, err := audit.Lock(ctx, tx, chains...)
		if err != nil {
			return err
		}
		// The revisions not packed already (a store without packs), staged
		// in this transaction (one insert) unless too large; then the
		// documents moved to them — each only if it is still on the revision
		// it was signed on.
		var pdfs [][]byte
		for _, it := range items {
			for _, r := range it.results {
				if r.key == "" {
					pdfs = append(pdfs, r.pdf)
				}
			}
		}
		keys, sums, inTx, err := s.stageRevisions(ctx, tx, pdfs)
		if err != nil {
			return err
		}
		staged = inTx
		var (
			docIDs, adds     []int
			docKeys, docSums []string
			docWhere         []predicate.FlowDocument
			fieldIDs, revs   []int
			placed           []*ent.SignFieldCreate
		)
		k := 0
		for _, it := range items {
			for i := range it.results {
				r := &it.results[i]
				if r.key == "" {
					r.key, r.sum, k = keys[k], sums[k], k+1
				}
				docIDs, adds = append(docIDs, r.doc.ID), append(adds, r.adds)
				docKeys, docSums = append(docKeys, r.key), append(docSums, r.sum)
				docWhere = append(docWhere, flowdocument.And(flowdocument.ID(r.doc.ID),
					flowdocument.Revision(r.doc.Revision), flowdocument.CurrentSha256(r.doc.CurrentSha256)))
				rev := r.doc.Revision + r.adds
				for _, fd := range it.plan.fields {
					switch {
					case fd.DocumentID != r.doc.ID:
					case fd.ID != 0:
						fieldIDs, revs = append(fieldIDs, fd.ID), append(revs, rev)
					default:
						placed = append(placed, tx.SignField.Create().SetFlowID(fd.FlowID).SetDocumentID(fd.DocumentID).
							SetParticipantID(it.plan.part.ID).SetKind(fd.Kind).SetPage(fd.Page).SetX(fd.X).SetY(fd.Y).
							SetWidth(fd.Width).SetHeight(fd.Height).SetPlacedBySigner(true).SetAppliedRevision(rev))
					}
				}
			}
		}
		if len(docIDs) > 0 {
			n, err := tx.FlowDocument.Update().Where(flowdocument.Or(docWhere...)).Modify(func(u *entsql.UpdateBuilder) {
				u.Set(flowdocument.FieldCurrentKey, database.ByID(docIDs, docKeys, "TEXT"))
				u.Set(flowdocument.FieldCurrentSha256, database.ByID(docIDs, docSums, "TEXT"))
				u.Set(flowdocument.FieldRevision, entsql.ExprFunc(func(b *entsql.Builder) {
					b.WriteString("COALESCE(").Ident(flowdocument.FieldRevision).WriteString(", 0) + ").Join(database.ByID(docIDs, adds, "BIGINT"))
				}))
			}).Save(sys)
			if err != nil {
				return err
			}
			if n != len(docIDs) {
				return refuse(errRevisionMoved)
			}
		}
		if len(fieldIDs) > 0 {
			if err := tx.SignField.Update().Where(signfield.IDIn(fieldIDs...)).Modify(func(u *entsql.UpdateBuilder) {
				u.Set(signfield.FieldAppliedRevision, database.ByID(fieldIDs, revs, "BIGINT"))
			}).Exec(sys); err != nil {
				return err
			}
		}
		if len(placed) > 0 {
			if err := tx.SignField.CreateBulk(placed...).Exec(sys); err != nil {
				return err
			}
		}
		// The flows are checked again here, under the trails' lock: one may
		// have been revoked or declined, or have passed its deadline, while
		// its documents were being signed (for a UKey, while the user was at
		// the token). The status check rides on the participants' update, so
		// it costs nothing when the signatures go through; the deadline
		// cannot change once the flow is sent.
		now := s.now()
		partIDs := make([]int, len(items))
		for i, it := range items {
			if d := it.plan.flow.Deadline; d != nil && !now.Before(*d) {
				return refuse(errs.New(errs.Conflict, "合同已过签署截止时间，不能签署"))
			}
			partIDs[i] = it.plan.part.ID
		}
		// The seals too: this node's kept seal may be older than a change
		// made on another node, and for a UKey the user was at the token.
		if err := s.recheckSeals(ctx, tx, items, now); err != nil {
			return refuse(err)
		}
		n, err := tx.Participant.Update().Where(participant.IDIn(partIDs...), participant.StatusEQ(participant.StatusPending),
			participant.HasFlowWith(flow.StatusEQ(flow.StatusSigning))).
			SetStatus(participant.StatusSigned).SetSignedAt(now).Save(sys)
		if err != nil {
			return err
		}
		if n != len(items) {
			if alone {
				return s.notSignable(ctx, tx, items[0].plan.flow.ID, items[0].plan.part.ID)
			}
			return errGroupConflict
		}
		// Each signature's events, announced in order: its documents, the
		// participant, then what advance does.
		own := make([][]audit.Event, len(items))
		fs := make([]*ent.Flow, len(items))
		for i, it := range items {
			plan, actor := it.plan, s.actor(it.ctx)
			chain := audit.FlowChain(plan.flow.ID)
			for _, r := range it.results {
				own[i] = append(own[i], audit.Event{Chain: chain, Actor: actor,
					Action: audit.DocumentSigned, Subject: audit.Subject{Type: "document", ID: r.doc.ID},
					Payload: map[string]any{"sha256": r.sum, "signatures": r.adds, "revision": r.doc.Revision + r.adds}})
				s.announce(tx, plan.flow, audit.DocumentSigned, r.doc.ID)
			}
			seals := []int{}
			for _, sl := range plan.seals {
				seals = append(seals, sl.ID)
			}
			own[i] = append(own[i], audit.Event{Chain: chain, Actor: actor,
				Action: audit.ParticipantSigned, Subject: audit.Subject{Type: "participant", ID: plan.part.ID},
				Payload: plan.signedPayload(seals)})
			s.announce(tx, plan.flow, audit.ParticipantSigned, plan.part.ID)
			fs[i] = plan.flow
		}
		more, completed, err := s.advance(ctx, tx, jtx, fs, alone)
		if err != nil {
			return err
		}
		var events []audit.Event
		for i, it := range items {
			// Every event of a signature, the system's included, records the
			// signer's request (the group's transaction is another's).
			client := viewer.ClientFrom(it.ctx)
			for _, ev := range append(own[i], more[it.plan.flow.ID]...) {
				ev.Client = client
				events = append(events, ev)
			}
			if at, ok := completed[it.plan.flow.ID]; ok {
				it.done.completed, it.done.at = true, at
			}
		}
		_, err = trail.Append(ctx, events...)
		return err
	})
	if staged && err == nil {
		s.kickMover()
	}
	return err
}

// recheckSeals checks the seals of items again at now
// (enterprises.RecheckSeals): the first refusal, or nil.
func (s *Service) recheckSeals(ctx context.Context, tx *ent.Tx, items []*commitItem, now time.Time) error {
	var checks []enterprises.SealCheck
	for _, it := range items {
		plan := it.plan
		sc := enterprises.Scope{Scene: string(plan.flow.Scene), Counterparties: plan.counterparties, At: now}
		user := viewer.FromContext(it.ctx).UserID
		for _, sl := range plan.seals {
			checks = append(checks, enterprises.SealCheck{UserID: user, SealID: sl.ID, CertificateID: plan.signedWith[sl.ID], Scope: sc})
		}
	}
	refused, err := s.seals.RecheckSeals(viewer.System(ctx), tx, now, checks)
	if err != nil {
		return err
	}
	for _, e := range refused {
		if e != nil {
			return e
		}
	}
	return nil
}

// packRevisions stores a group's new revisions, when the blob store packs
// (blob.Disk), in one pack write with one sync for all, before the
// transaction that refers to them: a crash in between leaves bytes no key
// refers to, which the sweep removes with their pack. A revision packed
// once keeps its key when its signature commits again (alone, after its
// group could not). A signature committing alone is staged in its
// transaction instead (staged.go): a sync of its own on the request path
// would cost it more than the staging insert, where a group shares one.
func (s *Service) packRevisions(ctx context.Context, items []*commitItem) error {
	packer, ok := s.blobs.(blob.Packer)
	if !ok || len(items) < 2 {
		return nil
	}
	var (
		todo     []*signedDoc
		contents [][]byte
	)
	for _, it := range items {
		for i := range it.results {
			if r := &it.results[i]; r.key == "" {
				todo, contents = append(todo, r), append(contents, r.pdf)
			}
		}
	}
	if len(todo) == 0 {
		return nil
	}
	infos, err := packer.PutPacked(ctx, contents)
	if err != nil {
		return fmt.Errorf("sign: store revisions: %w", err)
	}
	for i, r := range todo {
		r.key, r.sum = infos[i].Key, infos[i].SHA256
	}
	return nil
}

// advance notifies the next signers of each flow of fs, or completes the
// flows whose every signer has signed. It returns the audit events of what
// it did by flow, for the caller to append after its own, and the
// completed flows' finishing time. alone says that fs is one signature's
// flow: a flow that cannot complete is then left as it is, where a group
// gives up (errGroupConflict).
func (s *Service) advance(ctx context.Context, tx *ent.Tx, jtx jobs.JobTx, fs []*ent.Flow, alone bool) (events map[int][]audit.Event, completed map[int]time.Time, err error) {
	sys := viewer.System(ctx)
	ids := make([]int, len(fs))
	for i, f := range fs {
		ids[i] = f.ID
	}
	// Only what nextSigners and activateAll use: a group reads every
	// signer of its flows, and each column costs per row.
	parts, err := tx.Participant.Query().Where(participant.FlowIDIn(ids...), participant.RoleEQ(participant.RoleSigner)).
		Select(participant.FieldID, participant.FieldFlowID, participant.FieldRole, participant.FieldStatus,
			participant.FieldSignOrder, participant.FieldName, participant.FieldPhone).All(sys)
	if err != nil {
		return nil, nil, err
	}
	byFlow := map[int][]*ent.Participant{}
	for _, p := range parts {
		byFlow[p.FlowID] = append(byFlow[p.FlowID], p)
	}
	var (
		acts []activation
		done []*ent.Flow
	)
	for _, f := range fs {
		ps := byFlow[f.ID]
		waiting := false
		for _, p := range ps {
			waiting = waiting || p.Status == participant.StatusPending
		}
		switch next := nextSigners(f.Ordered, ps); {
		case waiting: // others of this round still sign
		case len(next) > 0:
			acts = append(acts, activation{f, next})
		default:
			done = append(done, f)
		}
	}
	events, err = s.activateAll(ctx, tx, jtx, acts, nil)
	if err != nil || len(done) == 0 {
		return events, nil, err
	}
	if events == nil {
		events = map[int][]audit.Event{}
	}
	ids = ids[:0]
	for _, f := range done {
		ids = append(ids, f.ID)
	}
	now := s.now()
	n, err := tx.Flow.Update().Where(flow.IDIn(ids...), flow.StatusEQ(flow.StatusSigning)).
		SetStatus(flow.StatusCompleted).SetFinishedAt(now).Save(sys)
	switch {
	case err != nil:
		return nil, nil, err
	case n == len(done):
	case alone:
		return events, nil, nil
	default:
		return nil, nil, errGroupConflict
	}
	completed = map[int]time.Time{}
	for _, f := range done {
		s.announce(tx, f, audit.FlowCompleted, f.ID)
		if s.contacts != nil {
			if err := s.contacts.AddCoSigners(ctx, tx, f.ID); err != nil {
				return nil, nil, err
			}
		}
		if err := s.queueCompletion(ctx, jtx, f.ID); err != nil { // complete.go
			return nil, nil, err
		}
		events[f.ID] = append(events[f.ID], audit.Event{Chain: audit.FlowChain(f.ID), Actor: audit.System(),
			Action: audit.FlowCompleted, Subject: audit.Subject{Type: "flow", ID: f.ID}})
		completed[f.ID] = now
	}
	return events, completed, nil
}
