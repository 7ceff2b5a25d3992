package flows

import (
	"testing"
	"time"

	"signet/ent"
	"signet/viewer"
)

// TestIntentPlansBound: the plans kept are bounded, the oldest and those
// past their code's life go first, and a plan is taken once.
func TestIntentPlansBound(t *testing.T) {
	p := intentPlans{max: 3}
	now := time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)
	v := viewer.Viewer{UserID: 7, Phone: "13800000002"}
	plan := func(id int) *signPlan { return &signPlan{flow: &ent.Flow{ID: id}} }
	in := func(id int) SignInput { return SignInput{FlowID: id, PersonalSealID: 1} }
	for id := 1; id <= 5; id++ {
		p.keep(v, in(id), plan(id), now, now.Add(5*time.Minute))
	}
	if n := p.len(); n != 3 {
		t.Fatalf("%d kept, want 3", n)
	}
	if got := p.take(v, in(1), now); got != nil {
		t.Fatal("the oldest was kept past the bound")
	}
	if got := p.take(v, in(5), now); got == nil || got.flow.ID != 5 {
		t.Fatalf("newest: %+v", got)
	}
	if got := p.take(v, in(5), now); got != nil {
		t.Fatal("taken twice")
	}
	// Another viewer, or the same with other seals, takes nothing.
	if got := p.take(viewer.Viewer{UserID: 8, Phone: v.Phone}, in(4), now); got != nil {
		t.Fatal("another user took the plan")
	}
	other := in(4)
	other.PersonalSealID = 2
	if got := p.take(v, other, now); got != nil {
		t.Fatal("taken with another seal")
	}
	// Past its code's life it is not given, and keeping drops it.
	if got := p.take(v, in(4), now.Add(5*time.Minute)); got != nil {
		t.Fatal("taken after its code's life")
	}
	p.keep(v, in(9), plan(9), now.Add(6*time.Minute), now.Add(11*time.Minute))
	if n := p.len(); n != 1 {
		t.Fatalf("%d kept after the others' codes ended, want 1", n)
	}
	// Kept again (a code sent again): the newer plan, once.
	p.keep(v, in(9), plan(90), now.Add(6*time.Minute), now.Add(11*time.Minute))
	if got := p.take(v, in(9), now.Add(7*time.Minute)); got == nil || got.flow.ID != 90 {
		t.Fatalf("kept again: %+v", got)
	}
	// Many keeps and takes leave the order short.
	for i := range 100 {
		p.keep(v, in(100+i), plan(i), now, now.Add(time.Minute))
		p.take(v, in(100+i), now)
	}
	if len(p.order) > 2*p.max+1 {
		t.Fatalf("order holds %d items", len(p.order))
	}
}
