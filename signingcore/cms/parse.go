package cms

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
)

// SignedData is a parsed CMS SignedData.
type SignedData struct {
	// ContentType is the encapsulated content type (id-data for PAdES).
	ContentType asn1.ObjectIdentifier
	// Content is the encapsulated content, nil for a detached signature.
	Content []byte
	// Certificates are the certificates carried in the SignedData.
	Certificates []*x509.Certificate
	// Signers are the SignerInfos.
	Signers []SignerInfo
}

// SignerInfo is a parsed CMS SignerInfo.
type SignerInfo struct {
	// IssuerRaw and Serial identify the signer certificate (issuerAndSerialNumber);
	// SubjectKeyID is set instead when the signer is identified by key id.
	IssuerRaw    []byte
	Serial       *big.Int
	SubjectKeyID []byte
	// DigestAlgorithm is the hash of the content and of the signed attributes.
	DigestAlgorithm crypto.Hash
	// SignedAttrsDER is the signed attributes re-tagged as a SET (0x31): the
	// bytes the signature covers. Nil when there are no signed attributes.
	SignedAttrsDER []byte
	// SignedAttrs and UnsignedAttrs are the decoded attributes.
	SignedAttrs   []Attribute
	UnsignedAttrs []Attribute
	// SignatureAlgorithm is the OID of the signature algorithm.
	SignatureAlgorithm asn1.ObjectIdentifier
	// Signature is the signature value.
	Signature []byte
}

// Parse decodes a ContentInfo holding a SignedData. Zero padding after the
// DER object (as in a PDF /Contents placeholder) is ignored.
func Parse(der []byte) (*SignedData, error) {
	_, ci, rest, err := readTLV(der)
	if err != nil {
		return nil, fmt.Errorf("cms: parse: %w", err)
	}
	if len(bytes.Trim(rest, "\x00")) != 0 {
		return nil, errors.New("cms: parse: trailing data")
	}
	var ct asn1.ObjectIdentifier
	body, err := asn1.Unmarshal(ci, &ct)
	if err != nil {
		return nil, fmt.Errorf("cms: parse content type: %w", err)
	}
	if !ct.Equal(OIDSignedData) {
		return nil, fmt.Errorf("cms: parse: content type %v is not signedData", ct)
	}
	tag, explicit, _, err := readTLV(body)
	if err != nil || tag != 0xa0 {
		return nil, errors.New("cms: parse: missing [0] content")
	}
	tag, sd, _, err := readTLV(explicit)
	if err != nil || tag != 0x30 {
		return nil, errors.New("cms: parse: signedData is not a SEQUENCE")
	}
	var version int
	sd, err = asn1.Unmarshal(sd, &version)
	if err != nil {
		return nil, fmt.Errorf("cms: parse version: %w", err)
	}
	// digestAlgorithms SET: skipped, the SignerInfo names its own.
	if _, _, sd, err = readTLV(sd); err != nil {
		return nil, fmt.Errorf("cms: parse digestAlgorithms: %w", err)
	}
	var eci []byte
	if tag, eci, sd, err = readTLV(sd); err != nil || tag != 0x30 {
		return nil, errors.New("cms: parse: bad encapContentInfo")
	}
	out := &SignedData{}
	eci, err = asn1.Unmarshal(eci, &out.ContentType)
	if err != nil {
		return nil, fmt.Errorf("cms: parse eContentType: %w", err)
	}
	if len(eci) > 0 {
		tag, inner, _, err := readTLV(eci)
		if err != nil || tag != 0xa0 {
			return nil, errors.New("cms: parse: bad eContent")
		}
		// The content is an OCTET STRING (possibly constructed in BER; DER only here).
		var octets []byte
		if _, err := asn1.Unmarshal(inner, &octets); err != nil {
			return nil, fmt.Errorf("cms: parse eContent: %w", err)
		}
		out.Content = octets
	}
	for len(sd) > 0 {
		var content []byte
		tag, content, sd, err = readTLV(sd)
		if err != nil {
			return nil, fmt.Errorf("cms: parse: %w", err)
		}
		switch tag {
		case 0xa0: // certificates
			for len(content) > 0 {
				start := content
				_, _, content, err = readTLV(content)
				if err != nil {
					return nil, fmt.Errorf("cms: parse certificates: %w", err)
				}
				c, err := x509.ParseCertificate(start[:len(start)-len(content)])
				if err != nil {
					return nil, fmt.Errorf("cms: parse certificate: %w", err)
				}
				out.Certificates = append(out.Certificates, c)
			}
		case 0xa1: // crls: not needed
		case 0x31: // signerInfos
			for len(content) > 0 {
				var si []byte
				_, si, content, err = readTLV(content)
				if err != nil {
					return nil, fmt.Errorf("cms: parse signerInfo: %w", err)
				}
				s, err := parseSignerInfo(si)
				if err != nil {
					return nil, err
				}
				out.Signers = append(out.Signers, *s)
			}
		default:
			return nil, fmt.Errorf("cms: parse: unexpected tag %#x", tag)
		}
	}
	if len(out.Signers) == 0 {
		return nil, errors.New("cms: parse: no signerInfo")
	}
	return out, nil
}

