package keystore

import (
	"bytes"
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"signet/errs"
)

// The software store keeps its keys in a directory:
//
//	DIR/keystore.json   format marker and a master-key check value
//	DIR/keys/NAME.key   one JSON file per key, NAME = hex(SHA-256(label))[:32]
//
// A key file holds the key's id (16 random bytes, hex), label, algorithm,
// creation time and public key (PKIX DER) in the clear, and its PKCS#8 private
// key sealed with AES-256-GCM under the master key. Every clear field is bound
// into the GCM additional data, so changing any byte of the file makes the key
// fail to open (ErrKeyCorrupt). Key files are written once and never changed:
// a new key is written to a temporary file and hard-linked to its final name,
// which fails if the name exists, so a label is unique even across processes
// sharing the directory.
//
// Keys are addressed by "soft:" URIs:
//
//	soft:id=<32 hex digits>;object=<label>   the canonical form KeyInfo.URI holds
//	soft:id=<32 hex digits>                  by id
//	soft:object=<label>                      by label
//	soft:<label>                             by label, shorthand
//
// Labels are percent-encoded as in PKCS#11 URIs. When both id and object are
// given both must match. The id changes when a label is deleted and generated
// again, so an id URI never silently names a different key.
//
// The master key file holds 32 random bytes, as 64 hex digits (what
// CreateMasterKey writes) or raw. It must not be readable or writable by
// others (mode 0600 or 0640).

const (
	softFormat     = "signet-soft-keystore"
	softVersion    = 1
	softCheckText  = "signet soft keystore master key check v1"
	softCheckAAD   = "signet-soft-check-v1"
	softKeyAAD     = "signet-soft-key-v1"
	softKeysSubdir = "keys"
	softKeyExt     = ".key"
)

// SoftConfig configures a software key store.
type SoftConfig struct {
	// Dir is the directory holding the keys; it is created (0700) if missing.
	Dir string
	// MasterKeyFile is the file holding the 32-byte master key.
	MasterKeyFile string
	// CreateMasterKey makes OpenSoft create MasterKeyFile (0600, random key)
	// when it does not exist. Without it a missing file is an error.
	CreateMasterKey bool
}

// SoftStore is the software key store. It is safe for concurrent use, also by
// several processes sharing the directory.
type SoftStore struct {
	dir  string
	aead cipher.AEAD

	mu     sync.Mutex
	closed bool
	byID   map[string]string // key id (hex) -> file name, a cache
}

// softHeader is the JSON form of a key file.
type softHeader struct {
	Version   int       `json:"v"`
	ID        string    `json:"id"`
	Label     string    `json:"label"`
	Algorithm Algorithm `json:"alg"`
	Created   time.Time `json:"created"`
	Public    []byte    `json:"public"`
	Nonce     []byte    `json:"nonce"`
	Sealed    []byte    `json:"sealed"`
}

func (h *softHeader) aad() []byte {
	// Labels cannot hold control characters and the other fields are hex,
	// fixed names, RFC 3339 or base64, so NUL separators are unambiguous.
	return []byte(strings.Join([]string{softKeyAAD, fmt.Sprint(h.Version), h.ID, h.Label,
		string(h.Algorithm), h.Created.UTC().Format(time.RFC3339Nano), hex.EncodeToString(h.Public)}, "\x00"))
}

type softStoreFile struct {
	Format  string `json:"format"`
	Version int    `json:"version"`
	Nonce   []byte `json:"nonce"`
	Check   []byte `json:"check"`
}

// OpenSoft opens (creating if needed) the software key store in cfg.Dir. A
// master key that does not match the store gives an errs.Unauthenticated
// error.
func OpenSoft(cfg SoftConfig) (*SoftStore, error) {
	if cfg.Dir == "" || cfg.MasterKeyFile == "" {
		return nil, errors.New("keystore: open soft store: Dir and MasterKeyFile are required")
	}
	master, err := loadMasterKey(cfg.MasterKeyFile, cfg.CreateMasterKey)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(master)
	if err != nil {
		return nil, fmt.Errorf("keystore: open soft store: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("keystore: open soft store: %w", err)
	}
	s := &SoftStore{dir: cfg.Dir, aead: aead, byID: map[string]string{}}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, softKeysSubdir), 0o700); err != nil {
		return nil, fmt.Errorf("keystore: open soft store: %w", err)
	}
	if err := s.checkMaster(); err != nil {
		return nil, err
	}
	return s, nil
}

