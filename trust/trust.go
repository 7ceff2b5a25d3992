// Package trust opens the platform's trust services from configuration — the
// key store (software keys in the data folder by default, or a PKCS#11 HSM),
// the platform CA and its time-stamping authority — and publishes them over
// HTTP: CA certificates, CRLs and OCSP under /pki, RFC 3161 at /tsa.
//
// The server and the operator commands (`signet ca init|status`,
// `signet pdf verify`) open the same layout in the data folder:
//
//	<data>/master.key   the software key store's master key (0600)
//	<data>/keys/        the software key store
//	<data>/pki/         the CA's certificates, issued certificates, revocations
package trust

import (
	"context"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"signet/errs"
	"signet/signingcore/keystore"
	"signet/signingcore/pki"
	"signet/signingcore/tsa"
)

// Config says where the keys and the CA live.
type Config struct {
	// DataDir is the data folder.
	DataDir string
	// BaseURL is the server's public URL, written into certificates (CRL and
	// OCSP locations).
	BaseURL string
	// KeyStore is "soft" (default) or "pkcs11".
	KeyStore string
	// MasterKeyFile is the software store's master key; <data>/master.key
	// when empty.
	MasterKeyFile string
	// PKCS11Module, PKCS11Token and PKCS11PINFile configure the HSM.
	PKCS11Module  string
	PKCS11Token   string
	PKCS11PINFile string
	// Create makes a missing master key and CA hierarchy (development and
	// `signet ca init`); without it they must exist.
	Create bool
}

// Services are the opened trust services.
type Services struct {
	Keys keystore.Store
	CA   *pki.CA
	TSA  *tsa.Authority
}

// ErrNoCA says the data folder holds no CA yet.
var ErrNoCA = errors.New("no platform CA in the data folder: run `signet ca init` first")

// Open opens the key store and the CA (creating them when cfg.Create) and
// builds the TSA. It returns the CA's status.
func Open(ctx context.Context, cfg Config) (*Services, pki.Status, error) {
	if cfg.DataDir == "" {
		return nil, pki.Status{}, errors.New("trust: the data folder must not be empty")
	}
	master := cfg.MasterKeyFile
	if master == "" {
		master = filepath.Join(cfg.DataDir, "master.key")
	}
	var keys keystore.Store
	switch cfg.KeyStore {
	case "", "soft":
		if !cfg.Create {
			if _, err := os.Stat(master); errors.Is(err, os.ErrNotExist) {
				return nil, pki.Status{}, fmt.Errorf("%w (%s is missing)", ErrNoCA, master)
			}
		} else if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, pki.Status{}, fmt.Errorf("trust: data folder: %w", err)
		}
		s, err := keystore.OpenSoft(keystore.SoftConfig{Dir: filepath.Join(cfg.DataDir, "keys"), MasterKeyFile: master, CreateMasterKey: cfg.Create})
		if err != nil {
			return nil, pki.Status{}, fmt.Errorf("trust: open key store: %w", err)
		}
		keys = s
	case "pkcs11":
		s, err := openPKCS11(cfg)
		if err != nil {
			return nil, pki.Status{}, err
		}
		keys = s
	default:
		return nil, pki.Status{}, fmt.Errorf("trust: unknown key store %q (soft or pkcs11)", cfg.KeyStore)
	}
	fail := func(err error) (*Services, pki.Status, error) {
		keys.Close()
		return nil, pki.Status{}, err
	}
	repo, err := pki.OpenFileRepository(filepath.Join(cfg.DataDir, "pki"))
	if err != nil {
		return fail(fmt.Errorf("trust: open CA repository: %w", err))
	}
	ca, err := pki.New(pki.Config{Keys: keys, Repo: repo, BaseURL: cfg.BaseURL})
	if err != nil {
		return fail(fmt.Errorf("trust: %w", err))
	}
	var st pki.Status
	if cfg.Create {
		st, err = ca.Init(ctx)
	} else if err = ca.Load(ctx); err == nil {
		st, err = ca.Status()
	}
	switch {
	case errs.Is(err, errs.NotFound):
		return fail(ErrNoCA)
	case err != nil:
		return fail(fmt.Errorf("trust: %w", err))
	}
	key, chain, err := ca.TSA()
	if err != nil {
		return fail(fmt.Errorf("trust: tsa: %w", err))
	}
	// The TSA policy OID sits under an enterprise arc Signet has to register
	// before production use; tokens name it, validators do not check it.
	policy := asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 61234, 1, 1}
	authority, err := tsa.New(key, chain, policy, time.Now)
	if err != nil {
		return fail(fmt.Errorf("trust: tsa: %w", err))
	}
	return &Services{Keys: keys, CA: ca, TSA: authority}, st, nil
}

// Close releases the key store.
func (s *Services) Close() error { return s.Keys.Close() }

// maxOCSPRequest bounds an OCSP or time-stamp request body.
const maxOCSPRequest = 64 << 10

// Handler serves the CA publication points under /pki (certificates, CRLs,
// OCSP by GET and POST) and the RFC 3161 TSA at /tsa. Mount it at "/pki/*"
// and "/tsa".
func (s *Services) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/tsa":
			s.TSA.ServeHTTP(w, r)
		case r.URL.Path == pki.PathOCSP || strings.HasPrefix(r.URL.Path, pki.PathOCSP+"/"):
			s.serveOCSP(w, r)
		case r.Method == http.MethodGet || r.Method == http.MethodHead:
			body, ct, err := s.CA.Published(r.Context(), r.URL.Path)
			if errs.Is(err, errs.NotFound) {
				http.NotFound(w, r)
				return
			}
			if err != nil {
				http.Error(w, "系统繁忙，请稍后再试", http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", ct)
			w.Header().Set("Cache-Control", "public, max-age=300")
			_, _ = w.Write(body)
		default:
			http.Error(w, "不支持的请求方法", http.StatusMethodNotAllowed)
		}
	})
}

// serveOCSP answers RFC 6960 requests: POST with the DER body, or GET with
// the base64 request as the last path segment.
func (s *Services) serveOCSP(w http.ResponseWriter, r *http.Request) {
	var req []byte
	var err error
	switch r.Method {
	case http.MethodPost:
		if ct := r.Header.Get("Content-Type"); ct != "application/ocsp-request" {
			http.Error(w, "Content-Type 须为 application/ocsp-request", http.StatusUnsupportedMediaType)
			return
		}
		req, err = io.ReadAll(http.MaxBytesReader(w, r.Body, maxOCSPRequest))
	case http.MethodGet:
		req, err = pki.DecodeOCSPGet(strings.TrimPrefix(r.URL.Path, pki.PathOCSP+"/"))
	default:
		http.Error(w, "不支持的请求方法", http.StatusMethodNotAllowed)
		return
	}
	if err != nil {
		http.Error(w, "OCSP 请求格式错误", http.StatusBadRequest)
		return
	}
	resp, err := s.CA.OCSPResponse(r.Context(), req)
	if err != nil {
		http.Error(w, "系统繁忙，请稍后再试", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/ocsp-response")
	_, _ = w.Write(resp)
}
