package helper

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Pairing rules.
const (
	pairCodeTTL      = 2 * time.Minute
	pairCodeAttempts = 3
	// pairRequestGap keeps a page from flooding the console with codes.
	pairRequestGap = 3 * time.Second
)

// pairings remembers the pairing tokens the helper gave out: only their
// SHA-256, each bound to the origin that paired. With a file they survive a
// restart (0600, written atomically).
type pairings struct {
	mu   sync.Mutex
	file string
	m    map[string]string // hex SHA-256 of the token -> origin
}

func loadPairings(file string) (*pairings, error) {
	p := &pairings{file: file, m: map[string]string{}}
	if file == "" {
		return p, nil
	}
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read pairings: %w", err)
	}
	if err := json.Unmarshal(b, &p.m); err != nil {
		return nil, fmt.Errorf("read pairings %s: %w", file, err)
	}
	return p, nil
}

func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// valid reports whether token was given to origin.
func (p *pairings) valid(origin, token string) bool {
	if token == "" {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	o, ok := p.m[tokenHash(token)]
	return ok && subtle.ConstantTimeCompare([]byte(o), []byte(origin)) == 1
}

// add records a new token for origin.
func (p *pairings) add(origin, token string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.m[tokenHash(token)] = origin
	if p.file == "" {
		return nil
	}
	b, err := json.Marshal(p.m)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p.file), 0o700); err != nil {
		return fmt.Errorf("save pairings: %w", err)
	}
	tmp := p.file + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("save pairings: %w", err)
	}
	return os.Rename(tmp, p.file)
}

// pendingPair is a code shown at the console for one connection.
type pendingPair struct {
	code     string
	expires  time.Time
	attempts int
}
