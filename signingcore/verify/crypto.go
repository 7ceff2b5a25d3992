package verify

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"signet/signingcore/cms"
)

var (
	oidRSASSAPSS                = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidAttrSigningCertificateV1 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 12}
	oidSubjectSerialNumber      = asn1.ObjectIdentifier{2, 5, 4, 5}
	oidOrganizationIdentifier   = asn1.ObjectIdentifier{2, 5, 4, 97}
)

// signerCheck is the outcome of checking one CMS SignerInfo.
type signerCheck struct {
	cert        *x509.Certificate
	digestOK    bool
	signatureOK bool
	certAttrOK  bool // signing-certificate(-v2) names cert
	certAttr    bool // such an attribute is present
	digestAlg   string
	sigAlg      string
	problem     string // the first failure, in Chinese
}

// checkSigner verifies sd's first signer over the content whose digest
// digestOf computes: the message digest (or, without signed attributes, the
// signature over the content's digest) and the signature with the signer
// certificate's key.
func checkSigner(sd *cms.SignedData, digestOf func(crypto.Hash) []byte) signerCheck {
	var c signerCheck
	if len(sd.Signers) != 1 {
		c.problem = fmt.Sprintf("签名数据应有且只有一个签名者，实际为 %d 个", len(sd.Signers))
		if len(sd.Signers) == 0 {
			return c
		}
	}
	si := &sd.Signers[0]
	c.digestAlg = hashName(si.DigestAlgorithm)
	cert, err := sd.SignerCertificate(si)
	if err != nil {
		c.problem = firstOf(c.problem, "签名数据中缺少签名者证书")
		return c
	}
	c.cert = cert
	c.sigAlg = keyAlgName(cert.PublicKey, si.SignatureAlgorithm)
	contentDigest := digestOf(si.DigestAlgorithm)
	var signed []byte // the digest the signature value is over
	if si.SignedAttrsDER != nil {
		mdDER, ok := cms.FindAttribute(si.SignedAttrs, cms.OIDAttrMessageDigest)
		var md []byte
		if ok {
			if rest, err := asn1.Unmarshal(mdDER, &md); err != nil || len(rest) > 0 {
				ok = false
			}
		}
		c.digestOK = ok && bytes.Equal(md, contentDigest)
		if !c.digestOK {
			c.problem = firstOf(c.problem, "摘要不匹配：签名后文件内容被篡改")
		}
		h := si.DigestAlgorithm.New()
		h.Write(si.SignedAttrsDER)
		signed = h.Sum(nil)
		c.certAttr, c.certAttrOK = checkSigningCertificate(si.SignedAttrs, cert)
	} else {
		// adbe.pkcs7.detached without attributes: the signature is over the
		// content's digest itself, so a wrong digest shows as a bad signature.
		signed = contentDigest
	}
	if err := verifyDigestSignature(cert.PublicKey, si.DigestAlgorithm, si.SignatureAlgorithm, signed, si.Signature); err != nil {
		c.problem = firstOf(c.problem, "签名值验证失败：签名数据或文件被篡改")
	} else {
		c.signatureOK = true
		if si.SignedAttrsDER == nil {
			c.digestOK = true
		}
	}
	if si.SignedAttrsDER == nil && !c.signatureOK {
		c.problem = "摘要不匹配：签名后文件内容被篡改"
	}
	return c
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// verifyDigestSignature checks sig over digest (made with h) with pub.
func verifyDigestSignature(pub crypto.PublicKey, h crypto.Hash, sigAlg asn1.ObjectIdentifier, digest, sig []byte) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest, sig) {
			return errors.New("verify: ecdsa signature invalid")
		}
		return nil
	case *rsa.PublicKey:
		if sigAlg.Equal(oidRSASSAPSS) {
			return rsa.VerifyPSS(k, h, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto, Hash: h})
		}
		return rsa.VerifyPKCS1v15(k, h, digest, sig)
	case ed25519.PublicKey:
		return errors.New("verify: ed25519 signatures over digests are not supported")
	}
	return fmt.Errorf("verify: unsupported public key %T", pub)
}

// checkSigningCertificate looks for an ESS signing-certificate-v2 (or v1)
// attribute and reports whether it is present and names cert.
func checkSigningCertificate(attrs []cms.Attribute, cert *x509.Certificate) (present, ok bool) {
	if v, found := cms.FindAttribute(attrs, cms.OIDAttrSigningCertificateV2); found {
		return true, essMatches(v, cert, true)
	}
	if v, found := cms.FindAttribute(attrs, oidAttrSigningCertificateV1); found {
		return true, essMatches(v, cert, false)
	}
	return false, false
}

