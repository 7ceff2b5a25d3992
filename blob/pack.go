package blob

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Packs. A signature's new revision must be durable before the commit that
// refers to it, and the commit is on the signer's request path. One file
// per revision costs a file create, its sync, a rename and a folder sync
// each; the signatures committing together (flows' group commit) instead
// append their revisions to one pack file with one write each and one sync
// for all (PutPacked). A pack member's key names the pack and the byte
// range: "pack/<pack>/<offset>-<length>". A store opened anew starts a new
// pack and never appends to an old one, so bytes a crash left half-written
// at a pack's end belong to no key (their commit never happened).
//
// Members are not removed one by one: Delete of a pack key does nothing,
// and SweepContent removes a whole pack once no key refers into it and it
// is older than the sweep's grace. A revision a later signature replaced
// stays in its pack until the pack's other members go too.

// PackPrefix starts every pack member's key.
const PackPrefix = "pack/"

// packsDir holds the pack files.
const packsDir = "packs"

// packLimit and packAge close a pack: the first write after it reached
// this size or age starts a new one, so that the sweep, which leaves the
// pack being written alone, finds every pack closed after a while.
const (
	packLimit = 256 << 20
	packAge   = time.Hour
)

// packWriter is the pack this process appends to.
type packWriter struct {
	mu      sync.Mutex
	f       *os.File
	name    string
	size    int64
	started time.Time
}

// Packer is the store that can pack blobs (Disk).
type Packer interface {
	// PutPacked stores contents durably (one sync for all) and returns
	// their infos in order, keys under PackPrefix. On error none of them
	// is stored.
	PutPacked(ctx context.Context, contents [][]byte) ([]Info, error)
}

var _ Packer = (*Disk)(nil)

