// Package signingcore makes and checks legally reliable signatures on PDF
// documents: key stores that return crypto.Signer (PKCS#11 HSMs and a software
// store), the platform CA and its RFC 3161 time-stamping authority, PAdES
// signing in two phases (prepare a digest, complete with a signature), seal
// images, and verification.
//
// signingcore is a leaf: it imports none of Signet's graph/, server/ or ent/
// packages, so it can be tested, benchmarked and reused on its own. Its
// subpackages are:
//
//   - keystore: key stores (software, PKCS#11) behind one interface
//   - pki: the platform CA, certificates, CRL, OCSP and the TSA
//   - pades: preparing, completing and verifying PDF signatures
//   - seal: seal images drawn from the bundled CJK font
package signingcore
