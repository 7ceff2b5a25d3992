package pades

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"fmt"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"

	"signet/errs"
	"signet/signingcore/tsa"
)

// AddValidationData appends a Document Security Store (/DSS, PAdES B-LT)
// holding the DER certificates, CRLs and OCSP responses, as an incremental
// update. Entries of an existing /DSS are kept. Nothing is signed, so
// earlier signatures stay valid; a document time-stamp added afterwards
// protects the data.
func (s *Signer) AddValidationData(pdf []byte, certs, crls, ocsps [][]byte) (_ []byte, err error) {
	defer recoverPDF(&err)
	if len(certs)+len(crls)+len(ocsps) == 0 {
		return nil, errs.New(errs.Invalid, "没有可添加的验证数据")
	}
	r, err := newReader(pdf)
	if err != nil {
		return nil, err
	}
	catRef, cat, err := r.catalog()
	if err != nil {
		return nil, err
	}
	dss := types.Dict{}
	dssRef, dssIndirect := cat["DSS"].(types.IndirectRef)
	if old, err := r.dict(cat["DSS"]); err != nil {
		return nil, err
	} else if old != nil {
		dss = cloneDict(old)
	}
	n := 0
	for _, set := range [][][]byte{certs, crls, ocsps} {
		for _, b := range set {
			n += len(b)
		}
	}
	u := newUpdate(r, n+4096)
	for _, part := range []struct {
		key   string
		items [][]byte
	}{{"Certs", certs}, {"CRLs", crls}, {"OCSPs", ocsps}} {
		if len(part.items) == 0 {
			continue
		}
		old, err := r.resolve(dss[part.key])
		if err != nil {
			return nil, err
		}
		arr, _ := old.(types.Array)
		arr = append(types.Array{}, arr...)
		seen := map[[32]byte]bool{}
		for _, b := range part.items {
			k := sha256.Sum256(b)
			if seen[k] {
				continue
			}
			seen[k] = true
			num := u.alloc()
			u.writeStream(num, "", b)
			arr = append(arr, *types.NewIndirectRef(num, 0))
		}
		dss[part.key] = arr
	}
	if dssIndirect {
		u.rewrite(dssRef, dss)
	} else {
		num := u.alloc()
		u.writeObject(num, 0, dss.PDFString())
		cat = cloneDict(cat)
		cat["DSS"] = *types.NewIndirectRef(num, 0)
		u.rewrite(catRef, cat)
	}
	out := u.finish()
	doc := make([]byte, 0, len(pdf)+len(out))
	return append(append(doc, pdf...), out...), nil
}

// AddDocumentTimestamp appends a document time-stamp (/DocTimeStamp with
// SubFilter ETSI.RFC3161, PAdES B-LTA): an invisible field on page 1 whose
// /Contents is an RFC 3161 token over the SHA-256 of the byte range.
func (s *Signer) AddDocumentTimestamp(ctx context.Context, pdf []byte, ts tsa.Timestamper) (_ []byte, err error) {
	defer recoverPDF(&err)
	if ts == nil {
		return nil, errs.New(errs.Invalid, "缺少时间戳服务")
	}
	r, err := newReader(pdf)
	if err != nil {
		return nil, err
	}
	var sd bytes.Buffer
	sd.WriteString("/Type/DocTimeStamp/Filter/Adobe.PPKLite/SubFilter/ETSI.RFC3161")
	ph, err := writeField(r, &field{page: 1, sigDict: sd.String(), contents: s.reserve})
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	hashRanges(h, pdf, ph)
	token, err := ts.Timestamp(ctx, h.Sum(nil), crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("pades: document time-stamp: %w", err)
	}
	return embed(pdf, ph, token)
}
