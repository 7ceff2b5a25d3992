package flows

import (
	"context"

	"signet/ent"
)

// HoldCommits makes every signature that reaches its commit wait in the
// group-commit queue (as if a group were committing) until release, which
// commits all that are queued as one group: the tests build a group
// deterministically. queued says how many wait.
func HoldCommits(s *Service) (queued func() int, release func()) {
	g := &s.group
	g.mu.Lock()
	g.leading = true
	g.mu.Unlock()
	queued = func() int {
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.queue)
	}
	release = func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if len(g.queue) > 0 {
			close(g.queue[0].lead)
		} else {
			g.leading = false
		}
	}
	return queued, release
}

// ReadPlan runs the signing plan's two reads (planread.go).
func ReadPlan(s *Service, ctx context.Context, flowID, partID int) (*ent.Flow, []*ent.Participant, []*ent.FlowDocument, []*ent.SignField, error) {
	f, parts, err := s.readFlowParties(ctx, flowID)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	docs, fields, err := s.readDocsFields(ctx, flowID, partID)
	return f, parts, docs, fields, err
}

// Plan runs the checks and reads of a signature (sign.go's plan) without
// signing.
func Plan(s *Service, ctx context.Context, in SignInput) error {
	_, err := s.plan(ctx, in)
	return err
}

// PlanColumns are the columns the plan reads of the parties, the documents
// and the fields.
func PlanColumns() (parties, docs, fields []string) {
	return planPartyColumns, planDocColumns, planFieldColumns
}

// ForgetIntentPlans drops the plans SendIntentCode kept for Sign
// (intentplan.go), as another node or a restart would not have them.
func ForgetIntentPlans(s *Service) {
	s.intents.mu.Lock()
	defer s.intents.mu.Unlock()
	s.intents.m, s.intents.order = nil, nil
}

// IntentPlansKept is how many plans SendIntentCode has kept for Sign.
func IntentPlansKept(s *Service) int { return s.intents.len() }
