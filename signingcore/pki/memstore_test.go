package pki

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"io"
	"sort"
	"sync"

	"signet/errs"
	"signet/signingcore/keystore"
)

// memStore is a keystore.Store in memory for these tests, so they do not
// depend on the key store package's progress. Generate counts calls so tests
// can see whether a key was reused.
type memStore struct {
	mu        sync.Mutex
	keys      map[string]*memKey // by URI
	generated int
}

func newMemStore() *memStore { return &memStore{keys: map[string]*memKey{}} }

type memKey struct {
	crypto.Signer
	info keystore.KeyInfo
}

func (k *memKey) Info() keystore.KeyInfo { return k.info }

func (k *memKey) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return k.Signer.Sign(r, digest, opts)
}

func (s *memStore) Generate(ctx context.Context, label string, alg keystore.Algorithm) (keystore.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.keys {
		if k.info.Label == label {
			return nil, errs.New(errs.Conflict, "密钥标签已存在")
		}
	}
	var signer crypto.Signer
	var err error
	switch alg {
	case keystore.ECP256:
		signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case keystore.RSA2048:
		signer, err = rsa.GenerateKey(rand.Reader, 2048)
	case keystore.RSA3072:
		signer, err = rsa.GenerateKey(rand.Reader, 3072)
	default:
		return nil, errs.New(errs.Invalid, "不支持的算法")
	}
	if err != nil {
		return nil, err
	}
	s.generated++
	uri := fmt.Sprintf("mem:%d;label=%s", s.generated, label)
	k := &memKey{Signer: signer, info: keystore.KeyInfo{URI: uri, Label: label, Algorithm: alg, Public: signer.Public()}}
	s.keys[uri] = k
	return k, nil
}

func (s *memStore) Find(ctx context.Context, uri string) (keystore.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[uri]
	if !ok {
		return nil, errs.New(errs.NotFound, "密钥不存在")
	}
	return k, nil
}

func (s *memStore) List(ctx context.Context) ([]keystore.KeyInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []keystore.KeyInfo
	for _, k := range s.keys {
		out = append(out, k.info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Label < out[j].Label })
	return out, nil
}

func (s *memStore) Delete(ctx context.Context, uri string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[uri]; !ok {
		return errs.New(errs.NotFound, "密钥不存在")
	}
	delete(s.keys, uri)
	return nil
}

func (s *memStore) Close() error { return nil }

func (s *memStore) generatedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.generated
}
