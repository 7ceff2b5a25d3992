package app

import (
	"time"

	"signet/flows"
	"signet/jobs"
	"signet/signingcore/pades"
	"signet/sms"
)

// buildFlows builds the contract workflows on the job queue, the blob store,
// accounts (codes), certificates and seal grants, and registers the worker
// that sends their SMS.
func (a *App) buildFlows(provider sms.Provider, now func() time.Time) error {
	f, err := flows.New(flows.Config{
		DB: a.DB, Jobs: a.Jobs, Blobs: a.Blobs, Accounts: a.Accounts,
		Certs: a.Certs, Seals: a.Enterprises, Signer: pades.NewSigner(pades.Config{}), TSA: a.Trust.TSA,
		Logger: a.Logger, Now: now,
	})
	if err != nil {
		return err
	}
	a.Flows = f
	return jobs.AddWorker(a.Jobs, &flows.NotifyWorker{DB: a.DB.Client, SMS: provider, BaseURL: a.Config.BaseURL, Logger: a.Logger})
}
