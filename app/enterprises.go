package app

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"signet/certs"
	"signet/enterprises"
	"signet/identity"
	"signet/signingcore/font"
	"signet/signingcore/seal"
	"signet/sms"
	"signet/viewer"
)

// Sandboxes are the stand-ins for the third parties of real-name
// verification and enterprise certification (docs/sandbox.md). Tests reach
// them to play the person, the bank or the payer.
type Sandboxes struct {
	Identity *identity.Sandbox
	Bank     *enterprises.BankSandbox
	Pay      *enterprises.PaySandbox
	CA       *enterprises.CASandbox
}

// buildEnterprises builds certificates, real-name verification and
// enterprises with the sandbox providers, and the handlers of their
// callbacks and sandbox pages.
func (a *App) buildEnterprises(provider sms.Provider, now func() time.Time) (callbacks, sandbox http.Handler, err error) {
	cfg := a.Config
	f, err := font.Parse()
	if err != nil {
		return nil, nil, fmt.Errorf("seal font: %w", err)
	}
	gen, err := seal.New(f)
	if err != nil {
		return nil, nil, fmt.Errorf("seal generator: %w", err)
	}
	pkey, err := pseudonymKey(filepath.Join(cfg.DataDir, "pseudonym.key"))
	if err != nil {
		return nil, nil, err
	}
	cs, err := certs.New(certs.Config{DB: a.DB.Client, Keys: a.Trust.Keys, CA: a.Trust.CA, PseudonymKey: pkey, Now: now})
	if err != nil {
		return nil, nil, err
	}
	a.Certs = cs
	if now == nil {
		now = time.Now
	}
	sb := &Sandboxes{
		Identity: &identity.Sandbox{BaseURL: cfg.BaseURL, Now: now},
		Bank:     &enterprises.BankSandbox{},
		Pay:      &enterprises.PaySandbox{BaseURL: cfg.BaseURL, Now: now},
		CA:       &enterprises.CASandbox{Delay: cfg.SandboxCAReviewDelay, Now: now},
	}
	a.Sandboxes = sb
	idv, err := identity.New(identity.Config{DB: a.DB.Client, Checker: sb.Identity, Face: sb.Identity,
		ProviderName: "sandbox", Certs: cs, Seals: gen, BaseURL: cfg.BaseURL, Logger: a.Logger, Now: now, Events: a.Events})
	if err != nil {
		return nil, nil, err
	}
	a.Identity = idv
	ents, err := enterprises.New(enterprises.Config{DB: a.DB.Client, Database: a.DB, Jobs: a.Jobs, Blobs: a.Blobs,
		Events: a.Events, Accounts: a.Accounts, SMS: provider, Certs: cs,
		Seals: gen, Checker: sb.Identity, Bank: sb.Bank, Pay: sb.Pay, CA: sb.CA, Fees: enterprises.DefaultFees(),
		BaseURL: cfg.BaseURL, Logger: a.Logger, Now: now})
	if err != nil {
		return nil, nil, err
	}
	a.Enterprises = ents
	// The sandboxes notify in process, as the real providers POST to the
	// callback URLs below.
	sb.Identity.Notify = func(ctx context.Context, id string) {
		if err := idv.FaceCallback(viewer.System(ctx), id); err != nil {
			a.Logger.WarnContext(ctx, "face callback", "session", id, "err", err)
		}
	}
	sb.Pay.Notify = func(ctx context.Context, txn string) {
		if err := ents.PaymentCallback(viewer.System(ctx), txn); err != nil {
			a.Logger.WarnContext(ctx, "payment callback", "txn", txn, "err", err)
		}
	}
	if !cfg.Dev() {
		a.Logger.Warn("identity, payment, bank and CA providers are sandboxes: face and payment pages are not served in production, so those steps cannot complete")
	}

	cb := http.NewServeMux()
	cb.HandleFunc("POST "+identity.CallbackPath, callback("session_id", func(ctx context.Context, id string) error {
		return idv.FaceCallback(ctx, id)
	}))
	cb.HandleFunc("POST "+enterprises.PaymentCallbackPath, callback("txn_id", func(ctx context.Context, id string) error {
		return ents.PaymentCallback(ctx, id)
	}))
	pages := http.NewServeMux()
	pages.Handle("/sandbox/face/", sb.Identity.Handler())
	pages.Handle("/sandbox/pay/", sb.Pay.Handler())
	pages.Handle("GET /sandbox/bank/transfers", sb.Bank.Handler())
	return cb, pages, nil
}

// callback answers a provider notification that names one transaction: the
// handler fetches the authoritative state from the provider, so the body is
// never trusted beyond the id. Providers retry until they get 200.
func callback(field string, handle func(ctx context.Context, id string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
		id := r.FormValue(field)
		if id == "" && strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			var body map[string]string
			_ = json.NewDecoder(r.Body).Decode(&body)
			id = body[field]
		}
		if id == "" {
			http.Error(w, "missing "+field, http.StatusBadRequest)
			return
		}
		if err := handle(viewer.System(r.Context()), id); err != nil {
			http.Error(w, "not processed", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"code":"SUCCESS"}`))
	}
}

// pseudonymKey reads (creating on first start) the 32-byte secret under
// which person certificates' pseudonymous ids are derived. It must survive
// for the platform's life, like the master key.
func pseudonymKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) != 32 {
			return nil, fmt.Errorf("pseudonym key %s: want 32 bytes, have %d", path, len(b))
		}
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("pseudonym key: %w", err)
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return pseudonymKey(path) // another process made it first
	}
	if err != nil {
		return nil, fmt.Errorf("pseudonym key: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, err
	}
	return b, f.Close()
}

// schedulePeriodicJobs adds the periodic jobs: the sweep that gives every
// enterprise application under CA review its review job (the jobs
// themselves are inserted with the change that starts the review), and the
// blob store's sweep (app/blobsweep.go). It needs the River client, so it
// runs once every worker is registered.
func (a *App) schedulePeriodicJobs() error {
	c, err := a.Jobs.Client()
	if err != nil {
		return err
	}
	if _, err = c.PeriodicJobs().AddSafely(enterprises.ReviewSweepJob()); err != nil {
		return err
	}
	_, err = c.PeriodicJobs().AddSafely(blobSweepJob())
	return err
}