// essMatches checks the first ESSCertID(v2) of a SigningCertificate(V2)
// value against cert: the hash of the certificate and, when present, the
// serial number.
func essMatches(der []byte, cert *x509.Certificate, v2 bool) bool {
	var outer asn1.RawValue // SigningCertificate(V2) ::= SEQUENCE { certs SEQUENCE OF ..., policies OPTIONAL }
	if _, err := asn1.Unmarshal(der, &outer); err != nil || outer.Tag != asn1.TagSequence {
		return false
	}
	var certs asn1.RawValue
	if _, err := asn1.Unmarshal(outer.Bytes, &certs); err != nil || certs.Tag != asn1.TagSequence {
		return false
	}
	var id asn1.RawValue // the first ESSCertID(v2)
	if _, err := asn1.Unmarshal(certs.Bytes, &id); err != nil || id.Tag != asn1.TagSequence {
		return false
	}
	rest := id.Bytes
	h := crypto.SHA1
	if v2 {
		h = crypto.SHA256 // the DEFAULT hashAlgorithm
		var first asn1.RawValue
		r2, err := asn1.Unmarshal(rest, &first)
		if err != nil {
			return false
		}
		if first.Tag == asn1.TagSequence && first.Class == asn1.ClassUniversal {
			var alg struct {
				Algorithm  asn1.ObjectIdentifier
				Parameters asn1.RawValue `asn1:"optional"`
			}
			if _, err := asn1.Unmarshal(first.FullBytes, &alg); err != nil {
				return false
			}
			if h = cms.HashForOID(alg.Algorithm); h == 0 {
				return false
			}
			rest = r2
		}
	}
	var certHash []byte
	rest, err := asn1.Unmarshal(rest, &certHash)
	if err != nil {
		return false
	}
	var sum []byte
	if h == crypto.SHA1 {
		s := sha1.Sum(cert.Raw)
		sum = s[:]
	} else {
		hh := h.New()
		hh.Write(cert.Raw)
		sum = hh.Sum(nil)
	}
	if !bytes.Equal(sum, certHash) {
		return false
	}
	if len(rest) > 0 { // IssuerSerial ::= SEQUENCE { issuer GeneralNames, serialNumber INTEGER }
		var is struct {
			Issuer asn1.RawValue
			Serial *big.Int
		}
		if _, err := asn1.Unmarshal(rest, &is); err != nil || is.Serial == nil || is.Serial.Cmp(cert.SerialNumber) != 0 {
			return false
		}
	}
	return true
}

func hashName(h crypto.Hash) string {
	if h == 0 {
		return ""
	}
	return h.String()
}

func keyAlgName(pub crypto.PublicKey, sigAlg asn1.ObjectIdentifier) string {
	switch pub.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA"
	case *rsa.PublicKey:
		if sigAlg.Equal(oidRSASSAPSS) {
			return "RSA-PSS"
		}
		return "RSA"
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return sigAlg.String()
}

// describeCert extracts the report's view of a certificate.
func describeCert(c *x509.Certificate) *Certificate {
	if c == nil {
		return nil
	}
	out := &Certificate{
		Subject:    c.Subject.String(),
		CommonName: c.Subject.CommonName,
		Serial:     c.SerialNumber.Text(16),
		Issuer:     c.Issuer.String(),
		NotBefore:  c.NotBefore,
		NotAfter:   c.NotAfter,
		SHA256:     fingerprint(c.Raw),
	}
	if len(c.Subject.Organization) > 0 {
		out.Organization = c.Subject.Organization[0]
	}
	out.SubjectSerialNumber = c.Subject.SerialNumber
	for _, n := range c.Subject.Names {
		if n.Type.Equal(oidOrganizationIdentifier) {
			if s, ok := n.Value.(string); ok {
				out.OrganizationIdentifier = s
			}
		}
		if n.Type.Equal(oidSubjectSerialNumber) && out.SubjectSerialNumber == "" {
			if s, ok := n.Value.(string); ok {
				out.SubjectSerialNumber = s
			}
		}
	}
	switch k := c.PublicKey.(type) {
	case *ecdsa.PublicKey:
		out.KeyAlgorithm = "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		out.KeyAlgorithm = fmt.Sprintf("RSA %d", k.N.BitLen())
	case ed25519.PublicKey:
		out.KeyAlgorithm = "Ed25519"
	default:
		out.KeyAlgorithm = c.PublicKeyAlgorithm.String()
	}
	return out
}

// fingerprint is the SHA-256 of der as upper-case hex pairs joined by ':'.
func fingerprint(der []byte) string {
	s := sha256.Sum256(der)
	h := strings.ToUpper(hex.EncodeToString(s[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}
