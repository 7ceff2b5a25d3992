// Package app is Signet's composition root: it turns a config.Config into a
// running server by opening the database, building the domain services and
// providers, and handing them to the HTTP layer. Nothing here is global, so
// tests start whole instances (even two on one database) on port 0.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"signet/accounts"
	"signet/blob"
	"signet/certs"
	"signet/config"
	"signet/contacts"
	"signet/database"
	"signet/enterprises"
	"signet/events"
	"signet/flows"
	"signet/graph"
	"signet/identity"
	"signet/jobs"
	"signet/mobile"
	"signet/pairing"
	"signet/server"
	"signet/sms"
	"signet/trust"
	"signet/ukey"
)

// App is a built Signet instance.
type App struct {
	Config   config.Config
	Logger   *slog.Logger
	DB       *database.DB
	Accounts *accounts.Service
	Outbox   sms.OutboxStore
	Trust    *trust.Services
	Handler  http.Handler
	// Events, Jobs and Blobs are the live-update broker, the job queue and
	// the file store domain packages build on (app/platform.go).
	Events   events.Broker
	Jobs     *jobs.Queue
	Blobs    blob.Store
	platform platform
	// Certs, Identity and Enterprises are certificates, real-name
	// verification and enterprises; Sandboxes their third-party stand-ins.
	Certs       *certs.Service
	Identity    *identity.Service
	Enterprises *enterprises.Service
	// Flows are the contracts (签约任务).
	Flows *flows.Service
	// Contacts are the users' address books (联系人, USR-2).
	Contacts  *contacts.Service
	Sandboxes *Sandboxes
	// Pairing is QR handwriting capture and personal seals (app/pairing.go).
	Pairing *pairing.Service
}

// Options adjust New for tests.
type Options struct {
	// SMS replaces the configured provider.
	SMS sms.Provider
	// Now replaces the clock of the domain services.
	Now func() time.Time
	// CaptchaText replaces the random captcha answers.
	CaptchaText func() (string, error)
	// WrapDB replaces the database just opened, before anything uses it
	// (internal/sqlcount reopens it through a statement-counting driver).
	WrapDB func(*database.DB) (*database.DB, error)
	// Policy edits the accounts policy (accounts.DefaultPolicy) before it
	// is used: the sustained signing harness keeps many intent codes live
	// at once.
	Policy func(*accounts.Policy)
}

// NewLogger returns the slog logger the config asks for.
func NewLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// New opens the database, migrates it in development (and refuses to start
// on an outdated schema in production), and builds the services and handler.
func New(ctx context.Context, cfg config.Config, logger *slog.Logger, opts Options) (*App, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data folder %s: %w", cfg.DataDir, err)
	}
	db, err := database.Open(ctx, cfg.DatabaseURL, cfg.SQLitePath())
	if err != nil {
		return nil, err
	}
	if opts.WrapDB != nil {
		if db, err = opts.WrapDB(db); err != nil {
			return nil, err
		}
	}
	a := &App{Config: cfg, Logger: logger, DB: db}
	if err := a.build(ctx, opts); err != nil {
		a.Close()
		return nil, err
	}
	if err := a.schedulePeriodicJobs(); err != nil {
		a.Close()
		return nil, err
	}
	if err := a.startPlatform(ctx); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

