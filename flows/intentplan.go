package flows

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"signet/viewer"
)

// A signature takes two requests: SendIntentCode, which checks everything
// (plan) and texts a code bound to the plan's scope, then Sign with that
// code, usually seconds later. Sign used to read and check it all again.
// Now SendIntentCode leaves its plan here and Sign (or PrepareUKeySign, a
// UKey signature's first step) takes it back, so a signature reads the
// flow, its parties, documents and fields once.
//
// What a kept plan may no longer be right about is checked again, as it was:
//   - the seals (an enterprise may have revoked the grant, or the seal):
//     Sign reads and checks them anew (planSeals);
//   - the flow's and the participant's status (revoked, declined, expired,
//     already signed): the commit checks them under the trail's lock, as it
//     always has for what changes while a document is being signed;
//   - the documents' revisions (another party of a parallel flow signed):
//     the commit refuses a revision that moved, and the documents are read
//     again and signed on the new one.
//
// The plan keeps the intent code SendIntentCode issued for it: Sign
// compares the code typed with it in memory instead of reading the code's
// row, and the statement that uses the code up in the commit checks what
// only the row knows (used, tried too often, superseded by a code asked on
// another node; accounts.ClaimIssued).
//
// What the plan was bound to cannot change once the flow is sent: the
// parties, the fields, the deadline, the documents as sent (the scope
// hashes them) and, for the plan's own participant, a passcode once
// verified. Everything else the intent code binds (the seals and positions)
// is part of the key: a plan is reused only for the same viewer, flow, seals
// and placements, and only once. On another node, after a restart, after its
// code's life, or when the map is full, Sign plans from scratch as before.
type intentPlans struct {
	mu sync.Mutex
	m  map[intentKey]intentEntry
	// order holds the keys kept, the oldest first, for the bound; an
	// item whose entry was taken or kept again since is skipped.
	order []intentItem
	seq   uint64
	max   int
}

type intentItem struct {
	key intentKey
	seq uint64
}

// maxIntentPlans bounds the plans kept: a few KB each, so at most a few
// tens of MB; a node has far fewer signers typing a code at once.
const maxIntentPlans = 8192

type intentKey struct {
	user                 int
	phone                string
	flow                 int
	personal, enterprise int
	placements           string
}

type intentEntry struct {
	plan    *signPlan
	expires time.Time
	seq     uint64
}

func newIntentKey(v viewer.Viewer, in SignInput) intentKey {
	k := intentKey{user: v.UserID, phone: v.Phone, flow: in.FlowID, personal: in.PersonalSealID, enterprise: in.EnterpriseSealID}
	if len(in.Placements) > 0 {
		var b strings.Builder
		for _, p := range in.Placements {
			fmt.Fprintf(&b, "%d %s %d %g %g %g %g;", p.DocumentID, p.Kind, p.Page, p.X, p.Y, p.Width, p.Height)
		}
		k.placements = b.String()
	}
	return k
}

// keep remembers the plan made for in by the viewer until expires (its
// intent code's end; now is the time). Its seals are not kept: Sign reads
// them again.
func (p *intentPlans) keep(v viewer.Viewer, in SignInput, plan *signPlan, now, expires time.Time) {
	kept := &signPlan{flow: plan.flow, part: plan.part, docs: plan.docs, fields: plan.fields,
		counterparties: plan.counterparties, scope: plan.scope, fingerp: plan.fingerp, issued: plan.issued}
	k := newIntentKey(v, in)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[intentKey]intentEntry{}
	}
	// The oldest go when the map is full, and those past their code's
	// life (they were kept with the same life, so those come first).
	for len(p.order) > 0 {
		it := p.order[0]
		e, live := p.m[it.key]
		live = live && e.seq == it.seq
		if live && len(p.m) < p.limit() && now.Before(e.expires) {
			break
		}
		p.order = p.order[1:]
		if live {
			delete(p.m, it.key)
		}
	}
	if len(p.order) > 2*p.limit() { // mostly items taken since
		live := p.order[:0]
		for _, it := range p.order {
			if e, ok := p.m[it.key]; ok && e.seq == it.seq {
				live = append(live, it)
			}
		}
		p.order = live
	}
	p.seq++
	p.m[k] = intentEntry{plan: kept, expires: expires, seq: p.seq}
	p.order = append(p.order, intentItem{key: k, seq: p.seq})
}

// take returns, once, the plan kept for in by the viewer, or nil.
func (p *intentPlans) take(v viewer.Viewer, in SignInput, now time.Time) *signPlan {
	k := newIntentKey(v, in)
	p.mu.Lock()
	defer p.mu.Unlock()
	e, ok := p.m[k]
	if !ok {
		return nil
	}
	delete(p.m, k)
	if !now.Before(e.expires) {
		return nil
	}
	return e.plan
}

func (p *intentPlans) limit() int {
	if p.max > 0 {
		return p.max
	}
	return maxIntentPlans
}

// len is how many plans are kept (tests).
func (p *intentPlans) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.m)
}

// reusePlan is the plan SendIntentCode made for in, its seals checked
// again, or nil when there is none to reuse.
func (s *Service) reusePlan(ctx context.Context, in SignInput) (*signPlan, error) {
	v := viewer.FromContext(ctx)
	if !v.Authenticated() {
		return nil, nil
	}
	plan := s.intents.take(v, in, s.now())
	if plan == nil {
		return nil, nil
	}
	// The deadline is the flow's as sent; the statuses are checked again
	// by the commit.
	if err := s.signable(plan.flow, plan.part); err != nil {
		return nil, err
	}
	if err := s.planSeals(ctx, plan, in); err != nil {
		return nil, err
	}
	return plan, nil
}

// planAgain is the plan for the signature SendIntentCode planned: the one
// it kept, its seals checked again, or, when there is none, a new one.
func (s *Service) planAgain(ctx context.Context, in SignInput) (*signPlan, error) {
	plan, err := s.reusePlan(ctx, in)
	if plan != nil || err != nil {
		return plan, err
	}
	return s.plan(ctx, in)
}
