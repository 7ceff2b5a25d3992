package pades

import (
	"bytes"
	"fmt"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"

	"signet/errs"
	"signet/signingcore/cms"
)

// SignatureInfo describes one signature (or document time-stamp) field.
type SignatureInfo struct {
	// FieldName is the fully qualified field name.
	FieldName string
	// Type is "Sig" or "DocTimeStamp".
	Type string
	// SubFilter is e.g. "ETSI.CAdES.detached", "adbe.pkcs7.detached" or
	// "ETSI.RFC3161".
	SubFilter string
	// Name, Reason, Location, ContactInfo and M are the decoded text
	// entries of the signature dictionary (M is the raw PDF date).
	Name, Reason, Location, ContactInfo, M string
	// ByteRange is the signed byte range.
	ByteRange []int64
	// Contents is the CMS (or RFC 3161 token) DER, without the zero padding.
	Contents []byte
	// RevisionEnd is the end of the byte range (offset + length of its last
	// part).
	RevisionEnd int64
	// CoversRevision reports that the byte range starts at 0, leaves out
	// exactly the /Contents string, and ends at the end of a revision
	// (just after an %%EOF marker): the signature covers the whole file as
	// it was when signed.
	CoversRevision bool
	// CoversWholeFile reports that the byte range reaches the end of the
	// file: nothing was appended after the signature.
	CoversWholeFile bool
}

// ExtractSignatures returns the signature fields of pdf in AcroForm order.
func ExtractSignatures(pdf []byte) (_ []SignatureInfo, err error) {
	defer recoverPDF(&err)
	r, err := newReader(pdf)
	if err != nil {
		return nil, err
	}
	_, cat, err := r.catalog()
	if err != nil {
		return nil, err
	}
	form, err := r.dict(cat["AcroForm"])
	if err != nil || form == nil {
		return nil, err
	}
	fo, err := r.resolve(form["Fields"])
	if err != nil {
		return nil, err
	}
	fields, _ := fo.(types.Array)
	ends := revisionEnds(pdf)
	var out []SignatureInfo
	visited := map[int]bool{}
	var walk func(a types.Array, prefix string, ft types.Object, depth int) error
	walk = func(a types.Array, prefix string, ft types.Object, depth int) error {
		if depth > 32 {
			return nil
		}
		for _, o := range a {
			if ref, ok := o.(types.IndirectRef); ok {
				if visited[ref.ObjectNumber.Value()] || len(visited) > maxFields {
					continue // a loop or an absurd tree
				}
				visited[ref.ObjectNumber.Value()] = true
			}
			d, err := r.dict(o)
			if err != nil {
				return err
			}
			if d == nil {
				continue
			}
			name := prefix
			if t, err := types.StringOrHexLiteral(d["T"]); err == nil && t != nil {
				if name != "" {
					name += "."
				}
				name += *t
			}
			fieldType := ft
			if v, ok := d["FT"]; ok {
				fieldType = v
			}
			kidsObj, err := r.resolve(d["Kids"])
			if err != nil {
				return err
			}
			if kids, ok := kidsObj.(types.Array); ok {
				if err := walk(kids, name, fieldType, depth+1); err != nil {
					return err
				}
			}
			if fieldType != types.Name("Sig") {
				continue
			}
			v, err := r.dict(d["V"])
			if err != nil {
				return err
			}
			if v == nil {
				continue // unsigned signature field
			}
			info, err := signatureInfo(pdf, v, ends)
			if err != nil {
				return err
			}
			info.FieldName = name
			out = append(out, info)
		}
		return nil
	}
	if err := walk(fields, "", nil, 0); err != nil {
		return nil, err
	}
	return out, nil
}

func text(o types.Object) string {
	s, err := types.StringOrHexLiteral(o)
	if err != nil || s == nil {
		return ""
	}
	return *s
}

func signatureInfo(pdf []byte, v types.Dict, ends map[int64]bool) (SignatureInfo, error) {
	bad := func(what string) (SignatureInfo, error) {
		return SignatureInfo{}, errs.Wrap(fmt.Errorf("pades: signature dictionary: %s", what), errs.Invalid, "PDF 中的签名数据格式错误")
	}
	info := SignatureInfo{Type: "Sig", Name: text(v["Name"]), Reason: text(v["Reason"]),
		Location: text(v["Location"]), ContactInfo: text(v["ContactInfo"]), M: text(v["M"])}
	if t, ok := v["Type"].(types.Name); ok {
		info.Type = string(t)
	}
	if sf, ok := v["SubFilter"].(types.Name); ok {
		info.SubFilter = string(sf)
	}
	br, ok := v["ByteRange"].(types.Array)
	if !ok || len(br)%2 != 0 || len(br) == 0 {
		return bad("bad /ByteRange")
	}
	for _, o := range br {
		n, ok := o.(types.Integer)
		if !ok || n < 0 {
			return bad("bad /ByteRange value")
		}
		info.ByteRange = append(info.ByteRange, int64(n))
	}
	var raw []byte
	switch c := v["Contents"].(type) {
	case types.HexLiteral:
		b, err := c.Bytes()
		if err != nil {
			return bad("bad /Contents hex")
		}
		raw = b
	case types.StringLiteral:
		b, err := types.Unescape(c.Value())
		if err != nil {
			return bad("bad /Contents string")
		}
		raw = b
	default:
		return bad("missing /Contents")
	}
	if n, err := cms.ElementLength(raw); err == nil {
		raw = raw[:n]
	}
	info.Contents = raw
	last := len(info.ByteRange) - 2
	info.RevisionEnd = info.ByteRange[last] + info.ByteRange[last+1]
	info.CoversWholeFile = info.RevisionEnd == int64(len(pdf))
	b := info.ByteRange
	info.CoversRevision = len(b) == 4 && b[0] == 0 && b[1] < b[2] && info.RevisionEnd <= int64(len(pdf)) &&
		ends[info.RevisionEnd] && pdf[b[1]] == '<' && pdf[b[2]-1] == '>' &&
		len(bytes.Trim(pdf[b[1]+1:b[2]-1], "0123456789abcdefABCDEF \r\n\t")) == 0
	return info, nil
}

// revisionEnds returns the offsets just after each %%EOF marker (with and
// without the end-of-line that follows it).
func revisionEnds(pdf []byte) map[int64]bool {
	ends := map[int64]bool{}
	marker := []byte("%%EOF")
	for off := 0; ; {
		i := bytes.Index(pdf[off:], marker)
		if i < 0 {
			break
		}
		e := off + i + len(marker)
		ends[int64(e)] = true
		if e < len(pdf) && pdf[e] == '\r' {
			e++
			ends[int64(e)] = true
		}
		if e < len(pdf) && pdf[e] == '\n' {
			e++
			ends[int64(e)] = true
		}
		off = e
	}
	return ends
}
