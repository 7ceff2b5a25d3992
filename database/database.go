// Package database opens Signet's database — the embedded SQLite file by
// default, PostgreSQL through pgx when configured — and keeps its schema in
// step with ent/schema.
//
// Migration story: in development the server migrates on start. In
// production it refuses to start while the schema differs from what the code
// expects; an operator reviews the SQL with `signet migrate --dry-run` and
// applies it with `signet migrate` (both print or run exactly the statements
// ent's Atlas engine plans: additive changes only, never dropping columns or
// indexes). See docs/design.md.
package database

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/schema"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"modernc.org/sqlite"

	"signet/ent"
	"signet/ent/migrate"
	_ "signet/ent/runtime" // hooks and privacy policies
)

// DB is an open database: the ent client and the underlying *sql.DB.
type DB struct {
	Client  *ent.Client
	SQL     *sql.DB
	Dialect string
	// writer is the connection SQLite's writes run on (writelock.go); nil
	// on PostgreSQL and for a pool New wrapped.
	writer *writer
	// uses are the hooks (Use) every client of this database gets.
	uses atomic.Pointer[[]func(*ent.Client)]
}

// Use registers hooks on Client now and on every client made later over one
// of the database's transactions (Configure; jobs.WithTx makes one for
// each): a hook that must see every change to a table (enterprises' kept
// seals) is registered here, not on Client alone. Call it while building
// the services, before requests.
func (d *DB) Use(register func(*ent.Client)) {
	var uses []func(*ent.Client)
	if p := d.uses.Load(); p != nil {
		uses = append(uses, *p...)
	}
	uses = append(uses, register)
	d.uses.Store(&uses)
	register(d.Client)
}

// Configure gives a client made over one of the database's transactions
// the hooks registered with Use.
func (d *DB) Configure(c *ent.Client) {
	if p := d.uses.Load(); p != nil {
		for _, register := range *p {
			register(c)
		}
	}
}

// New wraps an open pool of dialect drv (dialect.SQLite or
// dialect.Postgres) in a DB.
func New(drv string, pool *sql.DB, opts ...ent.Option) *DB {
	return &DB{Client: ent.NewClient(append([]ent.Option{ent.Driver(entsql.OpenDB(drv, pool))}, opts...)...), SQL: pool, Dialect: drv}
}

// Close closes the client and the pool.
func (d *DB) Close() error { return d.Client.Close() }

// Open connects to databaseURL (postgres://…) or, when it is empty, to the
// SQLite file at sqlitePath (created with its folder). It pings the database.
func Open(ctx context.Context, databaseURL, sqlitePath string, opts ...ent.Option) (*DB, error) {
	var (
		db  *sql.DB
		drv string
		w   *writer
		err error
	)
	if databaseURL != "" {
		drv = dialect.Postgres
		db, err = sql.Open("pgx", databaseURL)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		// Idle connections are kept up to the limit: under load a smaller
		// idle pool closes connections only to open new ones a moment later.
		db.SetMaxOpenConns(20)
		db.SetMaxIdleConns(20)
	} else {
		drv = dialect.SQLite
		if err := os.MkdirAll(filepath.Dir(sqlitePath), 0o700); err != nil {
			return nil, fmt.Errorf("create data folder: %w", err)
		}
		inner, dsn := &sqlite.Driver{}, SQLiteDSN(sqlitePath)
		w = newWriter(func() (sqliteConn, error) { return openSQLite(inner, dsn) })
		db = sql.OpenDB(cachingConnector{d: cachingDriver{inner: inner, writer: w}, dsn: dsn})
		// One writer at a time is SQLite's model; a small pool keeps readers
		// concurrent under WAL while writes queue for the writer's token and
		// run on its own connection, a fifth (writelock.go).
		db.SetMaxOpenConns(4)
		// All four stay open: database/sql keeps 2 idle by default, so under
		// load the others were closed and reopened, each reopening paying
		// SQLite's schema load and losing its statement cache.
		db.SetMaxIdleConns(4)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s: %w", drv, err)
	}
	d := New(drv, db, opts...)
	d.writer = w
	return d, nil
}

