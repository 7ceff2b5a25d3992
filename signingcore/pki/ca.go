package pki

import (
	"context"
	"crypto"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"strings"
	"sync"
	"time"

	"signet/errs"
	"signet/signingcore/keystore"
)

// CA is the platform certificate authority. Create it with New, then call
// Init (create or open the hierarchy) or Load (open an existing one) before
// anything else. A CA is safe for concurrent use.
type CA struct {
	cfg Config

	mu sync.RWMutex
	h  *hierarchy // nil until Init or Load

	issuingCRL crlCache
	rootCRL    crlCache
}

// hierarchy is the loaded, immutable state of the three CA certificates.
type hierarchy struct {
	st                      State
	root, issuing, tsa      *x509.Certificate
	rootKey, issKey, tsaKey keystore.Key
}

// New returns a CA for cfg. It does no I/O; call Init or Load next.
func New(cfg Config) (*CA, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &CA{cfg: cfg}, nil
}

// errNotReady is returned by methods called before Init or Load.
func errNotReady() error {
	return errs.New(errs.Internal, "平台证书体系尚未初始化")
}

func (ca *CA) loaded() (*hierarchy, error) {
	ca.mu.RLock()
	defer ca.mu.RUnlock()
	if ca.h == nil {
		return nil, errNotReady()
	}
	return ca.h, nil
}

// Load opens the hierarchy saved in the repository: it parses the
// certificates and finds their keys in the key store. It returns an
// errs.NotFound error when Init has never completed.
func (ca *CA) Load(ctx context.Context) error {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	st, err := ca.cfg.Repo.LoadState(ctx)
	if err != nil {
		return fmt.Errorf("load ca: %w", err)
	}
	if len(st.RootDER) == 0 || len(st.IssuingDER) == 0 || len(st.TSADER) == 0 {
		return fmt.Errorf("load ca: %w", errs.New(errs.NotFound, "平台证书体系尚未初始化完成"))
	}
	h, err := ca.open(ctx, st)
	if err != nil {
		return fmt.Errorf("load ca: %w", err)
	}
	ca.h = h
	return nil
}

// Init creates the hierarchy if it does not exist yet and opens it. It is
// idempotent: an existing hierarchy is loaded unchanged, and an Init that was
// interrupted resumes where it stopped (a key generated before the crash is
// found again by its label and reused). Run it from one process at a time.
func (ca *CA) Init(ctx context.Context) (Status, error) {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	st, err := ca.cfg.Repo.LoadState(ctx)
	if err != nil && !errs.Is(err, errs.NotFound) {
		return Status{}, fmt.Errorf("init ca: %w", err)
	}
	if err := ca.create(ctx, &st); err != nil {
		return Status{}, fmt.Errorf("init ca: %w", err)
	}
	// Open what the repository holds rather than what this call made. Two
	// processes racing through a first Init are not supported (SaveState has
	// no compare-and-swap): run "signet ca init" once before starting
	// several nodes, which then only Load.
	if st, err = ca.cfg.Repo.LoadState(ctx); err != nil {
		return Status{}, fmt.Errorf("init ca: %w", err)
	}
	h, err := ca.open(ctx, st)
	if err != nil {
		return Status{}, fmt.Errorf("init ca: %w", err)
	}
	ca.h = h
	return h.status(), nil
}

