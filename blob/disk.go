package blob

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"strings"
	"sync"
	"time"
)

// DiskConfig configures a Disk store.
type DiskConfig struct {
	// Dir is the store's folder (Signet uses <data>/blobs); it is created.
	Dir string
	// StaleTemp is how old a temporary file must be for Open to remove it
	// as the leftover of a crashed write (1 h when 0).
	StaleTemp time.Duration
	// Logger may be nil.
	Logger *slog.Logger
}

// Disk stores blobs as files: Dir/objects/<key> (content keys fan out as
// objects/sha256/ab/<hex>), written through Dir/tmp.
type Disk struct {
	root *os.Root
	log  *slog.Logger
	// made remembers the folders known to exist (objects' fan-out folders),
	// so a write does not ask for each of them again.
	made sync.Map
	// sweep orders SweepContent's removals with PutContent: a removal holds
	// it exclusively, PutContent shared (see SweepContent).
	sweep sync.RWMutex
	// pack is the pack file this process appends to (pack.go).
	pack packWriter
	// dirs holds open handles (*os.Root) of the folders blobs are read
	// from (objects/sha256/ab, packs), so that a read opens one name: the
	// store's root resolves a path one folder at a time, an open and a
	// close for each, and a signature reads its document's revision.
	dirs sync.Map
}

var _ Store = (*Disk)(nil)

const (
	objectsDir = "objects"
	tmpDir     = "tmp"
)

// OpenDisk opens (creating) a disk store and removes stale temporary files.
func OpenDisk(cfg DiskConfig) (*Disk, error) {
	if cfg.Dir == "" {
		return nil, errors.New("blob: no folder")
	}
	if cfg.StaleTemp <= 0 {
		cfg.StaleTemp = time.Hour
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	for _, d := range []string{objectsDir, tmpDir} {
		if err := os.MkdirAll(cfg.Dir+string(os.PathSeparator)+d, 0o700); err != nil {
			return nil, fmt.Errorf("blob: %w", err)
		}
	}
	root, err := os.OpenRoot(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	d := &Disk{root: root, log: logger}
	d.cleanTemp(cfg.StaleTemp)
	return d, nil
}

// Close releases the store's folder handle.
func (d *Disk) Close() error {
	d.closePack()
	return d.root.Close()
}

func (d *Disk) cleanTemp(olderThan time.Duration) {
	dir, err := d.root.Open(tmpDir)
	if err != nil {
		return
	}
	defer dir.Close()
	entries, err := dir.ReadDir(-1)
	if err != nil {
		return
	}
	cutoff := time.Now().Add(-olderThan)
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() || info.ModTime().After(cutoff) {
			continue
		}
		if err := d.root.Remove(tmpDir + "/" + e.Name()); err == nil {
			d.log.Info("blob: removed the leftover of an interrupted write", "file", e.Name())
		}
	}
}

// objectPath maps a valid key to its file under the root.
func objectPath(key string) string {
	if sum := contentSum(key); sum != "" {
		return objectsDir + "/sha256/" + sum[:2] + "/" + sum
	}
	return objectsDir + "/" + key
}

// Put stores r under key (see Store).
func (d *Disk) Put(ctx context.Context, key string, r io.Reader) (Info, error) {
	if !ValidKey(key) || strings.HasPrefix(key, ContentPrefix) || strings.HasPrefix(key, PackPrefix) {
		return Info{}, invalidKey(key)
	}
	tmp, info, err := d.writeTemp(ctx, r, true)
	if err != nil {
		return Info{}, err
	}
	info.Key = key
	if err := d.commit(tmp, objectPath(key), true); err != nil {
		return Info{}, err
	}
	return info, nil
}

// PutContent stores r under its content key (see Store).
func (d *Disk) PutContent(ctx context.Context, r io.Reader) (Info, error) {
	tmp, info, err := d.writeTemp(ctx, r, true)
	if err != nil {
		return Info{}, err
	}
	d.sweep.RLock()
	defer d.sweep.RUnlock()
	return d.placeContent(tmp, info, true)
}

// PutContents stores each of contents as PutContent does, with two file
// system syncs for all of them (one for the data, one for the names)
// instead of two per blob. It is for moving many blobs at once (the staged
// revisions, flows/staged.go); infos are in the order of contents. On
// error some of them may be stored.
func (d *Disk) PutContents(ctx context.Context, contents [][]byte) ([]Info, error) {
	if !haveSyncFS {
		infos := make([]Info, len(contents))
		for i, c := range contents {
			info, err := d.PutContent(ctx, bytes.NewReader(c))
			if err != nil {
				return nil, err
			}
			infos[i] = info
		}
		return infos, nil
	}
	tmps := make([]string, 0, len(contents))
	written := make([]Info, 0, len(contents))
	placed := 0
	defer func() { // the temporary files not placed
		for _, t := range tmps[placed:] {
			d.root.Remove(t)
		}
	}()
	for _, c := range contents {
		tmp, info, err := d.writeTemp(ctx, bytes.NewReader(c), false)
		if err != nil {
			return nil, err
		}
		tmps, written = append(tmps, tmp), append(written, info)
	}
	if err := d.syncFS(); err != nil {
		return nil, err
	}
	d.sweep.RLock()
	defer d.sweep.RUnlock()
	infos := make([]Info, len(written))
	for i := range written {
		info, err := d.placeContent(tmps[i], written[i], false)
		placed++ // placed or removed, either way not ours to remove
		if err != nil {
			return nil, err
		}
		infos[i] = info
	}
	if err := d.syncFS(); err != nil {
		return nil, err
	}
	return infos, nil
}

// placeContent moves a written temporary file to its content key, or drops
// it when the same content is stored already (refreshing that one's time).
// syncDir syncs the target's folder after the rename. The caller holds
// d.sweep for reading.
func (d *Disk) placeContent(tmp string, info Info, syncDir bool) (Info, error) {
	info.Key = ContentKey(info.SHA256)
	target := objectPath(info.Key)
	if st, err := d.root.Stat(target); err == nil && st.Size() == info.Size {
		// Already stored (the same bytes, by construction). Its time is
		// refreshed: the caller is about to refer to it, and SweepContent
		// leaves recently stored blobs alone.
		d.root.Remove(tmp)
		now := time.Now()
		if err := d.root.Chtimes(target, now, now); err != nil {
			return Info{}, fmt.Errorf("blob: %w", err)
		}
		info.ModTime = now
		return info, nil
	}
	if err := d.commit(tmp, target, syncDir); err != nil {
		return Info{}, err
	}
	return info, nil
}

// writeTemp copies r into a new fsynced temporary file and returns its
// name; on failure nothing is left behind.
func (d *Disk) writeTemp(ctx context.Context, r io.Reader, sync bool) (string, Info, error) {
	var rnd [12]byte
	_, _ = rand.Read(rnd[:])
	name := tmpDir + "/" + hex.EncodeToString(rnd[:]) + ".tmp"
	f, err := d.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", Info{}, fmt.Errorf("blob: create temporary file: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), &ctxReader{ctx: ctx, r: r})
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		d.root.Remove(name)
		return "", Info{}, fmt.Errorf("blob: write: %w", err)
	}
	return name, Info{Size: n, SHA256: hex.EncodeToString(h.Sum(nil)), ModTime: time.Now()}, nil
}

