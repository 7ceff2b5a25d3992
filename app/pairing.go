package app

import (
	"time"

	"signet/pairing"
)

// buildPairing makes the QR handwriting and personal seal service (USR-1,
// USR-3) on the app's database and broker.
func (a *App) buildPairing(now func() time.Time) error {
	p, err := pairing.New(pairing.Config{DB: a.DB.Client, Broker: a.Events, BaseURL: a.Config.BaseURL,
		Now: now, Logger: a.Logger})
	if err != nil {
		return err
	}
	a.Pairing = p
	return nil
}
