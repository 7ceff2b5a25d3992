// Package pades signs PDF documents with PAdES baseline signatures
// (ETSI EN 319 142): CAdES-detached CMS with signing-certificate-v2 and an
// RFC 3161 signature time-stamp (B-T), validation data in a /DSS (B-LT) and
// document time-stamps (B-LTA).
//
// Every change is an incremental update appended to the document, so the
// bytes covered by earlier signatures never move. Signing has two phases so
// that a key outside the server (a UKey on the user's PC) can sign between
// them: Prepare builds the update with a zero-filled /Contents placeholder
// and returns the digest of the CMS signed attributes; Complete embeds the
// signature. Sign does both for a crypto.Signer.
//
// The signature widget's appearance is the seal image itself (an image
// XObject with a soft mask in the widget's /AP /N form), not a watermark
// layer. Encoded seal images are cached by the Signer.
package pades

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"

	"signet/errs"
	"signet/signingcore/cms"
	"signet/signingcore/tsa"
)

// Config configures a Signer.
type Config struct {
	// TimestampReserve is the number of bytes kept in each /Contents
	// placeholder for the RFC 3161 token (and for a document time-stamp
	// token). Zero means 8192.
	TimestampReserve int
	// ImageCacheSize is the number of encoded seal images kept. Zero means 64.
	ImageCacheSize int
	// Now gives the time for document time-stamp fields; time.Now when nil.
	Now func() time.Time
}

// Signer prepares, completes and extends PDF signatures. It is safe for
// concurrent use; its only state is the seal image cache.
type Signer struct {
	reserve int
	images  *imageCache
	now     func() time.Time
}

