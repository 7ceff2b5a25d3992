//go:build !cgo

package trust

import (
	"errors"

	"signet/signingcore/keystore"
)

// openPKCS11 is unavailable without cgo.
func openPKCS11(Config) (keystore.Store, error) {
	return nil, errors.New("trust: this build has no PKCS#11 support (built with CGO_ENABLED=0)")
}
