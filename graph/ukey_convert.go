package graph

import (
	"encoding/base64"

	"signet/accounts"
	"signet/errs"
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
