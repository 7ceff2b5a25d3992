package graph

import (
	"time"

	"signet/accounts"
	"signet/errs"
	"signet/flows"
)

// batchInput converts the GraphQL batch-signing input.
func batchInput(in BatchSignInput) flows.BatchSignInput {
	out := flows.BatchSignInput{FlowIDs: in.FlowIDs, Code: deref(in.Code)}
	if in.PersonalSealID != nil {
		out.PersonalSealID = *in.PersonalSealID
	}
	if in.EnterpriseSealID != nil {
		out.EnterpriseSealID = *in.EnterpriseSealID
	}
	return out
}

// batchResults converts per-flow outcomes; a refusal carries its Chinese
// reason and error code.
func batchResults(items []flows.BatchItem) []*BatchSignResult {
	out := make([]*BatchSignResult, len(items))
	for i, it := range items {
		out[i] = &BatchSignResult{FlowID: it.FlowID, Ok: it.Err == nil, Flow: it.Flow}
		if it.Err != nil {
			msg, code := errs.MessageOf(it.Err), string(errs.CodeOf(it.Err))
			out[i].Error, out[i].Code = &msg, &code
		}
	}
	return out
}

// batchIntent converts what SendBatchIntentCode did.
func batchIntent(b flows.BatchIntent) *BatchIntentCodePayload {
	p := &BatchIntentCodePayload{Sent: b.Sent.Phone != "", Fingerprint: b.Fingerprint, Results: batchResults(b.Items)}
	if p.Sent {
		masked, secs, exp := accounts.MaskPhone(b.Sent.Phone), int(b.Sent.ResendAfter/time.Second), b.Sent.ExpiresAt
		p.MaskedPhone, p.ResendAfterSeconds, p.ExpiresAt = &masked, &secs, &exp
	}
	return p
}
