package graph

import (
	"encoding/base64"
	"fmt"

	"signet/errs"
	"signet/flows"
)

// ukeySignInput converts the GraphQL UKey signing input.
func ukeySignInput(in UKeySignFlowInput) flows.UKeySignInput {
	return flows.UKeySignInput{
		SignInput: signInput(SignFlowInput{FlowID: in.FlowID, PersonalSealID: in.PersonalSealID,
			EnterpriseSealID: in.EnterpriseSealID, Placements: in.Placements, Code: in.Code}),
		UKeyCertificate:   deref(in.UkeyCertificate),
		TokenCertificates: in.TokenCertificates,
	}
}

// ukeyCompletion decodes the helper's signatures for one pending signature.
func ukeyCompletion(in CompleteUKeySignInput, field string) (flows.UKeyCompletion, error) {
	out := flows.UKeyCompletion{PendingID: in.PendingID}
	for i, s := range in.Signatures {
		sig, err := base64.StdEncoding.DecodeString(s.Signature)
		if err != nil {
			return out, errs.InvalidField(fmt.Sprintf("%ssignatures.%d.signature", field, i), "签名格式不正确")
		}
		out.Signatures = append(out.Signatures, flows.UKeySignature{DocumentID: s.DocumentID, Signature: sig})
	}
	return out, nil
}

// ukeyBatchInput converts the GraphQL UKey batch input.
func ukeyBatchInput(in UKeyBatchSignInput) flows.UKeyBatchInput {
	return flows.UKeyBatchInput{
		BatchSignInput: batchInput(BatchSignInput{FlowIDs: in.FlowIDs, PersonalSealID: in.PersonalSealID,
			EnterpriseSealID: in.EnterpriseSealID, Code: in.Code}),
		UKeyCertificate:   deref(in.UkeyCertificate),
		TokenCertificates: in.TokenCertificates,
	}
}

// ukeyStep converts a step; digests go out in base64 as the helper takes them.
func ukeyStep(s *flows.UKeyStep) *UKeySignStep {
	if s == nil {
		return nil
	}
	out := &UKeySignStep{FlowID: s.FlowID, ContractName: s.ContractName, Fingerprint: s.Fingerprint, Round: s.Round,
		Done: s.Done(), Flow: s.Flow, Digests: []*UKeyDigest{}}
	if !s.Done() {
		id, exp := s.PendingID, s.ExpiresAt
		out.PendingID, out.ExpiresAt = &id, &exp
	}
	for _, d := range s.Digests {
		g := &UKeyDigest{DocumentID: d.DocumentID, DocumentName: d.DocumentName,
			Digest: base64.StdEncoding.EncodeToString(d.Digest), Certificate: d.Certificate}
		if d.SealName != "" {
			name := d.SealName
			g.SealName = &name
		}
		out.Digests = append(out.Digests, g)
	}
	return out
}

// ukeyBatchResults converts per-flow outcomes like batchResults.
func ukeyBatchResults(items []flows.UKeyBatchItem) []*UKeyBatchSignResult {
	out := make([]*UKeyBatchSignResult, len(items))
	for i, it := range items {
		out[i] = &UKeyBatchSignResult{FlowID: it.FlowID, Ok: it.Err == nil, Step: ukeyStep(it.Step)}
		if it.Err != nil {
			msg, code := errs.MessageOf(it.Err), string(errs.CodeOf(it.Err))
			out[i].Error, out[i].Code = &msg, &code
		}
	}
	return out
}