// commit renames tmp to target and makes the rename durable.
func (d *Disk) commit(tmp, target string, syncDir bool) error {
	dir := path.Dir(target)
	_, known := d.made.Load(dir)
	for {
		if !known {
			if err := d.root.MkdirAll(dir, 0o700); err != nil {
				d.root.Remove(tmp)
				return fmt.Errorf("blob: %w", err)
			}
			d.made.Store(dir, struct{}{})
		}
		err := d.root.Rename(tmp, target)
		if err == nil {
			break
		}
		if known && errors.Is(err, fs.ErrNotExist) {
			known = false // the folder was removed behind our back: make it again
			continue
		}
		d.root.Remove(tmp)
		return fmt.Errorf("blob: %w", err)
	}
	if !syncDir {
		return nil
	}
	if f, err := d.root.Open(dir); err == nil {
		err = f.Sync()
		f.Close()
		if err != nil {
			return fmt.Errorf("blob: sync folder: %w", err)
		}
	}
	return nil
}

// Get opens the blob (see Store).
func (d *Disk) Get(_ context.Context, key string) (io.ReadCloser, error) {
	if !ValidKey(key) {
		return nil, invalidKey(key)
	}
	if strings.HasPrefix(key, PackPrefix) {
		rc, _, err := d.openPacked(key)
		return rc, err
	}
	var (
		f   *os.File
		err error
	)
	if sum := contentSum(key); sum != "" { // 256 folders at most
		f, err = d.openIn(objectsDir+"/sha256/"+sum[:2], sum)
	} else {
		f, err = d.root.Open(objectPath(key))
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, notFound(key, err)
	}
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, notFound(key, fs.ErrNotExist)
	}
	return sizedFile{File: f, size: st.Size()}, nil
}

// sizedFile is a blob's open file with the size it had when opened, so a
// reader sizing its buffer does not ask the system again.
type sizedFile struct {
	*os.File
	size int64
}

// Size is the file's size when it was opened.
func (f sizedFile) Size() int64 { return f.size }

// openIn opens name in the store's folder dir through the folder's handle,
// kept from the first read (for the few folders reads go through: the
// content fan-out and the packs). A folder removed and made again since is found
// by its path once more (the handle would still name the removed one).
func (d *Disk) openIn(dir, name string) (*os.File, error) {
	if v, ok := d.dirs.Load(dir); ok {
		f, err := v.(*os.Root).Open(name)
		if !errors.Is(err, fs.ErrNotExist) {
			return f, err
		}
		if d.dirs.CompareAndDelete(dir, v) {
			v.(*os.Root).Close()
		}
	}
	f, err := d.root.Open(dir + "/" + name)
	if err != nil {
		return nil, err
	}
	if sub, err := d.root.OpenRoot(dir); err == nil {
		if _, kept := d.dirs.LoadOrStore(dir, sub); kept {
			sub.Close()
		}
	}
	return f, nil
}

