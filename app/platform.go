package app

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"entgo.io/ent/dialect"

	"signet/blob"
	"signet/events"
	"signet/jobs"
)

// platform holds what App must release of the shared infrastructure that
// domain packages build on: the events broker, the job queue and the blob
// store (App.Events, App.Jobs, App.Blobs).
type platform struct {
	events interface{ Close() error }
	blobs  *blob.Disk
	// stopMover ends the staged-revision mover and waits for it.
	stopMover func()
	// stopWatches ends the watchers of the rows the node keeps (sessions,
	// seals) and waits for them.
	stopWatches func()
}

// moverInterval is how often the mover looks for staged revisions that no
// commit on this node announced (other nodes', a crashed process's).
const moverInterval = 30 * time.Second

// buildPlatform migrates River's tables (development) or checks them
// (production), and builds the broker (in process on SQLite, LISTEN/NOTIFY on
// PostgreSQL), the job queue and the disk blob store under <data>/blobs. Domain
// services built after it register their job workers on a.Jobs; New starts
// the queue once everything is built.
func (a *App) buildPlatform(ctx context.Context) error {
	cfg := a.Config
	if cfg.Dev() {
		if err := jobs.Migrate(ctx, a.DB, a.Logger); err != nil {
			return err
		}
	} else {
		pending, err := jobs.PlanMigration(ctx, a.DB, nil)
		if err != nil {
			return err
		}
		if pending {
			return errors.New("the job queue's tables are older than this version of Signet: review the changes with `signet migrate --dry-run`, apply them with `signet migrate`, then start again")
		}
	}

	switch a.DB.Dialect {
	case dialect.Postgres:
		b, err := events.NewPostgres(events.PostgresConfig{URL: cfg.DatabaseURL, DB: a.DB.SQL, Logger: a.Logger})
		if err != nil {
			return err
		}
		a.Events, a.platform.events = b, b
	default:
		b := events.NewLocal(0, a.Logger)
		a.Events, a.platform.events = b, b
	}

	q, err := jobs.New(jobs.Config{DB: a.DB, Logger: a.Logger})
	if err != nil {
		return err
	}
	a.Jobs = q

	d, err := blob.OpenDisk(blob.DiskConfig{Dir: filepath.Join(cfg.DataDir, "blobs"), Logger: a.Logger})
	if err != nil {
		return err
	}
	a.Blobs, a.platform.blobs = d, d
	return nil
}

// startPlatform starts working jobs (when any worker was registered).
// It also starts the mover that writes staged signed revisions to the blob
// store (flows/staged.go): the disk store packs them before the commit
// instead, so the mover finds only what an earlier version staged.
func (a *App) startPlatform(ctx context.Context) error {
	if a.Flows != nil {
		mctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() {
			defer close(done)
			a.Flows.RunMover(mctx, moverInterval)
		}()
		a.platform.stopMover = func() { cancel(); <-done }
	}
	// The rows a node keeps for a while, dropped when another node
	// changes them: sessions, seals.
	var watches []func(context.Context)
	if a.Accounts != nil {
		watches = append(watches, a.Accounts.WatchSessions)
	}
	if a.Enterprises != nil {
		watches = append(watches, a.Enterprises.WatchSeals)
	}
	if len(watches) > 0 {
		wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		var wg sync.WaitGroup
		for _, watch := range watches {
			wg.Go(func() { watch(wctx) })
		}
		a.platform.stopWatches = func() { cancel(); wg.Wait() }
	}
	if a.Jobs == nil {
		return nil
	}
	return a.Jobs.Start(ctx)
}

// closePlatform lets running jobs finish (within the shutdown timeout), then
// stops the broker and releases the blob store.
func (a *App) closePlatform() error {
	var errList []error
	if a.Jobs != nil {
		timeout := a.Config.ShutdownTimeout
		if timeout <= 0 {
			timeout = 15 * time.Second
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		if err := a.Jobs.Stop(ctx); err != nil {
			errList = append(errList, fmt.Errorf("jobs: %w", err))
		}
		cancel()
	}
	if a.platform.stopMover != nil {
		a.platform.stopMover()
	}
	if a.platform.stopWatches != nil {
		a.platform.stopWatches()
	}
	if a.platform.events != nil {
		errList = append(errList, a.platform.events.Close())
	}
	if a.platform.blobs != nil {
		errList = append(errList, a.platform.blobs.Close())
	}
	return errors.Join(errList...)
}
