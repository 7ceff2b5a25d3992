// Package jobs runs Signet's durable background work (SMS sends, reminders,
// expiry, evidence, email) as River jobs in the application's own database:
// riverdatabasesql on PostgreSQL, riversqlite on SQLite, both over the same
// *sql.DB that ent uses.
//
// The point of a queue in the database is that a job is inserted in the same
// transaction as the change that causes it: WithTx opens one transaction and
// hands it out twice, as an *ent.Tx for the domain rows and as a JobTx for
// Queue.InsertTx. If the transaction rolls back, the job never existed.
//
// Lifecycle: New builds the Queue; domain packages register their workers
// with AddWorker while the application is being built; Start begins working
// (the app does it once everything is built) and Stop lets running jobs
// finish (until its context ends, then cancels them). Registration closes
// at the first insert or at Start, because River validates kinds against
// the registered workers.
//
// River keeps its own tables (river_job, river_leader, …) with its own
// migrations: Migrate applies them (development does it at start),
// PlanMigration prints them for `signet migrate --dry-run`, and Pending tells
// production that the schema is behind.
//
// Scheduled jobs (InsertOpts.ScheduledAt) are picked up by polling, so they
// run up to about a poll interval (1 s by default) after their time.
package jobs

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"

	"signet/database"
)

// Config configures a Queue.
type Config struct {
	DB *database.DB
	// Logger may be nil.
	Logger *slog.Logger
	// Workers is how many jobs of the default queue run at once on this
	// node (DefaultWorkers when 0).
	Workers int
	// PollInterval is how often the node looks for available and scheduled
	// jobs (DefaultPollInterval when 0).
	PollInterval time.Duration
	// MaxAttempts is how often a failing job is tried before it is
	// discarded (River's default, 25, when 0).
	MaxAttempts int
	// RetryPolicy replaces River's exponential backoff (tests use short
	// delays).
	RetryPolicy river.ClientRetryPolicy
	// JobTimeout bounds one attempt (River's default, 1 min, when 0).
	JobTimeout time.Duration
	// RescueAfter is how long a job may stay running before it is taken
	// for dead — its node was killed mid-job — and run again (10 min when
	// 0: above the longest job's own timeout, the completion's 5 min, so a
	// live slow job is not run twice; River's default is an hour, which
	// would hold a next signer's SMS or a completion that long after a
	// crash). Jobs are written to be run again.
	RescueAfter time.Duration
}

// DefaultWorkers is Config.Workers's default. River fetches at most a
// worker slot's worth of jobs per fetch and fetches at most once per
// cooldown (100 ms), so the slots bound how many jobs a node runs per
// second: with 10 a node texted at most 100 signers per second, fewer than
// it signs for. The jobs wait on the network (SMS, e-mail) more than they
// compute; a slot is a goroutine while its job runs.
const DefaultWorkers = 100

// DefaultPollInterval is Config.PollInterval's default. A job inserted in
// a transaction (every job Signet queues: the next signer's text with the
// signature that activates them) wakes no worker by itself: River wakes
// its producer on an insert outside a transaction, on a job finishing, and
// on the poll. Under load the jobs finishing keep fetching, but the last
// jobs of a burst waited for the poll — up to River's default second,
// measured at 0.3–0.6 s for the next signer's text in the sustained
// signing harness. A poll is one cheap statement; ten a second bound that
// wait to a tenth of a second.
const DefaultPollInterval = 100 * time.Millisecond

// DefaultRescueAfter is Config.RescueAfter's default.
const DefaultRescueAfter = 10 * time.Minute

// Queue owns the River client of one node.
type Queue struct {
	cfg     Config
	logger  *slog.Logger
	driver  riverdriver.Driver[*sql.Tx]
	workers *river.Workers

	mu      sync.Mutex
	kinds   []string
	client  *river.Client[*sql.Tx]
	started bool
}

// New returns a Queue on cfg.DB. It does not touch the database.
func New(cfg Config) (*Queue, error) {
	if cfg.DB == nil {
		return nil, errors.New("jobs: no database")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	drv, err := driverFor(cfg.DB)
	if err != nil {
		return nil, err
	}
	return &Queue{cfg: cfg, logger: logger, driver: drv, workers: river.NewWorkers()}, nil
}

func driverFor(db *database.DB) (riverdriver.Driver[*sql.Tx], error) {
	switch db.Dialect {
	case dialect.Postgres:
		return riverdatabasesql.New(db.SQL), nil
	case dialect.SQLite:
		return riversqlite.New(db.SQL), nil
	default:
		return nil, fmt.Errorf("jobs: unsupported database %q", db.Dialect)
	}
}

// ErrRegistrationClosed is returned by AddWorker after the queue was
// started or used to insert.
var ErrRegistrationClosed = errors.New("jobs: workers must be registered before the queue starts or inserts")

// AddWorker registers w for its job kind. Domain packages call it while the
// application is built (from their constructors), before Start.
func AddWorker[T river.JobArgs](q *Queue, w river.Worker[T]) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.client != nil {
		return ErrRegistrationClosed
	}
	if err := river.AddWorkerSafely(q.workers, w); err != nil {
		return fmt.Errorf("jobs: %w", err)
	}
	var args T
	q.kinds = append(q.kinds, args.Kind())
	return nil
}

// Kinds lists the registered job kinds.
func (q *Queue) Kinds() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]string(nil), q.kinds...)
}

// Client returns the River client, building it on first use (which closes
// registration). Use it for what Queue does not wrap (job lists, cancel).
func (q *Queue) Client() (*river.Client[*sql.Tx], error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.clientLocked()
}