// Stat describes the blob (see Store).
func (d *Disk) Stat(_ context.Context, key string) (Info, error) {
	if !ValidKey(key) {
		return Info{}, invalidKey(key)
	}
	if strings.HasPrefix(key, PackPrefix) {
		rc, st, err := d.openPacked(key)
		if err != nil {
			return Info{}, err
		}
		rc.Close()
		_, _, n, _ := parsePackKey(key)
		return Info{Key: key, Size: n, ModTime: st.ModTime()}, nil
	}
	st, err := d.root.Stat(objectPath(key))
	if errors.Is(err, fs.ErrNotExist) {
		return Info{}, notFound(key, err)
	}
	if err != nil {
		return Info{}, fmt.Errorf("blob: %w", err)
	}
	if !st.Mode().IsRegular() {
		return Info{}, notFound(key, fs.ErrNotExist)
	}
	return Info{Key: key, Size: st.Size(), SHA256: contentSum(key), ModTime: st.ModTime()}, nil
}

// Delete removes the blob (see Store). A pack member is removed with its
// pack, by SweepContent.
func (d *Disk) Delete(_ context.Context, key string) error {
	if !ValidKey(key) {
		return invalidKey(key)
	}
	if strings.HasPrefix(key, PackPrefix) {
		if _, _, _, ok := parsePackKey(key); !ok {
			return invalidKey(key)
		}
		return nil
	}
	err := d.root.Remove(objectPath(key))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob: %w", err)
	}
	return nil
}

// ctxReader stops a copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// SweepResult is what SweepContent did.
type SweepResult struct {
	// Removed blobs and their bytes; Kept the content blobs left (referred
	// to, or too recent).
	Removed int
	Bytes   int64
	Kept    int
}

// SweepContent removes the content blobs (keys under sha256/) that keep
// says nothing refers to and, likewise, the packs nothing refers into
// (keep is asked with PackOf's name; pack.go), that were stored more than
// olderThan ago —
// storing the same content again counts as storing it (PutContent refreshes
// the file's time). It is the store's garbage collection: a caller lists
// every key its database refers to, then sweeps. olderThan covers the
// writes in flight while it lists: a blob is written before the row that
// refers to it is committed.
//
// A blob found unreferenced may be stored again while the sweep runs (the
// same bytes uploaded anew): each removal re-checks the file's time while
// holding PutContent off, so such a blob is kept. This orders removals with
// PutContent calls of this process only; a folder shared by several
// processes must be swept by one of them while the others are stopped.
func (d *Disk) SweepContent(ctx context.Context, olderThan time.Duration, keep func(key string) bool) (SweepResult, error) {
	var res SweepResult
	if err := d.sweepPacks(ctx, olderThan, keep, &res); err != nil {
		return res, err
	}
	base := objectsDir + "/sha256"
	fanouts, err := d.readDir(base)
	if err != nil {
		return res, err
	}
	for _, fo := range fanouts {
		if !fo.IsDir() || len(fo.Name()) != 2 {
			continue
		}
		dir := base + "/" + fo.Name()
		entries, err := d.readDir(dir)
		if err != nil {
			return res, err
		}
		for _, e := range entries {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			key := ContentKey(e.Name())
			if contentSum(key) == "" || !strings.HasPrefix(e.Name(), fo.Name()) || !e.Type().IsRegular() {
				continue // not a blob of this store
			}
			info, err := e.Info()
			if err != nil || time.Since(info.ModTime()) < olderThan || keep(key) {
				res.Kept++
				continue
			}
			removed, size, err := d.removeStale(dir+"/"+e.Name(), olderThan)
			if err != nil {
				return res, err
			}
			if removed {
				res.Removed++
				res.Bytes += size
				d.log.Info("blob: removed a blob nothing refers to", "key", key, "bytes", size)
			} else {
				res.Kept++
			}
		}
	}
	return res, nil
}

// removeStale removes name when it is still older than olderThan, with
// PutContent held off.
func (d *Disk) removeStale(name string, olderThan time.Duration) (bool, int64, error) {
	d.sweep.Lock()
	defer d.sweep.Unlock()
	st, err := d.root.Stat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, fmt.Errorf("blob: %w", err)
	}
	if time.Since(st.ModTime()) < olderThan {
		return false, 0, nil // stored again meanwhile
	}
	if err := d.root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, 0, fmt.Errorf("blob: %w", err)
	}
	return true, st.Size(), nil
}

func (d *Disk) readDir(name string) ([]fs.DirEntry, error) {
	f, err := d.root.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	defer f.Close()
	entries, err := f.ReadDir(-1)
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	return entries, nil
}
