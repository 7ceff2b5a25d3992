// Package pki is Signet's platform certificate authority: a root CA, an
// issuing CA and a time-stamping (TSA) certificate whose keys live in a
// keystore.Store, certificates for persons and enterprises, revocation, CRLs
// and an OCSP responder.
//
// # Hierarchy
//
//	root CA (self-signed, pathlen 1, 20 years)
//	└── issuing CA (pathlen 0, 10 years)
//	    ├── TSA certificate (critical EKU timeStamping, 5 years)
//	    └── person and enterprise certificates (1 year by default)
//
// [CA.Init] creates the hierarchy once and is idempotent; [CA.Load] opens an
// existing one. Everything that must survive a restart (certificate DERs, key
// URIs, issued certificates, revocations, CRL numbers) goes through the small
// [Repository] interface, so the application can keep it in its database;
// [FileRepository] keeps it as JSON files in a directory for the CLI, the
// embedded default and tests.
//
// # Subjects and personal data
//
// A certificate is public: it is embedded in every signed PDF and may be
// handed to anyone who receives the document. A person's certificate
// therefore carries only what a relying party needs to recognise the signer:
// CN = the verified real name, serialNumber = a pseudonymous identifier (the
// platform user ID, or [PseudonymousID] of the ID number under a secret key),
// C = CN. The raw 18-digit resident ID number is refused in every subject
// field. An enterprise certificate carries the enterprise name (CN and O) and
// the unified social credit code, which is public registration data, as
// organizationIdentifier "NTRCN-<code>" (the ETSI EN 319 412-1 semantics),
// C = CN.
//
// # Certificate profile
//
// End-entity certificates have keyUsage digitalSignature and nonRepudiation
// (contentCommitment) and three extended key usages:
//
//   - id-kp-emailProtection (1.3.6.1.5.5.7.3.4): once a certificate has an
//     EKU extension, poppler's pdfsig (NSS, "email signer" usage) and
//     openssl cms -verify (purpose smimesign) require this one; without it
//     both reject the signature. It is what most PDF validators accept.
//   - id-kp-documentSigning (1.3.6.1.5.5.7.3.36, RFC 9336), the standard
//     purpose for document signatures, for validators that look for it.
//   - Adobe's document signing OID 1.2.840.113583.1.1.5, honoured by Acrobat.
//
// A verifier built on crypto/x509 must pass KeyUsages
// [x509.ExtKeyUsageEmailProtection] (the default is serverAuth). Each
// certificate has subject and authority key identifiers, a random 16-octet
// serial, a CRL distribution point ({BaseURL}/pki/crl) and AIA with OCSP
// ({BaseURL}/pki/ocsp) and caIssuers ({BaseURL}/pki/issuing-ca.crt).
//
// The TSA certificate has keyUsage digitalSignature and, as RFC 3161
// requires, a critical EKU holding only id-kp-timeStamping (written by hand:
// crypto/x509 marks EKU non-critical). OCSP responses are signed by the
// issuing CA itself, not by a delegated responder.
//
// # Publication
//
// The server mounts the paths in [PathRootCert], [PathIssuingCert],
// [PathCRL], [PathRootCRL] and [PathOCSP] under the configured base URL;
// the certificates point at them (CRL distribution point, AIA OCSP and
// caIssuers). The functions here return bytes and content types only; no
// net/http code lives in this package.
//
// # External CAs
//
// [CertificateAuthority] is the seam for a licensed external CA (BJCA in the
// product manual). Orders may complete at once or stay pending until the
// provider answers; [Builtin] adapts the platform CA to the interface.
package pki
