package blob_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"signet/blob"
	"signet/blob/blobtest"
)

func openDisk(t *testing.T, dir string) *blob.Disk {
	t.Helper()
	d, err := blob.OpenDisk(blob.DiskConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestDiskConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return openDisk(t, t.TempDir()) })
}

// TestDiskNeverLeavesTheRoot plants a symlink to a folder outside the store
// where a key would lead: the os.Root refuses to follow it.
func TestDiskNeverLeavesTheRoot(t *testing.T) {
	dir, outside := t.TempDir(), t.TempDir()
	d := openDisk(t, dir)
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "objects", "evil")); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := d.Get(ctx, "evil/secret"); err == nil {
		t.Error("read a file outside the store through a symlink")
	}
	if _, err := d.Put(ctx, "evil/planted", strings.NewReader("x")); err == nil {
		t.Error("wrote outside the store through a symlink")
	}
	if _, err := os.Stat(filepath.Join(outside, "planted")); err == nil {
		t.Error("a file appeared outside the store")
	}
}

// blockingReader hands out a first chunk, then waits for release.
type blockingReader struct {
	first   []byte
	rest    []byte
	reached chan struct{}
	release chan struct{}
	stage   int
}

func (r *blockingReader) Read(p []byte) (int, error) {
	switch r.stage {
	case 0:
		r.stage = 1
		return copy(p, r.first), nil
	case 1:
		close(r.reached)
		<-r.release
		r.stage = 2
		return copy(p, r.rest), nil
	default:
		return 0, io.EOF
	}
}

// TestDiskWriteInvisibleUntilDone: while a write is under way the key does
// not exist, and its temporary file is outside the key space.
func TestDiskWriteInvisibleUntilDone(t *testing.T) {
	dir := t.TempDir()
	d := openDisk(t, dir)
	ctx := context.Background()
	r := &blockingReader{first: []byte("first half "), rest: []byte("second half"), reached: make(chan struct{}), release: make(chan struct{})}
	errc := make(chan error, 1)
	go func() {
		_, err := d.Put(ctx, "contract.pdf", r)
		errc <- err
	}()
	<-r.reached
	if _, err := d.Stat(ctx, "contract.pdf"); !blobtest.IsNotFound(err) {
		t.Errorf("a half-written blob is visible: %v", err)
	}
	tmps, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	if len(tmps) != 1 {
		t.Errorf("%d temporary files during the write, want 1", len(tmps))
	}
	close(r.release)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if got := blobtest.MustRead(t, d, "contract.pdf"); string(got) != "first half second half" {
		t.Errorf("read %q", got)
	}
	if tmps, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(tmps) != 0 {
		t.Errorf("%d temporary files left", len(tmps))
	}
}

// crashReader exits the process in the middle of a write.
type crashReader struct{ n int }

func (r *crashReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		os.Exit(3)
	}
	n := min(len(p), r.n)
	r.n -= n
	return n, nil
}

