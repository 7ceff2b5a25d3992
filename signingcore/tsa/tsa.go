// Package tsa is an RFC 3161 time-stamping authority and its client.
//
// An Authority answers TimeStampReq messages with TimeStampResp messages whose
// token is a CMS SignedData over a TSTInfo, signed by a crypto.Signer (a key
// in the key store) with the TSA certificate chain. Bad requests get a
// rejection with the PKIFailureInfo bit RFC 3161 names, never a Go error.
//
// A Timestamper obtains tokens: the Authority itself (in process) or an
// HTTPClient that posts application/timestamp-query to a URL. Both check the
// response (status, message imprint, nonce) before returning the token.
package tsa

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"signet/signingcore/cms"
)

// Timestamper returns an RFC 3161 TimeStampToken (a CMS ContentInfo, DER)
// whose message imprint is digest, computed with hash.
type Timestamper interface {
	Timestamp(ctx context.Context, digest []byte, hash crypto.Hash) ([]byte, error)
}

// PKIStatus values (RFC 3161 section 2.4.2).
const (
	StatusGranted         = 0
	StatusGrantedWithMods = 1
	StatusRejection       = 2
	StatusWaiting         = 3
)

// FailureInfo bits of PKIFailureInfo (RFC 3161 section 2.4.2).
type FailureInfo int

// The failure reasons an Authority reports.
const (
	FailBadAlg              FailureInfo = 0
	FailBadRequest          FailureInfo = 2
	FailBadDataFormat       FailureInfo = 5
	FailTimeNotAvailable    FailureInfo = 14
	FailUnacceptedPolicy    FailureInfo = 15
	FailUnacceptedExtension FailureInfo = 16
	FailSystemFailure       FailureInfo = 25
)

var oidTimeStamping = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}

type messageImprint struct {
	HashAlgorithm pkix.AlgorithmIdentifier
	HashedMessage []byte
}

type timeStampReq struct {
	Version        int
	MessageImprint messageImprint
	ReqPolicy      asn1.ObjectIdentifier `asn1:"optional"`
	Nonce          *big.Int              `asn1:"optional"`
	CertReq        bool                  `asn1:"optional,default:false"`
	Extensions     []pkix.Extension      `asn1:"optional,tag:0"`
}

type pkiStatusInfo struct {
	Status       int
	StatusString []asn1.RawValue `asn1:"optional"` // PKIFreeText: SEQUENCE OF UTF8String
	FailInfo     asn1.BitString  `asn1:"optional"`
}

type accuracy struct {
	Seconds int `asn1:"optional"`
	Millis  int `asn1:"optional,tag:0"`
	Micros  int `asn1:"optional,tag:1"`
}

type tstInfo struct {
	Version        int
	Policy         asn1.ObjectIdentifier
	MessageImprint messageImprint
	SerialNumber   *big.Int
	GenTime        time.Time        `asn1:"generalized"`
	Accuracy       accuracy         `asn1:"optional"`
	Ordering       bool             `asn1:"optional,default:false"`
	Nonce          *big.Int         `asn1:"optional"`
	TSA            asn1.RawValue    `asn1:"optional,tag:0"`
	Extensions     []pkix.Extension `asn1:"optional,tag:1"`
}

// Authority is an RFC 3161 time-stamping authority. It is safe for
// concurrent use.
type Authority struct {
	signer crypto.Signer
	chain  []*x509.Certificate
	policy asn1.ObjectIdentifier
	clock  func() time.Time

	mu         sync.Mutex
	lastSerial *big.Int
}

// New returns an Authority that signs with signer; chain holds the TSA
// certificate first (it must carry a critical timeStamping extended key
// usage and match the signer's key) followed by its issuers; policy is the
// TSA policy OID written in every TSTInfo; clock gives the time (time.Now
// when nil).
func New(signer crypto.Signer, chain []*x509.Certificate, policy asn1.ObjectIdentifier, clock func() time.Time) (*Authority, error) {
	if signer == nil || len(chain) == 0 {
		return nil, errors.New("tsa: new: signer and certificate chain are required")
	}
	if len(policy) == 0 {
		return nil, errors.New("tsa: new: policy OID is required")
	}
	cert := chain[0]
	pub, ok := signer.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return nil, errors.New("tsa: new: signer key does not match the TSA certificate")
	}
	if !hasCriticalTimeStampingEKU(cert) {
		return nil, errors.New("tsa: new: TSA certificate lacks a critical timeStamping extended key usage")
	}
	if clock == nil {
		clock = time.Now
	}
	return &Authority{signer: signer, chain: chain, policy: policy, clock: clock}, nil
}

func hasCriticalTimeStampingEKU(c *x509.Certificate) bool {
	for _, e := range c.Extensions {
		if e.Id.Equal(asn1.ObjectIdentifier{2, 5, 29, 37}) {
			if !e.Critical {
				return false
			}
			var ekus []asn1.ObjectIdentifier
			if _, err := asn1.Unmarshal(e.Value, &ekus); err != nil {
				return false
			}
			return len(ekus) == 1 && ekus[0].Equal(oidTimeStamping)
		}
	}
	return false
}