func parseSignerInfo(b []byte) (*SignerInfo, error) {
	var version int
	b, err := asn1.Unmarshal(b, &version)
	if err != nil {
		return nil, fmt.Errorf("cms: parse signerInfo version: %w", err)
	}
	s := &SignerInfo{}
	tag, sid, b, err := readTLV(b)
	if err != nil {
		return nil, fmt.Errorf("cms: parse sid: %w", err)
	}
	switch tag {
	case 0x30:
		_, _, rest, err := readTLV(sid)
		if err != nil {
			return nil, fmt.Errorf("cms: parse sid issuer: %w", err)
		}
		s.IssuerRaw = sid[:len(sid)-len(rest)]
		s.Serial = new(big.Int)
		if _, err := asn1.Unmarshal(rest, &s.Serial); err != nil {
			return nil, fmt.Errorf("cms: parse sid serial: %w", err)
		}
	case 0x80:
		s.SubjectKeyID = sid
	default:
		return nil, fmt.Errorf("cms: parse: unexpected sid tag %#x", tag)
	}
	var digestAlg pkix.AlgorithmIdentifier
	if b, err = asn1.Unmarshal(b, &digestAlg); err != nil {
		return nil, fmt.Errorf("cms: parse digestAlgorithm: %w", err)
	}
	s.DigestAlgorithm = hashForOID(digestAlg.Algorithm)
	if s.DigestAlgorithm == 0 {
		return nil, fmt.Errorf("cms: unsupported digest algorithm %v", digestAlg.Algorithm)
	}
	if len(b) > 0 && b[0] == 0xa0 {
		start := b
		if _, _, b, err = readTLV(b); err != nil {
			return nil, fmt.Errorf("cms: parse signedAttrs: %w", err)
		}
		raw := append([]byte{0x31}, start[1:len(start)-len(b)]...)
		s.SignedAttrsDER = raw
		if s.SignedAttrs, err = ParseAttributes(raw); err != nil {
			return nil, err
		}
	}
	var sigAlg pkix.AlgorithmIdentifier
	if b, err = asn1.Unmarshal(b, &sigAlg); err != nil {
		return nil, fmt.Errorf("cms: parse signatureAlgorithm: %w", err)
	}
	s.SignatureAlgorithm = sigAlg.Algorithm
	if b, err = asn1.Unmarshal(b, &s.Signature); err != nil {
		return nil, fmt.Errorf("cms: parse signature: %w", err)
	}
	if len(b) > 0 && b[0] == 0xa1 {
		if s.UnsignedAttrs, err = ParseAttributes(b); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func hashForOID(oid asn1.ObjectIdentifier) crypto.Hash {
	switch {
	case oid.Equal(oidSHA256):
		return crypto.SHA256
	case oid.Equal(oidSHA384):
		return crypto.SHA384
	case oid.Equal(oidSHA512):
		return crypto.SHA512
	}
	return 0
}

// HashForOID returns the hash named by a digest algorithm OID, or 0.
func HashForOID(oid asn1.ObjectIdentifier) crypto.Hash { return hashForOID(oid) }

// OIDForHash returns the digest algorithm OID of h (SHA-256/384/512).
func OIDForHash(h crypto.Hash) (asn1.ObjectIdentifier, bool) {
	switch h {
	case crypto.SHA256:
		return oidSHA256, true
	case crypto.SHA384:
		return oidSHA384, true
	case crypto.SHA512:
		return oidSHA512, true
	}
	return nil, false
}

// SignerCertificate returns the certificate of si among sd's certificates.
func (sd *SignedData) SignerCertificate(si *SignerInfo) (*x509.Certificate, error) {
	for _, c := range sd.Certificates {
		if si.Serial != nil && c.SerialNumber.Cmp(si.Serial) == 0 && bytes.Equal(c.RawIssuer, si.IssuerRaw) {
			return c, nil
		}
		if si.SubjectKeyID != nil && bytes.Equal(c.SubjectKeyId, si.SubjectKeyID) {
			return c, nil
		}
	}
	return nil, errors.New("cms: signer certificate not found")
}

// Verify checks the first signer: that the message-digest attribute matches
// the content (detached content when given, else the encapsulated one) and
// that the signature over the signed attributes verifies with the signer
// certificate's key. It does not check the certificate chain. It returns the
// signer certificate.
func (sd *SignedData) Verify(detached []byte) (*x509.Certificate, error) {
	si := &sd.Signers[0]
	cert, err := sd.SignerCertificate(si)
	if err != nil {
		return nil, err
	}
	content := detached
	if content == nil {
		content = sd.Content
	}
	if si.SignedAttrsDER == nil {
		return nil, errors.New("cms: verify: no signed attributes")
	}
	mdDER, ok := FindAttribute(si.SignedAttrs, OIDAttrMessageDigest)
	if !ok {
		return nil, errors.New("cms: verify: no message-digest attribute")
	}
	var md []byte
	if _, err := asn1.Unmarshal(mdDER, &md); err != nil {
		return nil, fmt.Errorf("cms: verify: message-digest: %w", err)
	}
	h := si.DigestAlgorithm.New()
	h.Write(content)
	if !bytes.Equal(h.Sum(nil), md) {
		return nil, errors.New("cms: verify: message digest mismatch")
	}
	h.Reset()
	h.Write(si.SignedAttrsDER)
	digest := h.Sum(nil)
	switch k := cert.PublicKey.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest, si.Signature) {
			return nil, errors.New("cms: verify: ecdsa signature invalid")
		}
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(k, si.DigestAlgorithm, digest, si.Signature); err != nil {
			return nil, fmt.Errorf("cms: verify: %w", err)
		}
	default:
		return nil, fmt.Errorf("cms: verify: unsupported key %T", cert.PublicKey)
	}
	return cert, nil
}