// SQLiteDSN is the DSN Signet uses for an SQLite file: foreign keys on, WAL,
// a busy timeout, and transactions that take the write lock at BEGIN so two
// writers never deadlock upgrading read locks. Temporary storage is in
// memory: a statement that changes several rows inside a transaction (a
// group commit's updates and inserts, flows/commit.go) keeps a copy of each
// page it changes, to undo itself alone on failure, and SQLite wrote those
// copies to a temporary file once they passed 64 KiB — a write system call
// per page on the commit path. (Sorts and temporary tables live in memory
// too; they are bounded by the pages' LIMITs. A VACUUM would build its copy
// of the whole database in memory: Signet runs none.) Times are written in UTC in
// SQLite's own format ("2006-01-02 15:04:05.999999999+00:00"): SQLite
// compares them as text, so a value kept in its own zone (the driver's
// default, time.Time.String) made a filter from the pages at +08:00 miss or
// catch flows by eight hours. Rows written before keep their text; those
// written on a server in UTC still compare right but for the very same
// instant.
func SQLiteDSN(path string) string {
	return "file:" + path + "?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_pragma=temp_store(MEMORY)&_txlock=immediate" +
		"&_time_format=sqlite&_timezone=UTC"
}

var migrateOptions = []schema.MigrateOption{
	migrate.WithDropColumn(false),
	migrate.WithDropIndex(false),
}

// retiredIndexes are indexes an earlier version made and this one drops:
// ent's migration keeps every index it does not know (migrateOptions), so
// Migrate drops these by name, and PlanMigration lists those still there.
var retiredIndexes = []string{
	// replaced by participant_unbound_phone_status (bound rows left out)
	"participant_phone_status",
	// on audit_events' subject, which no query read
	"auditevent_subject_type_subject_id",
}

// Migrate applies the schema changes the code needs.
func (d *DB) Migrate(ctx context.Context) error {
	if err := d.Client.Schema.Create(ctx, migrateOptions...); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, name := range retiredIndexes {
		if _, err := d.SQL.ExecContext(ctx, "DROP INDEX IF EXISTS "+name); err != nil {
			return fmt.Errorf("migrate: drop index %s: %w", name, err)
		}
	}
	return nil
}

// retiredPresent returns the DROP statements of the retired indexes this
// database still has.
func (d *DB) retiredPresent(ctx context.Context) ([]string, error) {
	query := "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name = ?"
	if d.Dialect == dialect.Postgres {
		query = "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname = $1"
	}
	var stmts []string
	for _, name := range retiredIndexes {
		var n int
		if err := d.SQL.QueryRowContext(ctx, query, name).Scan(&n); err != nil {
			return nil, fmt.Errorf("plan migration: index %s: %w", name, err)
		}
		if n > 0 {
			stmts = append(stmts, "DROP INDEX IF EXISTS "+name+";")
		}
	}
	return stmts, nil
}

// PlanMigration writes the SQL statements Migrate would run to w and reports
// whether there are any.
func (d *DB) PlanMigration(ctx context.Context, w io.Writer) (bool, error) {
	var buf strings.Builder
	if err := d.Client.Schema.WriteTo(ctx, &buf, migrateOptions...); err != nil {
		return false, fmt.Errorf("plan migration: %w", err)
	}
	var stmts []string
	for _, line := range strings.Split(buf.String(), "\n") {
		l := strings.TrimSpace(line)
		if l == "" || l == "BEGIN;" || l == "COMMIT;" || strings.HasPrefix(l, "--") {
			continue
		}
		stmts = append(stmts, line)
	}
	drops, err := d.retiredPresent(ctx)
	if err != nil {
		return false, err
	}
	if w != nil && len(stmts) > 0 {
		if _, err := io.WriteString(w, buf.String()); err != nil {
			return false, err
		}
	}
	if w != nil && len(drops) > 0 {
		if _, err := io.WriteString(w, "-- retired indexes\n"+strings.Join(drops, "\n")+"\n"); err != nil {
			return false, err
		}
	}
	return len(stmts)+len(drops) > 0, nil
}
