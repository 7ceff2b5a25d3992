// Package cms builds and parses CMS SignedData (RFC 5652) in the shape PAdES
// and RFC 3161 need: one signer, SHA-256 digests, signed attributes that
// include an ESS signing-certificate-v2 (RFC 5035), detached or encapsulated
// content, and unsigned attributes such as a signature time-stamp token.
//
// The package writes DER itself with encoding/asn1 so that callers keep full
// control of the signed attributes: a two-phase signer computes the digest of
// the attributes in one request and embeds a signature made elsewhere (an HSM,
// a UKey) in another.
package cms

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"sort"
)

// Object identifiers used by CMS, ESS and RFC 3161. They are never modified.
var (
	// OIDData is id-data, the content type of a PAdES detached signature.
	OIDData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 1}
	// OIDSignedData is id-signedData.
	OIDSignedData = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	// OIDTSTInfo is id-ct-TSTInfo, the content type of an RFC 3161 token.
	OIDTSTInfo = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}
	// OIDAttrContentType is the content-type signed attribute.
	OIDAttrContentType = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	// OIDAttrMessageDigest is the message-digest signed attribute.
	OIDAttrMessageDigest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	// OIDAttrSigningTime is the signing-time attribute (not used by PAdES baseline).
	OIDAttrSigningTime = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}
	// OIDAttrSigningCertificateV2 is id-aa-signingCertificateV2 (RFC 5035).
	OIDAttrSigningCertificateV2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
	// OIDAttrTimeStampToken is id-aa-signatureTimeStampToken (RFC 3161 appendix A).
	OIDAttrTimeStampToken = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 14}

	oidSHA256          = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384          = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512          = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
	oidRSAEncryption   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidSHA256WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSHA384WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidSHA512WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	oidECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSAWithSHA384 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSAWithSHA512 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
	oidEd25519         = asn1.ObjectIdentifier{1, 3, 101, 112}
)

// Attribute is a CMS attribute: a type and its DER-encoded values.
type Attribute struct {
	Type   asn1.ObjectIdentifier
	Values [][]byte // each value's full DER encoding
}

// NewAttribute returns an attribute with one value, DER-encoding v with
// encoding/asn1 unless it already is a []byte of DER (pass asn1.RawValue
// with FullBytes for that).
func NewAttribute(typ asn1.ObjectIdentifier, v any) (Attribute, error) {
	der, err := asn1.Marshal(v)
	if err != nil {
		return Attribute{}, fmt.Errorf("cms: marshal attribute %v: %w", typ, err)
	}
	return Attribute{Type: typ, Values: [][]byte{der}}, nil
}

// marshal encodes one Attribute as SEQUENCE { type, SET OF values }.
func (a Attribute) marshal() ([]byte, error) {
	vals := make([][]byte, len(a.Values))
	copy(vals, a.Values)
	set := derSetOf(vals)
	oid, err := asn1.Marshal(a.Type)
	if err != nil {
		return nil, fmt.Errorf("cms: marshal attribute type: %w", err)
	}
	return derTLV(0x30, oid, set), nil
}

// MarshalAttributes DER-encodes attrs as a SET OF Attribute (tag 0x31),
// sorted as DER requires. The result is what a signer signs: for PAdES the
// signature value is computed over SHA-256 of these bytes.
func MarshalAttributes(attrs []Attribute) ([]byte, error) {
	encs := make([][]byte, 0, len(attrs))
	for _, a := range attrs {
		e, err := a.marshal()
		if err != nil {
			return nil, err
		}
		encs = append(encs, e)
	}
	return derSetOf(encs), nil
}

