package flows_test

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"signet/database"
	"signet/internal/dbtest"
	"signet/internal/sqlcount"
)

// signFloor measures the bare baselines of what one signature must do
// besides signingcore's work, for TestSignThroughput:
//
//   - sql: the statements one real signature sends (recorded by sqlcount
//     in an environment of its own) run again with bare database/sql — no
//     ent, no hooks, no privacy rules, no statement cache — in a
//     transaction that is rolled back. They run on the state after that
//     signature, so an UPDATE guarded by the participant's status changes
//     nothing, and each INSERT runs under a savepoint because its unique
//     keys are taken (an error would abort a PostgreSQL transaction): a
//     rough floor, not an exact one.
//   - blob: the signed revision written durably with plain os calls: a
//     temporary file written and fsynced, renamed, its folder fsynced.
//     Signatures no longer do this on the request path (the revision is
//     staged in the commit, flows/staged.go); it is printed for comparison.
//
// The staged revision's INSERT replays as a no-op (its key is taken: ON
// CONFLICT DO NOTHING), so the bare SQL leaves out writing its bytes.
func signFloor(t *testing.T, b dbtest.Backend, revisionSize int) (sqlPerOp, blobPerOp time.Duration, statements int) {
	t.Helper()
	counter := sqlcount.New()
	var dsn string
	b = dbtest.New(t, b.Name) // a database of its own
	e := setupSigningWith(t, b, func(db *database.DB, d string) (*database.DB, error) {
		dsn = d
		return counter.Reopen(db, d)
	})
	stmts, err := e.recordSign(t, counter, "底线")
	if err != nil {
		t.Fatal(err)
	}
	drv := "sqlite"
	if b.DatabaseURL != "" {
		drv = "pgx"
	}
	raw, err := sql.Open(drv, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var replay []sqlcount.Statement
	n := 0
	for _, s := range stmts {
		if strings.HasPrefix(s.SQL, "-- name: PGNotifyMany") {
			continue // River's wake-up, sent or not by timing (sign_budget_test.go)
		}
		n++
		if s.SQL != "BEGIN" && s.SQL != "COMMIT" {
			replay = append(replay, s)
		}
	}
	var failed error
	fatal := func(bb *testing.B, err error) { failed = err; bb.Fatal(err) }
	sqlRun := testing.Benchmark(func(bb *testing.B) {
		for bb.Loop() {
			tx, err := raw.Begin()
			if err != nil {
				fatal(bb, err)
			}
			for _, s := range replay {
				insert := strings.HasPrefix(s.SQL, "INSERT") || strings.Contains(s.SQL, "INSERT INTO river_job")
				if insert {
					if _, err := tx.Exec("SAVEPOINT floor"); err != nil {
						fatal(bb, err)
					}
				}
				rows, err := tx.Query(s.SQL, s.Args...)
				if err == nil {
					for rows.Next() {
					}
					err = rows.Err()
					rows.Close()
				}
				if insert {
					undo := "RELEASE SAVEPOINT floor"
					if err != nil {
						undo = "ROLLBACK TO SAVEPOINT floor"
					}
					if _, err := tx.Exec(undo); err != nil {
						fatal(bb, err)
					}
				} else if err != nil {
					fatal(bb, fmt.Errorf("replay %.80s: %w", s.SQL, err))
				}
			}
			if err := tx.Rollback(); err != nil {
				fatal(bb, err)
			}
		}
	})
	if failed != nil || sqlRun.N == 0 {
		t.Fatalf("bare SQL replay: %v", failed)
	}

	dir := t.TempDir()
	data := make([]byte, revisionSize)
	i := 0
	blobRun := testing.Benchmark(func(bb *testing.B) {
		for bb.Loop() {
			i++
			f, err := os.CreateTemp(dir, "tmp-*")
			if err == nil {
				_, err = f.Write(data)
			}
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				err = os.Rename(f.Name(), filepath.Join(dir, "rev-"+time.Now().Format("150405.000000000")))
			}
			if err == nil {
				var d *os.File
				if d, err = os.Open(dir); err == nil {
					err = d.Sync()
					d.Close()
				}
			}
			if err != nil {
				bb.Fatal(err)
			}
		}
	})
	return time.Duration(sqlRun.NsPerOp()), time.Duration(blobRun.NsPerOp()), n
}