func (a *App) build(ctx context.Context, opts Options) error {
	cfg := a.Config
	if cfg.Dev() {
		if err := a.DB.Migrate(ctx); err != nil {
			return err
		}
		if _, err := enterprises.EncodeSealAppearances(ctx, a.DB.Client); err != nil {
			return err
		}
	} else {
		pending, err := a.DB.PlanMigration(ctx, nil)
		if err != nil {
			return err
		}
		if pending {
			return errors.New("the database schema is older than this version of Signet: review the changes with `signet migrate --dry-run`, apply them with `signet migrate`, then start again")
		}
	}
	if err := a.buildPlatform(ctx); err != nil {
		return err
	}

	// Development makes the platform CA on first start; production expects
	// `signet ca init` to have been run by an operator.
	ts, _, err := trust.Open(ctx, trust.Config{
		DataDir: cfg.DataDir, BaseURL: cfg.BaseURL, Create: cfg.Dev(),
		KeyStore: cfg.Keys.Store, MasterKeyFile: cfg.Keys.MasterKeyFile,
		PKCS11Module: cfg.Keys.PKCS11Module, PKCS11Token: cfg.Keys.PKCS11Token, PKCS11PINFile: cfg.Keys.PKCS11PINFile,
	})
	if err != nil {
		return err
	}
	a.Trust = ts

	a.Outbox = outboxStore{db: a.DB.Client}
	provider := opts.SMS
	if provider == nil {
		var err error
		provider, err = newSMSProvider(cfg, a.Outbox, a.Logger)
		if err != nil {
			return err
		}
	}
	captchaText := opts.CaptchaText
	if captchaText == nil && cfg.Dev() && cfg.DevCaptchaText != "" {
		fixed := cfg.DevCaptchaText
		captchaText = func() (string, error) { return fixed, nil }
	}
	origin, err := ukey.OriginOf(cfg.BaseURL)
	if err != nil {
		return err
	}
	policy := accounts.DefaultPolicy()
	if opts.Policy != nil {
		opts.Policy(&policy)
	}
	acc, err := accounts.New(accounts.Config{
		DB: a.DB.Client, SMS: provider, Logger: a.Logger, Now: opts.Now, CaptchaText: captchaText,
		Policy: policy,
		Hasher: accounts.NewPasswordHasher(cfg.Argon2.MemoryKiB, cfg.Argon2.Iterations, cfg.Argon2.Parallelism),
		UKey:   accounts.UKeyConfig{CA: ts.CA, Origin: origin},
		Events: a.Events,
	})
	if err != nil {
		return err
	}
	a.Accounts = acc
	callbacks, sandbox, err := a.buildEnterprises(provider, opts.Now)
	if err != nil {
		return err
	}
	if err := a.buildFlows(provider, opts.Now); err != nil {
		return err
	}
	if err := a.buildPairing(opts.Now); err != nil {
		return err
	}
	if err := a.addBlobSweep(); err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewDBStatsCollector(a.DB.SQL, a.DB.Dialect))
	a.Handler = server.New(server.Config{
		Dev: cfg.Dev(), BaseURL: cfg.BaseURL, AllowedOrigins: cfg.AllowedOrigins, TrustedProxies: cfg.TrustedProxies,
		Logger: a.Logger,
		Schema: graph.NewSchema(&graph.Resolver{DB: a.DB.Client, Accounts: acc,
			Identity: a.Identity, Enterprises: a.Enterprises, Contracts: a.Flows, ContactBook: a.Contacts, Pairings: a.Pairing}),
		Accounts:      acc,
		Ready:         func(ctx context.Context) error { return a.DB.SQL.PingContext(ctx) },
		Outbox:        a.Outbox,
		Registry:      reg,
		Trust:         ts.Handler(),
		Documents:     a.Flows,
		CertDocuments: a.Enterprises,
		App:           mobile.Dist(),

		Callbacks: callbacks,
		Sandbox:   sandbox,

		UKeyHelperDir: ukeyHelperDir(),
		Pairing:       a.Pairing,
	})
	return nil
}

func newSMSProvider(cfg config.Config, outbox sms.OutboxStore, logger *slog.Logger) (sms.Provider, error) {
	switch cfg.SMS.Provider {
	case "aliyun":
		templates := map[sms.Template]string{}
		for k, v := range cfg.SMS.Templates {
			templates[sms.Template(k)] = v
		}
		return sms.NewAliyun(sms.AliyunConfig{
			Endpoint: cfg.SMS.AliyunEndpoint, AccessKeyID: cfg.SMS.AliyunAccessKeyID,
			AccessKeySecret: cfg.SMS.AliyunAccessKeySecret, SignName: cfg.SMS.AliyunSignName,
			Templates: templates,
		}, &http.Client{Timeout: 15 * time.Second})
	default:
		return sms.NewOutbox(outbox, logger), nil
	}
}

// Close stops the job queue and the broker, and releases the blob store,
// the key store and the database.
func (a *App) Close() error {
	errList := []error{a.closePlatform()}
	if a.Trust != nil {
		errList = append(errList, a.Trust.Close())
	}
	errList = append(errList, a.DB.Close())
	return errors.Join(errList...)
}

// Serve listens on cfg.Addr (or uses ln when given) until ctx ends, then
// shuts down gracefully within cfg.ShutdownTimeout.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	if ln == nil {
		var err error
		ln, err = net.Listen("tcp", a.Config.Addr)
		if err != nil {
			return fmt.Errorf("listen on %s: %w", a.Config.Addr, err)
		}
	}
	srv := &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ErrorLog:          slog.NewLogLogger(a.Logger.Handler(), slog.LevelWarn),
	}
	addr := ln.Addr().String()
	a.Logger.Info("signet listening", "addr", addr, "url", displayURL(addr), "mode", a.Config.Mode,
		"database", a.DB.Dialect, "sms", a.Config.SMS.Provider)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	a.Logger.Info("shutting down", "timeout", a.Config.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), a.Config.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func displayURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "::" || host == "0.0.0.0" || strings.HasPrefix(host, "[::]") {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}