// ParseAttributes decodes a SET OF Attribute (the tag of the outer element is
// not checked, so both the 0x31 form and the [0]/[1] implicit forms work).
func ParseAttributes(der []byte) ([]Attribute, error) {
	_, content, rest, err := readTLV(der)
	if err != nil {
		return nil, fmt.Errorf("cms: attributes: %w", err)
	}
	if len(rest) != 0 {
		return nil, errors.New("cms: attributes: trailing data")
	}
	var out []Attribute
	for len(content) > 0 {
		var seq []byte
		_, seq, content, err = readTLV(content)
		if err != nil {
			return nil, fmt.Errorf("cms: attribute: %w", err)
		}
		var oid asn1.ObjectIdentifier
		setDER, err := asn1.Unmarshal(seq, &oid)
		if err != nil {
			return nil, fmt.Errorf("cms: attribute type: %w", err)
		}
		_, vals, _, err := readTLV(setDER)
		if err != nil {
			return nil, fmt.Errorf("cms: attribute values: %w", err)
		}
		a := Attribute{Type: oid}
		for len(vals) > 0 {
			start := vals
			_, _, vals, err = readTLV(vals)
			if err != nil {
				return nil, fmt.Errorf("cms: attribute value: %w", err)
			}
			a.Values = append(a.Values, start[:len(start)-len(vals)])
		}
		out = append(out, a)
	}
	return out, nil
}

// FindAttribute returns the first value of the attribute typ in attrs.
func FindAttribute(attrs []Attribute, typ asn1.ObjectIdentifier) ([]byte, bool) {
	for _, a := range attrs {
		if a.Type.Equal(typ) && len(a.Values) > 0 {
			return a.Values[0], true
		}
	}
	return nil, false
}

type issuerAndSerial struct {
	Issuer asn1.RawValue
	Serial *big.Int
}

type essCertIDv2 struct {
	// hashAlgorithm is omitted: its DEFAULT is SHA-256, which is what is used.
	CertHash     []byte
	IssuerSerial issuerSerial
}

type issuerSerial struct {
	Issuer asn1.RawValue // GeneralNames
	Serial *big.Int
}

type signingCertificateV2 struct {
	Certs []essCertIDv2
}

// SigningCertificateV2 returns the ESS signing-certificate-v2 attribute
// (RFC 5035) naming cert by its SHA-256 hash and issuer/serial.
func SigningCertificateV2(cert *x509.Certificate) (Attribute, error) {
	h := sha256.Sum256(cert.Raw)
	// GeneralNames ::= SEQUENCE OF GeneralName; directoryName is [4] EXPLICIT Name.
	dirName := derTLV(0xa4, cert.RawIssuer)
	names := derTLV(0x30, dirName)
	v := signingCertificateV2{Certs: []essCertIDv2{{
		CertHash:     h[:],
		IssuerSerial: issuerSerial{Issuer: asn1.RawValue{FullBytes: names}, Serial: cert.SerialNumber},
	}}}
	return NewAttribute(OIDAttrSigningCertificateV2, v)
}

// SignedAttributes returns the DER SET OF the signed attributes a PAdES or
// RFC 3161 signer uses: content-type, message-digest (SHA-256 of the signed
// content, given as contentDigest) and signing-certificate-v2 for signer,
// followed by extra attributes.
func SignedAttributes(contentType asn1.ObjectIdentifier, contentDigest []byte, signer *x509.Certificate, extra ...Attribute) ([]byte, error) {
	ct, err := NewAttribute(OIDAttrContentType, contentType)
	if err != nil {
		return nil, err
	}
	md, err := NewAttribute(OIDAttrMessageDigest, contentDigest)
	if err != nil {
		return nil, err
	}
	sc, err := SigningCertificateV2(signer)
	if err != nil {
		return nil, err
	}
	attrs := append([]Attribute{ct, md, sc}, extra...)
	return MarshalAttributes(attrs)
}

// SignedDataParams describes a SignedData with one signer.
type SignedDataParams struct {
	// SignedAttrs is the DER SET OF signed attributes (from SignedAttributes),
	// exactly the bytes whose digest was signed.
	SignedAttrs []byte
	// Signature is the signature value: DER ECDSA or RSA PKCS#1 v1.5.
	Signature []byte
	// Certificates holds the signer's certificate first, then its chain.
	Certificates []*x509.Certificate
	// UnsignedAttrs are added after signing (e.g. a time-stamp token).
	UnsignedAttrs []Attribute
	// ContentType is the encapsulated content type; OIDData when nil.
	ContentType asn1.ObjectIdentifier
	// Content is the encapsulated content; nil makes a detached signature.
	Content []byte
	// OmitCertificates leaves the certificates out (Certificates[0] still
	// names the signer), as an RFC 3161 token made without certReq must.
	OmitCertificates bool
}

