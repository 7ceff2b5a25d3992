package verify

import "time"

// Verdict is the overall result of a verification.
type Verdict string

// The verdicts.
const (
	// VerdictValid: the document is intact since its signatures (apart
	// from allowed incremental updates) and every signature is valid and
	// chained to a trusted platform root.
	VerdictValid Verdict = "valid"
	// VerdictInvalid: at least one signature is broken, revoked or was
	// followed by a change of content.
	VerdictInvalid Verdict = "invalid"
	// VerdictNotPlatform: the document carries no signature, or only
	// signatures whose certificates do not chain to a trusted root.
	VerdictNotPlatform Verdict = "not_platform"
)

// Status is the result for one signature.
type Status string

// The signature statuses.
const (
	// StatusValid: intact, cryptographically valid, chained to a trusted
	// root, not revoked at signing time, and only allowed updates after it.
	StatusValid Status = "valid"
	// StatusInvalid: something is wrong; Problems says what.
	StatusInvalid Status = "invalid"
	// StatusUntrusted: intact and cryptographically valid, but the
	// certificate does not chain to a trusted root (signed elsewhere).
	StatusUntrusted Status = "untrusted"
)

// Modification classifies what was appended after a signature.
type Modification string

// The modification classes.
const (
	// ModificationNone: the signature covers the whole file.
	ModificationNone Modification = "none"
	// ModificationSignaturesOnly: only allowed incremental updates follow
	// (later signatures and their fields and widgets, /DSS validation data,
	// document time-stamps, form-field values).
	ModificationSignaturesOnly Modification = "signatures_only"
	// ModificationChanged: the content was changed after the signature.
	ModificationChanged Modification = "changed"
)

// Kinds of signature.
const (
	KindSignature    = "signature"     // an approval signature (/Type /Sig)
	KindDocTimestamp = "doc_timestamp" // a document time-stamp (/Type /DocTimeStamp)
)

// Kinds of change after a signature (Change.Kind).
const (
	ChangeSignature = "signature" // a later signature: its value, field, widget, appearance
	ChangeDSS       = "dss"       // validation data (/DSS)
	ChangeFormFill  = "form_fill" // a form field's value or appearance
	ChangeContent   = "content"   // anything else: not allowed
	ChangeStructure = "structure" // the catalog, the page tree or an AcroForm outside the allowed keys
	ChangeDeleted   = "deleted"   // an object of the signed revision was deleted
)

// Revocation states (RevocationInfo.Status).
const (
	RevocationGood       = "good"
	RevocationRevoked    = "revoked"
	RevocationUnknown    = "unknown"
	RevocationNotChecked = "not_checked"
)

// Report is the result of Verify. Summary, Reasons and every Summary,
// Problem and Note below are Simplified Chinese for people; the other
// fields are for programs.
type Report struct {
	Verdict Verdict `json:"verdict"`
	// Summary is one sentence, e.g. "文件完整，所有签名有效".
	Summary string `json:"summary"`
	// Reasons explains an invalid or not-platform verdict.
	Reasons []string `json:"reasons,omitempty"`
	// Size and SHA256 identify the verified file.
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Revisions is the number of revisions (%%EOF markers ending one).
	Revisions int `json:"revisions"`
	// Pages is the page count of the final document.
	Pages int `json:"pages"`
	// Signatures are in file order (the order they were made).
	Signatures []Signature `json:"signatures"`
	// VerifiedAt is the clock's time when the report was made.
	VerifiedAt time.Time `json:"verifiedAt"`
}

// Signature is the result for one signature or document time-stamp.
type Signature struct {
	// Index is the 1-based position in Report.Signatures.
	Index int `json:"index"`
	// Kind is KindSignature or KindDocTimestamp.
	Kind      string `json:"kind"`
	FieldName string `json:"fieldName"`
	SubFilter string `json:"subFilter"`
	Status    Status `json:"status"`
	// Summary is one sentence about this signature.
	Summary string `json:"summary"`
	// Problems make the signature invalid; Notes do not.
	Problems []string `json:"problems,omitempty"`
	Notes    []string `json:"notes,omitempty"`

	// Name, Reason, Location and ContactInfo are the signature
	// dictionary's entries, as the signer claims them.
	Name        string `json:"name,omitempty"`
	Reason      string `json:"reason,omitempty"`
	Location    string `json:"location,omitempty"`
	ContactInfo string `json:"contactInfo,omitempty"`
	// ClaimedTime is /M: the signer's own clock, not proof of anything.
	ClaimedTime *time.Time `json:"claimedTime,omitempty"`
	// SigningTime is the time the checks were made at: the signature
	// time-stamp's genTime when it is valid and trusted, else VerifiedAt.
	SigningTime time.Time `json:"signingTime"`
	// SigningTimeTrusted reports that SigningTime comes from a valid
	// time-stamp of a trusted TSA.
	SigningTimeTrusted bool `json:"signingTimeTrusted"`

	// Seal describes the signature widget.
	Seal Seal `json:"seal"`
	// Integrity is the byte-level and cryptographic check.
	Integrity Integrity `json:"integrity"`
	// Coverage tells what the signature covers and what followed it.
	Coverage Coverage `json:"coverage"`

	// Signer is the signing certificate (the TSA's for a document
	// time-stamp); nil when the CMS names no usable certificate.
	Signer *Certificate `json:"signer,omitempty"`
	// Chain is the verified chain from the signer's issuer up to the root,
	// when there is one.
	Chain []Certificate `json:"chain,omitempty"`
	// Trusted reports that the signer certificate chains to a trusted root.
	Trusted bool `json:"trusted"`
	// Revocation is the signer certificate's status at SigningTime.
	Revocation RevocationInfo `json:"revocation"`
	// Timestamp is the signature time-stamp (for a signature) or the token
	// itself (for a document time-stamp); nil when there is none.
	Timestamp *Timestamp `json:"timestamp,omitempty"`
}

