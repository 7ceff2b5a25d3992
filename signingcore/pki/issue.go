package pki

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"time"

	"signet/errs"
)

// SubjectKey names the public key a certificate is issued for. Exactly one
// field is set.
type SubjectKey struct {
	// KeyURI is a hosted key in Config.SubscriberKeys.
	KeyURI string
	// CSR is a PKCS#10 request, DER or PEM, e.g. made by a UKey. Its
	// signature proves possession of the key; its subject is ignored, the
	// subject comes from the verified request fields.
	CSR []byte
	// PublicKey is a bare public key (*ecdsa.PublicKey or *rsa.PublicKey)
	// whose possession the caller has verified some other way.
	PublicKey crypto.PublicKey
}

func (k SubjectKey) isZero() bool { return k.KeyURI == "" && len(k.CSR) == 0 && k.PublicKey == nil }

// PersonRequest asks for a person's signing certificate.
type PersonRequest struct {
	// Name is the verified real name (CN).
	Name string
	// SubjectID is a pseudonymous identifier (serialNumber): the platform
	// user ID or PseudonymousID of the ID number. A resident ID number is
	// refused.
	SubjectID string
	Key       SubjectKey
	// Validity overrides Config.LeafValidity when positive.
	Validity time.Duration
}

// EnterpriseRequest asks for an enterprise's signing certificate.
type EnterpriseRequest struct {
	// Name is the registered enterprise name (CN and O).
	Name string
	// CreditCode is the unified social credit code (organizationIdentifier
	// "NTRCN-<code>").
	CreditCode string
	Key        SubjectKey
	// Validity overrides Config.LeafValidity when positive.
	Validity time.Duration
}

// RenewRequest asks for a new certificate for the subject of an existing one.
type RenewRequest struct {
	// Serial is the certificate to renew (SerialHex).
	Serial string
	// Key is the new key; zero keeps the old key (and its KeyURI).
	Key SubjectKey
	// Validity overrides Config.LeafValidity when positive.
	Validity time.Duration
}

// Issued is a newly issued certificate with its chain.
type Issued struct {
	// Serial is SerialHex of the certificate's serial number.
	Serial      string
	Certificate *x509.Certificate
	// Chain is the issuing CA and the root, in that order.
	Chain []*x509.Certificate
	// KeyURI is the hosted key's URI, empty for UKey certificates.
	KeyURI string
}

// DER returns the certificate in DER form.
func (i *Issued) DER() []byte { return i.Certificate.Raw }

// Object identifiers used in end-entity certificates.
var (
	// oidOrganizationIdentifier is X.520 organizationIdentifier (2.5.4.97).
	oidOrganizationIdentifier = asn1.ObjectIdentifier{2, 5, 4, 97}
	// oidAdobeDocumentSigning is Adobe's "Authentic Documents Trust"
	// document signing EKU, honoured by Acrobat.
	oidAdobeDocumentSigning = asn1.ObjectIdentifier{1, 2, 840, 113583, 1, 1, 5}
	// oidDocumentSigning is id-kp-documentSigning (RFC 9336).
	oidDocumentSigning = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 36}
)

// IssuePerson issues a person's certificate. It returns errs.Invalid for bad
// names, an identifier that is (or contains) an ID number, a bad CSR or an
// unsupported key, and errs.NotFound for an unknown KeyURI.
func (ca *CA) IssuePerson(ctx context.Context, req PersonRequest) (*Issued, error) {
	name, err := checkName("name", req.Name)
	if err != nil {
		return nil, fmt.Errorf("issue person certificate: %w", err)
	}
	id, err := checkSubjectID(req.SubjectID)
	if err != nil {
		return nil, fmt.Errorf("issue person certificate: %w", err)
	}
	if containsResidentID(name) {
		return nil, fmt.Errorf("issue person certificate: %w", errIDNumber("name"))
	}
	if containsResidentID(id) {
		return nil, fmt.Errorf("issue person certificate: %w", errIDNumber("subjectID"))
	}
	subject := pkix.Name{Country: []string{"CN"}, CommonName: name, SerialNumber: id}
	rawSubject, err := asn1.Marshal(subject.ToRDNSequence())
	if err != nil {
		return nil, fmt.Errorf("issue person certificate: %w", err)
	}
	iss, err := ca.issue(ctx, leafOrder{kind: KindPerson, subjectID: id, rawSubject: rawSubject, key: req.Key, validity: req.Validity})
	if err != nil {
		return nil, fmt.Errorf("issue person certificate: %w", err)
	}
	return iss, nil
}