// Build encodes a ContentInfo holding the SignedData described by p. The
// digest algorithm is SHA-256; the signature algorithm follows the signer
// certificate's key type.
func Build(p SignedDataParams) ([]byte, error) {
	if len(p.Certificates) == 0 {
		return nil, errors.New("cms: build: no signer certificate")
	}
	signer := p.Certificates[0]
	sigAlg, err := signatureAlgorithm(signer.PublicKey)
	if err != nil {
		return nil, err
	}
	digestAlg, err := asn1.Marshal(pkix.AlgorithmIdentifier{Algorithm: oidSHA256})
	if err != nil {
		return nil, fmt.Errorf("cms: build: %w", err)
	}
	sidDER, err := asn1.Marshal(issuerAndSerial{Issuer: asn1.RawValue{FullBytes: signer.RawIssuer}, Serial: signer.SerialNumber})
	if err != nil {
		return nil, fmt.Errorf("cms: build: sid: %w", err)
	}
	sigAlgDER, err := asn1.Marshal(sigAlg)
	if err != nil {
		return nil, fmt.Errorf("cms: build: %w", err)
	}
	if len(p.SignedAttrs) < 2 || p.SignedAttrs[0] != 0x31 {
		return nil, errors.New("cms: build: signed attributes must be a DER SET")
	}
	signedAttrs := append([]byte{0xa0}, p.SignedAttrs[1:]...)

	var si bytes.Buffer
	si.Write(derInt(1))
	si.Write(sidDER)
	si.Write(digestAlg)
	si.Write(signedAttrs)
	si.Write(sigAlgDER)
	si.Write(derTLV(0x04, p.Signature))
	if len(p.UnsignedAttrs) > 0 {
		ua, err := MarshalAttributes(p.UnsignedAttrs)
		if err != nil {
			return nil, err
		}
		ua[0] = 0xa1
		si.Write(ua)
	}
	signerInfo := derTLV(0x30, si.Bytes())

	ct := p.ContentType
	if ct == nil {
		ct = OIDData
	}
	ctDER, err := asn1.Marshal(ct)
	if err != nil {
		return nil, fmt.Errorf("cms: build: %w", err)
	}
	var eci []byte
	if p.Content != nil {
		eci = derTLV(0x30, ctDER, derTLV(0xa0, derTLV(0x04, p.Content)))
	} else {
		eci = derTLV(0x30, ctDER)
	}
	var certs []byte
	for _, c := range p.Certificates {
		certs = append(certs, c.Raw...)
	}
	version := 1
	if !ct.Equal(OIDData) {
		version = 3
	}
	parts := [][]byte{derInt(version), derTLV(0x31, digestAlg), eci}
	if !p.OmitCertificates {
		parts = append(parts, derTLV(0xa0, certs))
	}
	parts = append(parts, derTLV(0x31, signerInfo))
	sd := derTLV(0x30, parts...)
	sdOID, _ := asn1.Marshal(OIDSignedData)
	return derTLV(0x30, sdOID, derTLV(0xa0, sd)), nil
}

// signatureAlgorithm returns the SignerInfo signature algorithm for a key.
func signatureAlgorithm(pub crypto.PublicKey) (pkix.AlgorithmIdentifier, error) {
	switch pub.(type) {
	case *ecdsa.PublicKey:
		return pkix.AlgorithmIdentifier{Algorithm: oidECDSAWithSHA256}, nil
	case *rsa.PublicKey:
		return pkix.AlgorithmIdentifier{Algorithm: oidRSAEncryption, Parameters: asn1.NullRawValue}, nil
	default:
		return pkix.AlgorithmIdentifier{}, fmt.Errorf("cms: unsupported public key type %T", pub)
	}
}