// Seal describes a signature's widget annotation.
type Seal struct {
	// Page is the 1-based page of the widget, 0 when it is on no page.
	Page int `json:"page"`
	// Rect is the widget rectangle in PDF points.
	Rect []float64 `json:"rect,omitempty"`
	// Visible reports a non-empty rectangle with a normal appearance.
	Visible bool `json:"visible"`
	// HasAppearance reports that the widget has an /AP /N appearance.
	HasAppearance bool `json:"hasAppearance"`
}

// Integrity is the byte-level and cryptographic check of a signature.
type Integrity struct {
	// ByteRangeOK: starts at 0, leaves out only this signature's /Contents
	// hex string, ends at the end of a revision.
	ByteRangeOK bool `json:"byteRangeOK"`
	// DigestOK: the message digest (or time-stamp imprint) matches the
	// signed bytes.
	DigestOK bool `json:"digestOK"`
	// SignatureOK: the signature over the signed attributes verifies with
	// the signer certificate's key.
	SignatureOK bool `json:"signatureOK"`
	// SigningCertificateOK: the ESS signing-certificate(-v2) attribute
	// names the signer certificate. False when absent or different.
	SigningCertificateOK bool `json:"signingCertificateOK"`
	// DigestAlgorithm and SignatureAlgorithm name the algorithms, e.g.
	// "SHA-256" and "ECDSA".
	DigestAlgorithm    string `json:"digestAlgorithm,omitempty"`
	SignatureAlgorithm string `json:"signatureAlgorithm,omitempty"`
}

// Coverage tells which bytes a signature covers and what came after them.
type Coverage struct {
	ByteRange []int64 `json:"byteRange"`
	// Revision is the 1-based revision the signature ends.
	Revision int `json:"revision"`
	// RevisionEnd is the offset just after the signed revision.
	RevisionEnd int64 `json:"revisionEnd"`
	// WholeFile: nothing was appended after the signature.
	WholeFile bool `json:"wholeFile"`
	// LaterRevisions is the number of revisions appended after it.
	LaterRevisions int `json:"laterRevisions"`
	// ChangesAfter classifies what those revisions did.
	ChangesAfter Modification `json:"changesAfter"`
	// Changes lists the objects changed after the signature.
	Changes []Change `json:"changes,omitempty"`
}

// Change is one object added, modified or deleted after a signature that
// matters for the signed content.
type Change struct {
	// Kind is one of the Change* constants.
	Kind string `json:"kind"`
	// Allowed reports an allowed incremental update.
	Allowed bool `json:"allowed"`
	// Object is the PDF object number (0 for the trailer).
	Object int `json:"object"`
	// Description says what changed, in Chinese.
	Description string `json:"description"`
}

// Certificate describes an X.509 certificate.
type Certificate struct {
	Subject    string `json:"subject"`
	CommonName string `json:"commonName,omitempty"`
	// Organization is the subject's O.
	Organization string `json:"organization,omitempty"`
	// SubjectSerialNumber is the subject's serialNumber attribute (a
	// pseudonymous person identifier on platform certificates).
	SubjectSerialNumber string `json:"subjectSerialNumber,omitempty"`
	// OrganizationIdentifier is the subject's organizationIdentifier
	// (2.5.4.97), "NTRCN-<unified social credit code>" for enterprises.
	OrganizationIdentifier string `json:"organizationIdentifier,omitempty"`
	// Serial is the certificate serial, lower-case hex.
	Serial    string    `json:"serial"`
	Issuer    string    `json:"issuer"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	// SHA256 is the certificate fingerprint, upper-case hex pairs with ':'.
	SHA256 string `json:"sha256"`
	// KeyAlgorithm is e.g. "ECDSA P-256" or "RSA 2048".
	KeyAlgorithm string `json:"keyAlgorithm"`
}

// RevocationInfo is a certificate's revocation status at a time.
type RevocationInfo struct {
	// Status is one of the Revocation* constants.
	Status string `json:"status"`
	// RevokedAt and Reason are set when the certificate is revoked (also
	// when it was revoked only after the signing time).
	RevokedAt *time.Time `json:"revokedAt,omitempty"`
	Reason    string     `json:"reason,omitempty"`
	// Source names where the status came from, e.g. "platform CA".
	Source string `json:"source,omitempty"`
}

// Timestamp is an RFC 3161 time-stamp token.
type Timestamp struct {
	// Time is the token's genTime.
	Time time.Time `json:"time"`
	// Valid: the token's signature verifies and its imprint matches.
	Valid bool `json:"valid"`
	// ImprintOK: the message imprint is the hash of what it stamps (the
	// signature value, or the byte range for a document time-stamp).
	ImprintOK bool `json:"imprintOK"`
	// SignatureOK: the token's own CMS signature verifies.
	SignatureOK bool `json:"signatureOK"`
	// Trusted: the TSA certificate chains to a trusted root with the
	// timeStamping usage.
	Trusted bool `json:"trusted"`
	// TSA is the time-stamping certificate.
	TSA *Certificate `json:"tsa,omitempty"`
	// Serial is the token serial number, Policy the TSA policy OID and
	// HashAlgorithm the imprint's hash.
	Serial        string `json:"serial,omitempty"`
	Policy        string `json:"policy,omitempty"`
	HashAlgorithm string `json:"hashAlgorithm,omitempty"`
	// Problems explains an invalid or untrusted token.
	Problems []string `json:"problems,omitempty"`
}