// create makes whatever part of the hierarchy st lacks, saving after each
// step.
func (ca *CA) create(ctx context.Context, st *State) error {
	now := ca.cfg.Now()
	org := ca.cfg.Organization
	if len(st.RootDER) == 0 {
		key, err := ca.ensureKey(ctx, ca.cfg.KeyLabelPrefix+"-root-ca")
		if err != nil {
			return err
		}
		tmpl := &x509.Certificate{
			Subject:               caName(org, org+" Root CA"),
			NotBefore:             notBefore(now),
			NotAfter:              now.Add(ca.cfg.RootValidity),
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
			BasicConstraintsValid: true,
			IsCA:                  true,
			MaxPathLen:            1,
		}
		der, err := ca.sign(tmpl, nil, key.Public(), key)
		if err != nil {
			return fmt.Errorf("root certificate: %w", err)
		}
		st.RootDER, st.RootKeyURI = der, key.Info().URI
		if err := ca.cfg.Repo.SaveState(ctx, *st); err != nil {
			return err
		}
	}
	root, err := x509.ParseCertificate(st.RootDER)
	if err != nil {
		return fmt.Errorf("parse root certificate: %w", err)
	}
	if len(st.IssuingDER) == 0 {
		rootKey, err := ca.findKey(ctx, st.RootKeyURI, root)
		if err != nil {
			return err
		}
		key, err := ca.ensureKey(ctx, ca.cfg.KeyLabelPrefix+"-issuing-ca")
		if err != nil {
			return err
		}
		tmpl := &x509.Certificate{
			Subject:   caName(org, org+" Issuing CA"),
			NotBefore: notBefore(now),
			NotAfter:  clampAfter(now.Add(ca.cfg.IssuingValidity), root),
			// digitalSignature: the issuing CA signs OCSP responses itself.
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
			BasicConstraintsValid: true,
			IsCA:                  true,
			MaxPathLen:            0,
			MaxPathLenZero:        true,
			CRLDistributionPoints: []string{ca.cfg.BaseURL + PathRootCRL},
			IssuingCertificateURL: []string{ca.cfg.BaseURL + PathRootCert},
		}
		der, err := ca.sign(tmpl, root, key.Public(), rootKey)
		if err != nil {
			return fmt.Errorf("issuing certificate: %w", err)
		}
		st.IssuingDER, st.IssuingKeyURI = der, key.Info().URI
		if err := ca.cfg.Repo.SaveState(ctx, *st); err != nil {
			return err
		}
	}
	issuing, err := x509.ParseCertificate(st.IssuingDER)
	if err != nil {
		return fmt.Errorf("parse issuing certificate: %w", err)
	}
	if len(st.TSADER) == 0 {
		issKey, err := ca.findKey(ctx, st.IssuingKeyURI, issuing)
		if err != nil {
			return err
		}
		key, err := ca.ensureKey(ctx, ca.cfg.KeyLabelPrefix+"-tsa")
		if err != nil {
			return err
		}
		ekuDER, err := asn1.Marshal([]asn1.ObjectIdentifier{oidTimeStamping})
		if err != nil {
			return fmt.Errorf("tsa certificate: %w", err)
		}
		ski, err := subjectKeyID(key.Public())
		if err != nil {
			return fmt.Errorf("tsa certificate: %w", err)
		}
		tmpl := &x509.Certificate{
			Subject:               caName(org, org+" TSA"),
			NotBefore:             notBefore(now),
			NotAfter:              clampAfter(now.Add(ca.cfg.TSAValidity), issuing),
			KeyUsage:              x509.KeyUsageDigitalSignature,
			BasicConstraintsValid: true,
			SubjectKeyId:          ski,
			// RFC 3161 section 2.3: the TSA certificate carries exactly one
			// EKU, id-kp-timeStamping, and it must be critical. crypto/x509
			// writes EKU non-critical, so the extension is built here.
			ExtraExtensions:       []pkix.Extension{{Id: oidExtKeyUsage, Critical: true, Value: ekuDER}},
			CRLDistributionPoints: []string{ca.cfg.BaseURL + PathCRL},
			OCSPServer:            []string{ca.cfg.BaseURL + PathOCSP},
			IssuingCertificateURL: []string{ca.cfg.BaseURL + PathIssuingCert},
		}
		der, err := ca.sign(tmpl, issuing, key.Public(), issKey)
		if err != nil {
			return fmt.Errorf("tsa certificate: %w", err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return fmt.Errorf("tsa certificate: %w", err)
		}
		rec := IssuedCert{
			Serial: SerialHex(cert.SerialNumber), Kind: KindTSA, SubjectID: cert.Subject.CommonName,
			KeyURI: key.Info().URI, NotBefore: cert.NotBefore, NotAfter: cert.NotAfter, DER: der,
		}
		if err := ca.cfg.Repo.RecordIssued(ctx, rec); err != nil {
			return fmt.Errorf("tsa certificate: %w", err)
		}
		st.TSADER, st.TSAKeyURI = der, key.Info().URI
		st.CreatedAt = now.UTC()
		if err := ca.cfg.Repo.SaveState(ctx, *st); err != nil {
			return err
		}
	}
	return nil
}

// ensureKey generates a CA key with the label, or finds the key an
// interrupted Init generated under that label.
func (ca *CA) ensureKey(ctx context.Context, label string) (keystore.Key, error) {
	key, err := ca.cfg.Keys.Generate(ctx, label, ca.cfg.Algorithm)
	if err == nil {
		return key, nil
	}
	if !errs.Is(err, errs.Conflict) {
		return nil, fmt.Errorf("generate key %s: %w", label, err)
	}
	infos, lerr := ca.cfg.Keys.List(ctx)
	if lerr != nil {
		return nil, fmt.Errorf("generate key %s: %w", label, lerr)
	}
	for _, info := range infos {
		if info.Label == label {
			return ca.cfg.Keys.Find(ctx, info.URI)
		}
	}
	return nil, fmt.Errorf("generate key %s: %w", label, err)
}

// findKey finds the key at uri and checks it belongs to cert.
func (ca *CA) findKey(ctx context.Context, uri string, cert *x509.Certificate) (keystore.Key, error) {
	key, err := ca.cfg.Keys.Find(ctx, uri)
	if err != nil {
		return nil, fmt.Errorf("find key of %s: %w", cert.Subject.CommonName, err)
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("key %s does not match the certificate of %s", uri, cert.Subject.CommonName)
	}
	return key, nil
}

// open parses a complete state and finds its keys.
func (ca *CA) open(ctx context.Context, st State) (*hierarchy, error) {
	h := &hierarchy{st: st}
	var err error
	for _, p := range []struct {
		der  []byte
		uri  string
		cert **x509.Certificate
		key  *keystore.Key
	}{
		{st.RootDER, st.RootKeyURI, &h.root, &h.rootKey},
		{st.IssuingDER, st.IssuingKeyURI, &h.issuing, &h.issKey},
		{st.TSADER, st.TSAKeyURI, &h.tsa, &h.tsaKey},
	} {
		if *p.cert, err = x509.ParseCertificate(p.der); err != nil {
			return nil, fmt.Errorf("parse ca certificate: %w", err)
		}
		if *p.key, err = ca.findKey(ctx, p.uri, *p.cert); err != nil {
			return nil, err
		}
	}
	if err := h.issuing.CheckSignatureFrom(h.root); err != nil {
		return nil, fmt.Errorf("issuing certificate not signed by root: %w", err)
	}
	if err := h.tsa.CheckSignatureFrom(h.issuing); err != nil {
		return nil, fmt.Errorf("tsa certificate not signed by issuing ca: %w", err)
	}
	return h, nil
}

// sign creates a certificate from tmpl with a fresh serial; parent nil means
// self-signed.
func (ca *CA) sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) ([]byte, error) {
	serial, err := newSerial(ca.cfg.Rand)
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(ca.cfg.Rand, tmpl, parent, pub, signer)
	if err != nil {
		return nil, fmt.Errorf("create certificate: %w", err)
	}
	return der, nil
}