// IssueEnterprise issues an enterprise's certificate. It returns errs.Invalid
// for a bad name or credit code, a bad CSR or an unsupported key, and
// errs.NotFound for an unknown KeyURI.
func (ca *CA) IssueEnterprise(ctx context.Context, req EnterpriseRequest) (*Issued, error) {
	name, err := checkName("name", req.Name)
	if err != nil {
		return nil, fmt.Errorf("issue enterprise certificate: %w", err)
	}
	code, err := CheckCreditCode(req.CreditCode)
	if err != nil {
		return nil, fmt.Errorf("issue enterprise certificate: %w", err)
	}
	subject := pkix.Name{
		Country:      []string{"CN"},
		Organization: []string{name},
		CommonName:   name,
		ExtraNames:   []pkix.AttributeTypeAndValue{{Type: oidOrganizationIdentifier, Value: "NTRCN-" + code}},
	}
	rawSubject, err := asn1.Marshal(subject.ToRDNSequence())
	if err != nil {
		return nil, fmt.Errorf("issue enterprise certificate: %w", err)
	}
	iss, err := ca.issue(ctx, leafOrder{kind: KindEnterprise, subjectID: code, rawSubject: rawSubject, key: req.Key, validity: req.Validity})
	if err != nil {
		return nil, fmt.Errorf("issue enterprise certificate: %w", err)
	}
	return iss, nil
}

// Renew issues a new certificate with the subject of an existing one, on the
// same key or a new one, and then revokes the old certificate with reason
// Superseded. Signatures made before the renewal stay valid: validators
// compare the revocation time with the (time-stamped) signing time. It returns
// errs.NotFound for an unknown serial and errs.Conflict for a revoked one.
func (ca *CA) Renew(ctx context.Context, req RenewRequest) (*Issued, error) {
	old, err := ca.cfg.Repo.Issued(ctx, req.Serial)
	if err != nil {
		return nil, fmt.Errorf("renew certificate: %w", err)
	}
	if old.Kind != KindPerson && old.Kind != KindEnterprise {
		return nil, fmt.Errorf("renew certificate: %w", errs.New(errs.Invalid, "只能续期个人或企业证书"))
	}
	if old.Revocation != nil {
		return nil, fmt.Errorf("renew certificate: %w", errs.New(errs.Conflict, "证书已吊销，不能续期"))
	}
	oldCert, err := x509.ParseCertificate(old.DER)
	if err != nil {
		return nil, fmt.Errorf("renew certificate: %w", err)
	}
	o := leafOrder{kind: old.Kind, subjectID: old.SubjectID, rawSubject: oldCert.RawSubject,
		key: req.Key, validity: req.Validity, supersedes: old.Serial}
	if req.Key.isZero() {
		o.key = SubjectKey{PublicKey: oldCert.PublicKey}
		o.keyURI = old.KeyURI
	}
	iss, err := ca.issue(ctx, o)
	if err != nil {
		return nil, fmt.Errorf("renew certificate: %w", err)
	}
	if err := ca.Revoke(ctx, old.Serial, ReasonSuperseded); err != nil && !errs.Is(err, errs.Conflict) {
		return nil, fmt.Errorf("renew certificate: revoke superseded %s: %w", old.Serial, err)
	}
	return iss, nil
}

// leafOrder is everything issue needs for an end-entity certificate.
type leafOrder struct {
	kind       Kind
	subjectID  string
	rawSubject []byte
	key        SubjectKey
	keyURI     string // carried over by Renew
	validity   time.Duration
	supersedes string
}

