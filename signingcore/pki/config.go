package pki

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"signet/signingcore/keystore"
)

// Paths under the server's base URL where the CA publishes itself. They are
// written into every certificate, so they must never change once certificates
// exist.
const (
	// PathRootCert serves the root CA certificate (DER).
	PathRootCert = "/pki/root-ca.crt"
	// PathIssuingCert serves the issuing CA certificate (DER); it is the
	// caIssuers URL of every end-entity certificate.
	PathIssuingCert = "/pki/issuing-ca.crt"
	// PathCRL serves the issuing CA's CRL (DER).
	PathCRL = "/pki/crl"
	// PathRootCRL serves the root CA's CRL (DER), which covers the issuing CA.
	PathRootCRL = "/pki/root-crl"
	// PathRootPEM, PathIssuingPEM and PathChainPEM serve the same
	// certificates as PEM for people (the chain is issuing CA, then root).
	PathRootPEM    = "/pki/root-ca.pem"
	PathIssuingPEM = "/pki/issuing-ca.pem"
	PathChainPEM   = "/pki/chain.pem"
	// PathOCSP is the OCSP responder (POST body, or GET with the base64
	// request appended as a path segment, RFC 6960 appendix A).
	PathOCSP = "/pki/ocsp"
)

// Content types for the published objects (RFC 2585, RFC 6960).
const (
	ContentTypeCert         = "application/pkix-cert"
	ContentTypeCRL          = "application/pkix-crl"
	ContentTypeOCSPRequest  = "application/ocsp-request"
	ContentTypeOCSPResponse = "application/ocsp-response"
	ContentTypePEM          = "application/x-pem-file"
)

// Default lifetimes.
const (
	DefaultRootValidity    = 20 * 365 * 24 * time.Hour
	DefaultIssuingValidity = 10 * 365 * 24 * time.Hour
	DefaultTSAValidity     = 5 * 365 * 24 * time.Hour
	DefaultLeafValidity    = 365 * 24 * time.Hour
	DefaultCRLValidity     = 24 * time.Hour
	DefaultRootCRLValidity = 30 * 24 * time.Hour
	DefaultOCSPValidity    = time.Hour
)

// Config configures a CA. Keys, Repo and BaseURL are required; every other
// field has a default.
type Config struct {
	// Keys holds the CA keys (root, issuing, TSA).
	Keys keystore.Store
	// SubscriberKeys is where SubjectKey.KeyURI (a hosted key of a person or
	// enterprise) is looked up; nil means Keys.
	SubscriberKeys keystore.Store
	// Repo persists the hierarchy, issued certificates and revocations.
	Repo Repository
	// BaseURL is the public URL of the server, e.g. "https://sign.example.cn";
	// the CRL, OCSP and caIssuers URLs in certificates are built from it.
	BaseURL string
	// Algorithm is the key type of the CA keys made by Init (default EC-P256).
	Algorithm keystore.Algorithm
	// Organization names the platform in CA subjects (default "Signet"):
	// "<Organization> Root CA", "<Organization> Issuing CA", "<Organization> TSA".
	Organization string
	// KeyLabelPrefix prefixes the key store labels of the CA keys
	// (default "signet"): "<prefix>-root-ca", "<prefix>-issuing-ca", "<prefix>-tsa".
	KeyLabelPrefix string

	// RootValidity, IssuingValidity, TSAValidity and LeafValidity are the
	// certificate lifetimes. A certificate never outlives its issuer: a
	// longer request is cut at the issuer's NotAfter.
	RootValidity, IssuingValidity, TSAValidity, LeafValidity time.Duration
	// CRLValidity is the distance between thisUpdate and nextUpdate of the
	// issuing CA's CRL; RootCRLValidity the same for the root's CRL.
	CRLValidity, RootCRLValidity time.Duration
	// OCSPValidity is the distance between thisUpdate and nextUpdate of an
	// OCSP response.
	OCSPValidity time.Duration

	// Now is the clock (default time.Now).
	Now func() time.Time
	// Rand is the randomness for serial numbers and signatures (default
	// crypto/rand).
	Rand io.Reader
}

// withDefaults checks cfg and fills in defaults.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Keys == nil {
		return cfg, errors.New("pki config: Keys is required")
	}
	if cfg.Repo == nil {
		return cfg, errors.New("pki config: Repo is required")
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return cfg, fmt.Errorf("pki config: BaseURL %q is not an absolute http(s) URL", cfg.BaseURL)
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.SubscriberKeys == nil {
		cfg.SubscriberKeys = cfg.Keys
	}
	if cfg.Algorithm == "" {
		cfg.Algorithm = keystore.ECP256
	}
	switch cfg.Algorithm {
	case keystore.ECP256, keystore.RSA2048, keystore.RSA3072:
	default:
		return cfg, fmt.Errorf("pki config: unsupported algorithm %q", cfg.Algorithm)
	}
	if cfg.Organization == "" {
		cfg.Organization = "Signet"
	}
	if cfg.KeyLabelPrefix == "" {
		cfg.KeyLabelPrefix = "signet"
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.RootValidity, DefaultRootValidity)
	def(&cfg.IssuingValidity, DefaultIssuingValidity)
	def(&cfg.TSAValidity, DefaultTSAValidity)
	def(&cfg.LeafValidity, DefaultLeafValidity)
	def(&cfg.CRLValidity, DefaultCRLValidity)
	def(&cfg.RootCRLValidity, DefaultRootCRLValidity)
	def(&cfg.OCSPValidity, DefaultOCSPValidity)
	for _, d := range []time.Duration{cfg.RootValidity, cfg.IssuingValidity, cfg.TSAValidity,
		cfg.LeafValidity, cfg.CRLValidity, cfg.RootCRLValidity, cfg.OCSPValidity} {
		if d < 0 {
			return cfg, errors.New("pki config: negative validity")
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	return cfg, nil
}
