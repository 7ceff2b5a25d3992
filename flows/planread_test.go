package flows_test

import (
	"bytes"
	"context"
	"reflect"
	"testing"
	"time"

	"signet/ent"
	"signet/ent/flowdocument"
	"signet/ent/participant"
	"signet/ent/signfield"
	"signet/flows"
	"signet/internal/dbtest"
	"signet/internal/testpdf"
	"signet/viewer"
)

// TestPlanReadMatchesQueries: the signing plan's two joined reads
// (planread.go) give exactly the entities the four ent queries they
// replace give, selecting the plan's columns — every field, on both
// databases, the parties in ID order although their signing order is the
// reverse (the index the join walks) — for a flow with two
// documents, a passcode and a deadline, where the signer has fields on
// both documents, a date field (left out), a field on the other party's
// side and one already applied (left out). The flow read that way is still
// bound to the client: its edges can be queried. A flow that does not
// exist is NotFound.
func TestPlanReadMatchesQueries(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		e := setupSigning(t, b)
		ctx := e.as("alice")
		sys := viewer.System(context.Background())
		f, err := e.svc.CreateDraft(ctx, flows.DraftInput{Name: "联合读取", Ordered: true})
		if err != nil {
			t.Fatal(err)
		}
		var docs []*ent.FlowDocument
		for _, name := range []string{"主合同.pdf", "附件.pdf"} {
			d, err := e.svc.AddDocument(ctx, f.ID, name, bytes.NewReader(testpdf.Make(2)))
			if err != nil {
				t.Fatal(err)
			}
			docs = append(docs, d)
		}
		passcode, deadline := "8642", e.now.Add(72*time.Hour)
		if _, err := e.svc.UpdateDraft(ctx, f.ID, flows.DraftInput{Name: "联合读取", Ordered: true, Passcode: &passcode, Deadline: &deadline,
			Participants: []flows.ParticipantInput{
				{Key: "b", Name: "王小明", Phone: "13800000002", Order: 2},
				{Key: "c", Name: "李四", Phone: "13800000003", Order: 1},
			},
			Fields: []flows.FieldInput{
				{DocumentID: docs[0].ID, ParticipantKey: "b", Kind: signfield.KindPersonalSeal, Page: 2, X: 100, Y: 100, Width: 120, Height: 120},
				{DocumentID: docs[0].ID, ParticipantKey: "b", Kind: signfield.KindDate, Page: 2, X: 100, Y: 240, Width: 120, Height: 20},
				{DocumentID: docs[1].ID, ParticipantKey: "b", Kind: signfield.KindHandwriting, Page: 1, X: 50, Y: 60, Width: 90, Height: 40},
				{DocumentID: docs[1].ID, ParticipantKey: "b", Kind: signfield.KindPersonalSeal, Page: 2, X: 300, Y: 60, Width: 90, Height: 90},
				{DocumentID: docs[0].ID, ParticipantKey: "c", Kind: signfield.KindPersonalSeal, Page: 1, X: 300, Y: 100, Width: 100, Height: 100},
			},
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Send(ctx, f.ID); err != nil {
			t.Fatal(err)
		}
		bob, err := e.db.Participant.Query().Where(participant.FlowID(f.ID), participant.Phone("13800000002")).Only(sys)
		if err != nil {
			t.Fatal(err)
		}
		// One of bob's fields is applied already: the plan leaves it out.
		applied, err := e.db.SignField.Query().Where(signfield.ParticipantID(bob.ID), signfield.DocumentID(docs[1].ID),
			signfield.KindEQ(signfield.KindPersonalSeal)).Only(sys)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.db.SignField.UpdateOne(applied).SetAppliedRevision(1).Exec(sys); err != nil {
			t.Fatal(err)
		}

		gotFlow, gotParts, gotDocs, gotFields, err := flows.ReadPlan(e.svc, sys, f.ID, bob.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantFlow, err := e.db.Flow.Get(sys, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		partyCols, docCols, fieldCols := flows.PlanColumns()
		wantParts, err := e.db.Participant.Query().Where(participant.FlowID(f.ID)).Order(ent.Asc(participant.FieldID)).Select(partyCols...).All(sys)
		if err != nil {
			t.Fatal(err)
		}
		wantDocs, err := e.db.FlowDocument.Query().Where(flowdocument.FlowID(f.ID)).Order(ent.Asc(flowdocument.FieldPosition)).Select(docCols...).All(sys)
		if err != nil {
			t.Fatal(err)
		}
		wantFields, err := e.db.SignField.Query().Where(signfield.ParticipantID(bob.ID), signfield.AppliedRevisionIsNil(),
			signfield.KindNEQ(signfield.KindDate)).Order(ent.Asc(signfield.FieldDocumentID), ent.Asc(signfield.FieldID)).Select(fieldCols...).All(sys)
		if err != nil {
			t.Fatal(err)
		}
		if wantFlow.PasscodeHash == nil || wantFlow.Deadline == nil || len(wantParts) != 2 || len(wantDocs) != 2 || len(wantFields) != 2 {
			t.Fatalf("setup: passcode %v, deadline %v, %d parties, %d documents, %d fields", wantFlow.PasscodeHash != nil,
				wantFlow.Deadline, len(wantParts), len(wantDocs), len(wantFields))
		}
		sameEntities(t, "flow", []*ent.Flow{gotFlow}, []*ent.Flow{wantFlow})
		sameEntities(t, "participants", gotParts, wantParts)
		sameEntities(t, "documents", gotDocs, wantDocs)
		sameEntities(t, "fields", gotFields, wantFields)

		if n, err := gotFlow.QueryParticipants().Count(sys); err != nil || n != 2 {
			t.Fatalf("the flow read by the join queries %d parties, %v", n, err)
		}
		if _, _, _, _, err := flows.ReadPlan(e.svc, sys, f.ID+1000, bob.ID); !ent.IsNotFound(err) {
			t.Fatalf("a flow that does not exist: %v", err)
		}
	})
}

// sameEntities fails unless got and want hold the same entities: every
// exported field but the edges equal (times by Equal).
func sameEntities[T any](t *testing.T, what string, got, want []*T) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d read, %d by ent", what, len(got), len(want))
	}
	timeType := reflect.TypeFor[time.Time]()
	for i := range got {
		g, w := reflect.ValueOf(got[i]).Elem(), reflect.ValueOf(want[i]).Elem()
		for j := range g.NumField() {
			sf := g.Type().Field(j)
			if !sf.IsExported() || sf.Name == "Edges" {
				continue
			}
			a, b := g.Field(j), w.Field(j)
			if a.Kind() == reflect.Pointer && a.Type().Elem() == timeType {
				if a.IsNil() != b.IsNil() || !a.IsNil() && !a.Interface().(*time.Time).Equal(*b.Interface().(*time.Time)) {
					t.Errorf("%s %d: %s = %v, ent read %v", what, i, sf.Name, a.Interface(), b.Interface())
				}
				continue
			}
			if a.Type() == timeType {
				if !a.Interface().(time.Time).Equal(b.Interface().(time.Time)) {
					t.Errorf("%s %d: %s = %v, ent read %v", what, i, sf.Name, a.Interface(), b.Interface())
				}
				continue
			}
			if !reflect.DeepEqual(a.Interface(), b.Interface()) {
				t.Errorf("%s %d: %s = %v, ent read %v", what, i, sf.Name, a.Interface(), b.Interface())
			}
		}
	}
}
