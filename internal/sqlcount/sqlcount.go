// Package sqlcount counts the SQL statements a piece of work sends to the
// database, below everything that could hide one: it wraps the
// database/sql driver, so statements run through ent, through a raw *sql.DB
// or *sql.Tx (jobs.WithTx, River) and through prepared statements are all
// seen. BEGIN, COMMIT and ROLLBACK count as statements too: each is a round
// trip to the server.
//
// A Counter records only the statements whose context it is told to watch
// (Watch), so background work sharing the pool — job queue polling, the
// events broker — does not blur a request's figure.
package sqlcount

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"sync"

	"signet/database"
)

// Counter records the statements of watched contexts.
type Counter struct {
	mu    sync.Mutex
	watch func(context.Context) bool
	stmts []Statement
}

// Statement is one recorded statement: its SQL (whitespace folded) and its
// arguments, enough to run it again elsewhere (a baseline).
type Statement struct {
	SQL  string
	Args []any
}

// SQL returns the statements' texts.
func SQL(stmts []Statement) []string {
	out := make([]string, len(stmts))
	for i, s := range stmts {
		out[i] = s.SQL
	}
	return out
}

// New returns a Counter that records nothing until Watch is called.
func New() *Counter { return &Counter{} }

// Watch starts a recording: from now on the statements whose context
// satisfies match are recorded (replacing what was recorded before).
func (c *Counter) Watch(match func(context.Context) bool) {
	c.mu.Lock()
	c.watch, c.stmts = match, nil
	c.mu.Unlock()
}

// Stop ends the recording and returns the statements recorded.
func (c *Counter) Stop() []Statement {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.stmts
	c.watch, c.stmts = nil, nil
	return out
}

func (c *Counter) record(ctx context.Context, stmt string, args []driver.NamedValue) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.watch != nil && ctx != nil && c.watch(ctx) {
		vals := make([]any, len(args))
		for i, a := range args {
			vals[i] = a.Value
		}
		c.stmts = append(c.stmts, Statement{SQL: strings.Join(strings.Fields(stmt), " "), Args: vals})
	}
}

// Connector returns a connector opening dsn with d whose connections report
// to c.
func (c *Counter) Connector(d driver.Driver, dsn string) driver.Connector {
	return &connector{d: d, dsn: dsn, c: c}
}

// Reopen replaces db's pool by one that opens the same dsn through the same
// driver but reports to c, keeping the pool's size; the old pool is closed.
// dsn must be the one db was opened with (database.SQLiteDSN(path) for
// SQLite, the URL for PostgreSQL).
func (c *Counter) Reopen(db *database.DB, dsn string) (*database.DB, error) {
	pool := sql.OpenDB(c.Connector(db.SQL.Driver(), dsn))
	if n := db.SQL.Stats().MaxOpenConnections; n > 0 {
		pool.SetMaxOpenConns(n)
	}
	if err := pool.Ping(); err != nil {
		pool.Close()
		return nil, fmt.Errorf("sqlcount: %w", err)
	}
	if err := db.Close(); err != nil {
		pool.Close()
		return nil, err
	}
	return database.New(db.Dialect, pool), nil
}

type connector struct {
	d   driver.Driver
	dsn string
	c   *Counter
}

func (k *connector) Connect(ctx context.Context) (driver.Conn, error) {
	var (
		conn driver.Conn
		err  error
	)
	if dc, ok := k.d.(driver.DriverContext); ok {
		var inner driver.Connector
		if inner, err = dc.OpenConnector(k.dsn); err == nil {
			conn, err = inner.Connect(ctx)
		}
	} else {
		conn, err = k.d.Open(k.dsn)
	}
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: conn, c: k.c}, nil
}

func (k *connector) Driver() driver.Driver { return k.d }

// countingConn forwards every optional interface database/sql looks for, so
// the wrapped driver behaves exactly as the bare one, and records each
// statement with the context it runs in.
type countingConn struct {
	driver.Conn
	c *Counter
}