// PutPacked appends contents to the store's current pack and syncs it once
// (see Packer).
func (d *Disk) PutPacked(ctx context.Context, contents [][]byte) ([]Info, error) {
	infos := make([]Info, len(contents))
	for i, c := range contents {
		h := sha256.Sum256(c)
		infos[i] = Info{Size: int64(len(c)), SHA256: hex.EncodeToString(h[:])}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := &d.pack
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.f == nil || p.size >= packLimit || time.Since(p.started) >= packAge {
		if err := d.startPack(); err != nil {
			return nil, err
		}
	}
	off, now := p.size, time.Now()
	for i, c := range contents {
		if _, err := p.f.Write(c); err != nil {
			d.abandonPack()
			return nil, fmt.Errorf("blob: write pack: %w", err)
		}
		infos[i].Key = packKey(p.name, off, int64(len(c)))
		infos[i].ModTime = now
		off += int64(len(c))
	}
	if err := p.f.Sync(); err != nil {
		d.abandonPack()
		return nil, fmt.Errorf("blob: sync pack: %w", err)
	}
	p.size = off
	return infos, nil
}

// startPack closes the current pack and creates the next one, its name
// made durable in the packs folder. The caller holds d.pack.mu.
func (d *Disk) startPack() error {
	p := &d.pack
	if p.f != nil {
		p.f.Close()
		p.f = nil
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	name := time.Now().UTC().Format("20060102T150405") + "-" + hex.EncodeToString(rnd[:])
	if _, known := d.made.Load(packsDir); !known {
		if err := d.root.MkdirAll(packsDir, 0o700); err != nil {
			return fmt.Errorf("blob: %w", err)
		}
		d.made.Store(packsDir, struct{}{})
	}
	f, err := d.root.OpenFile(packsDir+"/"+name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("blob: create pack: %w", err)
	}
	dir, err := d.root.Open(packsDir)
	if err == nil {
		err = dir.Sync()
		dir.Close()
	}
	if err != nil {
		f.Close()
		return fmt.Errorf("blob: sync packs folder: %w", err)
	}
	p.f, p.name, p.size, p.started = f, name, 0, time.Now()
	return nil
}

// abandonPack gives up the current pack after a failed write: what its end
// holds is unknown, so the next write starts a new one. The caller holds
// d.pack.mu.
func (d *Disk) abandonPack() {
	if d.pack.f != nil {
		d.pack.f.Close()
		d.pack.f = nil
	}
}

// closePack closes the current pack (Close).
func (d *Disk) closePack() {
	d.pack.mu.Lock()
	defer d.pack.mu.Unlock()
	d.abandonPack()
}

func packKey(name string, off, n int64) string {
	return PackPrefix + name + "/" + strconv.FormatInt(off, 10) + "-" + strconv.FormatInt(n, 10)
}

// PackOf returns the pack a pack member's key points into ("pack/<pack>"),
// or "" when key is not a pack member's. The sweep asks whether anything
// refers into a pack by this name.
func PackOf(key string) string {
	name, _, _, ok := parsePackKey(key)
	if !ok {
		return ""
	}
	return PackPrefix + name
}

// Refs is the set of keys a database refers to, for SweepContent: its Keep
// keeps those blobs and every pack one of them points into.
type Refs map[string]struct{}

// Add records a key referred to.
func (r Refs) Add(key string) {
	r[key] = struct{}{}
	if p := PackOf(key); p != "" {
		r[p] = struct{}{}
	}
}

// Keep says whether the sweep must keep key (a content key, or a pack's
// name from PackOf).
func (r Refs) Keep(key string) bool {
	_, ok := r[key]
	return ok
}

// parsePackKey splits a pack member's key.
func parsePackKey(key string) (name string, off, n int64, ok bool) {
	rest, found := strings.CutPrefix(key, PackPrefix)
	if !found {
		return "", 0, 0, false
	}
	name, span, found := strings.Cut(rest, "/")
	if !found || name == "" || strings.Contains(span, "/") {
		return "", 0, 0, false
	}
	a, b, found := strings.Cut(span, "-")
	if !found {
		return "", 0, 0, false
	}
	off, err1 := strconv.ParseInt(a, 10, 64)
	n, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || off < 0 || n < 0 {
		return "", 0, 0, false
	}
	return name, off, n, true
}

// packMember is an open pack member.
type packMember struct {
	*io.SectionReader
	f *os.File
}

func (m packMember) Close() error { return m.f.Close() }

// openPacked opens a pack member. A key whose range the pack does not hold
// (a pack removed, or a key made up) is not found.
func (d *Disk) openPacked(key string) (io.ReadCloser, os.FileInfo, error) {
	name, off, n, ok := parsePackKey(key)
	if !ok {
		return nil, nil, invalidKey(key)
	}
	f, err := d.openIn(packsDir, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, notFound(key, err)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("blob: %w", err)
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() < off+n {
		f.Close()
		return nil, nil, notFound(key, fs.ErrNotExist)
	}
	return packMember{SectionReader: io.NewSectionReader(f, off, n), f: f}, st, nil
}

// sweepPacks removes the packs that keep says nothing refers into (keep is
// asked with PackOf's name) and that were last written more than
// olderThan ago; the pack being written is kept.
func (d *Disk) sweepPacks(ctx context.Context, olderThan time.Duration, keep func(string) bool, res *SweepResult) error {
	entries, err := d.readDir(packsDir)
	if err != nil {
		return err
	}
	d.pack.mu.Lock()
	current := d.pack.name
	d.pack.mu.Unlock()
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !e.Type().IsRegular() || e.Name() == current || !ValidKey(PackPrefix+e.Name()) {
			res.Kept++
			continue
		}
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < olderThan || keep(PackPrefix+e.Name()) {
			res.Kept++
			continue
		}
		if err := d.root.Remove(packsDir + "/" + e.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("blob: %w", err)
		}
		res.Removed++
		res.Bytes += info.Size()
		d.log.Info("blob: removed a pack nothing refers into", "pack", e.Name(), "bytes", info.Size())
	}
	return nil
}
