// Package verify checks the signatures of a PDF document (文档验证) and
// explains the result in a Report ready for the API and the operator CLI.
//
// For every approval signature (SubFilter ETSI.CAdES.detached or
// adbe.pkcs7.detached) and document time-stamp (ETSI.RFC3161) it checks:
//
//   - the /ByteRange: it starts at 0, leaves out exactly the /Contents hex
//     string of its own signature dictionary, and ends at the end of a
//     revision (just after %%EOF); whether it reaches the end of the file;
//   - the CMS: the message digest against the signed bytes, the signature
//     over the signed attributes (ECDSA, RSA PKCS#1 v1.5 and PSS) and the
//     ESS signing-certificate(-v2) attribute against the signer certificate;
//   - the signer certificate: its details and its chain to the trusted
//     platform root(s) at the signing time;
//   - the RFC 3161 signature time-stamp: the token's own signature, the TSA
//     chain, and that its imprint is the hash of the signature value; its
//     genTime becomes the trusted signing time;
//   - the revocation status of the signer certificate at the signing time,
//     from a RevocationSource (PKIRevocation asks the platform CA);
//   - the seal: the widget's page and whether it has an appearance;
//   - what changed after the signature: the objects of the final document
//     are compared with those of the signed revision. Later signatures,
//     their fields and widgets, a /DSS, document time-stamps and form-field
//     values are allowed; anything else (page contents, resources, pages,
//     the catalog, other objects) is a change of content.
//
// The overall verdict is valid (intact, every signature valid and chained
// to a trusted root), invalid (with reasons), or not signed by this
// platform (no signature at all, or only signatures whose certificates do
// not chain to a trusted root). An invalid signature makes the document
// invalid whoever signed it: a damaged file is worth saying so.
//
// Input that is not a PDF, is damaged beyond reading or is encrypted is
// refused with an errs.Invalid error; everything else is a Report.
package verify
