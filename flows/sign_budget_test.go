package flows_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"signet/flows"
	"signet/internal/dbtest"
	"signet/internal/sqlcount"
)

// signMarker marks the context of the one signature whose statements are
// counted, so the job queue's polling on the same pool is not.
type signMarker struct{}

// recordSign has bob sign a new flow named name and returns the statements
// that signature sent (counter wraps e's database), with its error.
func (e *signEnv) recordSign(t testing.TB, counter *sqlcount.Counter, name string) ([]sqlcount.Statement, error) {
	t.Helper()
	return e.recordSignWith(t, counter, name, false)
}

// recordSignWith is recordSign; replanned drops the plan SendIntentCode
// kept first, so that Sign plans again (another node, a restart).
func (e *signEnv) recordSignWith(t testing.TB, counter *sqlcount.Counter, name string, replanned bool) ([]sqlcount.Statement, error) {
	t.Helper()
	in := e.readyToSign(t, name)
	if replanned {
		flows.ForgetIntentPlans(e.svc)
	}
	ctx := context.WithValue(e.as("bob"), signMarker{}, true)
	counter.Watch(func(ctx context.Context) bool { return ctx.Value(signMarker{}) != nil })
	_, err := e.svc.Sign(ctx, in)
	return counter.Stop(), err
}

// TestSignStatementBudget counts the statements one signature sends to the
// database (sqlcount wraps the driver, below ent: BEGIN and COMMIT count),
// for a two-party sequential flow whose first signer signs one field: the
// checks (the plan's reads too when Sign plans again), the intent code, the
// certificate, the commit with the audit events and the next signer's
// activation. Every
// statement is a round trip and, on SQLite, a parse: the figure is the
// signing pipeline's overhead around cryptography (docs/benchmarks.md).
func TestSignStatementBudget(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		counter := sqlcount.New()
		e := setupSigningWith(t, b, counter.Reopen)
		for _, c := range []struct {
			name      string
			replanned bool
			budget    int
		}{{"reused", false, signBudget}, {"replanned", true, signBudget + replanBudget}} {
			t.Run(c.name, func(t *testing.T) {
				recorded, err := e.recordSignWith(t, counter, "语句计数"+c.name, c.replanned)
				checkSignBudget(t, recorded, err, c.budget)
			})
		}
	})
}

// checkSignBudget fails when the statements recorded, River's wake-ups
// aside, pass budget.
func checkSignBudget(t *testing.T, recorded []sqlcount.Statement, err error, budget int) {
	t.Helper()
	var stmts []string
	for _, q := range sqlcount.SQL(recorded) {
		// River wakes its producers after an insert — a NOTIFY on
		// PostgreSQL, a row in river_notification on SQLite — at most
		// once per queue in a short interval: whether this signature
		// sends it depends on the setup's timing (a slow run, under
		// -race, does).
		if !strings.HasPrefix(q, "-- name: PGNotifyMany") && !strings.HasPrefix(q, "-- name: NotificationInsertMany") {
			stmts = append(stmts, q)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	var list strings.Builder
	for i, s := range stmts {
		if len(s) > 160 && !strings.Contains(s, "audit_heads") {
			s = s[:160] + "…"
		}
		fmt.Fprintf(&list, "%2d %s\n", i+1, s)
	}
	t.Logf("%d statements:\n%s", len(stmts), list.String())
	if len(stmts) > budget {
		t.Fatalf("one signature sent %d statements, budget %d", len(stmts), budget)
	}
}

// signBudget is what one signature costs today (14 before the commit
// checked the seals again, enterprises.RecheckSeals; 15 before the kept intent
// code was checked in memory; 37 before the trail was
// appended in one statement per transaction and the seal checked once; 20
// before the plan read the flow with its parties, and the documents with
// the signer's fields, in one join each — planread.go — and the seal with
// its certificate — enterprises.SealForSigning):
//
//	 1  check: the seal with its certificate (its use checked by
//	    enterprises) — the flow with its participants and the documents
//	    with the signer's fields were read by SendIntentCode, whose plan
//	    Sign takes back with the intent code it issued, checked in memory
//	    (intentplan.go; three statements more, replanBudget, when it plans
//	    again and reads the code)
//	11  BEGIN, the intent code used up (in the commit that signs), the
//	    flow's trail locked, the new revision staged (staged.go: in the
//	    commit instead of a synced file before it), the document's revision,
//	    the field, the seals with their certificates, memberships and grants
//	    read again, the participant, the other signers read, the next one
//	    made pending, their SMS job …
//	 3  … the audit events inserted, the chain head advanced, COMMIT
//
// The answer is the flow as the plan read it, with the commit's changes (it
// was read back: one statement more). The next signer's link was read and
// created in the commit (two more): sending makes every party's link now,
// and the SMS job looks it up.
const signBudget = 15

// replanBudget is what a signature costs more when Sign plans again (on
// another node than SendIntentCode, or after a restart): the flow with its
// participants, the documents with the signer's fields, and the intent
// code's row.
const replanBudget = 3

// TestSignUsesIndexes runs SQLite's EXPLAIN QUERY PLAN on every statement
// one signature sends, with its arguments: none may read a whole table, or
// a signature's cost would grow with the number of contracts (the signer's
// fields and the intent code were read by scanning until the seventh
// session). SQLite only: without statistics its planner takes an index
// whenever one serves, where PostgreSQL rightly scans a small table.
func TestSignUsesIndexes(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		if b.DatabaseURL != "" {
			t.Skip("SQLite's plans are the deterministic check")
		}
		counter := sqlcount.New()
		e := setupSigningWith(t, b, counter.Reopen)
		stmts, err := e.recordSign(t, counter, "索引检查")
		if err != nil {
			t.Fatal(err)
		}
		checked := 0
		for _, st := range stmts {
			verb, _, _ := strings.Cut(st.SQL, " ")
			switch strings.ToUpper(verb) {
			case "SELECT", "UPDATE", "DELETE", "WITH":
			default:
				continue
			}
			plan, err := sqlcount.SQLitePlan(context.Background(), e.database.SQL, st)
			if err != nil {
				t.Fatal(err)
			}
			checked++
			for _, line := range plan {
				if strings.HasPrefix(line, "SCAN ") && !strings.Contains(line, "CONSTANT ROW") {
					t.Errorf("reads a whole table (%s):\n%s", line, st.SQL)
				}
			}
		}
		if checked < 8 {
			t.Fatalf("only %d statements checked", checked)
		}
	})
}
