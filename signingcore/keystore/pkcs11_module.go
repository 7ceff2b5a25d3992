//go:build cgo

package keystore

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/miekg/pkcs11"
)

// moduleTable shares one loaded and initialised PKCS#11 module between all
// stores of a process that use it.
//
// This is the package's one piece of package-level mutable state, on purpose:
// a Cryptoki library is process-global (C_Initialize and C_Finalize act on
// the whole process, login state is per token for the whole application), so
// two stores on the same module must share one initialisation, the last Close
// must be the one that finalises, and a second login with a different PIN must
// be noticed rather than masked by CKR_USER_ALREADY_LOGGED_IN.
type moduleTable struct {
	mu sync.Mutex
	m  map[string]*p11Module
}

var modules = &moduleTable{m: map[string]*p11Module{}}

// p11Module is one loaded module.
type p11Module struct {
	key   string
	ctx   *pkcs11.Ctx
	refs  int
	owned bool // we called C_Initialize, so we call C_Finalize

	pinMu sync.Mutex
	pins  map[string][32]byte // token identity -> SHA-256 of the PIN that logged it in
}

// acquire loads and initialises the module at path, or shares the one
// already loaded.
func (t *moduleTable) acquire(path string) (*p11Module, error) {
	if path == "" {
		return nil, errors.New("keystore: PKCS#11 module path is empty")
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("keystore: PKCS#11 module: %w", err)
	}
	key, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, fmt.Errorf("keystore: PKCS#11 module: %w", err)
	}
	if key, err = filepath.Abs(key); err != nil {
		return nil, fmt.Errorf("keystore: PKCS#11 module: %w", err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if m := t.m[key]; m != nil {
		m.refs++
		return m, nil
	}
	ctx := pkcs11.New(key)
	if ctx == nil {
		return nil, fmt.Errorf("keystore: cannot load PKCS#11 module %s (dlopen failed or no C_GetFunctionList)", path)
	}
	owned := true
	if err := ctx.Initialize(); err != nil {
		if !errors.Is(err, pkcs11.Error(pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
			ctx.Destroy()
			return nil, fmt.Errorf("keystore: initialise PKCS#11 module %s: %w", path, err)
		}
		owned = false // initialised by other code in this process; leave it to that code
	}
	m := &p11Module{key: key, ctx: ctx, refs: 1, owned: owned, pins: map[string][32]byte{}}
	t.m[key] = m
	return m, nil
}

// release drops one reference; the last one finalises and unloads the module.
func (t *moduleTable) release(m *p11Module) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m.refs--
	if m.refs > 0 {
		return
	}
	delete(t.m, m.key)
	if m.owned {
		m.ctx.Finalize()
	}
	m.ctx.Destroy()
}

// rememberPIN records the PIN that logged the token in.
func (m *p11Module) rememberPIN(token string, pin Secret) {
	m.pinMu.Lock()
	defer m.pinMu.Unlock()
	m.pins[token] = sha256.Sum256([]byte(pin))
}

// samePIN reports whether pin is the one that logged the token in; true when
// the token was logged in by code outside this package (nothing to compare).
func (m *p11Module) samePIN(token string, pin Secret) bool {
	m.pinMu.Lock()
	defer m.pinMu.Unlock()
	want, ok := m.pins[token]
	if !ok {
		return true
	}
	got := sha256.Sum256([]byte(pin))
	return subtle.ConstantTimeCompare(want[:], got[:]) == 1
}
