package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"

	"github.com/riverqueue/river/rivermigrate"

	"signet/database"
)

func migrator(db *database.DB, logger *slog.Logger) (*rivermigrate.Migrator[*sql.Tx], error) {
	drv, err := driverFor(db)
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m, err := rivermigrate.New(drv, &rivermigrate.Config{Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("jobs: migrator: %w", err)
	}
	return m, nil
}

// Migrate brings River's tables up to date (each migration in its own
// transaction; safe to run again, and from several nodes on PostgreSQL,
// where River takes a lock).
func Migrate(ctx context.Context, db *database.DB, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m, err := migrator(db, logger)
	if err != nil {
		return err
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return fmt.Errorf("jobs: migrate: %w", err)
	}
	for _, v := range res.Versions {
		logger.Info("jobs: applied river migration", "version", v.Version, "name", v.Name)
	}
	return nil
}

// PlanMigration writes the SQL Migrate would run to w (when w is not nil)
// and reports whether there is any. Nothing is applied.
func PlanMigration(ctx context.Context, db *database.DB, w io.Writer) (bool, error) {
	m, err := migrator(db, nil)
	if err != nil {
		return false, err
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, &rivermigrate.MigrateOpts{DryRun: true})
	if err != nil {
		return false, fmt.Errorf("jobs: plan migration: %w", err)
	}
	if w != nil {
		for _, v := range res.Versions {
			if _, err := fmt.Fprintf(w, "-- river migration %03d %s\n%s\n", v.Version, v.Name, v.SQL); err != nil {
				return false, err
			}
		}
	}
	return len(res.Versions) > 0, nil
}
