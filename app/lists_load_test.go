package app_test

import (
	"context"
	"database/sql"
	"encoding/json"
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

// TestListLoad is the list harness of docs/benchmarks.md ("contracts"): the
// seven lists (待办 first) and their counts (flowCounts) through GraphQL over
// HTTP with 1M flows over 10k users, next to a bare driver running the same
// SQL statements with the same arguments (pgx on PostgreSQL, database/sql on
// SQLite). It runs on demand only (it builds about 3M rows):
//
//	SIGNET_LOAD=1 scripts/with-postgres.sh go test -count=1 -timeout 60m -run TestListLoad -v ./app/
//
// SIGNET_LOAD_BACKENDS ("postgres"; "sqlite" or both, comma-separated),
// SIGNET_LOAD_LISTS (all: TODO,DRAFTS,DONE,INITIATED,CC,COMPLETED,VOIDED,
// COUNTS), SIGNET_LOAD_N (requests per measurement, 2000),
// SIGNET_LOAD_FLOWS and SIGNET_LOAD_USERS change it. SQLite runs without
// ANALYZE, as a server's file is (Signet runs none); PostgreSQL with it, as
// autovacuum would have. It reports figures and plans and asserts nothing
// about time.
func TestListLoad(t *testing.T) {
	if os.Getenv("SIGNET_LOAD") == "" {
		t.Skip("set SIGNET_LOAD=1 to run the 1M-flow list harness")
	}
	flowsN, usersN := loadEnvInt("SIGNET_LOAD_FLOWS", 1_000_000), loadEnvInt("SIGNET_LOAD_USERS", 10_000)
	n := loadEnvInt("SIGNET_LOAD_N", 2000)
	backends := loadEnvList("SIGNET_LOAD_BACKENDS", "postgres")
	lists := loadEnvList("SIGNET_LOAD_LISTS", "TODO,DRAFTS,DONE,INITIATED,CC,COMPLETED,VOIDED,COUNTS")
	for _, kind := range backends {
		t.Run(kind, func(t *testing.T) {
			b := dbtest.New(t, kind)
			counter := sqlcount.New()
			dsn := b.DatabaseURL
			if dsn == "" {
				dsn = database.SQLiteDSN(b.SQLitePath)
			}
			s := apitest.Start(t, b, apitest.Options{WrapDB: func(db *database.DB) (*database.DB, error) { return counter.Reopen(db, dsn) }})
			token := s.Register("13800000001", passA)
			ctx := context.Background()

			start := time.Now()
			// One connection: the generation goes through temporary
			// tables, which another connection of the pool would not see.
			conn, err := s.App.DB.SQL.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			gen := loadSQL(usersN, flowsN)
			if kind == "sqlite" {
				gen = loadSQLite(usersN, flowsN)
			}
			for _, q := range gen {
				if _, err := conn.ExecContext(ctx, q); err != nil {
					t.Fatalf("%v\n%s", err, q)
				}
			}
			conn.Close()
			t.Logf("generated %d users, %d flows, %d parties in %s", usersN, flowsN, loadParties(flowsN), time.Since(start).Round(time.Second))

			bare := newBareRunner(t, kind, dsn)
			for _, list := range lists {
				firsts := []int{10, 50}
				if list == "COUNTS" {
					firsts = []int{0}
				}
				for _, first := range firsts {
					q := fmt.Sprintf(`{ flows(list: %s, first: %d) { totalCount edges { node { id name participants { name status } } } } }`, list, first)
					name := fmt.Sprintf("%s first=%d", list, first)
					if list == "COUNTS" {
						q, name = `{ flowCounts { todo drafts done initiated cc completed voided } }`, "COUNTS"
					}
					measureList(t, s, counter, bare, token, name, q, n, flowsN, usersN)
				}
			}
		})
	}
}

// measureList times q as the viewer against the bare driver running the
// statements one request of q sent, alternating request by request so both
// see the same machine (other load comes and goes), and prints the figures
// and the statements' plans.
func measureList(t *testing.T, s *apitest.Server, counter *sqlcount.Counter, bare *bareRunner, token, name, q string, n, flowsN, usersN int) {
	t.Helper()
	for range min(50, n) { // warm up: plans, caches, the session touch
		s.MustDo(token, q, nil, nil)
	}
	id := "load-" + strings.NewReplacer(" ", "-", "=", "-").Replace(name)
	counter.Watch(func(ctx context.Context) bool { return viewer.ClientFrom(ctx).RequestID == id })
	r := s.DoWithHeaders(map[string]string{"Authorization": "Bearer " + token, "X-Request-ID": id}, q, nil)
	stmts := counter.Stop()
	if r.Code() != "" {
		t.Fatalf("%s: %s %s", name, r.Code(), r.Message())
	}
	t.Logf("%s: %s, %d statements", name, loadSummary(r.Data), len(stmts))
	api, raw := make([]time.Duration, n), make([]time.Duration, n)
	for i := range n {
		t0 := time.Now()
		s.MustDo(token, q, nil, nil)
		api[i] = time.Since(t0)
		t0 = time.Now()
		bare.run(t, stmts)
		raw[i] = time.Since(t0)
	}
	for i, st := range stmts {
		t.Logf("%s statement %d: %s\n  args %v\n  %s", name, i+1, st.SQL, st.Args, strings.Join(bare.plan(t, st), "\n  "))
	}
	ap50, ap99 := pct(api, 50), pct(api, 99)
	bp50, bp99 := pct(raw, 50), pct(raw, 99)
	fmt.Printf("CONTRACTS-LIST %s %s flows=%d users=%d: GraphQL p50 %s p99 %s | bare %s p50 %s p99 %s | p99 ratio %.2f\n",
		bare.kind, name, flowsN, usersN, ap50, ap99, bare.kind, bp50, bp99, float64(ap99)/float64(bp99))
}

// loadSummary is the answer's sizes: the list's totalCount and edges, or
// the counts.
func loadSummary(data []byte) string {
	var page struct {
		Flows *struct {
			TotalCount int
			Edges      []any
		}
		FlowCounts map[string]int
	}
	if err := json.Unmarshal(data, &page); err != nil {
		return err.Error()
	}
	if page.Flows == nil {
		return fmt.Sprintf("counts %v", page.FlowCounts)
	}
	return fmt.Sprintf("totalCount %d, %d edges", page.Flows.TotalCount, len(page.Flows.Edges))
}

// bareRunner runs captured statements on a connection of its own: pgx on
// PostgreSQL, the SQLite driver through database/sql on SQLite.
type bareRunner struct {
	kind string
	pg   *pgx.Conn
	lite *sql.Conn
}

func newBareRunner(t *testing.T, kind, dsn string) *bareRunner {
	t.Helper()
	ctx := context.Background()
	if kind == "postgres" {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(ctx) })
		return &bareRunner{kind: "pgx", pg: conn}
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &bareRunner{kind: "database/sql", lite: conn}
}