// loadMasterKey reads (or creates) the master key file.
func loadMasterKey(path string, create bool) ([]byte, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		return createMasterKey(path)
	}
	if err != nil {
		return nil, fmt.Errorf("keystore: master key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("keystore: master key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o027 != 0 {
		return nil, fmt.Errorf("keystore: master key file %s has mode %04o: others may read or change it; chmod 600 it", path, perm)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("keystore: master key file: %w", err)
	}
	if t := bytes.TrimSpace(b); len(t) == 64 {
		if k, err := hex.DecodeString(string(t)); err == nil {
			return k, nil
		}
	}
	if len(b) == 32 {
		return b, nil
	}
	return nil, fmt.Errorf("keystore: master key file %s must hold 32 random bytes as 64 hex digits", path)
}

func createMasterKey(path string) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("keystore: create master key: %w", err)
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("keystore: create master key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("keystore: create master key: %w", err)
	}
	if _, err := f.WriteString(hex.EncodeToString(k) + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("keystore: create master key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("keystore: create master key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("keystore: create master key: %w", err)
	}
	return k, nil
}

func wrongMasterKey(err error) error {
	return errs.Wrap(err, errs.Unauthenticated, "软件密钥库的主密钥不正确，无法解密密钥")
}

// checkMaster verifies the master key against DIR/keystore.json, creating
// the file for a new store. A store whose marker file is missing but which
// holds keys is checked against one of its keys instead.
func (s *SoftStore) checkMaster() error {
	path := filepath.Join(s.dir, "keystore.json")
	b, err := os.ReadFile(path)
	if err == nil {
		var f softStoreFile
		if err := json.Unmarshal(b, &f); err != nil || f.Format != softFormat {
			return fmt.Errorf("keystore: %s is not a Signet software key store", path)
		}
		if f.Version != softVersion {
			return fmt.Errorf("keystore: %s has unsupported version %d", path, f.Version)
		}
		if len(f.Nonce) != s.aead.NonceSize() {
			return fmt.Errorf("keystore: %s: bad check value", path)
		}
		pt, err := s.aead.Open(nil, f.Nonce, f.Check, []byte(softCheckAAD))
		if err != nil || string(pt) != softCheckText {
			return wrongMasterKey(fmt.Errorf("keystore: open soft store %s: master key check failed", s.dir))
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("keystore: open soft store: %w", err)
	}
	headers, err := s.readAll()
	if err != nil {
		return err
	}
	if len(headers) > 0 {
		if _, err := s.unseal(headers[0]); err != nil {
			return wrongMasterKey(fmt.Errorf("keystore: open soft store %s: %w", s.dir, err))
		}
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return fmt.Errorf("keystore: open soft store: %w", err)
	}
	f := softStoreFile{Format: softFormat, Version: softVersion, Nonce: nonce,
		Check: s.aead.Seal(nil, nonce, []byte(softCheckText), []byte(softCheckAAD))}
	b, err = json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("keystore: open soft store: %w", err)
	}
	if err := s.writeOnce(path, b); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("keystore: open soft store: %w", err)
	} else if err != nil {
		// Another process created it first: check against its value.
		return s.checkMaster()
	}
	return nil
}

// writeOnce writes b to path atomically (temporary file, fsync, hard link).
// It returns an error wrapping fs.ErrExist if path already exists.
func (s *SoftStore) writeOnce(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func (s *SoftStore) keysDir() string { return filepath.Join(s.dir, softKeysSubdir) }

// fileName is the key file name for a label.
func fileName(label string) string {
	sum := sha256.Sum256([]byte(label))
	return hex.EncodeToString(sum[:16]) + softKeyExt
}

func (s *SoftStore) checkOpen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	return nil
}

// Generate creates a key. See Store.
func (s *SoftStore) Generate(ctx context.Context, label string, alg Algorithm) (Key, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	if err := checkLabel(label); err != nil {
		return nil, err
	}
	alg, err := checkAlgorithm(alg)
	if err != nil {
		return nil, err
	}
	name := fileName(label)
	if _, err := os.Lstat(filepath.Join(s.keysDir(), name)); err == nil {
		return nil, labelTaken(label)
	}
	var priv crypto.Signer
	switch alg {
	case ECP256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RSA2048:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case RSA3072:
		priv, err = rsa.GenerateKey(rand.Reader, 3072)
	}
	if err != nil {
		return nil, fmt.Errorf("keystore: generate %s: %w", alg, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("keystore: generate: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return nil, fmt.Errorf("keystore: generate: %w", err)
	}
	id := make([]byte, 16)
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("keystore: generate: %w", err)
	}
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("keystore: generate: %w", err)
	}
	h := &softHeader{Version: softVersion, ID: hex.EncodeToString(id), Label: label, Algorithm: alg,
		Created: time.Now().UTC().Truncate(time.Millisecond), Public: pub, Nonce: nonce}
	h.Sealed = s.aead.Seal(nil, nonce, pkcs8, h.aad())
	b, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("keystore: generate: %w", err)
	}
	if err := s.writeOnce(filepath.Join(s.keysDir(), name), b); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, labelTaken(label)
		}
		return nil, fmt.Errorf("keystore: generate: write key file: %w", err)
	}
	s.mu.Lock()
	s.byID[h.ID] = name
	s.mu.Unlock()
	return &softKey{info: h.info(priv.Public()), priv: priv}, nil
}

