package keystore_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"signet/errs"
	"signet/signingcore/keystore"
	"signet/signingcore/keystore/keystoretest"
)

// softFixture is a store directory and master key shared by one test.
type softFixture struct {
	dir, master string
}

func newSoftFixture(t *testing.T) softFixture {
	t.Helper()
	tmp := t.TempDir()
	return softFixture{dir: filepath.Join(tmp, "keys"), master: filepath.Join(tmp, "secret", "master.key")}
}

func (f softFixture) open(t *testing.T) *keystore.SoftStore {
	t.Helper()
	s, err := keystore.OpenSoft(keystore.SoftConfig{Dir: f.dir, MasterKeyFile: f.master, CreateMasterKey: true})
	if err != nil {
		t.Fatalf("OpenSoft: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSoftConformance(t *testing.T) {
	f := newSoftFixture(t)
	f.open(t) // creates the master key
	master, err := os.ReadFile(f.master)
	if err != nil {
		t.Fatal(err)
	}
	wrong := filepath.Join(t.TempDir(), "wrong.key")
	if err := os.WriteFile(wrong, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keystoretest.Suite{
		NewStore: func(t *testing.T) keystore.Store { return f.open(t) },
		OpenWrongSecret: func(t *testing.T) (keystore.Store, error) {
			s, err := keystore.OpenSoft(keystore.SoftConfig{Dir: f.dir, MasterKeyFile: wrong})
			if err != nil {
				return nil, err
			}
			return s, nil
		},
		Secret: strings.TrimSpace(string(master)),
	}.Run(t)
}

func TestSoftMasterKeyFile(t *testing.T) {
	f := newSoftFixture(t)
	if _, err := keystore.OpenSoft(keystore.SoftConfig{Dir: f.dir, MasterKeyFile: f.master}); err == nil {
		t.Fatalf("OpenSoft without CreateMasterKey and no key file succeeded")
	}
	f.open(t)
	fi, err := os.Stat(f.master)
	if err != nil {
		t.Fatalf("master key not created: %v", err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("master key mode = %04o, want 0600", got)
	}
	b, _ := os.ReadFile(f.master)
	if k, err := hex.DecodeString(strings.TrimSpace(string(b))); err != nil || len(k) != 32 {
		t.Errorf("master key file = %q, want 64 hex digits", b)
	}
	// Reopening without CreateMasterKey uses the same key.
	s, err := keystore.OpenSoft(keystore.SoftConfig{Dir: f.dir, MasterKeyFile: f.master})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	s.Close()

	tests := []struct {
		name    string
		content []byte
		mode    os.FileMode
	}{
		{"world readable", b, 0o644},
		{"group writable", b, 0o660},
		{"too short", []byte("abcd\n"), 0o600},
		{"not hex", []byte(strings.Repeat("zz", 32)), 0o600},
	}
	for _, tt := range tests {
		path := filepath.Join(t.TempDir(), "m.key")
		if err := os.WriteFile(path, tt.content, tt.mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(path, tt.mode)
		_, err := keystore.OpenSoft(keystore.SoftConfig{Dir: filepath.Join(t.TempDir(), "d"), MasterKeyFile: path})
		if err == nil {
			t.Errorf("%s: OpenSoft succeeded, want an error", tt.name)
		} else if bytes.Contains([]byte(err.Error()), bytes.TrimSpace(b)) {
			t.Errorf("%s: error contains the master key: %v", tt.name, err)
		}
	}

	// 32 raw bytes are accepted too.
	raw := filepath.Join(t.TempDir(), "raw.key")
	k := make([]byte, 32)
	rand.Read(k)
	if err := os.WriteFile(raw, k, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err = keystore.OpenSoft(keystore.SoftConfig{Dir: filepath.Join(t.TempDir(), "d"), MasterKeyFile: raw})
	if err != nil {
		t.Fatalf("raw 32-byte master key: %v", err)
	}
	s.Close()
}

func TestSoftURIForms(t *testing.T) {
	f := newSoftFixture(t)
	s := f.open(t)
	ctx := context.Background()
	label := "法定代表人章; a=b/c%"
	key, err := s.Generate(ctx, label, keystore.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	uri := key.Info().URI
	id := strings.TrimPrefix(strings.Split(uri, ";")[0], "soft:id=")
	enc := strings.TrimPrefix(strings.Split(uri, ";")[1], "object=")
	tests := []struct {
		uri  string
		want errs.Code // "" = found
	}{
		{uri, ""},
		{"soft:id=" + id, ""},
		{"soft:id=" + strings.ToUpper(id), ""},
		{"soft:object=" + enc, ""},
		{"soft:" + enc, ""},
		{"soft:object=" + enc + ";id=" + id, ""},
		{"soft:id=" + strings.Repeat("0", 32), errs.NotFound},
		{"soft:id=" + strings.Repeat("0", 32) + ";object=" + enc, errs.NotFound},
		{"soft:object=nope", errs.NotFound},
		{"soft:id=123", errs.Invalid},
		{"soft:id=" + id + ";id=" + id, errs.Invalid},
		{"soft:colour=red", errs.Invalid},
		{"soft:" + label, errs.Invalid}, // not percent-encoded
		{"soft:", errs.Invalid},
	}
	for _, tt := range tests {
		k, err := s.Find(ctx, tt.uri)
		if got := errs.CodeOf(err); got != tt.want {
			t.Errorf("Find(%q): code %q (%v), want %q", tt.uri, got, err, tt.want)
			continue
		}
		if err == nil && !k.Public().(*ecdsa.PublicKey).Equal(key.Public()) {
			t.Errorf("Find(%q) returned another key", tt.uri)
		}
	}
}

// TestSoftSharedDirectory: two stores on one directory (two processes in
// production) see each other's keys by id and by label, and still agree on
// label uniqueness.
func TestSoftSharedDirectory(t *testing.T) {
	f := newSoftFixture(t)
	a, b := f.open(t), f.open(t)
	ctx := context.Background()
	if _, err := b.List(ctx); err != nil { // warm b's id cache
		t.Fatal(err)
	}
	key, err := a.Generate(ctx, "shared", keystore.ECP256)
	if err != nil {
		t.Fatal(err)
	}
	id := strings.Split(key.Info().URI, ";")[0]
	if _, err := b.Find(ctx, id); err != nil {
		t.Errorf("other store Find(%q): %v", id, err)
	}
	if _, err := b.Generate(ctx, "shared", keystore.RSA2048); !errs.Is(err, errs.Conflict) {
		t.Errorf("other store Generate with a used label: %v, want Conflict", err)
	}
	if err := b.Delete(ctx, key.Info().URI); err != nil {
		t.Fatalf("other store Delete: %v", err)
	}
	if _, err := a.Find(ctx, id); !errs.Is(err, errs.NotFound) {
		t.Errorf("Find after the other store deleted: %v, want NotFound", err)
	}
}

// TestSoftTamper changes key files on disk; every change must be detected.
func TestSoftTamper(t *testing.T) {
	tests := []struct {
		name   string
		change func(b []byte) []byte
	}{
		{"sealed byte flipped", func(b []byte) []byte {
			i := bytes.Index(b, []byte(`"sealed": "`)) + 20
			b[i] ^= 1
			if b[i] == '"' || b[i] == '\\' {
				b[i] = 'A'
			}
			return b
		}},
		{"algorithm changed", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"EC-P256"`), []byte(`"RSA-2048"`), 1)
		}},
		{"created changed", func(b []byte) []byte {
			return bytes.Replace(b, []byte(`"created": "2`), []byte(`"created": "1`), 1)
		}},
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newSoftFixture(t)
			s := f.open(t)
			ctx := context.Background()
			key, err := s.Generate(ctx, "victim", keystore.ECP256)
			if err != nil {
				t.Fatal(err)
			}
			files, _ := filepath.Glob(filepath.Join(f.dir, "keys", "*.key"))
			if len(files) != 1 {
				t.Fatalf("want 1 key file, got %v", files)
			}
			b, _ := os.ReadFile(files[0])
			changed := tt.change(bytes.Clone(b))
			if bytes.Equal(changed, b) {
				t.Fatalf("the change did not change the file")
			}
			if err := os.WriteFile(files[0], changed, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Find(ctx, key.Info().URI); !errors.Is(err, keystore.ErrKeyCorrupt) {
				t.Errorf("Find tampered key: %v, want ErrKeyCorrupt", err)
			}
			if _, err := s.List(ctx); !errors.Is(err, keystore.ErrKeyCorrupt) {
				t.Errorf("List with a tampered key: %v, want ErrKeyCorrupt", err)
			}
		})
	}
}

// TestSoftWrongKeyWithoutMarker: without keystore.json the master key is
// checked against the keys themselves.
func TestSoftWrongKeyWithoutMarker(t *testing.T) {
	f := newSoftFixture(t)
	s := f.open(t)
	if _, err := s.Generate(context.Background(), "k", keystore.ECP256); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := os.Remove(filepath.Join(f.dir, "keystore.json")); err != nil {
		t.Fatal(err)
	}
	wrong := filepath.Join(t.TempDir(), "wrong.key")
	os.WriteFile(wrong, []byte(strings.Repeat("cd", 32)), 0o600)
	_, err := keystore.OpenSoft(keystore.SoftConfig{Dir: f.dir, MasterKeyFile: wrong})
	if !errs.Is(err, errs.Unauthenticated) {
		t.Errorf("wrong master key on a store without marker: %v, want Unauthenticated", err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "keystore.json")); err == nil {
		t.Errorf("a wrong master key wrote a new marker file")
	}
	s = f.open(t)
	k, err := s.Find(context.Background(), "soft:k")
	if err != nil {
		t.Fatalf("right master key after removing the marker: %v", err)
	}
	d := sha256.Sum256(nil)
	if _, err := k.Sign(nil, d[:], crypto.SHA256); err != nil {
		t.Fatal(err)
	}
}