// run executes stmts and reads every row.
func (b *bareRunner) run(t *testing.T, stmts []sqlcount.Statement) {
	ctx := context.Background()
	for _, st := range stmts {
		if b.pg != nil {
			rows, err := b.pg.Query(ctx, st.SQL, st.Args...)
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
			continue
		}
		rows, err := b.lite.QueryContext(ctx, st.SQL, st.Args...)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		for i := range vals {
			vals[i] = new(any)
		}
		for rows.Next() {
			if err := rows.Scan(vals...); err != nil {
				t.Fatal(err)
			}
		}
		if rows.Err() != nil {
			t.Fatal(rows.Err())
		}
		rows.Close()
	}
}

// plan is st's plan: EXPLAIN (ANALYZE, BUFFERS) on PostgreSQL, EXPLAIN
// QUERY PLAN on SQLite.
func (b *bareRunner) plan(t *testing.T, st sqlcount.Statement) []string {
	ctx := context.Background()
	var plan []string
	if b.pg != nil {
		rows, err := b.pg.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+st.SQL, st.Args...)
		if err != nil {
			return []string{err.Error()}
		}
		for rows.Next() {
			var line string
			rows.Scan(&line)
			plan = append(plan, line)
		}
		return plan
	}
	plan, err := sqlcount.SQLitePlan(ctx, b.lite, st)
	if err != nil {
		return []string{err.Error()}
	}
	return plan
}

func pct(d []time.Duration, p int) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)-1)*p/100].Round(10 * time.Microsecond)
}

func loadEnvList(name, def string) []string {
	v := os.Getenv(name)
	if v == "" {
		v = def
	}
	return strings.Split(v, ",")
}

func loadEnvInt(name string, def int) int {
	var n int
	if _, err := fmt.Sscan(os.Getenv(name), &n); err != nil || n <= 0 {
		return def
	}
	return n
}

// The generated flows: slot(g), a hash of the flow's number g in 0…19,
// gives its status — 6 in 20 signing (the first signer's turn in 3, the
// second's in 3), 9 completed, 2 drafts, 1 revoked, 1 declined, 1 expired —
// so every user, the viewer (user number 0) included, has flows in each
// list. User (g·7) mod users initiates flow g, user g mod users signs it
// first and (13g+1) mod users second; one flow in 5 has a CC, user
// (17(g/5)+3) mod users. The viewer initiates the 100 flows they sign first,
// signs 100 others second and is copied on 20.
const (
	loadSlot   = `((%s * 2654435761) %% 4294967296 %% 20)`
	loadStatus = `CASE WHEN %[1]s < 6 THEN 'signing' WHEN %[1]s < 15 THEN 'completed' WHEN %[1]s < 17 THEN 'draft'
		WHEN %[1]s = 17 THEN 'revoked' WHEN %[1]s = 18 THEN 'declined' ELSE 'expired' END`
	loadFirst  = `CASE WHEN f.slot < 3 THEN 'pending' WHEN f.slot < 15 THEN 'signed' WHEN f.slot = 18 THEN 'declined' ELSE 'waiting' END`
	loadSecond = `CASE WHEN f.slot < 3 THEN 'waiting' WHEN f.slot < 6 THEN 'pending' WHEN f.slot < 15 THEN 'signed' ELSE 'waiting' END`
)

