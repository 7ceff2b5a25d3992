package graph

import (
	"encoding/base64"

	"signet/accounts"
	"signet/enterprises"
	"signet/errs"
	"signet/ukey"
)

// ukeySignature decodes the helper's answer to a UKey challenge.
func ukeySignature(in UKeySignatureInput) (accounts.UKeySignature, error) {
	cert, err := base64.StdEncoding.DecodeString(in.Certificate)
	if err != nil {
		return accounts.UKeySignature{}, errs.InvalidField("certificate", "证书格式不正确")
	}
	sig, err := base64.StdEncoding.DecodeString(in.Signature)
	if err != nil {
		return accounts.UKeySignature{}, errs.InvalidField("signature", "签名格式不正确")
	}
	return accounts.UKeySignature{Nonce: in.Nonce, Certificate: cert, Signature: sig}, nil
}

// ukeyBinding decodes the answer to an enterprise UKey binding challenge.
func ukeyBinding(in BindUKeyCertificateInput) (enterprises.UKeyBinding, error) {
	sig, err := base64.StdEncoding.DecodeString(in.Signature)
	if err != nil {
		return enterprises.UKeyBinding{}, errs.InvalidField("signature", "签名格式不正确")
	}
	return enterprises.UKeyBinding{CertificateID: in.ID, Certificate: certificateBytes(in.Certificate), Nonce: in.Nonce, Signature: sig}, nil
}

// certificateChallenge presents a UKey challenge: its text for the helper
// and the digest the key signs.
func certificateChallenge(ch ukey.Challenge, err error) (*CertificateChallenge, error) {
	if err != nil {
		return nil, err
	}
	return &CertificateChallenge{Nonce: ch.Nonce, Text: ch.Text(), Digest: base64.StdEncoding.EncodeToString(ch.Digest()), ExpiresAt: ch.ExpiresAt}, nil
}