func labelTaken(label string) error {
	return errs.Wrap(fmt.Errorf("keystore: label %q exists", label), errs.Conflict, "已存在同名密钥："+label)
}

func keyNotFound(uri string) error {
	return errs.Wrap(fmt.Errorf("keystore: no key at %s", uri), errs.NotFound, "密钥不存在："+uri)
}

func (h *softHeader) info(pub crypto.PublicKey) KeyInfo {
	return KeyInfo{URI: softURI(h.ID, h.Label), Label: h.Label, Algorithm: h.Algorithm, Public: pub}
}

func softURI(id, label string) string {
	return "soft:id=" + id + ";object=" + pctEncode([]byte(label), false)
}

// parseSoftURI returns the id (lower-case hex) and label a soft: URI names;
// either may be empty, not both.
func parseSoftURI(uri string) (id, label string, err error) {
	rest, ok := strings.CutPrefix(uri, "soft:")
	if !ok {
		return "", "", errs.Wrap(errors.New("keystore: not a soft: URI"), errs.Invalid, "密钥地址（URI）格式不正确，软件密钥应以 soft: 开头")
	}
	bad := func(detail string) error {
		return errs.Wrap(fmt.Errorf("keystore: parse soft URI: %s", detail), errs.Invalid, "密钥地址（URI）格式不正确")
	}
	if rest == "" {
		return "", "", bad("empty")
	}
	if !strings.Contains(rest, "=") {
		l, err := pctDecode(rest, isPathChar)
		if err != nil {
			return "", "", bad(err.Error())
		}
		return "", string(l), nil
	}
	for _, attr := range strings.Split(rest, ";") {
		name, val, ok := strings.Cut(attr, "=")
		switch {
		case !ok:
			return "", "", bad("attribute without a name=value form")
		case name == "id" && id == "":
			b, err := hex.DecodeString(val)
			if err != nil || len(b) != 16 {
				return "", "", bad("id must be 32 hex digits")
			}
			id = hex.EncodeToString(b)
		case name == "object" && label == "":
			l, err := pctDecode(val, isPathChar)
			if err != nil || len(l) == 0 {
				return "", "", bad("bad object attribute")
			}
			label = string(l)
		default:
			return "", "", bad(fmt.Sprintf("unknown or repeated attribute %q", name))
		}
	}
	return id, label, nil
}

// readHeader reads and decodes one key file; fs.ErrNotExist passes through.
func (s *SoftStore) readHeader(name string) (*softHeader, error) {
	b, err := os.ReadFile(filepath.Join(s.keysDir(), name))
	if err != nil {
		return nil, err
	}
	var h softHeader
	if err := json.Unmarshal(b, &h); err != nil {
		return nil, fmt.Errorf("keystore: key file %s: %w: %v", name, ErrKeyCorrupt, err)
	}
	if h.Version != softVersion || len(h.Nonce) != s.aead.NonceSize() || fileName(h.Label) != name {
		return nil, fmt.Errorf("keystore: key file %s: %w", name, ErrKeyCorrupt)
	}
	return &h, nil
}

// readAll reads every key file header.
func (s *SoftStore) readAll() ([]*softHeader, error) {
	entries, err := os.ReadDir(s.keysDir())
	if err != nil {
		return nil, fmt.Errorf("keystore: list: %w", err)
	}
	var out []*softHeader
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), softKeyExt) || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		h, err := s.readHeader(e.Name())
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

