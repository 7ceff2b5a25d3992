package app_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"signet/config"
	"signet/database"
	"signet/ent/signfield"
	"signet/ent/user"
	"signet/events"
	"signet/flows"
	"signet/internal/apitest"
	"signet/internal/dbtest"
	"signet/internal/sqlcount"
	"signet/internal/testpdf"
	"signet/viewer"
)

// listBudget is the most SQL statements one list request may cost, counted
// for the whole HTTP request: authentication (the session joined with its
// user), the page with its total count, and the parties of the page's flows.
// BEGIN/COMMIT would count too (a list runs none). PRODUCT.md DOC-2, issue 4
// point 1.
const listBudget = 3

const listQuery = `query($first: Int, $after: Cursor, $last: Int, $before: Cursor) {
  flows(list: TODO, first: $first, after: $after, last: $last, before: $before) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage endCursor startCursor }
    edges { cursor node { id name participants { name status } } }
  }
}`

type listPage struct {
	Flows struct {
		TotalCount int
		PageInfo   struct {
			HasNextPage, HasPreviousPage bool
			EndCursor, StartCursor       string
		}
		Edges []struct {
			Cursor string
			Node   struct {
				ID, Name     string
				Participants []struct{ Name, Status string }
			}
		}
	}
}

// TestListStatementBudget proves a list request costs at most listBudget
// statements whatever the page size, on both databases, by counting the
// statements the database driver receives on behalf of the request (below
// ent, so nothing can hide one).
func TestListStatementBudget(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		s, counter := startCounting(t, b)
		alice := s.Register("13800000001", passA)
		bob := s.Register("13800000002", passA)
		mallory := s.Register("13800000009", passA)

		// 60 flows from alice, bob signs first (all in his 待办), carol second.
		const total = 60
		ctx := context.Background()
		a, err := s.App.DB.Client.User.Query().Where(user.Phone("13800000001")).Only(viewer.System(ctx))
		if err != nil {
			t.Fatal(err)
		}
		actx := viewer.NewContext(ctx, viewer.Viewer{UserID: a.ID, Phone: a.Phone})
		pdf := testpdf.Make(1)
		for i := range total {
			name := fmt.Sprintf("采购合同%02d", i)
			f, err := s.App.Flows.CreateDraft(actx, flows.DraftInput{Name: name, Ordered: true})
			if err != nil {
				t.Fatal(err)
			}
			doc, err := s.App.Flows.AddDocument(actx, f.ID, "合同.pdf", bytes.NewReader(pdf))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.App.Flows.UpdateDraft(actx, f.ID, flows.DraftInput{Name: name, Ordered: true,
				Participants: []flows.ParticipantInput{{Key: "b", Name: "王小明", Phone: "13800000002", Order: 1}, {Key: "c", Name: "李四", Phone: "13800000003", Order: 2}},
				Fields:       []flows.FieldInput{{DocumentID: doc.ID, ParticipantKey: "b", Kind: signfield.KindPersonalSeal, Page: 1, X: 100, Y: 100, Width: 100, Height: 100}},
			}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.App.Flows.Send(actx, f.ID); err != nil {
				t.Fatal(err)
			}
		}
		_ = alice

		var seq atomic.Int64
		// list runs the query as token and returns the page and the
		// statements the request sent.
		list := func(token string, vars map[string]any) (listPage, []string) {
			t.Helper()
			id := fmt.Sprintf("budget-%d", seq.Add(1))
			counter.Watch(func(ctx context.Context) bool { return viewer.ClientFrom(ctx).RequestID == id })
			r := s.DoWithHeaders(map[string]string{"Authorization": "Bearer " + token, "X-Request-ID": id}, listQuery, vars)
			stmts := sqlcount.SQL(counter.Stop())
			if len(r.Errors) > 0 {
				t.Fatalf("list %v: %+v", vars, r.Errors)
			}
			var p listPage
			r.Decode(t, &p)
			return p, stmts
		}
		within := func(what string, stmts []string) {
			t.Helper()
			if len(stmts) > listBudget {
				t.Errorf("%s: %d statements, budget %d:\n  %s", what, len(stmts), listBudget, strings.Join(stmts, "\n  "))
			}
		}

		// The first request of a session idle for over a minute slides its
		// expiry: one UPDATE, once per session and minute, not per list.
		s.Clock.Advance(2 * time.Minute)
		_, stmts := list(bob, map[string]any{"first": 5})
		if len(stmts) != listBudget+1 || !strings.HasPrefix(stmts[1], "UPDATE") || !strings.Contains(stmts[1], "sessions") {
			t.Fatalf("stale session: %d statements, want the budget plus the session touch:\n  %s", len(stmts), strings.Join(stmts, "\n  "))
		}

		// Whatever the page size: 1, 5, 50, all, more than all.
		for _, n := range []int{1, 5, 50, total, 100} {
			p, stmts := list(bob, map[string]any{"first": n})
			within(fmt.Sprintf("first %d", n), stmts)
			want := min(n, total)
			if p.Flows.TotalCount != total || len(p.Flows.Edges) != want || p.Flows.PageInfo.HasNextPage != (n < total) {
				t.Fatalf("first %d: total %d, %d edges, next %v", n, p.Flows.TotalCount, len(p.Flows.Edges), p.Flows.PageInfo.HasNextPage)
			}
			for _, e := range p.Flows.Edges {
				if len(e.Node.Participants) != 2 || e.Node.Participants[0].Name == "" {
					t.Fatalf("first %d: parties of %s = %+v", n, e.Node.ID, e.Node.Participants)
				}
			}
			// The counter saw the request's real work (a counter that sees
			// nothing would pass the budget). The session was read by the
			// first request and is kept by the node (accounts/sessioncache.go).
			joined := strings.Join(stmts, "\n")
			for _, table := range []string{"flows", "participants"} {
				if !strings.Contains(joined, table) {
					t.Fatalf("first %d: no statement on %s in\n  %s", n, table, strings.Join(stmts, "\n  "))
				}
			}
		}

		// Walking the whole list in pages of 7: same budget, every flow once,
		// the total always the whole list's.
		seen := map[string]bool{}
		var after any
		for page := 0; ; page++ {
			p, stmts := list(bob, map[string]any{"first": 7, "after": after})
			within(fmt.Sprintf("page %d", page), stmts)
			if p.Flows.TotalCount != total {
				t.Fatalf("page %d: total %d", page, p.Flows.TotalCount)
			}
			for _, e := range p.Flows.Edges {
				if seen[e.Node.ID] {
					t.Fatalf("page %d repeats %s", page, e.Node.ID)
				}
				seen[e.Node.ID] = true
			}
			if !p.Flows.PageInfo.HasNextPage {
				// Past the end: an empty page still knows the total.
				empty, stmts := list(bob, map[string]any{"first": 7, "after": p.Flows.PageInfo.EndCursor})
				within("past the end", stmts)
				if len(empty.Flows.Edges) != 0 || empty.Flows.TotalCount != total {
					t.Fatalf("past the end: %d edges, total %d", len(empty.Flows.Edges), empty.Flows.TotalCount)
				}
				break
			}
			after = p.Flows.PageInfo.EndCursor
		}
		if len(seen) != total {
			t.Fatalf("walked %d flows, want %d", len(seen), total)
		}

		// Backwards.
		p, stmts := list(bob, map[string]any{"last": 10})
		within("last 10", stmts)
		if p.Flows.TotalCount != total || len(p.Flows.Edges) != 10 || !p.Flows.PageInfo.HasPreviousPage {
			t.Fatalf("last 10: total %d, %d edges", p.Flows.TotalCount, len(p.Flows.Edges))
		}
		p, stmts = list(bob, map[string]any{"last": 10, "before": p.Flows.PageInfo.StartCursor})
		within("last 10 before", stmts)
		if p.Flows.TotalCount != total || len(p.Flows.Edges) != 10 {
			t.Fatalf("last 10 before: total %d, %d edges", p.Flows.TotalCount, len(p.Flows.Edges))
		}

		// An outsider's empty list: nothing leaks, same budget.
		list(mallory, map[string]any{"first": 5}) // touch the session
		p, stmts = list(mallory, map[string]any{"first": 5})
		within("mallory", stmts)
		if p.Flows.TotalCount != 0 || len(p.Flows.Edges) != 0 {
			t.Fatalf("mallory's 待办: %+v", p)
		}
	})
}

