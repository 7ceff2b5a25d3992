// Package ukey is the protocol between a Signet page and the local UKey
// helper (证书应用环境, cmd/signet-ukey), and the challenge rules the server
// and the helper share.
//
// A UKey is a USB token holding a certificate and a private key that never
// leaves it. Browsers cannot reach a token, so the user runs a small helper
// on the PC. The page talks to it over a websocket on the loopback interface:
//
//	page (https://sign.example.com)  ──ws://127.0.0.1:27787/v1/ws──►  signet-ukey ──PKCS#11──► UKey
//
// # Who may talk to the helper
//
// The helper accepts a websocket only when the Host header names the loopback
// address it listens on (no DNS rebinding) and the Origin header is exactly
// one of its configured Signet origins (scheme, host and port). Another site
// open in the same browser is refused at the handshake.
//
// A connection then starts unpaired: it may only say hello and pair. Pairing
// proves that the person at the helper's console wants this browser to use
// the token:
//
//  1. page → {"type":"pair"}; the helper shows a 6-digit code in its own
//     window (never over the websocket) and answers {"type":"pair_pending"}.
//  2. The user types the code into the page; page → {"type":"pair_confirm",
//     "code":"123456"}. Three wrong codes, or two minutes, end the attempt.
//  3. The helper answers {"type":"paired","pairingToken":"…"}; the page keeps
//     the token (localStorage of its origin) and sends it in the hello of
//     later connections, {"type":"hello","pairingToken":"…"}. The helper
//     stores only the token's SHA-256, bound to the origin.
//
// # Signing
//
// Every signature is confirmed at the helper's console, which shows what is
// signed, and needs the token's PIN, typed at the helper (never in the page,
// never over the websocket, never to the server):
//
//   - sign_challenge carries a login or bind challenge's text (see
//     Challenge). The helper parses it, checks that its origin is the
//     connection's origin, shows "登录 <origin>" or "绑定 UKey", and signs
//     SHA-256 of the text. A page cannot present a contract digest as a login.
//   - sign_digest carries a document digest (SHA-256 of a PAdES signature's
//     signed attributes, from pades.Signer.Prepare) with the contract's name
//     and fingerprint, which the helper shows before signing.
//
// The reply carries the signature (ECDSA as ASN.1 DER, converted from the
// token's r‖s; RSA as PKCS#1 v1.5 over a SHA-256 DigestInfo) and the signing
// certificate (DER), so the server can check both.
//
// All binary values are standard base64. Every request carries an "id" the
// reply repeats.
package ukey

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"strings"
	"time"
)

// ProtocolVersion is the version of the messages below.
const ProtocolVersion = 1

// DefaultPort is the helper's fixed default port on 127.0.0.1.
const DefaultPort = 27787

// Path is the websocket endpoint on the helper.
const Path = "/v1/ws"

// HashSHA256 is the only digest algorithm of this protocol version.
const HashSHA256 = "SHA-256"

// Request types (page → helper).
const (
	TypeHello            = "hello"
	TypePair             = "pair"
	TypePairConfirm      = "pair_confirm"
	TypeListCertificates = "list_certificates"
	TypeSignChallenge    = "sign_challenge"
	TypeSignDigest       = "sign_digest"
)

// Reply types (helper → page). A reply to hello is a hello.
const (
	TypePairPending  = "pair_pending"
	TypePaired       = "paired"
	TypeCertificates = "certificates"
	TypeSignature    = "signature"
	TypeError        = "error"
)

// Request is a message from the page. Which fields are set depends on Type.
type Request struct {
	ID   string `json:"id"`
	Type string `json:"type"`

	// PairingToken (hello) resumes an earlier pairing of this origin.
	PairingToken string `json:"pairingToken,omitempty"`
	// Code (pair_confirm) is the code shown at the helper.
	Code string `json:"code,omitempty"`

	// Certificate (sign_*) is the SHA-256 fingerprint (hex) of the
	// certificate whose key signs, as listed by list_certificates.
	Certificate string `json:"certificate,omitempty"`
	// Challenge (sign_challenge) is the text of a server challenge.
	Challenge string `json:"challenge,omitempty"`
	// Digest (sign_digest) is the digest to sign, base64.
	Digest string `json:"digest,omitempty"`
	// Hash (sign_digest) names Digest's algorithm; only HashSHA256.
	Hash string `json:"hash,omitempty"`
	// ContractName and Fingerprint (sign_digest) say what is signed; the
	// helper shows both before asking for the PIN.
	ContractName string `json:"contractName,omitempty"`
	Fingerprint  string `json:"fingerprint,omitempty"`
}