// issue signs, records and returns an end-entity certificate.
func (ca *CA) issue(ctx context.Context, o leafOrder) (*Issued, error) {
	h, err := ca.loaded()
	if err != nil {
		return nil, err
	}
	pub, keyURI, err := ca.resolveKey(ctx, o.key)
	if err != nil {
		return nil, err
	}
	if keyURI == "" {
		keyURI = o.keyURI
	}
	ski, err := subjectKeyID(pub)
	if err != nil {
		return nil, err
	}
	validity := ca.cfg.LeafValidity
	if o.validity > 0 {
		validity = o.validity
	}
	now := ca.cfg.Now()
	tmpl := &x509.Certificate{
		RawSubject:            o.rawSubject,
		NotBefore:             notBefore(now),
		NotAfter:              clampAfter(now.Add(validity), h.issuing),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageContentCommitment,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection},
		UnknownExtKeyUsage:    []asn1.ObjectIdentifier{oidDocumentSigning, oidAdobeDocumentSigning},
		BasicConstraintsValid: true,
		SubjectKeyId:          ski,
		CRLDistributionPoints: []string{ca.cfg.BaseURL + PathCRL},
		OCSPServer:            []string{ca.cfg.BaseURL + PathOCSP},
		IssuingCertificateURL: []string{ca.cfg.BaseURL + PathIssuingCert},
	}
	// A serial collision among 2^126 values is practically impossible, but
	// the repository is the judge: try again with a fresh serial.
	for attempt := 0; ; attempt++ {
		der, err := ca.sign(tmpl, h.issuing, pub, h.issKey)
		if err != nil {
			return nil, err
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("parse issued certificate: %w", err)
		}
		rec := IssuedCert{
			Serial: SerialHex(cert.SerialNumber), Kind: o.kind, SubjectID: o.subjectID, KeyURI: keyURI,
			NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, Supersedes: o.supersedes, DER: der,
		}
		err = ca.cfg.Repo.RecordIssued(ctx, rec)
		if errs.Is(err, errs.Conflict) && attempt < 3 {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("record issued certificate: %w", err)
		}
		return &Issued{Serial: rec.Serial, Certificate: cert, Chain: []*x509.Certificate{h.issuing, h.root}, KeyURI: keyURI}, nil
	}
}

// resolveKey returns the public key a SubjectKey names, and the key URI for
// hosted keys.
func (ca *CA) resolveKey(ctx context.Context, k SubjectKey) (crypto.PublicKey, string, error) {
	n := 0
	if k.KeyURI != "" {
		n++
	}
	if len(k.CSR) > 0 {
		n++
	}
	if k.PublicKey != nil {
		n++
	}
	if n != 1 {
		return nil, "", errs.InvalidField("key", "请提供且只提供一种密钥：托管密钥、证书请求或公钥")
	}
	var pub crypto.PublicKey
	switch {
	case k.KeyURI != "":
		key, err := ca.cfg.SubscriberKeys.Find(ctx, k.KeyURI)
		if err != nil {
			return nil, "", fmt.Errorf("find subject key: %w", err)
		}
		pub = key.Public()
	case len(k.CSR) > 0:
		csr, err := parseCSR(k.CSR)
		if err != nil {
			return nil, "", err
		}
		pub = csr.PublicKey
	default:
		pub = k.PublicKey
	}
	if err := checkPublicKey(pub); err != nil {
		return nil, "", err
	}
	return pub, k.KeyURI, nil
}

// parseCSR parses a DER or PEM PKCS#10 request and checks its signature.
func parseCSR(data []byte) (*x509.CertificateRequest, error) {
	if b, _ := pem.Decode(data); b != nil {
		if b.Type != "CERTIFICATE REQUEST" && b.Type != "NEW CERTIFICATE REQUEST" {
			return nil, errs.InvalidField("csr", "证书请求格式不正确")
		}
		data = b.Bytes
	}
	csr, err := x509.ParseCertificateRequest(data)
	if err != nil {
		return nil, errs.Wrap(err, errs.Invalid, "证书请求格式不正确")
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, errs.Wrap(err, errs.Invalid, "证书请求的签名无效")
	}
	return csr, nil
}

// checkPublicKey accepts what PDF validators accept: ECDSA on NIST curves
// and RSA of at least 2048 bits.
func checkPublicKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return nil
		}
	case *rsa.PublicKey:
		if k.N.BitLen() >= 2048 {
			return nil
		}
		return errs.InvalidField("key", "RSA 密钥长度至少为 2048 位")
	}
	return errs.InvalidField("key", "不支持的密钥类型，请使用 ECDSA P-256/P-384 或 RSA 2048 位以上密钥")
}

// keyAlgorithm names a public key for Status.
func keyAlgorithm(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d", k.N.BitLen())
	}
	return fmt.Sprintf("%T", pub)
}
