// Command signet is the Signet server and its operator tools.
//
//	signet serve     start the server (flags and SIGNET_* variables: signet serve -h)
//	signet migrate   apply pending database schema changes (--dry-run prints them)
//	signet version   print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"signet/app"
	"signet/config"
	"signet/database"
	"signet/enterprises"
	"signet/jobs"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		// An error that carries its own exit status (a verification verdict)
		// has already said everything it has to say.
		var coded interface{ ExitCode() int }
		if errors.As(err, &coded) {
			os.Exit(coded.ExitCode())
		}
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "signet:", err)
		}
		os.Exit(1)
	}
}

const usage = `usage: signet <command> [flags]

commands:
  serve     start the server (see: signet serve -h)
  migrate   apply pending database schema changes; --dry-run prints them
  version   print the version
  ca        platform CA: init (create or open in the data folder), status
  pdf       pdf verify FILE: check a PDF's signatures (exit 0 valid, 1 invalid, 2 not signed by this platform)
`

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("missing command")
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		cfg, err := config.Load(rest, getenv, stderr)
		if err != nil {
			return err
		}
		logger := app.NewLogger(cfg, stderr)
		a, err := app.New(ctx, cfg, logger, app.Options{})
		if err != nil {
			return err
		}
		defer a.Close()
		return a.Serve(ctx, nil)
	case "migrate":
		dry := false
		var cfgArgs []string
		for _, a := range rest {
			if a == "--dry-run" || a == "-dry-run" {
				dry = true
				continue
			}
			cfgArgs = append(cfgArgs, a)
		}
		cfg, err := config.Load(cfgArgs, getenv, stderr)
		if err != nil {
			return err
		}
		db, err := database.Open(ctx, cfg.DatabaseURL, cfg.SQLitePath())
		if err != nil {
			return err
		}
		defer db.Close()
		pending, err := db.PlanMigration(ctx, stdout)
		if err != nil {
			return err
		}
		jobsPending, err := jobs.PlanMigration(ctx, db, stdout)
		if err != nil {
			return err
		}
		switch {
		case !pending && !jobsPending:
			fmt.Fprintln(stdout, "-- the schema is up to date")
		case dry:
			fmt.Fprintln(stdout, "-- dry run: nothing applied")
		default:
			if err := db.Migrate(ctx); err != nil {
				return err
			}
			if err := jobs.Migrate(ctx, db, nil); err != nil {
				return err
			}
			fmt.Fprintln(stdout, "-- applied")
		}
		if !dry {
			n, err := enterprises.EncodeSealAppearances(ctx, db.Client)
			if err != nil {
				return fmt.Errorf("encode seal appearances: %w", err)
			}
			if n > 0 {
				fmt.Fprintf(stdout, "-- %d seals given their appearance for signatures\n", n)
			}
		}
		return nil
	case "ca":
		return runCA(ctx, rest, getenv, stdout, stderr)
	case "pdf":
		return runPDF(ctx, rest, getenv, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "signet", version)
		return nil
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}