// unseal opens a key file's private key and checks it against the header.
func (s *SoftStore) unseal(h *softHeader) (crypto.Signer, error) {
	pkcs8, err := s.aead.Open(nil, h.Nonce, h.Sealed, h.aad())
	if err != nil {
		return nil, fmt.Errorf("keystore: key %s: %w", h.ID, ErrKeyCorrupt)
	}
	k, err := x509.ParsePKCS8PrivateKey(pkcs8)
	clear(pkcs8)
	if err != nil {
		return nil, fmt.Errorf("keystore: key %s: %w: %v", h.ID, ErrKeyCorrupt, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("keystore: key %s: %w: not a signer", h.ID, ErrKeyCorrupt)
	}
	pub, err := x509.MarshalPKIXPublicKey(signer.Public())
	if err != nil || !bytes.Equal(pub, h.Public) {
		return nil, fmt.Errorf("keystore: key %s: %w: public key mismatch", h.ID, ErrKeyCorrupt)
	}
	return signer, nil
}

// locate finds the header for a URI; nil, nil when there is no such key.
func (s *SoftStore) locate(uri string) (*softHeader, error) {
	id, label, err := parseSoftURI(uri)
	if err != nil {
		return nil, err
	}
	var name string
	if label != "" {
		if checkLabel(label) != nil {
			return nil, nil
		}
		name = fileName(label)
	} else {
		s.mu.Lock()
		name = s.byID[id]
		s.mu.Unlock()
	}
	if name != "" {
		h, err := s.readHeader(name)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		if err == nil && (id == "" || h.ID == id) {
			return h, nil
		}
		if label != "" {
			return nil, nil
		}
	}
	// An id not in the cache: another process may have made it. Rescan.
	all, err := s.readAll()
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.byID)
	var found *softHeader
	for _, h := range all {
		s.byID[h.ID] = fileName(h.Label)
		if h.ID == id {
			found = h
		}
	}
	return found, nil
}

// Find returns the key at uri. See Store.
func (s *SoftStore) Find(ctx context.Context, uri string) (Key, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	h, err := s.locate(uri)
	if err != nil {
		return nil, err
	}
	if h == nil {
		return nil, keyNotFound(uri)
	}
	priv, err := s.unseal(h)
	if err != nil {
		return nil, err
	}
	return &softKey{info: h.info(priv.Public()), priv: priv}, nil
}

// List returns every key ordered by label. Every key file is authenticated;
// a tampered one makes List fail with ErrKeyCorrupt.
func (s *SoftStore) List(ctx context.Context) ([]KeyInfo, error) {
	if err := s.checkOpen(); err != nil {
		return nil, err
	}
	all, err := s.readAll()
	if err != nil {
		return nil, err
	}
	out := make([]KeyInfo, 0, len(all))
	for _, h := range all {
		if _, err := s.aead.Open(nil, h.Nonce, h.Sealed, h.aad()); err != nil {
			return nil, fmt.Errorf("keystore: list: key %s: %w", h.ID, ErrKeyCorrupt)
		}
		pub, err := x509.ParsePKIXPublicKey(h.Public)
		if err != nil {
			return nil, fmt.Errorf("keystore: list: key %s: %w: %v", h.ID, ErrKeyCorrupt, err)
		}
		out = append(out, h.info(pub))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Label < out[j].Label })
	return out, nil
}

// Delete removes the key at uri. See Store.
func (s *SoftStore) Delete(ctx context.Context, uri string) error {
	if err := s.checkOpen(); err != nil {
		return err
	}
	h, err := s.locate(uri)
	if err != nil {
		return err
	}
	if h == nil {
		return keyNotFound(uri)
	}
	name := fileName(h.Label)
	if err := os.Remove(filepath.Join(s.keysDir(), name)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return keyNotFound(uri)
		}
		return fmt.Errorf("keystore: delete: %w", err)
	}
	s.mu.Lock()
	delete(s.byID, h.ID)
	s.mu.Unlock()
	if err := syncDir(s.keysDir()); err != nil {
		return fmt.Errorf("keystore: delete: %w", err)
	}
	return nil
}

// Close marks the store closed. Keys already found keep working: they hold
// their private key in memory.
func (s *SoftStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

// softKey is a decrypted software key.
type softKey struct {
	info KeyInfo
	priv crypto.Signer
}

func (k *softKey) Public() crypto.PublicKey { return k.info.Public }

func (k *softKey) Info() KeyInfo { return k.info }

// Sign signs a SHA-256/384/512 digest; ECDSA signatures are ASN.1 DER, RSA
// ones PKCS#1 v1.5 or PSS when opts is *rsa.PSSOptions.
func (k *softKey) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if _, err := signHash(digest, opts); err != nil {
		return nil, err
	}
	if r == nil {
		r = rand.Reader
	}
	sig, err := k.priv.Sign(r, digest, opts)
	if err != nil {
		return nil, fmt.Errorf("keystore: sign with %s: %w", k.info.URI, err)
	}
	return sig, nil
}

var _ Store = (*SoftStore)(nil)
