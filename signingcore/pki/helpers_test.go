package pki

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"signet/signingcore/keystore"
)

const testBaseURL = "https://sign.example.cn"

// testClock is an adjustable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Now().Truncate(time.Second)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testEnv is a CA with its key store, repository and clock, all in a
// temporary directory.
type testEnv struct {
	ca    *CA
	keys  keystore.Store
	repo  *FileRepository
	clock *testClock
	dir   string
}

// config returns a Config for the env's store and repository.
func (e *testEnv) config() Config {
	return Config{Keys: e.keys, Repo: e.repo, BaseURL: testBaseURL, Now: e.clock.Now}
}

// newTestEnv makes and initialises a CA in a temporary directory.
func newTestEnv(t testing.TB) *testEnv {
	t.Helper()
	dir := t.TempDir()
	e := &testEnv{keys: mustSoftStore(t, dir), repo: mustFileRepository(t, dir), clock: newTestClock(), dir: dir}
	e.ca = mustNew(t, e.config())
	if _, err := e.ca.Init(context.Background()); err != nil {
		t.Fatalf("Init: %v", err)
	}
	return e
}

// reopen returns a CA over freshly opened key store and repository
// instances on the env's directories, as after a restart; Load is not called.
func (e *testEnv) reopen(t testing.TB) *CA {
	t.Helper()
	cfg := e.config()
	cfg.Keys = mustSoftStore(t, e.dir)
	cfg.Repo = mustFileRepository(t, e.dir)
	return mustNew(t, cfg)
}

// mustSoftStore opens the real software key store in dir/keys.
func mustSoftStore(t testing.TB, dir string) *keystore.SoftStore {
	t.Helper()
	s, err := keystore.OpenSoft(keystore.SoftConfig{
		Dir: filepath.Join(dir, "keys"), MasterKeyFile: filepath.Join(dir, "master.key"), CreateMasterKey: true,
	})
	if err != nil {
		t.Fatalf("OpenSoft: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustFileRepository(t testing.TB, dir string) *FileRepository {
	t.Helper()
	r, err := OpenFileRepository(filepath.Join(dir, "pki"))
	if err != nil {
		t.Fatalf("OpenFileRepository: %v", err)
	}
	return r
}

// keyCount returns the number of keys in a store.
func keyCount(t testing.TB, s keystore.Store) int {
	t.Helper()
	infos, err := s.List(context.Background())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return len(infos)
}

func mustNew(t testing.TB, cfg Config) *CA {
	t.Helper()
	ca, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return ca
}

func mustECKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("GenerateKey: %v", err)
	}
	return k
}

// mustIssuePerson issues a certificate for 王小明 on a fresh public key.
func mustIssuePerson(t testing.TB, ca *CA, subjectID string) *Issued {
	t.Helper()
	iss, err := ca.IssuePerson(context.Background(), PersonRequest{
		Name: "王小明", SubjectID: subjectID, Key: SubjectKey{PublicKey: mustECKey(t).Public()},
	})
	if err != nil {
		t.Fatalf("IssuePerson: %v", err)
	}
	return iss
}

// mustWritePEM writes certificates as PEM into dir/name and returns the path.
func mustWritePEM(t testing.TB, dir, name string, certs ...*x509.Certificate) string {
	t.Helper()
	var ders [][]byte
	for _, c := range certs {
		ders = append(ders, c.Raw)
	}
	return mustWriteFile(t, dir, name, PEM(ders...))
}

func mustWriteFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatalf("write %s: %v", name, err)
	}
	return p
}

func mustReadFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return b
}

func pemCRL(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}
