// Package blobtest is the conformance suite every blob.Store must pass (the
// disk store today, an S3-compatible store later).
package blobtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"strings"
	"sync"
	"testing"

	"signet/blob"
	"signet/errs"
)

// Run runs the suite against stores made by newStore (a fresh, empty store
// per call).
func Run(t *testing.T, newStore func(t *testing.T) blob.Store) {
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, newStore(t)) })
	t.Run("Content", func(t *testing.T) { testContent(t, newStore(t)) })
	t.Run("BadKeys", func(t *testing.T) { testBadKeys(t, newStore(t)) })
	t.Run("ConcurrentSameContent", func(t *testing.T) { testConcurrent(t, newStore(t)) })
	t.Run("FailedWriteLeavesNothing", func(t *testing.T) { testFailedWrite(t, newStore(t)) })
}

// MustRead reads the whole blob.
func MustRead(t testing.TB, s blob.Store, key string) []byte {
	t.Helper()
	rc, err := s.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	return b
}

// IsNotFound reports whether err is a store's not-found error.
func IsNotFound(err error) bool {
	return errs.Is(err, errs.NotFound) && errors.Is(err, fs.ErrNotExist)
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func testRoundTrip(t *testing.T, s blob.Store) {
	ctx := context.Background()
	data := []byte("%PDF-1.7 合同")
	info, err := s.Put(ctx, "flows/12/original.pdf", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if info.Key != "flows/12/original.pdf" || info.Size != int64(len(data)) || info.SHA256 != sum(data) {
		t.Errorf("put info %+v", info)
	}
	if got := MustRead(t, s, info.Key); !bytes.Equal(got, data) {
		t.Errorf("read %q", got)
	}
	st, err := s.Stat(ctx, info.Key)
	if err != nil || st.Size != int64(len(data)) || st.Key != info.Key {
		t.Errorf("stat %+v, %v", st, err)
	}
	// Overwrite replaces.
	if _, err := s.Put(ctx, info.Key, strings.NewReader("v2")); err != nil {
		t.Fatal(err)
	}
	if got := MustRead(t, s, info.Key); string(got) != "v2" {
		t.Errorf("after overwrite %q", got)
	}
	if err := s.Delete(ctx, info.Key); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, info.Key); err != nil {
		t.Errorf("deleting a missing blob: %v", err)
	}
	if _, err := s.Get(ctx, info.Key); !IsNotFound(err) {
		t.Errorf("get after delete: %v", err)
	}
	if _, err := s.Stat(ctx, info.Key); !IsNotFound(err) {
		t.Errorf("stat after delete: %v", err)
	}
	// A folder is not a blob.
	if _, err := s.Put(ctx, "a/b", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "a"); !IsNotFound(err) {
		t.Errorf("get of a prefix: %v", err)
	}
	if _, err := s.Stat(ctx, "a"); !IsNotFound(err) {
		t.Errorf("stat of a prefix: %v", err)
	}
	// Empty content is a blob.
	if info, err := s.Put(ctx, "empty", strings.NewReader("")); err != nil || info.Size != 0 {
		t.Errorf("empty put %+v, %v", info, err)
	}
}

func testContent(t *testing.T, s blob.Store) {
	ctx := context.Background()
	data := bytes.Repeat([]byte("0123456789abcdef"), 300_000) // 4.8 MB
	info, err := s.PutContent(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if info.Key != blob.ContentKey(sum(data)) || info.SHA256 != sum(data) || info.Size != int64(len(data)) {
		t.Errorf("info %+v", info)
	}
	if got := MustRead(t, s, info.Key); !bytes.Equal(got, data) {
		t.Error("content differs")
	}
	st, err := s.Stat(ctx, info.Key)
	if err != nil || st.SHA256 != info.SHA256 || st.Size != info.Size {
		t.Errorf("stat %+v, %v", st, err)
	}
	again, err := s.PutContent(ctx, bytes.NewReader(data))
	if err != nil || again.Key != info.Key {
		t.Errorf("second put %+v, %v", again, err)
	}
	// Content keys are not writable by key.
	if _, err := s.Put(ctx, info.Key, strings.NewReader("forged")); !errs.Is(err, errs.Invalid) {
		t.Errorf("put to a content key: %v", err)
	}
	if got := MustRead(t, s, info.Key); !bytes.Equal(got, data) {
		t.Error("content key was overwritten")
	}
}

func testBadKeys(t *testing.T, s blob.Store) {
	ctx := context.Background()
	bad := []string{"", "/etc/passwd", "../x", "a/../../x", "a/./b", "a//b", "a/", ".hidden", "a\\b",
		"a/..", "..", "a b", "a\x00b", "汉字", strings.Repeat("a", blob.MaxKey+1), "sha256/" + strings.Repeat("0", 64)}
	for _, k := range bad {
		if _, err := s.Put(ctx, k, strings.NewReader("x")); !errs.Is(err, errs.Invalid) {
			t.Errorf("put %q: %v, want INVALID_ARGUMENT", k, err)
		}
	}
	for _, k := range bad[:len(bad)-1] {
		if _, err := s.Get(ctx, k); !errs.Is(err, errs.Invalid) {
			t.Errorf("get %q: %v, want INVALID_ARGUMENT", k, err)
		}
		if _, err := s.Stat(ctx, k); !errs.Is(err, errs.Invalid) {
			t.Errorf("stat %q: %v, want INVALID_ARGUMENT", k, err)
		}
		if err := s.Delete(ctx, k); !errs.Is(err, errs.Invalid) {
			t.Errorf("delete %q: %v, want INVALID_ARGUMENT", k, err)
		}
	}
}

func testConcurrent(t *testing.T, s blob.Store) {
	ctx := context.Background()
	data := bytes.Repeat([]byte("same bytes "), 100_000)
	const n = 16
	var wg sync.WaitGroup
	keys := make([]string, n)
	errc := make(chan error, 2*n)
	for i := 0; i < n; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			info, err := s.PutContent(ctx, bytes.NewReader(data))
			if err != nil {
				errc <- err
			}
			keys[i] = info.Key
		}()
		go func() {
			defer wg.Done()
			if _, err := s.Put(ctx, "shared/key", bytes.NewReader(data)); err != nil {
				errc <- err
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	for _, k := range keys {
		if k != keys[0] {
			t.Fatalf("keys differ: %s, %s", k, keys[0])
		}
	}
	for _, k := range []string{keys[0], "shared/key"} {
		if got := MustRead(t, s, k); !bytes.Equal(got, data) {
			t.Errorf("%s: content differs (%d bytes)", k, len(got))
		}
	}
}

type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errors.New("connection reset")
	}
	n := min(len(p), r.n)
	for i := range p[:n] {
		p[i] = 'x'
	}
	r.n -= n
	return n, nil
}

func testFailedWrite(t *testing.T, s blob.Store) {
	ctx := context.Background()
	if _, err := s.Put(ctx, "doc", strings.NewReader("old")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "doc", &failingReader{n: 100_000}); err == nil {
		t.Fatal("a failed read stored a blob")
	}
	if got := MustRead(t, s, "doc"); string(got) != "old" {
		t.Errorf("after a failed overwrite: %q", got)
	}
	if _, err := s.Put(ctx, "new", &failingReader{n: 10}); err == nil {
		t.Fatal("a failed read stored a blob")
	}
	if _, err := s.Stat(ctx, "new"); !IsNotFound(err) {
		t.Errorf("half-written blob visible: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.PutContent(cctx, strings.NewReader("cancelled")); err == nil {
		t.Error("a cancelled put succeeded")
	}
}
