// Package signingcore makes and checks legally reliable signatures on PDF
// documents: key stores that return crypto.Signer (PKCS#11 HSMs and a software
// store), the platform CA and its RFC 3161 time-stamping authority, PAdES
// signing in two phases (prepare a digest, complete with a signature), seal
// images, upload normalisation and verification.
//
// signingcore is a leaf: it imports none of Signet's graph/, server/, ent/ or
// other application packages (only signet/errs), so it can be tested,
// benchmarked and reused on its own; leaf_test.go enforces that. Its
// subpackages are:
//
//   - keystore: key stores (software, PKCS#11) behind one interface
//   - pki: the platform CA, certificates, CRL and OCSP
//   - tsa: the RFC 3161 time-stamping authority and its client
//   - cms: CMS SignedData for detached CAdES signatures
//   - pades: preparing and completing PDF signatures, validation data, document time-stamps
//   - pdfnorm: validating and freezing an uploaded PDF before any signature
//   - seal, font: seal images drawn from the bundled CJK font
//   - verify: the per-signature verification report (文档验证)
package signingcore