// nextSerial returns a serial number that is unique and increasing for this
// Authority: the current time in nanoseconds, bumped past the last one.
func (a *Authority) nextSerial(now time.Time) *big.Int {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := big.NewInt(now.UnixNano())
	if a.lastSerial != nil && s.Cmp(a.lastSerial) <= 0 {
		s.Add(a.lastSerial, big.NewInt(1))
	}
	a.lastSerial = s
	return new(big.Int).Set(s)
}

// requestError is a rejection to report in a TimeStampResp.
type requestError struct {
	fail FailureInfo
	text string
}

// Respond answers a DER TimeStampReq with a DER TimeStampResp. A request the
// TSA refuses yields a rejection response (status 2 with failInfo) and a nil
// error; an error is returned only when the TSA itself fails (then the
// response, if not nil, reports systemFailure).
func (a *Authority) Respond(reqDER []byte) ([]byte, error) {
	var req timeStampReq
	rest, err := asn1.Unmarshal(reqDER, &req)
	if err != nil || len(rest) != 0 {
		return rejection(requestError{FailBadDataFormat, "malformed TimeStampReq"})
	}
	if rerr := a.check(&req); rerr != nil {
		return rejection(*rerr)
	}
	token, err := a.token(&req)
	if err != nil {
		resp, _ := rejection(requestError{FailSystemFailure, "internal error"})
		return resp, fmt.Errorf("tsa: respond: %w", err)
	}
	status, err := asn1.Marshal(pkiStatusInfo{Status: StatusGranted})
	if err != nil {
		return nil, fmt.Errorf("tsa: respond: %w", err)
	}
	return derSequence(status, token), nil
}

func (a *Authority) check(req *timeStampReq) *requestError {
	if req.Version != 1 {
		return &requestError{FailBadRequest, "unsupported version"}
	}
	h := cms.HashForOID(req.MessageImprint.HashAlgorithm.Algorithm)
	if h == 0 {
		return &requestError{FailBadAlg, "unsupported hash algorithm"}
	}
	if len(req.MessageImprint.HashedMessage) != h.Size() {
		return &requestError{FailBadDataFormat, "hashed message length does not match the algorithm"}
	}
	if len(req.ReqPolicy) > 0 && !req.ReqPolicy.Equal(a.policy) {
		return &requestError{FailUnacceptedPolicy, "unaccepted policy"}
	}
	if len(req.Extensions) > 0 {
		return &requestError{FailUnacceptedExtension, "extensions are not supported"}
	}
	return nil
}

func (a *Authority) token(req *timeStampReq) ([]byte, error) {
	now := a.clock()
	info := tstInfo{
		Version:        1,
		Policy:         a.policy,
		MessageImprint: req.MessageImprint,
		SerialNumber:   a.nextSerial(now),
		GenTime:        now.UTC().Truncate(time.Second),
		Accuracy:       accuracy{Seconds: 1},
		Nonce:          req.Nonce,
	}
	infoDER, err := asn1.Marshal(info)
	if err != nil {
		return nil, fmt.Errorf("marshal TSTInfo: %w", err)
	}
	digest := sha256.Sum256(infoDER)
	attrs, err := cms.SignedAttributes(cms.OIDTSTInfo, digest[:], a.chain[0])
	if err != nil {
		return nil, err
	}
	attrsDigest := sha256.Sum256(attrs)
	sig, err := a.signer.Sign(rand.Reader, attrsDigest[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("sign token: %w", err)
	}
	certs := a.chain
	p := cms.SignedDataParams{
		SignedAttrs:  attrs,
		Signature:    sig,
		Certificates: certs,
		ContentType:  cms.OIDTSTInfo,
		Content:      infoDER,
	}
	// Without certReq the token must not carry certificates (RFC 3161 2.4.1).
	p.OmitCertificates = !req.CertReq
	return cms.Build(p)
}

func rejection(r requestError) ([]byte, error) {
	bit := int(r.fail)
	bs := asn1.BitString{Bytes: make([]byte, bit/8+1), BitLength: bit + 1}
	bs.Bytes[bit/8] |= 0x80 >> (bit % 8)
	text := asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagUTF8String, Bytes: []byte(r.text)}
	status, err := asn1.Marshal(pkiStatusInfo{Status: StatusRejection, StatusString: []asn1.RawValue{text}, FailInfo: bs})
	if err != nil {
		return nil, fmt.Errorf("tsa: marshal rejection: %w", err)
	}
	return derSequence(status), nil
}

func derSequence(parts ...[]byte) []byte {
	var body bytes.Buffer
	for _, p := range parts {
		body.Write(p)
	}
	out, _ := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: body.Bytes()})
	return out
}
