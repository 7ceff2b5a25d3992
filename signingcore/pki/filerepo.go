package pki

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"signet/errs"
)

// FileRepository is a Repository kept as JSON files in one directory:
//
//	state.json            the hierarchy (State)
//	issued/<serial>.json  one IssuedCert per certificate
//	revoked.json          every Revocation
//	crl-numbers.json      the CRL number sequences
//
// Every write goes to a temporary file that is synced and renamed over the
// old one, so a crash leaves either the old or the new content. Writes are
// serialised inside one process; several processes may read, but only one
// may write (use a database-backed Repository for several server nodes).
type FileRepository struct {
	dir string
	mu  sync.Mutex // serialises read-modify-write of revoked.json and crl-numbers.json
}

// OpenFileRepository opens (creating if needed) a FileRepository in dir.
func OpenFileRepository(dir string) (*FileRepository, error) {
	if err := os.MkdirAll(filepath.Join(dir, "issued"), 0o700); err != nil {
		return nil, fmt.Errorf("open pki repository: %w", err)
	}
	return &FileRepository{dir: dir}, nil
}

// Dir returns the repository directory.
func (r *FileRepository) Dir() string { return r.dir }

// LoadState implements Repository.
func (r *FileRepository) LoadState(ctx context.Context) (State, error) {
	var st State
	if err := readJSON(filepath.Join(r.dir, "state.json"), &st); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return State{}, errs.Wrap(err, errs.NotFound, "平台证书体系尚未初始化")
		}
		return State{}, fmt.Errorf("load pki state: %w", err)
	}
	return st, nil
}

// SaveState implements Repository.
func (r *FileRepository) SaveState(ctx context.Context, st State) error {
	if err := writeJSON(filepath.Join(r.dir, "state.json"), st); err != nil {
		return fmt.Errorf("save pki state: %w", err)
	}
	return nil
}

// RecordIssued implements Repository.
func (r *FileRepository) RecordIssued(ctx context.Context, rec IssuedCert) error {
	if !validSerialHex(rec.Serial) {
		return fmt.Errorf("record issued certificate: bad serial %q", rec.Serial)
	}
	rec.Revocation = nil
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("record issued certificate: %w", err)
	}
	final := filepath.Join(r.dir, "issued", rec.Serial+".json")
	tmp, err := writeTemp(final, data)
	if err != nil {
		return fmt.Errorf("record issued certificate: %w", err)
	}
	defer os.Remove(tmp)
	// A hard link fails when the target exists: create-if-absent, atomically.
	if err := os.Link(tmp, final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return errs.Wrap(err, errs.Conflict, "证书序列号重复")
		}
		return fmt.Errorf("record issued certificate: %w", err)
	}
	if err := syncDir(filepath.Dir(final)); err != nil {
		return fmt.Errorf("record issued certificate: %w", err)
	}
	return nil
}

// Issued implements Repository.
func (r *FileRepository) Issued(ctx context.Context, serial string) (IssuedCert, error) {
	if !validSerialHex(serial) {
		return IssuedCert{}, errs.New(errs.NotFound, "证书不存在")
	}
	var rec IssuedCert
	if err := readJSON(filepath.Join(r.dir, "issued", serial+".json"), &rec); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return IssuedCert{}, errs.Wrap(err, errs.NotFound, "证书不存在")
		}
		return IssuedCert{}, fmt.Errorf("read issued certificate: %w", err)
	}
	revs, err := r.ListRevoked(ctx)
	if err != nil {
		return IssuedCert{}, err
	}
	for i := range revs {
		if revs[i].Serial == serial {
			rev := revs[i]
			rec.Revocation = &rev
			break
		}
	}
	return rec, nil
}

// RecordRevocation implements Repository.
func (r *FileRepository) RecordRevocation(ctx context.Context, rev Revocation) error {
	if !validSerialHex(rev.Serial) {
		return errs.New(errs.NotFound, "证书不存在")
	}
	if _, err := os.Stat(filepath.Join(r.dir, "issued", rev.Serial+".json")); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return errs.Wrap(err, errs.NotFound, "证书不存在")
		}
		return fmt.Errorf("record revocation: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	revs, err := r.ListRevoked(ctx)
	if err != nil {
		return err
	}
	for _, have := range revs {
		if have.Serial == rev.Serial {
			return errs.New(errs.Conflict, "证书已被吊销")
		}
	}
	revs = append(revs, rev)
	sortRevocations(revs)
	if err := writeJSON(filepath.Join(r.dir, "revoked.json"), revs); err != nil {
		return fmt.Errorf("record revocation: %w", err)
	}
	return nil
}

// ListRevoked implements Repository.
func (r *FileRepository) ListRevoked(ctx context.Context) ([]Revocation, error) {
	var revs []Revocation
	if err := readJSON(filepath.Join(r.dir, "revoked.json"), &revs); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("list revocations: %w", err)
	}
	sortRevocations(revs)
	return revs, nil
}

// NextCRLNumber implements Repository.
func (r *FileRepository) NextCRLNumber(ctx context.Context, sequence string) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	path := filepath.Join(r.dir, "crl-numbers.json")
	nums := map[string]int64{}
	if err := readJSON(path, &nums); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("next crl number: %w", err)
	}
	nums[sequence]++
	if err := writeJSON(path, nums); err != nil {
		return 0, fmt.Errorf("next crl number: %w", err)
	}
	return nums[sequence], nil
}

func sortRevocations(revs []Revocation) {
	sort.Slice(revs, func(i, j int) bool {
		if !revs[i].Time.Equal(revs[j].Time) {
			return revs[i].Time.Before(revs[j].Time)
		}
		return revs[i].Serial < revs[j].Serial
	})
}

func validSerialHex(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return nil
}

// writeJSON replaces path atomically with v as JSON.
func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := writeTemp(path, data)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(filepath.Dir(path))
}

// writeTemp writes data to a synced temporary file next to path and returns
// its name.
func writeTemp(path string, data []byte) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(name, 0o600)
	}
	if err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