// TestDiskCrashHelper is the child process of TestDiskCrashMidWrite.
func TestDiskCrashHelper(t *testing.T) {
	dir := os.Getenv("BLOB_CRASH_DIR")
	if dir == "" {
		t.Skip("child process of TestDiskCrashMidWrite")
	}
	d, err := blob.OpenDisk(blob.DiskConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	d.Put(context.Background(), "contract.pdf", &crashReader{n: 1 << 20})
	t.Fatal("the crash reader did not crash")
}

// TestDiskCrashMidWrite kills a process in the middle of a write: the old
// content stays, the partial file is invisible, and the next open removes
// the leftover once it is stale.
func TestDiskCrashMidWrite(t *testing.T) {
	dir := t.TempDir()
	d := openDisk(t, dir)
	ctx := context.Background()
	if _, err := d.Put(ctx, "contract.pdf", strings.NewReader("signed v1")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDiskCrashHelper$")
	cmd.Env = append(os.Environ(), "BLOB_CRASH_DIR="+dir)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if got := blobtest.MustRead(t, d, "contract.pdf"); string(got) != "signed v1" {
		t.Errorf("after the crash: %q", got)
	}
	tmps, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	if len(tmps) != 1 {
		t.Fatalf("%d leftovers, want the crashed write's temporary file", len(tmps))
	}
	left := filepath.Join(dir, "tmp", tmps[0].Name())
	if st, _ := os.Stat(left); st.Size() < 1<<19 {
		t.Errorf("leftover of %d bytes: the child did not get far", st.Size())
	}
	// A fresh leftover may belong to a live writer: kept.
	openDisk(t, dir)
	if _, err := os.Stat(left); err != nil {
		t.Fatalf("a fresh temporary file was removed: %v", err)
	}
	// A stale one is removed.
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(left, old, old); err != nil {
		t.Fatal(err)
	}
	openDisk(t, dir)
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Errorf("stale leftover still there: %v", err)
	}
}

// BenchmarkDiskPutContent measures storing a 1 MiB PDF-sized blob (hash,
// write, fsync, rename, folder fsync).
func BenchmarkDiskPutContent(b *testing.B) {
	d, err := blob.OpenDisk(blob.DiskConfig{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	data := make([]byte, 1<<20)
	b.SetBytes(int64(len(data)))
	i := 0
	for b.Loop() {
		i++
		data[0], data[1], data[2] = byte(i), byte(i>>8), byte(i>>16) // new content each time
		if _, err := d.PutContent(context.Background(), bytesReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}

func bytesReader(b []byte) io.Reader { return strings.NewReader(string(b)) }

// TestDiskFolderRemovedBehindItsBack: the store remembers the folders it
// made; one removed from outside is made again by the next write.
func TestDiskFolderRemovedBehindItsBack(t *testing.T) {
	dir := t.TempDir()
	d := openDisk(t, dir)
	ctx := context.Background()
	info, err := d.PutContent(ctx, strings.NewReader("contract v1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Delete(ctx, info.Key); err != nil {
		t.Fatal(err)
	}
	fanout := filepath.Join(dir, "objects", "sha256", info.SHA256[:2])
	if err := os.Remove(fanout); err != nil {
		t.Fatal(err)
	}
	if _, err := d.PutContent(ctx, strings.NewReader("contract v1")); err != nil {
		t.Fatalf("write after the folder was removed: %v", err)
	}
	if got := blobtest.MustRead(t, d, info.Key); string(got) != "contract v1" {
		t.Errorf("read %q", got)
	}
	if tmps, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(tmps) != 0 {
		t.Errorf("%d temporary files left", len(tmps))
	}
}

// TestDiskSweepContent: a sweep removes the old content blobs nothing
// refers to, and nothing else — not a referenced one, not a recent one, not
// one stored again since, not a blob under a key of its own.
func TestDiskSweepContent(t *testing.T) {
	dir := t.TempDir()
	d := openDisk(t, dir)
	ctx := context.Background()
	put := func(content string) blob.Info {
		t.Helper()
		info, err := d.PutContent(ctx, strings.NewReader(content))
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	age := func(info blob.Info) {
		t.Helper()
		old := time.Now().Add(-48 * time.Hour)
		p := filepath.Join(dir, "objects", "sha256", info.SHA256[:2], info.SHA256)
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	orphan, referenced, recent, again := put("intermediate revision"), put("current revision"), put("in flight"), put("uploaded twice")
	for _, info := range []blob.Info{orphan, referenced, again} {
		age(info)
	}
	put("uploaded twice") // stored again: its time is refreshed
	if _, err := d.Put(ctx, "named/contract.pdf", strings.NewReader("a blob under its own key")); err != nil {
		t.Fatal(err)
	}
	res, err := d.SweepContent(ctx, 24*time.Hour, func(key string) bool { return key == referenced.Key })
	if err != nil {
		t.Fatal(err)
	}
	if res.Removed != 1 || res.Bytes != orphan.Size || res.Kept != 3 {
		t.Errorf("sweep = %+v, want 1 removed (%d bytes), 3 kept", res, orphan.Size)
	}
	if _, err := d.Stat(ctx, orphan.Key); !blobtest.IsNotFound(err) {
		t.Errorf("the orphan is still there: %v", err)
	}
	for _, info := range []blob.Info{referenced, recent, again} {
		if _, err := d.Stat(ctx, info.Key); err != nil {
			t.Errorf("%s removed: %v", info.Key, err)
		}
	}
	if got := blobtest.MustRead(t, d, "named/contract.pdf"); string(got) != "a blob under its own key" {
		t.Errorf("named blob: %q", got)
	}
	// Storing the removed content again brings it back.
	if info := put("intermediate revision"); info.Key != orphan.Key {
		t.Fatal("content key changed")
	}
	if got := blobtest.MustRead(t, d, orphan.Key); string(got) != "intermediate revision" {
		t.Errorf("after storing it again: %q", got)
	}
	// A cancelled sweep stops.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	age(orphan)
	if _, err := d.SweepContent(cctx, time.Hour, func(string) bool { return false }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled sweep: %v", err)
	}
}

// TestDiskPutContents: a batch stores each content under its content key,
// as PutContent does — the same content twice in the batch and content
// stored before included (its time refreshed) — and leaves no temporary
// file, also when it is cancelled half way.
func TestDiskPutContents(t *testing.T) {
	dir := t.TempDir()
	d := openDisk(t, dir)
	ctx := context.Background()
	before, err := d.PutContent(ctx, strings.NewReader("stored before"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "objects", "sha256", before.SHA256[:2], before.SHA256)
	old := time.Now().Add(-48 * time.Hour)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	contents := [][]byte{[]byte("revision one"), []byte("stored before"), []byte("revision two"), []byte("revision one")}
	infos, err := d.PutContents(ctx, contents)
	if err != nil || len(infos) != len(contents) {
		t.Fatalf("PutContents: %d infos, %v", len(infos), err)
	}
	for i, c := range contents {
		sum := sha256.Sum256(c)
		if infos[i].Key != blob.ContentKey(hex.EncodeToString(sum[:])) || infos[i].Size != int64(len(c)) {
			t.Errorf("info %d = %+v", i, infos[i])
		}
		if got := blobtest.MustRead(t, d, infos[i].Key); string(got) != string(c) {
			t.Errorf("blob %d = %q", i, got)
		}
	}
	if infos[1].Key != before.Key {
		t.Error("content stored before got another key")
	}
	if st, err := os.Stat(p); err != nil || time.Since(st.ModTime()) > time.Hour {
		t.Errorf("the time of content stored again was not refreshed: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := d.PutContents(cctx, [][]byte{[]byte("never stored")}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled PutContents: %v", err)
	}
	if left, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(left) != 0 {
		t.Errorf("%d temporary files left", len(left))
	}
}

// TestDiskReadsThroughKeptFolders reads blobs through the folder handles the
// store keeps, and again after their folder was removed and made anew (the
// handle then names the removed folder): the blob is found by its path.
func TestDiskReadsThroughKeptFolders(t *testing.T) {
	dir := t.TempDir()
	d := openDisk(t, dir)
	ctx := context.Background()
	put := func(s string) blob.Info {
		t.Helper()
		info, err := d.PutContent(ctx, strings.NewReader(s))
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	read := func(key string) string {
		t.Helper()
		rc, err := d.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if sz, ok := rc.(interface{ Size() int64 }); !ok {
			t.Errorf("%s: the reader does not say its size", key)
		} else if st, err := d.Stat(ctx, key); err != nil || st.Size != sz.Size() {
			t.Errorf("%s: says %d bytes, Stat %d (%v)", key, sz.Size(), st.Size, err)
		}
		b, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	a := put("第一份合同")
	for range 2 { // the second read goes through the kept folder
		if got := read(a.Key); got != "第一份合同" {
			t.Fatalf("read %q", got)
		}
	}
	sum := strings.TrimPrefix(a.Key, blob.ContentPrefix)
	if err := os.RemoveAll(filepath.Join(dir, "objects", "sha256", sum[:2])); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Get(ctx, a.Key); !blobtest.IsNotFound(err) {
		t.Errorf("a removed blob: %v, want not found", err)
	}
	a = put("第一份合同")
	for range 2 {
		if got := read(a.Key); got != "第一份合同" {
			t.Fatalf("after the folder was made again: read %q", got)
		}
	}
	packed, err := d.PutPacked(ctx, [][]byte{[]byte("甲"), []byte("乙方")})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if got := read(packed[1].Key); got != "乙方" {
			t.Fatalf("pack member: read %q", got)
		}
	}
}