// NewSigner returns a Signer.
func NewSigner(cfg Config) *Signer {
	if cfg.TimestampReserve <= 0 {
		cfg.TimestampReserve = 8192
	}
	if cfg.ImageCacheSize <= 0 {
		cfg.ImageCacheSize = 64
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Signer{reserve: cfg.TimestampReserve, images: newImageCache(cfg.ImageCacheSize), now: cfg.Now}
}

// Rect is a rectangle in PDF points: lower-left x, y, upper-right x, y.
type Rect [4]float64

// Request describes one signature.
type Request struct {
	// FieldName names the new signature field; empty picks "SignatureN".
	// It must not name an existing field.
	FieldName string
	// Page is the 1-based page that shows the signature.
	Page int
	// Rect is the widget rectangle on that page. A zero Rect (or no
	// Appearance nor EncodedAppearance) makes an invisible signature.
	Rect Rect
	// Appearance is the seal image: PNG bytes, alpha is kept as a soft mask.
	Appearance []byte
	// EncodedAppearance is the seal image as EncodeAppearance made it,
	// stored with the seal; when set it is used instead of Appearance, and
	// the image is neither decoded nor compressed again.
	EncodedAppearance []byte
	// Chain holds the signer certificate first, then its issuers.
	Chain []*x509.Certificate
	// Name, Reason, Location and ContactInfo go into the signature
	// dictionary as text strings (any Unicode).
	Name, Reason, Location, ContactInfo string
	// SigningTime is written as /M (PAdES forbids the CMS signing-time
	// attribute); the zero time means now.
	SigningTime time.Time
}

// Prepared is a signature waiting for its signature value. All fields are
// exported and it implements encoding.BinaryMarshaler, so a server can store
// it between Prepare and Complete.
type Prepared struct {
	// Base is the document that was prepared (not copied).
	Base []byte
	// Update is the incremental update appended to Base, with a zero-filled
	// hexadecimal /Contents placeholder.
	Update []byte
	// ContentsOffset is the offset in Update of the first hex digit of the
	// placeholder; ContentsSize is the room for the CMS in bytes (the
	// placeholder holds twice as many hex digits).
	ContentsOffset int
	ContentsSize   int
	// SignedAttrs is the DER SET OF signed attributes.
	SignedAttrs []byte
	// Digest is SHA-256 of SignedAttrs: what the key signs.
	Digest []byte
	// Chain is the certificate chain, DER, signer first.
	Chain [][]byte
}

// DigestAlgorithm is the hash the signature value is computed with.
func (p *Prepared) DigestAlgorithm() crypto.Hash { return crypto.SHA256 }

type preparedASN1 struct {
	Version        int
	Base           []byte
	Update         []byte
	ContentsOffset int
	ContentsSize   int
	SignedAttrs    []byte
	Digest         []byte
	Chain          [][]byte
}

// MarshalBinary encodes p (including the base document).
func (p *Prepared) MarshalBinary() ([]byte, error) {
	b, err := asn1.Marshal(preparedASN1{1, p.Base, p.Update, p.ContentsOffset, p.ContentsSize, p.SignedAttrs, p.Digest, p.Chain})
	if err != nil {
		return nil, fmt.Errorf("pades: marshal prepared: %w", err)
	}
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (p *Prepared) UnmarshalBinary(data []byte) error {
	var v preparedASN1
	if rest, err := asn1.Unmarshal(data, &v); err != nil || len(rest) != 0 {
		return errs.Wrap(fmt.Errorf("pades: unmarshal prepared: %v", err), errs.Invalid, "待签名数据已损坏")
	}
	if v.Version != 1 {
		return errs.New(errs.Invalid, "待签名数据的版本不受支持")
	}
	*p = Prepared{v.Base, v.Update, v.ContentsOffset, v.ContentsSize, v.SignedAttrs, v.Digest, v.Chain}
	return p.check()
}

func (p *Prepared) check() error {
	if p.ContentsOffset < 1 || p.ContentsSize <= 0 || p.ContentsOffset+2*p.ContentsSize >= len(p.Update) ||
		p.Update[p.ContentsOffset-1] != '<' || p.Update[p.ContentsOffset+2*p.ContentsSize] != '>' || len(p.Chain) == 0 {
		return errs.New(errs.Invalid, "待签名数据已损坏")
	}
	return nil
}

// field describes a signature-like field to add (a signature or a document
// time-stamp).
type field struct {
	name     string
	page     int
	rect     Rect
	image    *sealImage
	sigDict  string // entries of the /V dictionary, without /ByteRange and /Contents
	contents int    // placeholder size in bytes
}

// placeholder is the result of writing a field: the update and where the
// /Contents and /ByteRange are.
type placeholder struct {
	update         []byte
	contentsOffset int // offset in update of the first hex digit
	contentsSize   int
}

// maxFields bounds the number of form fields visited in one document.
const maxFields = 100000

// byteRangeWidth is the fixed width of the /ByteRange array text, so the
// numbers can be filled in after the file length is known.
const byteRangeWidth = 60

// writeField adds the field, its widget, appearance and value dictionary to
// the document read by r, with the AcroForm, page and catalog changes, and
// fills in the /ByteRange.
func writeField(r *reader, f *field) (*placeholder, error) {
	catRef, cat, err := r.catalog()
	if err != nil {
		return nil, err
	}
	pageRef, page, err := r.page(f.page)
	if err != nil {
		return nil, err
	}
	// The AcroForm (direct in the catalog or indirect) and its fields.
	var form types.Dict
	formRef, formIndirect := cat["AcroForm"].(types.IndirectRef)
	if formIndirect {
		if form, err = r.dict(formRef); err != nil {
			return nil, err
		}
		if form == nil {
			formIndirect = false
		}
	} else {
		form, _ = cat["AcroForm"].(types.Dict)
	}
	if form == nil {
		form = types.Dict{}
	}
	fieldsObj, err := r.resolve(form["Fields"])
	if err != nil {
		return nil, err
	}
	fields, _ := fieldsObj.(types.Array)
	names, err := fieldNames(r, fields)
	if err != nil {
		return nil, err
	}
	if f.name == "" {
		for i := 1; ; i++ {
			f.name = fmt.Sprintf("Signature%d", i)
			if !names[f.name] {
				break
			}
		}
	} else if names[f.name] {
		return nil, errs.Newf(errs.Invalid, "签名域名称“%s”已存在", f.name)
	}

	size := 2*f.contents + 2048
	if f.image != nil {
		size += len(f.image.rgb) + len(f.image.alpha)
	}
	u := newUpdate(r, size)

	// Appearance first, then the signature value and the widget.
	w, h := f.rect[2]-f.rect[0], f.rect[3]-f.rect[1]
	ap := 0
	if f.image != nil && w > 0 && h > 0 {
		ap = u.writeAppearance(f.image, w, h)
	}
	sigNum := u.alloc()
	u.begin(sigNum, 0)
	u.buf.WriteString("<<")
	u.buf.WriteString(f.sigDict)
	u.buf.WriteString("/ByteRange")
	brOffset := u.buf.Len()
	u.buf.Write(bytes.Repeat([]byte{' '}, byteRangeWidth))
	u.buf.WriteString("/Contents<")
	contentsOffset := u.buf.Len()
	u.buf.Write(bytes.Repeat([]byte{'0'}, 2*f.contents))
	u.buf.WriteString(">>>")
	u.end()

	widget := u.alloc()
	var wd bytes.Buffer
	fmt.Fprintf(&wd, "<</Type/Annot/Subtype/Widget/FT/Sig/T%s/V %d 0 R/P %s/F 132", pdfText(f.name), sigNum, pageRef.PDFString())
	if ap != 0 {
		fmt.Fprintf(&wd, "/Rect[%s %s %s %s]/AP<</N %d 0 R>>", num(f.rect[0]), num(f.rect[1]), num(f.rect[2]), num(f.rect[3]), ap)
	} else {
		wd.WriteString("/Rect[0 0 0 0]")
	}
	wd.WriteString(">>")
	u.writeObject(widget, 0, wd.String())
	wref := *types.NewIndirectRef(widget, 0)

	// The page's /Annots: extend an indirect array in place, else the page.
	switch a := page["Annots"].(type) {
	case types.IndirectRef:
		arrObj, err := r.resolve(a)
		if err != nil {
			return nil, err
		}
		arr, _ := arrObj.(types.Array)
		u.rewrite(a, append(append(types.Array{}, arr...), wref))
	case types.Array:
		page = cloneDict(page)
		page["Annots"] = append(append(types.Array{}, a...), wref)
		u.rewrite(pageRef, page)
	default:
		page = cloneDict(page)
		page["Annots"] = types.Array{wref}
		u.rewrite(pageRef, page)
	}

	// The AcroForm's /Fields and /SigFlags.
	form = cloneDict(form)
	form["SigFlags"] = types.Integer(3)
	if fr, ok := form["Fields"].(types.IndirectRef); ok && fieldsObj != nil {
		u.rewrite(fr, append(append(types.Array{}, fields...), wref))
	} else {
		form["Fields"] = append(append(types.Array{}, fields...), wref)
	}
	if formIndirect {
		u.rewrite(formRef, form)
	} else {
		cat = cloneDict(cat)
		cat["AcroForm"] = form
		u.rewrite(catRef, cat)
	}

	out := u.finish()
	total := u.base + int64(len(out))
	cStart := u.base + int64(contentsOffset) - 1
	cEnd := u.base + int64(contentsOffset+2*f.contents) + 1
	br := fmt.Sprintf("[0 %d %d %d]", cStart, cEnd, total-cEnd)
	if len(br) > byteRangeWidth {
		return nil, errors.New("pades: byte range does not fit")
	}
	copy(out[brOffset:], br)
	return &placeholder{update: out, contentsOffset: contentsOffset, contentsSize: f.contents}, nil
}

// fieldNames returns the fully qualified names of the fields in the tree.
func fieldNames(r *reader, fields types.Array) (map[string]bool, error) {
	names := map[string]bool{}
	visited := map[int]bool{}
	var walk func(a types.Array, prefix string, depth int) error
	walk = func(a types.Array, prefix string, depth int) error {
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
				names[name] = true
			}
			kidsObj, err := r.resolve(d["Kids"])
			if err != nil {
				return err
			}
			if kids, ok := kidsObj.(types.Array); ok {
				if err := walk(kids, name, depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return names, walk(fields, "", 0)
}

func cloneDict(d types.Dict) types.Dict {
	c := make(types.Dict, len(d)+1)
	for k, v := range d {
		c[k] = v
	}
	return c
}

// hashRanges hashes the document with the update, leaving out the
// placeholder (the /ByteRange bytes), without joining them.
func hashRanges(h hash.Hash, base []byte, ph *placeholder) {
	h.Write(base)
	h.Write(ph.update[:ph.contentsOffset-1])
	h.Write(ph.update[ph.contentsOffset+2*ph.contentsSize+1:])
}

// Prepare builds the incremental update for a signature described by req
// and returns it with the digest to sign. The caller signs Digest (SHA-256,
// the hash already applied) with the key of req.Chain[0] and passes the
// signature to Complete.
func (s *Signer) Prepare(pdf []byte, req Request) (_ *Prepared, err error) {
	defer recoverPDF(&err)
	if len(req.Chain) == 0 || req.Chain[0] == nil {
		return nil, errs.New(errs.Invalid, "缺少签名证书")
	}
	if req.Page < 1 {
		return nil, errs.New(errs.Invalid, "签名页码必须从 1 开始")
	}
	visible := req.Rect != Rect{}
	if visible && (req.Rect[2] <= req.Rect[0] || req.Rect[3] <= req.Rect[1]) {
		return nil, errs.New(errs.Invalid, "签名区域无效：右上角坐标必须大于左下角坐标")
	}
	var img *sealImage
	switch {
	case !visible:
	case len(req.EncodedAppearance) > 0:
		var err error
		if img, err = decodeAppearance(req.EncodedAppearance); err != nil {
			return nil, err
		}
	case len(req.Appearance) > 0:
		var err error
		if img, err = s.images.get(req.Appearance); err != nil {
			return nil, err
		}
	}
	r, err := newReader(pdf)
	if err != nil {
		return nil, err
	}
	sigSize, err := cms.MaxSignatureSize(req.Chain[0].PublicKey)
	if err != nil {
		return nil, errs.Wrap(err, errs.Invalid, "不支持该证书的密钥类型")
	}
	contents := 2048 + sigSize + s.reserve
	chain := make([][]byte, len(req.Chain))
	for i, c := range req.Chain {
		contents += len(c.Raw) + 16
		chain[i] = c.Raw
	}
	t := req.SigningTime
	if t.IsZero() {
		t = s.now()
	}
	var sd bytes.Buffer
	sd.WriteString("/Type/Sig/Filter/Adobe.PPKLite/SubFilter/ETSI.CAdES.detached/M")
	sd.WriteString(pdfDate(t))
	for _, kv := range [][2]string{{"Name", req.Name}, {"Reason", req.Reason}, {"Location", req.Location}, {"ContactInfo", req.ContactInfo}} {
		if kv[1] != "" {
			sd.WriteString("/" + kv[0] + pdfText(kv[1]))
		}
	}
	sd.WriteString("/Prop_Build<</App<</Name/Signet>>>>")
	ph, err := writeField(r, &field{name: req.FieldName, page: req.Page, rect: req.Rect, image: img, sigDict: sd.String(), contents: contents})
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	hashRanges(h, pdf, ph)
	attrs, err := cms.SignedAttributes(cms.OIDData, h.Sum(nil), req.Chain[0])
	if err != nil {
		return nil, fmt.Errorf("pades: prepare: %w", err)
	}
	digest := sha256.Sum256(attrs)
	return &Prepared{
		Base:           pdf,
		Update:         ph.update,
		ContentsOffset: ph.contentsOffset,
		ContentsSize:   ph.contentsSize,
		SignedAttrs:    attrs,
		Digest:         digest[:],
		Chain:          chain,
	}, nil
}

// Complete embeds signature (over p.Digest, by the key of the chain's first
// certificate; DER or raw r||s ECDSA, or RSA PKCS#1 v1.5) and, when ts is
// not nil, an RFC 3161 time-stamp of the signature value, and returns the
// signed document. A signature that does not verify is refused with
// errs.Invalid.
func (s *Signer) Complete(ctx context.Context, p *Prepared, signature []byte, ts tsa.Timestamper) ([]byte, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	chain := make([]*x509.Certificate, len(p.Chain))
	for i, der := range p.Chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, errs.Wrap(err, errs.Invalid, "待签名数据中的证书无效")
		}
		chain[i] = c
	}
	sig, err := cms.NormalizeSignature(chain[0].PublicKey, p.Digest, signature)
	if err != nil {
		return nil, errs.Wrap(err, errs.Invalid, "签名值无效：与签名证书的公钥不匹配")
	}
	params := cms.SignedDataParams{SignedAttrs: p.SignedAttrs, Signature: sig, Certificates: chain}
	if ts != nil {
		sh := sha256.Sum256(sig)
		token, err := ts.Timestamp(ctx, sh[:], crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("pades: signature time-stamp: %w", err)
		}
		params.UnsignedAttrs = []cms.Attribute{{Type: cms.OIDAttrTimeStampToken, Values: [][]byte{token}}}
	}
	der, err := cms.Build(params)
	if err != nil {
		return nil, fmt.Errorf("pades: complete: %w", err)
	}
	return embed(p.Base, &placeholder{update: p.Update, contentsOffset: p.ContentsOffset, contentsSize: p.ContentsSize}, der)
}

// embed returns base+update with der written into the placeholder.
func embed(base []byte, ph *placeholder, der []byte) ([]byte, error) {
	if len(der) > ph.contentsSize {
		return nil, fmt.Errorf("pades: signature of %d bytes does not fit the %d-byte placeholder", len(der), ph.contentsSize)
	}
	out := make([]byte, len(base)+len(ph.update))
	copy(out, base)
	copy(out[len(base):], ph.update)
	hex.Encode(out[len(base)+ph.contentsOffset:], der)
	return out, nil
}

// Sign prepares, signs with signer (called exactly once) and completes.
func (s *Signer) Sign(ctx context.Context, pdf []byte, req Request, signer crypto.Signer, ts tsa.Timestamper) ([]byte, error) {
	p, err := s.Prepare(pdf, req)
	if err != nil {
		return nil, err
	}
	sig, err := signer.Sign(rand.Reader, p.Digest, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("pades: sign: %w", err)
	}
	return s.Complete(ctx, p, sig, ts)
}
