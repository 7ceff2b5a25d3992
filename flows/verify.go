package flows

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding"
	"encoding/hex"
	"errors"
	"io"

	"signet/ent"
	"signet/ent/flowdocument"
	"signet/ent/privacy"
	"signet/errs"
	"signet/signingcore/verify"
	"signet/viewer"
)

// Verification (文档验证, VER-1): anyone may upload a PDF and get
// signingcore's report, trusting the platform root and asking the platform
// CA about revocation. When the viewer is signed in and the file — whole,
// or any of its revisions, so also a copy downloaded half-way through
// signing or its original — is a document of a flow they may see, the
// answer names the flow. A file with no platform signature is reported as
// 非本平台签署的文件.

// NotPlatformMessage is the answer for files signed elsewhere (or not at all).
const NotPlatformMessage = "非本平台签署的文件"

// Verification is the answer to an uploaded file.
type Verification struct {
	// Platform reports that the file carries a signature of this platform.
	Platform bool `json:"platform"`
	// Message is one sentence for people.
	Message string         `json:"message"`
	Report  *verify.Report `json:"report"`
	// Flow is the viewer's flow the file belongs to, nil when none.
	Flow *VerifiedFlow `json:"flow"`
}

// VerifiedFlow names the flow (and document) an uploaded file belongs to.
type VerifiedFlow struct {
	ID           int    `json:"id"`
	Number       string `json:"number"`
	Name         string `json:"name"`
	Status       string `json:"status"`
	DocumentID   int    `json:"documentId"`
	DocumentName string `json:"documentName"`
	// Match is "current" (the document as it is now), "revision" (the
	// file is a later revision of the current document: content was
	// appended), or "earlier" (the file is the original or an earlier
	// revision, or its first part is).
	Match string `json:"match"`
}

// VerifyFile reports on an uploaded PDF (at most Limits.Upload.MaxBytes).
// Errors: Invalid for a file that is too large, not a PDF or unreadable.
func (s *Service) VerifyFile(ctx context.Context, r io.Reader) (*Verification, error) {
	if s.ca == nil {
		return nil, errs.New(errs.Internal, "验证服务未配置")
	}
	max := s.limits.Upload.MaxBytes
	if max <= 0 {
		max = 20 << 20
	}
	pdf, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, errs.Wrap(err, errs.Invalid, "上传内容不完整")
	}
	if int64(len(pdf)) > max {
		return nil, errs.InvalidField("file", "文件过大（最大20MB）")
	}
	if !bytes.HasPrefix(bytes.TrimLeft(pdf[:min(len(pdf), 1024)], "\x00\t\r\n "), []byte("%PDF-")) {
		return nil, errs.InvalidField("file", "请上传 PDF 文件")
	}
	root, err := s.ca.RootCertificate()
	if err != nil {
		return nil, err
	}
	rep, err := verify.VerifyContext(ctx, pdf, verify.Options{Roots: []*x509.Certificate{root},
		Revocation: verify.PKIRevocation{CA: s.ca}, Now: s.now})
	if err != nil {
		return nil, err
	}
	out := &Verification{Report: rep, Platform: rep.Verdict != verify.VerdictNotPlatform, Message: rep.Summary}
	if !out.Platform {
		out.Message = NotPlatformMessage
	}
	out.Flow, err = s.matchFlow(ctx, pdf)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// matchFlow finds the viewer's document whose original or current revision
// is the file or one of its revisions.
func (s *Service) matchFlow(ctx context.Context, pdf []byte) (*VerifiedFlow, error) {
	if !viewer.FromContext(ctx).Authenticated() {
		return nil, nil
	}
	whole := sha256.Sum256(pdf)
	wholeHex := hex.EncodeToString(whole[:])
	prefixes := revisionHashes(pdf)
	hashes := append([]string{wholeHex}, prefixes...)
	docs, err := s.db.FlowDocument.Query().
		Where(flowdocument.Or(flowdocument.CurrentSha256In(hashes...), flowdocument.OriginalSha256In(hashes...))).
		WithFlow().Order(ent.Desc(flowdocument.FieldID)).All(ctx) // privacy: the viewer's flows only
	if errors.Is(err, privacy.Deny) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rank := func(d *ent.FlowDocument) (int, string) {
		switch {
		case d.CurrentSha256 == wholeHex:
			return 3, "current"
		case contains(prefixes, d.CurrentSha256):
			return 2, "revision"
		}
		return 1, "earlier"
	}
	var best *ent.FlowDocument
	bestRank, match := 0, ""
	for _, d := range docs {
		if d.Edges.Flow == nil {
			continue
		}
		if r, m := rank(d); r > bestRank {
			best, bestRank, match = d, r, m
		}
	}
	if best == nil {
		return nil, nil
	}
	f := best.Edges.Flow
	return &VerifiedFlow{ID: f.ID, Number: f.Number, Name: f.Name, Status: string(f.Status),
		DocumentID: best.ID, DocumentName: best.Name, Match: match}, nil
}

// revisionHashes returns the SHA-256 of every proper prefix of pdf that ends
// a revision: just after an "%%EOF" marker, with and without its end of
// line (at most 100 of them). The file is hashed once, front to back.
func revisionHashes(pdf []byte) []string {
	var ends []int
	marker := []byte("%%EOF")
	for i := 0; len(ends) < 100; {
		j := bytes.Index(pdf[i:], marker)
		if j < 0 {
			break
		}
		end := i + j + len(marker)
		ends = append(ends, end)
		if end < len(pdf) && pdf[end] == '\r' {
			ends = append(ends, end+1)
			if end+1 < len(pdf) && pdf[end+1] == '\n' {
				ends = append(ends, end+2)
			}
		} else if end < len(pdf) && pdf[end] == '\n' {
			ends = append(ends, end+1)
		}
		i = end
	}
	var out []string
	h := sha256.New()
	done := 0
	for _, e := range ends {
		if e >= len(pdf) {
			break
		}
		h.Write(pdf[done:e])
		done = e
		state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
		if err != nil {
			return out
		}
		snap := sha256.New()
		if snap.(encoding.BinaryUnmarshaler).UnmarshalBinary(state) != nil {
			return out
		}
		out = append(out, hex.EncodeToString(snap.Sum(nil)))
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
