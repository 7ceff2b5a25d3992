package flows

import (
	"context"
	"encoding/json"
	"fmt"

	"signet/audit"
	"signet/ent"
	"signet/ent/auditevent"
	"signet/ent/flowdocument"
	"signet/ent/pendingsignature"
	"signet/viewer"
)

// Which blobs the contracts refer to, for the blob store's sweep
// (app.SweepBlobs, blob.Disk.SweepContent). What a signature replaces is
// not referred to any more: each signature appends an incremental update,
// so the newest revision holds every earlier one byte for byte, and a
// contract keeps its frozen original, its current revision and its
// evidence report. A UKey signature between its phases keeps the revision
// it was prepared on, the work done so far and the prepared update.

// blobPage is how many rows BlobKeys reads at a time.
const blobPage = 5000

// BlobKeys calls yield with every blob key the contracts refer to: each
// document's original and current revision, the evidence reports' files
// (from their evidence.generated events) and the blobs of UKey signatures
// still pending. A key may come more than once.
func (s *Service) BlobKeys(ctx context.Context, yield func(key string)) error {
	sys := viewer.System(ctx)
	for after := 0; ; {
		docs, err := s.db.FlowDocument.Query().Where(flowdocument.IDGT(after)).Order(ent.Asc(flowdocument.FieldID)).
			Limit(blobPage).Select(flowdocument.FieldOriginalKey, flowdocument.FieldCurrentKey).All(sys)
		if err != nil {
			return fmt.Errorf("blob keys: documents: %w", err)
		}
		for _, d := range docs {
			yield(d.OriginalKey)
			yield(d.CurrentKey)
			after = d.ID
		}
		if len(docs) < blobPage {
			break
		}
	}
	for after := 0; ; {
		evs, err := s.db.AuditEvent.Query().
			Where(auditevent.Action(string(audit.EvidenceGenerated)), auditevent.IDGT(after)).
			Order(ent.Asc(auditevent.FieldID)).Limit(blobPage).Select(auditevent.FieldPayload).All(sys)
		if err != nil {
			return fmt.Errorf("blob keys: evidence: %w", err)
		}
		for _, e := range evs {
			var rec EvidenceRecord
			if err := json.Unmarshal([]byte(e.Payload), &rec); err != nil {
				return fmt.Errorf("blob keys: evidence event %d: %w", e.ID, err)
			}
			for _, k := range []string{rec.JSONKey, rec.HTMLKey, rec.TokenKey} {
				if k != "" {
					yield(k)
				}
			}
			after = e.ID
		}
		if len(evs) < blobPage {
			break
		}
	}
	pending, err := s.db.PendingSignature.Query().Where(pendingsignature.StatusEQ(pendingsignature.StatusPending)).
		Select(pendingsignature.FieldState).All(sys)
	if err != nil {
		return fmt.Errorf("blob keys: pending signatures: %w", err)
	}
	for _, p := range pending {
		var st ukeyState
		if err := json.Unmarshal(p.State, &st); err != nil {
			return fmt.Errorf("blob keys: pending signature %d: %w", p.ID, err)
		}
		for _, d := range st.Docs {
			for _, k := range []string{d.BaseKey, d.WorkKey, d.Prepared} {
				if k != "" {
					yield(k)
				}
			}
		}
	}
	return nil
}