// NormalizeSignature checks that sig is a valid signature by pub over the
// SHA-256 digest and returns it in the form CMS needs: DER for ECDSA (a raw
// r||s signature, as UKeys and PKCS#11 tokens return, is converted), PKCS#1
// v1.5 for RSA. It returns an error when the signature does not verify.
func NormalizeSignature(pub crypto.PublicKey, digest, sig []byte) ([]byte, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if ecdsa.VerifyASN1(k, digest, sig) {
			return sig, nil
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		if len(sig) == 2*size {
			r := new(big.Int).SetBytes(sig[:size])
			s := new(big.Int).SetBytes(sig[size:])
			if ecdsa.Verify(k, digest, r, s) {
				der, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
				if err != nil {
					return nil, fmt.Errorf("cms: encode ecdsa signature: %w", err)
				}
				return der, nil
			}
		}
		return nil, errors.New("cms: ecdsa signature does not verify")
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(k, crypto.SHA256, digest, sig); err != nil {
			return nil, fmt.Errorf("cms: rsa signature does not verify: %w", err)
		}
		return sig, nil
	default:
		return nil, fmt.Errorf("cms: unsupported public key type %T", pub)
	}
}

// MaxSignatureSize returns an upper bound for the DER size of a signature
// made with the key pub.
func MaxSignatureSize(pub crypto.PublicKey) (int, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		size := (k.Curve.Params().BitSize + 7) / 8
		return 2*(size+3) + 4, nil
	case *rsa.PublicKey:
		return k.Size(), nil
	case ed25519.PublicKey:
		return ed25519.SignatureSize, nil
	default:
		return 0, fmt.Errorf("cms: unsupported public key type %T", pub)
	}
}

// derSetOf sorts DER elements and wraps them in a SET (tag 0x31).
func derSetOf(elems [][]byte) []byte {
	sort.Slice(elems, func(i, j int) bool { return bytes.Compare(elems[i], elems[j]) < 0 })
	return derTLV(0x31, elems...)
}

// derTLV encodes a tag, a definite length and the concatenated contents.
func derTLV(tag byte, contents ...[]byte) []byte {
	n := 0
	for _, c := range contents {
		n += len(c)
	}
	out := make([]byte, 0, n+6)
	out = append(out, tag)
	out = appendLength(out, n)
	for _, c := range contents {
		out = append(out, c...)
	}
	return out
}

func appendLength(b []byte, n int) []byte {
	switch {
	case n < 0x80:
		return append(b, byte(n))
	case n < 0x100:
		return append(b, 0x81, byte(n))
	case n < 0x10000:
		return append(b, 0x82, byte(n>>8), byte(n))
	case n < 0x1000000:
		return append(b, 0x83, byte(n>>16), byte(n>>8), byte(n))
	default:
		return append(b, 0x84, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
}

func derInt(v int) []byte {
	b, _ := asn1.Marshal(v)
	return b
}

// readTLV reads one DER element (single-byte tags only, definite lengths)
// and returns its tag, contents and the bytes after it.
func readTLV(b []byte) (tag byte, content, rest []byte, err error) {
	if len(b) < 2 {
		return 0, nil, nil, errors.New("truncated element")
	}
	tag = b[0]
	if tag&0x1f == 0x1f {
		return 0, nil, nil, errors.New("multi-byte tags are not supported")
	}
	l := int(b[1])
	off := 2
	if l&0x80 != 0 {
		nb := l & 0x7f
		if nb == 0 || nb > 4 || len(b) < 2+nb {
			return 0, nil, nil, errors.New("bad length")
		}
		l = 0
		for i := 0; i < nb; i++ {
			l = l<<8 | int(b[2+i])
		}
		off += nb
		if l < 0 {
			return 0, nil, nil, errors.New("bad length")
		}
	}
	if len(b)-off < l {
		return 0, nil, nil, errors.New("truncated element")
	}
	return tag, b[off : off+l], b[off+l:], nil
}

// ElementLength returns the length of the first DER element in b (header
// plus contents). PDF signature placeholders are zero-padded; this finds the
// real end of the CMS object.
func ElementLength(b []byte) (int, error) {
	_, _, rest, err := readTLV(b)
	if err != nil {
		return 0, fmt.Errorf("cms: %w", err)
	}
	return len(b) - len(rest), nil
}