// loadParties is how many parties the generation makes for flows.
func loadParties(flows int) int { return 2*flows + flows/5 }

// loadParts are the generation's three party inserts: the columns, then
// the user number, role, order and status expressions (f is load_flows, u
// load_users); now is the database's current time.
func loadParts(users int, now string) []string {
	var out []string
	for _, p := range []struct{ user, role, order, status, where string }{
		{"f.g", "signer", "1", loadFirst, ""},
		{"(f.g * 13 + 1)", "signer", "2", loadSecond, ""},
		{"(f.g / 5 * 17 + 3)", "cc", "3", "'waiting'", "WHERE f.g % 5 = 0"},
	} {
		out = append(out, fmt.Sprintf(`INSERT INTO participants (created_at, updated_at, role, kind, sign_order, name, phone, status, passcode_failures, flow_id, user_id, signed_at)
			SELECT %[1]s, %[1]s, '%[2]s', 'person', %[3]s, u.name, u.phone, %[4]s, 0, f.id, u.id,
			       CASE WHEN %[4]s = 'signed' THEN %[1]s END
			FROM load_flows f JOIN load_users u ON u.n = %[5]s %% %[6]d %[7]s`, now, p.role, p.order, p.status, p.user, users, p.where))
	}
	return out
}

// loadSQL generates users and flows in PostgreSQL.
func loadSQL(users, flows int) []string {
	slot := fmt.Sprintf(loadSlot, "g::bigint")
	return append([]string{
		fmt.Sprintf(`INSERT INTO users (created_at, updated_at, phone, name)
			SELECT now(), now(), '139' || lpad(g::text, 8, '0'), '用户' || g FROM generate_series(1, %d) g`, users-1),
		`CREATE TEMP TABLE load_users AS SELECT (row_number() OVER (ORDER BY id) - 1)::int AS n, id, phone, coalesce(name, '用户') AS name FROM users`,
		`CREATE INDEX ON load_users (n)`,
		fmt.Sprintf(`INSERT INTO flows (created_at, updated_at, number, name, scene, status, ordered, initiator_id, sent_at)
			SELECT now() - make_interval(secs => g), now(), 'QL' || g, '负载合同' || g, 'general', %s,
			       true, u.id, now() - make_interval(secs => g)
			FROM generate_series(1, %d) g JOIN load_users u ON u.n = (g * 7) %% %d`, fmt.Sprintf(loadStatus, slot), flows, users),
		fmt.Sprintf(`CREATE TEMP TABLE load_flows AS SELECT id, substr(number, 3)::int AS g, %s AS slot FROM flows WHERE number LIKE 'QL%%'`,
			fmt.Sprintf(loadSlot, "substr(number, 3)::bigint")),
	}, append(loadParts(users, "now()"), `ANALYZE`)...)
}

// loadSQLite generates the same users and flows in SQLite. No ANALYZE: a
// server's file has none (Signet runs none).
func loadSQLite(users, flows int) []string {
	const now = `strftime('%Y-%m-%d %H:%M:%f+00:00', 'now')`
	series := func(n int) string {
		return fmt.Sprintf(`(WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < %d) SELECT g FROM s)`, n)
	}
	return append([]string{
		fmt.Sprintf(`INSERT INTO users (created_at, updated_at, phone, name)
			SELECT %[1]s, %[1]s, printf('139%%08d', g), '用户' || g FROM %[2]s`, now, series(users-1)),
		`CREATE TEMP TABLE load_users AS SELECT row_number() OVER (ORDER BY id) - 1 AS n, id, phone, coalesce(name, '用户') AS name FROM users`,
		`CREATE INDEX temp.load_users_n ON load_users (n)`,
		fmt.Sprintf(`INSERT INTO flows (created_at, updated_at, number, name, scene, status, ordered, initiator_id, sent_at)
			SELECT strftime('%%Y-%%m-%%d %%H:%%M:%%f+00:00', 'now', '-' || g || ' seconds'), %[1]s, 'QL' || g, '负载合同' || g, 'general', %[2]s,
			       1, u.id, strftime('%%Y-%%m-%%d %%H:%%M:%%f+00:00', 'now', '-' || g || ' seconds')
			FROM %[3]s JOIN load_users u ON u.n = (g * 7) %% %[4]d`, now, fmt.Sprintf(loadStatus, fmt.Sprintf(loadSlot, "g")), series(flows), users),
		fmt.Sprintf(`CREATE TEMP TABLE load_flows AS SELECT id, CAST(substr(number, 3) AS INTEGER) AS g, %s AS slot FROM flows WHERE number LIKE 'QL%%'`,
			fmt.Sprintf(loadSlot, "CAST(substr(number, 3) AS INTEGER)")),
	}, loadParts(users, now)...)
}
