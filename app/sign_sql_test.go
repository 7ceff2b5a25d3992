package app_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"signet/internal/dbtest"
	"signet/internal/sqlcount"
	"signet/internal/testpdf"
	"signet/viewer"
)

// TestSignMutationStatementBudget counts the statements one signFlow
// request sends, through the real handler: flows'
// TestSignStatementBudget (the signature itself, 15 — 14 here, its seal
// kept: the plan its intent code request made is reused with its code,
// flows/intentplan.go) and, after the
// commit, the parties of the flow and their accounts (for the lists-changed
// events) and on PostgreSQL the one NOTIFY that carries the live updates.
// The session and the seal were read by the intent code's request and are
// kept by the node (accounts/sessioncache.go, enterprises/sealcache.go).
// River's wake-up after inserting a job (PGNotifyMany on PostgreSQL,
// NotificationInsertMany on SQLite) depends on timing and is not counted.
func TestSignMutationStatementBudget(t *testing.T) {
	const budget = 18
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		s, counter := startCounting(t, b)
		h := &signBench{s: s, alice: s.Register("13800000001", passA), pdf: testpdf.Make(2)}
		h.addSigner(t, 0)
		ins := h.round(t, 0)
		h.waitJobsIdle(t)
		const id = "sign-statements"
		counter.Watch(func(ctx context.Context) bool { return viewer.ClientFrom(ctx).RequestID == id })
		r := s.DoWithHeaders(map[string]string{"Authorization": "Bearer " + h.signers[0].token, "X-Request-ID": id},
			signMutation, map[string]any{"in": ins[0]})
		var stmts []string
		for _, q := range sqlcount.SQL(counter.Stop()) {
			if !strings.HasPrefix(q, "-- name: PGNotifyMany") && !strings.HasPrefix(q, "-- name: NotificationInsertMany") {
				stmts = append(stmts, q)
			}
		}
		if r.Code() != "" {
			t.Fatalf("signFlow: %s %s", r.Code(), r.Message())
		}
		var list strings.Builder
		for i, q := range stmts {
			if len(q) > 120 {
				q = q[:120] + "…"
			}
			fmt.Fprintf(&list, "%2d %s\n", i+1, q)
		}
		t.Logf("%d statements:\n%s", len(stmts), list.String())
		if len(stmts) > budget {
			t.Fatalf("one signFlow request sent %d statements, budget %d", len(stmts), budget)
		}
		if len(stmts) < 15 {
			t.Fatalf("only %d statements seen: the counter missed the request's work", len(stmts))
		}
	})
}