// startCounting starts a Signet whose database statements counter sees
// (internal/sqlcount).
func startCounting(t *testing.T, b dbtest.Backend) (*apitest.Server, *sqlcount.Counter) {
	return startCountingWith(t, b, apitest.Options{})
}

// startCountingWith is startCounting with options (WrapDB is its own).
func startCountingWith(t *testing.T, b dbtest.Backend, opts apitest.Options) (*apitest.Server, *sqlcount.Counter) {
	t.Helper()
	counter := sqlcount.New()
	dsn := b.DatabaseURL
	if dsn == "" {
		dsn = database.SQLiteDSN(b.SQLitePath)
	}
	opts.WrapDB = func(db *database.DB) (*database.DB, error) { return counter.Reopen(db, dsn) }
	return apitest.Start(t, b, opts), counter
}

// otherNode is, on PostgreSQL, a second server on a's database, listening
// for the events of a's; on SQLite a itself (one node).
func otherNode(t *testing.T, b dbtest.Backend, a *apitest.Server, opts apitest.Options) *apitest.Server {
	t.Helper()
	if b.DatabaseURL == "" {
		return a
	}
	opts.Configure = func(c *config.Config) { c.DataDir = a.App.Config.DataDir }
	other := apitest.Start(t, b, opts)
	select {
	case <-other.App.Events.(*events.Postgres).Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("the second node never listened")
	}
	return other
}

