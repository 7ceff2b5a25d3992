package database_test

import (
	"context"
	"strings"
	"testing"

	"signet/internal/dbtest"
)

// TestMigrateDropsRetiredIndexes: an index an earlier version made and
// this one no longer has (ent's migration keeps unknown indexes) is listed
// by PlanMigration, so a production server refuses to start until it is
// migrated, and dropped by Migrate; a database made by this version has
// none and nothing to plan.
func TestMigrateDropsRetiredIndexes(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ctx := context.Background()
		db := dbtest.Open(t, b) // migrated
		var plan strings.Builder
		if pending, err := db.PlanMigration(ctx, &plan); err != nil || pending {
			t.Fatalf("a new database plans a migration (%v):\n%s", err, plan.String())
		}
		// As an earlier version left them.
		for _, q := range []string{
			"CREATE INDEX participant_phone_status ON participants (phone, status)",
			"CREATE INDEX auditevent_subject_type_subject_id ON audit_events (subject_type, subject_id)",
		} {
			if _, err := db.SQL.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		plan.Reset()
		pending, err := db.PlanMigration(ctx, &plan)
		if err != nil || !pending {
			t.Fatalf("retired indexes not planned: %v", err)
		}
		for _, name := range []string{"participant_phone_status", "auditevent_subject_type_subject_id"} {
			if !strings.Contains(plan.String(), "DROP INDEX IF EXISTS "+name+";") {
				t.Errorf("plan does not drop %s:\n%s", name, plan.String())
			}
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		plan.Reset()
		if pending, err := db.PlanMigration(ctx, &plan); err != nil || pending {
			t.Fatalf("still planned after Migrate (%v):\n%s", err, plan.String())
		}
	})
}
