package app

import (
	"time"

	"signet/contacts"
	"signet/flows"
	"signet/signingcore/pades"
	"signet/sms"
)

// buildFlows builds the contract workflows on the job queue, the blob store,
// accounts (codes), certificates and seal grants, and registers the worker
// that sends their SMS.
func (a *App) buildFlows(provider sms.Provider, now func() time.Time) error {
	a.Contacts = contacts.New(a.DB.Client)
	f, err := flows.New(flows.Config{
		DB: a.DB, Jobs: a.Jobs, Blobs: a.Blobs, Accounts: a.Accounts,
		Certs: a.Certs, Seals: a.Enterprises, Signer: pades.NewSigner(pades.Config{}), TSA: a.Trust.TSA,
		Logger: a.Logger, Now: now, Broker: a.Events, Contacts: a.Contacts,
		CA: a.Trust.CA,
	})
	if err != nil {
		return err
	}
	a.Flows = f
	if err := flows.AddNotifyWorkers(a.Jobs, &flows.NotifyWorker{DB: a.DB.Client, SMS: provider, BaseURL: a.Config.BaseURL, Logger: a.Logger}); err != nil {
		return err
	}
	mailer, err := newMailProvider(a.Config, a.Logger)
	if err != nil {
		return err
	}
	// Completion (B-LTA, evidence), expiry, notices and email.
	return f.AddWorkers(a.Jobs, flows.WorkerDeps{SMS: provider, Mail: mailer, BaseURL: a.Config.BaseURL})
}
