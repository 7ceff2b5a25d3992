package pki

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/url"
	"strings"

	"signet/errs"
	"signet/signingcore/keystore"
)

// RootCertificate returns the root CA certificate.
func (ca *CA) RootCertificate() (*x509.Certificate, error) {
	h, err := ca.loaded()
	if err != nil {
		return nil, err
	}
	return h.root, nil
}

// IssuingCertificate returns the issuing CA certificate.
func (ca *CA) IssuingCertificate() (*x509.Certificate, error) {
	h, err := ca.loaded()
	if err != nil {
		return nil, err
	}
	return h.issuing, nil
}

// Chain returns the issuing CA and the root certificates, the chain of
// every end-entity certificate.
func (ca *CA) Chain() ([]*x509.Certificate, error) {
	h, err := ca.loaded()
	if err != nil {
		return nil, err
	}
	return []*x509.Certificate{h.issuing, h.root}, nil
}

// TSA returns the time-stamping key and its chain (TSA certificate, issuing
// CA, root) for the RFC 3161 service.
func (ca *CA) TSA() (keystore.Key, []*x509.Certificate, error) {
	h, err := ca.loaded()
	if err != nil {
		return nil, nil, err
	}
	return h.tsaKey, []*x509.Certificate{h.tsa, h.issuing, h.root}, nil
}

// Published returns what the server serves at a GET of path (one of the
// Path constants except PathOCSP): the body and its content type. An unknown
// path returns an errs.NotFound error. CRLs are built or taken from the cache
// as by CRL and RootCRL.
func (ca *CA) Published(ctx context.Context, path string) (body []byte, contentType string, err error) {
	h, err := ca.loaded()
	if err != nil {
		return nil, "", err
	}
	switch path {
	case PathRootCert:
		return h.root.Raw, ContentTypeCert, nil
	case PathIssuingCert:
		return h.issuing.Raw, ContentTypeCert, nil
	case PathRootPEM:
		return PEM(h.root.Raw), ContentTypePEM, nil
	case PathIssuingPEM:
		return PEM(h.issuing.Raw), ContentTypePEM, nil
	case PathChainPEM:
		return PEM(h.issuing.Raw, h.root.Raw), ContentTypePEM, nil
	case PathCRL:
		der, err := ca.CRL(ctx)
		return der, ContentTypeCRL, err
	case PathRootCRL:
		der, err := ca.RootCRL(ctx)
		return der, ContentTypeCRL, err
	}
	return nil, "", errs.New(errs.NotFound, "请求的证书或吊销列表不存在")
}

// PEM encodes DER certificates as concatenated PEM "CERTIFICATE" blocks.
func PEM(ders ...[]byte) []byte {
	var b []byte
	for _, der := range ders {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	return b
}

// DecodeOCSPGet decodes the request of an OCSP GET (RFC 6960 appendix A.1):
// the path segment after PathOCSP+"/", which is the base64 DER request,
// URL-encoded. It returns an errs.Invalid error for anything else.
func DecodeOCSPGet(segment string) ([]byte, error) {
	s, err := url.PathUnescape(segment)
	if err != nil {
		return nil, fmt.Errorf("decode ocsp get: %w", errs.Wrap(err, errs.Invalid, "OCSP 请求格式不正确"))
	}
	// Some clients send URL-safe base64 or leave '+' decoded to ' '.
	s = strings.NewReplacer(" ", "+", "-", "+", "_", "/").Replace(s)
	der, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		der, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	}
	if err != nil {
		return nil, fmt.Errorf("decode ocsp get: %w", errs.Wrap(err, errs.Invalid, "OCSP 请求格式不正确"))
	}
	return der, nil
}