// Reply is a message from the helper.
type Reply struct {
	ID   string `json:"id"`
	Type string `json:"type"`

	// Hello: the helper's protocol version and whether this connection is
	// paired.
	Version int  `json:"version,omitempty"`
	Paired  bool `json:"paired,omitempty"`

	// ExpiresIn (pair_pending) is the pairing code's life in seconds.
	ExpiresIn int `json:"expiresIn,omitempty"`
	// PairingToken (paired) is kept by the page for later connections.
	PairingToken string `json:"pairingToken,omitempty"`

	// Certificates (certificates) are the certificates on the tokens.
	Certificates []Certificate `json:"certificates,omitempty"`

	// Signature (signature) is the signature, base64: ECDSA ASN.1 DER or
	// RSA PKCS#1 v1.5.
	Signature string `json:"signature,omitempty"`
	// Algorithm (signature) is "ECDSA" or "RSA-PKCS1v15".
	Algorithm string `json:"algorithm,omitempty"`
	// Hash (signature) is the digest algorithm, HashSHA256.
	Hash string `json:"hash,omitempty"`
	// CertificateDER (signature) is the signing certificate, base64 DER.
	CertificateDER string `json:"certificateDer,omitempty"`

	// Error (error) says why a request failed.
	Error *Error `json:"error,omitempty"`
}

// Certificate describes one certificate found on a token.
type Certificate struct {
	// Fingerprint is the SHA-256 of the DER, lower-case hex; it names the
	// certificate in sign requests.
	Fingerprint string `json:"fingerprint"`
	// KeyID is the token object's CKA_ID, hex (the private key has the same).
	KeyID string `json:"keyId"`
	// Token is the label of the token holding it.
	Token    string    `json:"token"`
	Label    string    `json:"label,omitempty"`
	Subject  string    `json:"subject"`
	Issuer   string    `json:"issuer"`
	Serial   string    `json:"serial"`
	NotAfter time.Time `json:"notAfter"`
	// DER is the certificate, base64.
	DER string `json:"der"`
}

// Error codes in error replies.
const (
	ErrInvalid       = "invalid"        // a malformed request
	ErrUnpaired      = "unpaired"       // the connection is not paired
	ErrPairing       = "pairing_failed" // wrong, expired or exhausted pairing code
	ErrRefused       = "refused"        // the user declined at the helper
	ErrWrongPIN      = "wrong_pin"      // the token refused the PIN
	ErrPINLocked     = "pin_locked"     // the token's PIN is locked
	ErrTokenAbsent   = "token_absent"   // no token, or it was removed
	ErrNoCertificate = "no_certificate" // no certificate with that fingerprint
	ErrBusy          = "busy"           // another request is waiting at the console
	ErrInternal      = "internal"       // anything else (see the helper's console)
)

// Error is a failed request: a code from the list above and a message in
// Chinese for the page to show.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Fingerprint returns the SHA-256 of a DER certificate as lower-case hex, the
// form Certificate.Fingerprint and the server use.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// Describe returns a one-line description of a certificate for consoles and
// pages: CN (serialNumber), issuer CN, expiry.
func Describe(c *x509.Certificate) string {
	var b strings.Builder
	b.WriteString(c.Subject.CommonName)
	if len(c.Subject.Organization) > 0 {
		b.WriteString(" / " + c.Subject.Organization[0])
	}
	b.WriteString("，颁发者 " + c.Issuer.CommonName)
	b.WriteString("，有效期至 " + c.NotAfter.Local().Format("2006-01-02"))
	return b.String()
}
