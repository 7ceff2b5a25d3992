package enterprises

import (
	"context"
	"fmt"

	"signet/ent"
	"signet/ent/certdocument"
	"signet/viewer"
)

// blobPage is how many rows BlobKeys reads at a time.
const blobPage = 5000

// BlobKeys calls yield with every blob key the enterprises refer to: the
// certification applications' documents (a document uploaded again for
// the same kind replaces the one before, which is then referred to no
// more). For the blob store's sweep (app.SweepBlobs).
func (s *Service) BlobKeys(ctx context.Context, yield func(key string)) error {
	sys := viewer.System(ctx)
	for after := 0; ; {
		docs, err := s.db.CertDocument.Query().Where(certdocument.IDGT(after), certdocument.BlobKeyNEQ("")).
			Order(ent.Asc(certdocument.FieldID)).Limit(blobPage).Select(certdocument.FieldBlobKey).All(sys)
		if err != nil {
			return fmt.Errorf("blob keys: application documents: %w", err)
		}
		for _, d := range docs {
			yield(d.BlobKey)
			after = d.ID
		}
		if len(docs) < blobPage {
			return nil
		}
	}
}