// TestListPlansStartFromParties checks, on SQLite, that no list request
// (the seven lists, their counts) reads the flows by their status: each
// list is found from the viewer's parties or the initiator's index, and the
// flows by key (flows/lists.go, statusIn and flowIn). SQLite's plans do not
// depend on the rows (Signet runs no ANALYZE), so a handful of flows shows
// the plan a file of a million would run: the status index, with a third of
// the flows in signing, made 待办 a walk over all of them.
func TestListPlansStartFromParties(t *testing.T) {
	b := dbtest.SQLite(t)
	s, counter := startCounting(t, b)
	s.Register("13800000001", passA)
	bob := s.Register("13800000002", passA)
	ctx := context.Background()
	a, err := s.App.DB.Client.User.Query().Where(user.Phone("13800000001")).Only(viewer.System(ctx))
	if err != nil {
		t.Fatal(err)
	}
	actx := viewer.NewContext(ctx, viewer.Viewer{UserID: a.ID, Phone: a.Phone})
	f, err := s.App.Flows.CreateDraft(actx, flows.DraftInput{Name: "采购合同", Ordered: true})
	if err != nil {
		t.Fatal(err)
	}
	doc, err := s.App.Flows.AddDocument(actx, f.ID, "合同.pdf", bytes.NewReader(testpdf.Make(1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.App.Flows.UpdateDraft(actx, f.ID, flows.DraftInput{Name: "采购合同", Ordered: true,
		Participants: []flows.ParticipantInput{{Key: "b", Name: "王小明", Phone: "13800000002", Order: 1},
			{Key: "c", Name: "李四", Phone: "13800000003", Role: "cc"}},
		Fields: []flows.FieldInput{{DocumentID: doc.ID, ParticipantKey: "b", Kind: signfield.KindPersonalSeal, Page: 1, X: 100, Y: 100, Width: 100, Height: 100}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.App.Flows.Send(actx, f.ID); err != nil {
		t.Fatal(err)
	}

	explain, err := sql.Open("sqlite", database.SQLiteDSN(b.SQLitePath))
	if err != nil {
		t.Fatal(err)
	}
	defer explain.Close()
	queries := map[string]string{"flowCounts": `{ flowCounts { todo drafts done initiated cc completed voided } }`}
	for _, l := range []string{"TODO", "DRAFTS", "DONE", "INITIATED", "CC", "COMPLETED", "VOIDED"} {
		queries[l] = fmt.Sprintf(`{ flows(list: %s, first: 10) { totalCount edges { node { id participants { name } } } } }`, l)
	}
	for name, q := range queries {
		id := "plan-" + name
		counter.Watch(func(ctx context.Context) bool { return viewer.ClientFrom(ctx).RequestID == id })
		r := s.DoWithHeaders(map[string]string{"Authorization": "Bearer " + bob, "X-Request-ID": id}, q, nil)
		stmts := counter.Stop()
		if r.Code() != "" {
			t.Fatalf("%s: %s %s", name, r.Code(), r.Message())
		}
		seen := false
		for _, st := range stmts {
			if !strings.Contains(st.SQL, "`flows`") {
				continue
			}
			seen = true
			plan, err := sqlcount.SQLitePlan(ctx, explain, st)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			for _, line := range plan {
				if strings.HasPrefix(line, "SCAN flows") || strings.Contains(line, "flows USING INDEX flow_status") ||
					strings.Contains(line, "flows USING COVERING INDEX flow_status") {
					t.Errorf("%s scans the flows or reads them by status (%q):\n%s\n  %s", name, line, st.SQL, strings.Join(plan, "\n  "))
				}
			}
		}
		if !seen {
			t.Fatalf("%s: no statement on flows among %d", name, len(stmts))
		}
	}
}
