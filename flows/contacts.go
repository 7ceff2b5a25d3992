package flows

import (
	"context"

	"signet/ent"
)

// CoSigners adds the parties of a completed flow to each other's contacts
// (联系人, USR-2); package contacts implements it. It runs in the
// transaction that completes the flow, so the contacts exist exactly when the
// completion does.
type CoSigners interface {
	AddCoSigners(ctx context.Context, tx *ent.Tx, flowID int) error
}