// Status describes the loaded hierarchy.
type Status struct {
	// CreatedAt is when Init completed.
	CreatedAt          time.Time
	Root, Issuing, TSA CertInfo
}

// CertInfo describes one CA certificate.
type CertInfo struct {
	Subject   string
	Issuer    string
	Serial    string
	NotBefore time.Time
	NotAfter  time.Time
	// SHA256 is the certificate fingerprint, upper-case hex pairs joined by ':'.
	SHA256 string
	// KeyURI locates the private key in the key store.
	KeyURI string
	// KeyAlgorithm is "ECDSA P-256", "RSA 2048" and so on.
	KeyAlgorithm string
}

// Status reports the hierarchy, or an error before Init or Load.
func (ca *CA) Status() (Status, error) {
	h, err := ca.loaded()
	if err != nil {
		return Status{}, err
	}
	return h.status(), nil
}

// String renders the status for operators (the CLI's "ca status").
func (s Status) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "created %s\n", s.CreatedAt.Format(time.RFC3339))
	for _, c := range []struct {
		role string
		info CertInfo
	}{{"root CA", s.Root}, {"issuing CA", s.Issuing}, {"TSA", s.TSA}} {
		fmt.Fprintf(&b, "%s\n  subject   %s\n  issuer    %s\n  serial    %s\n  valid     %s .. %s\n  sha256    %s\n  key       %s (%s)\n",
			c.role, c.info.Subject, c.info.Issuer, c.info.Serial,
			c.info.NotBefore.UTC().Format(time.RFC3339), c.info.NotAfter.UTC().Format(time.RFC3339),
			c.info.SHA256, c.info.KeyURI, c.info.KeyAlgorithm)
	}
	return b.String()
}

