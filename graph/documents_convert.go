package graph

import "signet/flows"

// flowEvidence converts the domain's evidence record.
func flowEvidence(rec *flows.EvidenceRecord) *FlowEvidence {
	return &FlowEvidence{GeneratedAt: rec.GeneratedAt, Sha256: rec.SHA256, ChainSeq: int(rec.ChainSeq),
		ChainHash: rec.ChainHash, ChainOk: rec.ChainOK}
}
