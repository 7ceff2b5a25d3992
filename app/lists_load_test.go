package app_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"signet/database"
	"signet/internal/apitest"
	"signet/internal/dbtest"
	"signet/internal/sqlcount"
	"signet/viewer"
)

// TestTodoListLoad is the list harness of docs/benchmarks.md ("contracts"):
// the 待办 list through GraphQL over HTTP with 1M flows over 10k users in
// PostgreSQL, next to bare pgx running the same SQL statements with the same
// arguments. It runs on demand only (it builds 3M rows):
//
//	SIGNET_LOAD=1 scripts/with-postgres.sh go test -count=1 -run TestTodoListLoad -v ./app/
//
// SIGNET_LOAD_FLOWS and SIGNET_LOAD_USERS change the sizes. It reports
// figures and asserts nothing about time.
func TestTodoListLoad(t *testing.T) {
	if os.Getenv("SIGNET_LOAD") == "" {
		t.Skip("set SIGNET_LOAD=1 to run the 1M-flow list harness")
	}
	flowsN, usersN := loadEnvInt("SIGNET_LOAD_FLOWS", 1_000_000), loadEnvInt("SIGNET_LOAD_USERS", 10_000)
	b := dbtest.New(t, "postgres")
	counter := sqlcount.New()
	s := apitest.Start(t, b, apitest.Options{WrapDB: func(db *database.DB) (*database.DB, error) { return counter.Reopen(db, b.DatabaseURL) }})
	token := s.Register("13800000001", passA)
	ctx := context.Background()

	start := time.Now()
	// One connection: the generation goes through temporary tables, which
	// another connection of the pool would not see.
	conn, err := s.App.DB.SQL.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range loadSQL(usersN, flowsN) {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	conn.Close()
	t.Logf("generated %d users, %d flows, %d participants in %s", usersN, flowsN, 2*flowsN, time.Since(start).Round(time.Second))

	query := func(first int) string {
		return fmt.Sprintf(`{ flows(list: TODO, first: %d) { totalCount edges { node { id name participants { name status } } } } }`, first)
	}
	for _, first := range []int{10, 50} {
		q := query(first)
		for range 50 { // warm up: plans, caches, the session touch
			s.MustDo(token, q, nil, nil)
		}
		id := fmt.Sprintf("load-%d", first)
		counter.Watch(func(ctx context.Context) bool { return viewer.ClientFrom(ctx).RequestID == id })
		r := s.DoWithHeaders(map[string]string{"Authorization": "Bearer " + token, "X-Request-ID": id}, q, nil)
		stmts := counter.Stop()
		var page struct {
			Flows struct {
				TotalCount int
				Edges      []any
			}
		}
		r.Decode(t, &page)
		t.Logf("first %d: totalCount %d, %d edges, %d statements", first, page.Flows.TotalCount, len(page.Flows.Edges), len(stmts))

		// GraphQL and bare pgx alternate request by request, so both see
		// the same machine (other load comes and goes).
		conn, err := pgx.Connect(ctx, b.DatabaseURL)
		if err != nil {
			t.Fatal(err)
		}
		const n = 2000
		api := make([]time.Duration, n)
		bare := make([]time.Duration, n)
		for i := range n {
			t0 := time.Now()
			s.MustDo(token, q, nil, nil)
			api[i] = time.Since(t0)

			t0 = time.Now()
			for _, st := range stmts {
				rows, err := conn.Query(ctx, st.SQL, st.Args...)
				if err != nil {
					t.Fatal(err)
				}
				for rows.Next() {
					if _, err := rows.Values(); err != nil {
						t.Fatal(err)
					}
				}
				if rows.Err() != nil {
					t.Fatal(rows.Err())
				}
			}
			bare[i] = time.Since(t0)
		}
		for i, st := range stmts {
			var plan []string
			rows, err := conn.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+st.SQL, st.Args...)
			if err == nil {
				for rows.Next() {
					var line string
					rows.Scan(&line)
					plan = append(plan, line)
				}
			}
			t.Logf("statement %d: %s\n  %s", i+1, st.SQL, strings.Join(plan, "\n  "))
		}
		conn.Close(ctx)
		ap50, ap99 := pct(api, 50), pct(api, 99)
		bp50, bp99 := pct(bare, 50), pct(bare, 99)
		fmt.Printf("CONTRACTS-LIST first=%d flows=%d users=%d: GraphQL p50 %s p99 %s | bare pgx p50 %s p99 %s | p99 ratio %.2f\n",
			first, flowsN, usersN, ap50, ap99, bp50, bp99, float64(ap99)/float64(bp99))
	}
}

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)-1)*p/100].Round(10 * time.Microsecond)
}

func loadEnvInt(name string, def int) int {
	var n int
	if _, err := fmt.Sscan(os.Getenv(name), &n); err != nil || n <= 0 {
		return def
	}
	return n
}

// loadSQL generates users and flows in PostgreSQL. The registered viewer is
// user number 0; every user has about the same share: as first signer of
// 30% of flows in signing (their 待办), of completed, draft and revoked ones.
func loadSQL(users, flows int) []string {
	return []string{
		fmt.Sprintf(`INSERT INTO users (created_at, updated_at, phone, name)
			SELECT now(), now(), '139' || lpad(g::text, 8, '0'), '用户' || g FROM generate_series(1, %d) g`, users-1),
		`CREATE TEMP TABLE load_users AS SELECT (row_number() OVER (ORDER BY id) - 1)::int AS n, id, phone, coalesce(name, '用户') AS name FROM users`,
		`CREATE INDEX ON load_users (n)`,
		fmt.Sprintf(`INSERT INTO flows (created_at, updated_at, number, name, scene, status, ordered, initiator_id, sent_at)
			SELECT now() - make_interval(secs => g), now(), 'QL' || g, '负载合同' || g, 'general',
			       (ARRAY['signing','signing','signing','completed','completed','completed','completed','completed','draft','revoked'])[g %% 10 + 1],
			       true, u.id, now() - make_interval(secs => g)
			FROM generate_series(1, %d) g JOIN load_users u ON u.n = (g * 7) %% %d`, flows, users),
		`CREATE TEMP TABLE load_flows AS SELECT id, substr(number, 3)::int AS g, status FROM flows WHERE number LIKE 'QL%'`,
		fmt.Sprintf(`INSERT INTO participants (created_at, updated_at, role, kind, sign_order, name, phone, status, passcode_failures, flow_id, user_id, signed_at)
			SELECT now(), now(), 'signer', 'person', 1, u.name, u.phone,
			       CASE f.status WHEN 'signing' THEN 'pending' WHEN 'completed' THEN 'signed' ELSE 'waiting' END,
			       0, f.id, u.id, CASE WHEN f.status = 'completed' THEN now() END
			FROM load_flows f JOIN load_users u ON u.n = f.g %% %d`, users),
		fmt.Sprintf(`INSERT INTO participants (created_at, updated_at, role, kind, sign_order, name, phone, status, passcode_failures, flow_id, user_id, signed_at)
			SELECT now(), now(), 'signer', 'person', 2, u.name, u.phone,
			       CASE f.status WHEN 'completed' THEN 'signed' ELSE 'waiting' END,
			       0, f.id, u.id, CASE WHEN f.status = 'completed' THEN now() END
			FROM load_flows f JOIN load_users u ON u.n = (f.g * 13 + 1) %% %d`, users),
		`ANALYZE`,
	}
}