func (q *Queue) clientLocked() (*river.Client[*sql.Tx], error) {
	if q.client != nil {
		return q.client, nil
	}
	cfg := &river.Config{
		ID:                   clientID(),
		Logger:               q.logger,
		FetchPollInterval:    q.cfg.PollInterval,
		MaxAttempts:          q.cfg.MaxAttempts,
		RetryPolicy:          q.cfg.RetryPolicy,
		JobTimeout:           q.cfg.JobTimeout,
		Workers:              q.workers,
		RescueStuckJobsAfter: q.cfg.RescueAfter,
		// A job of a kind this binary does not know (a newer node inserted
		// it during a rolling upgrade) waits for a node that does.
		FetchOnlyKnownKinds: true,
	}
	if len(q.kinds) > 0 {
		workers := q.cfg.Workers
		if workers <= 0 {
			workers = DefaultWorkers
		}
		cfg.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: workers}}
	} else {
		// Insert-only: with no workers there is nothing to run, and River
		// refuses queues without workers.
		cfg.Workers = nil
	}
	if cfg.RescueStuckJobsAfter == 0 {
		cfg.RescueStuckJobsAfter = DefaultRescueAfter
	}
	if cfg.FetchPollInterval == 0 {
		cfg.FetchPollInterval = DefaultPollInterval
	}
	if cfg.FetchPollInterval < river.FetchCooldownDefault {
		cfg.FetchCooldown = cfg.FetchPollInterval
	}
	c, err := river.NewClient(q.driver, cfg)
	if err != nil {
		return nil, fmt.Errorf("jobs: river client: %w", err)
	}
	q.client = c
	return c, nil
}

// clientID is unique per Queue, also for two app instances in one process.
func clientID() string {
	host, _ := os.Hostname()
	host = strings.NewReplacer(".", "_", "-", "_").Replace(host)
	if len(host) > 40 {
		host = host[:40]
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "signet_" + host + "_" + hex.EncodeToString(b)
}

// Start begins working jobs until Stop. With no registered worker it only
// closes registration (inserts still work; another node may run them).
func (q *Queue) Start(ctx context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	c, err := q.clientLocked()
	if err != nil {
		return err
	}
	if len(q.kinds) == 0 {
		q.logger.Info("jobs: no workers registered; this node inserts jobs but does not run them")
		return nil
	}
	// River hard-stops when Start's context ends; Stop is the way out.
	if err := c.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("jobs: start: %w", err)
	}
	q.started = true
	q.logger.Info("jobs: started", "kinds", q.kinds)
	return nil
}

// Stop stops fetching new jobs and waits for running ones to finish; when
// ctx ends first it cancels them and waits for their workers to return.
func (q *Queue) Stop(ctx context.Context) error {
	q.mu.Lock()
	c, started := q.client, q.started
	q.started = false
	q.mu.Unlock()
	if !started {
		return nil
	}
	err := c.Stop(ctx)
	if err == nil {
		return nil
	}
	q.logger.Warn("jobs: running jobs did not finish in time; cancelling them", "err", err)
	hctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.StopAndCancel(hctx); err != nil {
		return fmt.Errorf("jobs: stop: %w", err)
	}
	return nil
}

// JobTx is the database transaction jobs are inserted into; WithTx hands it
// out next to the *ent.Tx of the same transaction.
type JobTx struct {
	tx  *sql.Tx
	buf *insertBuffer
}

// insertBuffer holds the jobs queued in one WithTx, inserted together
// (one statement) when its function returns, before the commit.
type insertBuffer struct {
	q      *Queue
	params []river.InsertManyParams
}

// SQL returns the underlying transaction.
func (j JobTx) SQL() *sql.Tx { return j.tx }

// InsertTx queues a job in the caller's transaction: it becomes visible to
// workers when the transaction commits, and never exists if it rolls back.
// The jobs of one WithTx are inserted together, in one statement, when its
// function returns (a transaction that commits several signatures queues
// several jobs); an insert that fails then fails WithTx.
func (q *Queue) InsertTx(ctx context.Context, jtx JobTx, args river.JobArgs, opts *river.InsertOpts) error {
	b := jtx.buf
	if jtx.tx == nil || b == nil {
		return errors.New("jobs: InsertTx outside WithTx")
	}
	// The client is built now, which closes registration and fails early on
	// a queue that cannot run.
	if _, err := q.Client(); err != nil {
		return err
	}
	if b.q != nil && b.q != q {
		return errors.New("jobs: one transaction inserting into two queues")
	}
	b.q = q
	b.params = append(b.params, river.InsertManyParams{Args: args, InsertOpts: opts})
	return nil
}

// flush inserts the jobs buffered in jtx.
func (j JobTx) flush(ctx context.Context) error {
	b := j.buf
	if b == nil || len(b.params) == 0 {
		return nil
	}
	c, err := b.q.Client()
	if err != nil {
		return err
	}
	if _, err := c.InsertManyTx(ctx, j.tx, b.params); err != nil {
		kinds := make([]string, len(b.params))
		for i, p := range b.params {
			kinds[i] = p.Args.Kind()
		}
		return fmt.Errorf("jobs: insert %s: %w", strings.Join(kinds, ", "), err)
	}
	b.params = nil
	return nil
}

// Insert inserts a job in its own transaction (for work not tied to a
// change in the database).
func (q *Queue) Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	c, err := q.Client()
	if err != nil {
		return nil, err
	}
	res, err := c.Insert(ctx, args, opts)
	if err != nil {
		return nil, fmt.Errorf("jobs: insert %s: %w", args.Kind(), err)
	}
	return res, nil
}
