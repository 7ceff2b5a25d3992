//go:build cgo

package trust

import (
	"fmt"

	"signet/signingcore/keystore"
)

// openPKCS11 opens the HSM key store named by the config.
func openPKCS11(cfg Config) (keystore.Store, error) {
	if cfg.PKCS11Module == "" || cfg.PKCS11Token == "" || cfg.PKCS11PINFile == "" {
		return nil, fmt.Errorf("trust: the pkcs11 key store needs SIGNET_PKCS11_MODULE, SIGNET_PKCS11_TOKEN and SIGNET_PKCS11_PIN_FILE")
	}
	s, err := keystore.OpenPKCS11(keystore.PKCS11Config{ModulePath: cfg.PKCS11Module, TokenLabel: cfg.PKCS11Token, PINFile: cfg.PKCS11PINFile})
	if err != nil {
		return nil, fmt.Errorf("trust: open PKCS#11 key store: %w", err)
	}
	return s, nil
}