func (h *hierarchy) status() Status {
	return Status{
		CreatedAt: h.st.CreatedAt,
		Root:      certInfo(h.root, h.st.RootKeyURI),
		Issuing:   certInfo(h.issuing, h.st.IssuingKeyURI),
		TSA:       certInfo(h.tsa, h.st.TSAKeyURI),
	}
}

func certInfo(c *x509.Certificate, uri string) CertInfo {
	return CertInfo{
		Subject:      c.Subject.String(),
		Issuer:       c.Issuer.String(),
		Serial:       SerialHex(c.SerialNumber),
		NotBefore:    c.NotBefore,
		NotAfter:     c.NotAfter,
		SHA256:       Fingerprint(c.Raw),
		KeyURI:       uri,
		KeyAlgorithm: keyAlgorithm(c.PublicKey),
	}
}

// Fingerprint returns the SHA-256 fingerprint of a DER certificate as
// upper-case hex pairs joined by ':' (the form openssl prints).
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// SerialHex is the canonical text form of a serial number used as the key
// of IssuedCert and Revocation records: lower-case hex without leading zeros.
func SerialHex(n *big.Int) string { return n.Text(16) }

// ParseSerialHex parses SerialHex output; it returns an errs.Invalid error
// for anything else.
func ParseSerialHex(s string) (*big.Int, error) {
	n, ok := new(big.Int).SetString(s, 16)
	if !ok || n.Sign() <= 0 || !validSerialHex(s) || SerialHex(n) != s {
		return nil, errs.InvalidField("serial", "证书序列号格式不正确")
	}
	return n, nil
}

// newSerial returns a positive 16-octet serial with 126 random bits
// (RFC 5280 allows up to 20 octets; the CA/Browser Forum asks for 64 bits).
func newSerial(r io.Reader) (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("serial number: %w", err)
	}
	// Clear the sign bit and set the next one so every serial is positive
	// and exactly 16 octets long.
	b[0] = b[0]&0x3f | 0x40
	return new(big.Int).SetBytes(b), nil
}

// subjectKeyID is RFC 5280 section 4.2.1.2 method 1: SHA-1 of the
// subjectPublicKey bit string.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("subject key id: %w", err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, fmt.Errorf("subject key id: %w", err)
	}
	sum := sha1.Sum(spki.PublicKey.Bytes)
	return sum[:], nil
}

func caName(org, cn string) pkix.Name {
	return pkix.Name{Country: []string{"CN"}, Organization: []string{org}, CommonName: cn}
}

// notBefore backdates a new certificate by a minute so relying parties whose
// clocks lag slightly do not see it as not yet valid.
func notBefore(now time.Time) time.Time { return now.Add(-time.Minute).Truncate(time.Second) }

// clampAfter keeps a certificate from outliving its issuer.
func clampAfter(t time.Time, issuer *x509.Certificate) time.Time {
	if t.After(issuer.NotAfter) {
		return issuer.NotAfter
	}
	return t
}

var (
	oidExtKeyUsage  = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidTimeStamping = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
)
