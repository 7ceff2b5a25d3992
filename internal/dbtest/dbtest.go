// Package dbtest gives tests a fresh, migrated database on each backend
// Signet supports: an SQLite file in the test's temp dir, and a PostgreSQL
// database cloned from a migrated template on the server named by
// SIGNET_TEST_DATABASE_URL (`make test` starts a throwaway cluster and sets
// it; see scripts/with-postgres.sh).
package dbtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" driver

	"signet/database"
)

// EnvURL names the PostgreSQL server tests use.
const EnvURL = "SIGNET_TEST_DATABASE_URL"

// Backend is one database a test can run against.
type Backend struct {
	// Name is "sqlite" or "postgres".
	Name string
	// DatabaseURL is set for PostgreSQL; empty for SQLite.
	DatabaseURL string
	// SQLitePath is set for SQLite.
	SQLitePath string
}

// ForEach runs fn once per backend, each with a fresh database, as subtests
// named after the backend. Without SIGNET_TEST_DATABASE_URL the PostgreSQL
// subtest fails with instructions: it is never skipped silently.
func ForEach(t *testing.T, fn func(t *testing.T, b Backend)) {
	t.Helper()
	for _, kind := range Kinds {
		t.Run(kind, func(t *testing.T) { fn(t, New(t, kind)) })
	}
}

// Open opens b's database, migrates it to the current schema and closes it
// when the test ends.
func Open(t testing.TB, b Backend) *database.DB {
	t.Helper()
	ctx := context.Background()
	db, err := database.Open(ctx, b.DatabaseURL, b.SQLitePath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}

// Kinds are the supported backends.
var Kinds = []string{"sqlite", "postgres"}

// New returns a fresh database of the kind ("sqlite" or "postgres").
func New(t testing.TB, kind string) Backend {
	t.Helper()
	if kind == "postgres" {
		return Postgres(t)
	}
	return SQLite(t)
}

// SQLite returns a backend on a new SQLite file.
func SQLite(t testing.TB) Backend {
	t.Helper()
	return Backend{Name: "sqlite", SQLitePath: filepath.Join(t.TempDir(), "signet.db")}
}

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

// Postgres returns a backend on a new PostgreSQL database cloned from a
// template migrated once per test process. The database is dropped when the
// test ends.
func Postgres(t testing.TB) Backend {
	t.Helper()
	base := os.Getenv(EnvURL)
	if base == "" {
		t.Fatalf("%s is not set: run `make test` (it starts a throwaway PostgreSQL), or scripts/with-postgres.sh go test ./...", EnvURL)
	}
	ctx := context.Background()
	templateOnce.Do(func() { templateName, templateErr = ensureTemplate(ctx, base) })
	if templateErr != nil {
		t.Fatalf("postgres template: %v", templateErr)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	defer admin.Close()
	name := "signet_test_" + randomHex(8)
	if _, err := admin.ExecContext(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, name, templateName)); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", base)
		if err != nil {
			t.Errorf("drop test database: %v", err)
			return
		}
		defer admin.Close()
		if _, err := admin.ExecContext(context.Background(), fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name)); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	return Backend{Name: "postgres", DatabaseURL: withDatabase(base, name)}
}

// ensureTemplate creates (once per schema version, across processes) a
// migrated template database and returns its name.
func ensureTemplate(ctx context.Context, base string) (string, error) {
	admin, err := sql.Open("pgx", base)
	if err != nil {
		return "", err
	}
	defer admin.Close()
	conn, err := admin.Conn(ctx)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	// Several test binaries start at once; one builds the template.
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(727274)`); err != nil {
		return "", err
	}
	defer conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(727274)`)

	// Name the template after the schema, so a changed schema gets a new one.
	scratch := "signet_plan_" + randomHex(6)
	if _, err := conn.ExecContext(ctx, "CREATE DATABASE "+scratch); err != nil {
		return "", err
	}
	defer conn.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+scratch+" WITH (FORCE)")
	db, err := database.Open(ctx, withDatabase(base, scratch), "")
	if err != nil {
		return "", err
	}
	var plan strings.Builder
	_, err = db.PlanMigration(ctx, &plan)
	db.Close()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(plan.String()))
	name := "signet_tmpl_" + hex.EncodeToString(sum[:6])

	var exists bool
	if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	if _, err := conn.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	db, err = database.Open(ctx, withDatabase(base, name), "")
	if err != nil {
		return "", err
	}
	err = db.Migrate(ctx)
	db.Close()
	if err != nil {
		conn.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name)
		return "", err
	}
	return name, nil
}

func withDatabase(base, name string) string {
	u, err := url.Parse(base)
	if err != nil {
		return base
	}
	u.Path = "/" + name
	return u.String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