func (w *countingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	ex, ok := w.Conn.(driver.ExecerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	w.c.record(ctx, query, args)
	return ex.ExecContext(ctx, query, args)
}

func (w *countingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	q, ok := w.Conn.(driver.QueryerContext)
	if !ok {
		return nil, driver.ErrSkip
	}
	w.c.record(ctx, query, args)
	return q.QueryContext(ctx, query, args)
}

func (w *countingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	var (
		st  driver.Stmt
		err error
	)
	if p, ok := w.Conn.(driver.ConnPrepareContext); ok {
		st, err = p.PrepareContext(ctx, query)
	} else {
		st, err = w.Conn.Prepare(query)
	}
	if err != nil {
		return nil, err
	}
	return &countingStmt{Stmt: st, query: query, c: w.c}, nil
}

func (w *countingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	var (
		tx  driver.Tx
		err error
	)
	if b, ok := w.Conn.(driver.ConnBeginTx); ok {
		tx, err = b.BeginTx(ctx, opts)
	} else {
		tx, err = w.Conn.Begin() //nolint:staticcheck // the driver has nothing better
	}
	if err != nil {
		return nil, err
	}
	w.c.record(ctx, "BEGIN", nil)
	return &countingTx{Tx: tx, ctx: ctx, c: w.c}, nil
}

func (w *countingConn) Ping(ctx context.Context) error {
	if p, ok := w.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (w *countingConn) ResetSession(ctx context.Context) error {
	if r, ok := w.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (w *countingConn) IsValid() bool {
	if v, ok := w.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

func (w *countingConn) CheckNamedValue(nv *driver.NamedValue) error {
	if c, ok := w.Conn.(driver.NamedValueChecker); ok {
		return c.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

type countingTx struct {
	driver.Tx
	ctx context.Context
	c   *Counter
}

func (t *countingTx) Commit() error {
	t.c.record(t.ctx, "COMMIT", nil)
	return t.Tx.Commit()
}

func (t *countingTx) Rollback() error {
	t.c.record(t.ctx, "ROLLBACK", nil)
	return t.Tx.Rollback()
}

type countingStmt struct {
	driver.Stmt
	query string
	c     *Counter
}

func (s *countingStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	s.c.record(ctx, s.query, args)
	if ex, ok := s.Stmt.(driver.StmtExecContext); ok {
		return ex.ExecContext(ctx, args)
	}
	vals, err := values(args)
	if err != nil {
		return nil, err
	}
	return s.Stmt.Exec(vals) //nolint:staticcheck // the driver has nothing better
}

func (s *countingStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	s.c.record(ctx, s.query, args)
	if q, ok := s.Stmt.(driver.StmtQueryContext); ok {
		return q.QueryContext(ctx, args)
	}
	vals, err := values(args)
	if err != nil {
		return nil, err
	}
	return s.Stmt.Query(vals) //nolint:staticcheck // the driver has nothing better
}

func (s *countingStmt) CheckNamedValue(nv *driver.NamedValue) error {
	if c, ok := s.Stmt.(driver.NamedValueChecker); ok {
		return c.CheckNamedValue(nv)
	}
	return driver.ErrSkip
}

func values(args []driver.NamedValue) ([]driver.Value, error) {
	out := make([]driver.Value, len(args))
	for i, a := range args {
		if a.Name != "" {
			return nil, errors.New("sqlcount: named arguments need a context-aware driver")
		}
		out[i] = a.Value
	}
	return out, nil
}

// Queryer runs a query: a *sql.DB, *sql.Conn or *sql.Tx.
type Queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// SQLitePlan returns SQLite's plan of st (EXPLAIN QUERY PLAN with st's
// arguments), a step a line ("SEARCH flows USING INTEGER PRIMARY KEY
// (rowid=?)"), run on q, a connection to the same SQLite file.
func SQLitePlan(ctx context.Context, q Queryer, st Statement) ([]string, error) {
	rows, err := q.QueryContext(ctx, "EXPLAIN QUERY PLAN "+st.SQL, st.Args...)
	if err != nil {
		return nil, fmt.Errorf("explain %s: %w", st.SQL, err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			return nil, err
		}
		plan = append(plan, detail)
	}
	return plan, rows.Err()
}
