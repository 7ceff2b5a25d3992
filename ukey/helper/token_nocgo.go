//go:build !cgo

package helper

import (
	"context"
	"errors"

	"signet/signingcore/keystore"
)

// PKCS11Token needs cgo; this build (CGO_ENABLED=0) cannot load a module.
type PKCS11Token struct {
	Module string
}

var errNoCgo = errors.New("this build of signet-ukey has no PKCS#11 support (built with CGO_ENABLED=0)")

// Certificates fails: no PKCS#11 without cgo.
func (PKCS11Token) Certificates(context.Context) ([]TokenCertificate, error) { return nil, errNoCgo }

// Sign fails: no PKCS#11 without cgo.
func (PKCS11Token) Sign(context.Context, TokenCertificate, keystore.Secret, []byte) ([]byte, error) {
	return nil, errNoCgo
}
