package keystore

import (
	"crypto"
	"encoding/asn1"
	"fmt"
	"math/big"

	"signet/errs"
)

// ECDSARawToDER converts an ECDSA signature in the PKCS#11 form r||s (two
// big-endian integers of equal length, as CKM_ECDSA returns it) into the ASN.1
// DER SEQUENCE { r INTEGER, s INTEGER } that crypto/ecdsa, X.509 and CMS use.
func ECDSARawToDER(rs []byte) ([]byte, error) {
	if len(rs) == 0 || len(rs)%2 != 0 {
		return nil, fmt.Errorf("keystore: ECDSA r||s signature has odd or zero length %d", len(rs))
	}
	n := len(rs) / 2
	r := new(big.Int).SetBytes(rs[:n])
	s := new(big.Int).SetBytes(rs[n:])
	if r.Sign() == 0 || s.Sign() == 0 {
		return nil, fmt.Errorf("keystore: ECDSA r||s signature has a zero component")
	}
	der, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
	if err != nil {
		return nil, fmt.Errorf("keystore: marshal ECDSA signature: %w", err)
	}
	return der, nil
}

// ECDSADERToRaw converts an ASN.1 DER ECDSA signature into r||s, each padded
// to size bytes (32 for P-256), the form a PKCS#11 CKM_ECDSA verify expects.
func ECDSADERToRaw(der []byte, size int) ([]byte, error) {
	var sig struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &sig)
	if err != nil {
		return nil, fmt.Errorf("keystore: parse ECDSA signature: %w", err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("keystore: parse ECDSA signature: trailing data")
	}
	if sig.R.Sign() <= 0 || sig.S.Sign() <= 0 || sig.R.BitLen() > size*8 || sig.S.BitLen() > size*8 {
		return nil, fmt.Errorf("keystore: ECDSA signature values out of range for %d-byte curve", size)
	}
	out := make([]byte, 2*size)
	sig.R.FillBytes(out[:size])
	sig.S.FillBytes(out[size:])
	return out, nil
}

// digestInfoPrefix is the DER prefix of a PKCS#1 v1.5 DigestInfo for the hash
// (RFC 8017 §9.2 note 1); the digest follows it.
func digestInfoPrefix(h crypto.Hash) []byte {
	switch h {
	case crypto.SHA256:
		return []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}
	case crypto.SHA384:
		return []byte{0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30}
	case crypto.SHA512:
		return []byte{0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40}
	}
	return nil
}

// RSADigestInfo returns the DER DigestInfo for digest made with h (SHA-256,
// SHA-384 or SHA-512): the input of a raw CKM_RSA_PKCS signature that equals
// an RSASSA-PKCS1-v1_5 signature over the original message.
func RSADigestInfo(h crypto.Hash, digest []byte) ([]byte, error) {
	if err := checkDigest(h, digest); err != nil {
		return nil, err
	}
	prefix := digestInfoPrefix(h)
	out := make([]byte, 0, len(prefix)+len(digest))
	return append(append(out, prefix...), digest...), nil
}

// checkDigest reports an errs.Invalid error unless h is SHA-256, SHA-384 or
// SHA-512 and digest has its size.
func checkDigest(h crypto.Hash, digest []byte) error {
	if digestInfoPrefix(h) == nil {
		return errs.Wrap(fmt.Errorf("keystore: unsupported hash %v", h), errs.Invalid, "不支持的摘要算法，仅支持 SHA-256、SHA-384、SHA-512")
	}
	if len(digest) != h.Size() {
		return errs.Wrap(fmt.Errorf("keystore: digest is %d bytes, %v needs %d", len(digest), h, h.Size()),
			errs.Invalid, "待签名摘要的长度与摘要算法不符")
	}
	return nil
}
