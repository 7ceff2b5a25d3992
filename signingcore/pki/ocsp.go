package pki

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"math/big"
	"time"

	"golang.org/x/crypto/ocsp"

	"signet/errs"
)

// The OCSP responder is the issuing CA itself (RFC 6960 section 2.6, first
// option) rather than a delegated responder certificate: there is no extra
// certificate whose own status would need id-pkix-ocsp-nocheck, and an ECDSA
// signature costs tens of microseconds even in an HSM. Responses carry no
// nonce (golang.org/x/crypto/ocsp writes none; the RFC 5019 lightweight
// profile that public CAs use) and are signed fresh for every request.
//
// Responses carry no certificates: the client already has the issuer, which
// is the signer. Embedding it would also break golang.org/x/crypto/ocsp's own
// parser, which takes an embedded certificate for a delegated responder and
// checks it was signed by the issuer.

// OCSPResponse answers a DER OCSP request for a certificate of the issuing
// CA. Protocol-level failures are answered, not returned: a request that does
// not parse gets a malformedRequest response, and one about another issuer
// an unauthorized response. A serial this CA never issued is "unknown". The
// error is only for internal failures (repository, key store).
func (ca *CA) OCSPResponse(ctx context.Context, requestDER []byte) ([]byte, error) {
	h, err := ca.loaded()
	if err != nil {
		return nil, err
	}
	req, err := ocsp.ParseRequest(requestDER)
	if err != nil {
		return ocsp.MalformedRequestErrorResponse, nil
	}
	if !issuerMatches(req, h.issuing) {
		return ocsp.UnauthorizedErrorResponse, nil
	}
	resp, err := ca.ocspFor(ctx, h, req.SerialNumber, req.HashAlgorithm)
	if err != nil {
		return nil, fmt.Errorf("ocsp response: %w", err)
	}
	return resp, nil
}

// OCSPForCertificate builds an OCSP response (SHA-1 CertID, the form every
// validator understands) for a certificate issued by the issuing CA, for
// embedding as validation data (the PAdES DSS). It returns errs.Invalid for a
// certificate of another issuer.
func (ca *CA) OCSPForCertificate(ctx context.Context, cert *x509.Certificate) ([]byte, error) {
	h, err := ca.loaded()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(cert.RawIssuer, h.issuing.RawSubject) || cert.CheckSignatureFrom(h.issuing) != nil {
		return nil, fmt.Errorf("ocsp for certificate: %w", errs.New(errs.Invalid, "该证书不是本平台签发的"))
	}
	resp, err := ca.ocspFor(ctx, h, cert.SerialNumber, crypto.SHA1)
	if err != nil {
		return nil, fmt.Errorf("ocsp for certificate: %w", err)
	}
	return resp, nil
}

func (ca *CA) ocspFor(ctx context.Context, h *hierarchy, serial *big.Int, hash crypto.Hash) ([]byte, error) {
	now := ca.cfg.Now().UTC().Truncate(time.Second)
	tmpl := ocsp.Response{
		SerialNumber: serial,
		ThisUpdate:   now,
		NextUpdate:   now.Add(ca.cfg.OCSPValidity),
		IssuerHash:   hash,
	}
	rec, err := ca.cfg.Repo.Issued(ctx, SerialHex(serial))
	switch {
	case errs.Is(err, errs.NotFound):
		tmpl.Status = ocsp.Unknown
	case err != nil:
		return nil, err
	case rec.Revocation != nil:
		tmpl.Status = ocsp.Revoked
		tmpl.RevokedAt = rec.Revocation.Time
		tmpl.RevocationReason = int(rec.Revocation.Reason)
	default:
		tmpl.Status = ocsp.Good
	}
	resp, err := ocsp.CreateResponse(h.issuing, h.issuing, tmpl, h.issKey)
	if err != nil {
		return nil, fmt.Errorf("create response: %w", err)
	}
	return resp, nil
}

// issuerMatches reports whether an OCSP request names the issuer.
func issuerMatches(req *ocsp.Request, issuer *x509.Certificate) bool {
	if !req.HashAlgorithm.Available() {
		return false
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(issuer.RawSubjectPublicKeyInfo, &spki); err != nil {
		return false
	}
	nh := req.HashAlgorithm.New()
	nh.Write(issuer.RawSubject)
	kh := req.HashAlgorithm.New()
	kh.Write(spki.PublicKey.RightAlign())
	return bytes.Equal(nh.Sum(nil), req.IssuerNameHash) && bytes.Equal(kh.Sum(nil), req.IssuerKeyHash)
}

// CheckNotRevoked asks the CA's OCSP responder about cert, issued by
// issuer (the issuing CA), as a relying party does: nil when it is good;
// errs.Invalid (field "certificate", "该证书已吊销") when revoked; errs.Internal
// when the answer is neither (not issued by this CA) or cannot be had.
func (ca *CA) CheckNotRevoked(ctx context.Context, cert, issuer *x509.Certificate) error {
	der, err := ca.OCSPForCertificate(ctx, cert)
	if err != nil {
		return fmt.Errorf("certificate status: ocsp: %w", err)
	}
	resp, err := ocsp.ParseResponseForCert(der, cert, issuer)
	if err != nil {
		return fmt.Errorf("certificate status: ocsp: %w", err)
	}
	switch resp.Status {
	case ocsp.Good:
		return nil
	case ocsp.Revoked:
		return errs.InvalidField("certificate", "该证书已吊销")
	}
	return errs.Wrap(fmt.Errorf("ocsp status %d", resp.Status), errs.Internal, "暂时无法确认证书状态，请稍后再试")
}
