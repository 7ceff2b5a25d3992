package blob_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"signet/blob"
	"signet/blob/blobtest"
	"signet/errs"
)

// TestDiskPutPacked: a batch lands in one pack, each member readable under
// its key with its size and SHA-256; the next batch goes to the same pack;
// a store opened again starts a new pack and still reads the old one.
func TestDiskPutPacked(t *testing.T) {
	dir := t.TempDir()
	d := openDisk(t, dir)
	ctx := context.Background()
	contents := [][]byte{[]byte("第一份修订"), []byte("second revision, longer than the first"), {}, []byte("第一份修订")}
	infos, err := d.PutPacked(ctx, contents)
	if err != nil {
		t.Fatal(err)
	}
	more, err := d.PutPacked(ctx, [][]byte{[]byte("the next group")})
	if err != nil {
		t.Fatal(err)
	}
	infos = append(infos, more...)
	contents = append(contents, []byte("the next group"))
	packs := map[string]bool{}
	for i, info := range infos {
		if !strings.HasPrefix(info.Key, blob.PackPrefix) || info.Size != int64(len(contents[i])) || info.SHA256 != sumHex(contents[i]) {
			t.Errorf("member %d: %+v", i, info)
		}
		if got := blobtest.MustRead(t, d, info.Key); string(got) != string(contents[i]) {
			t.Errorf("member %d reads %q", i, got)
		}
		st, err := d.Stat(ctx, info.Key)
		if err != nil || st.Size != info.Size {
			t.Errorf("stat member %d: %+v %v", i, st, err)
		}
		packs[blob.PackOf(info.Key)] = true
	}
	if len(packs) != 1 || packs[""] {
		t.Errorf("members in packs %v, want one pack", packs)
	}
	if infos[0].Key == infos[3].Key {
		t.Error("the same content twice shares a key: members are ranges, not content")
	}

	// A crash mid-write leaves bytes at the pack's end that no key covers.
	old := blob.PackOf(infos[0].Key)
	f, err := os.OpenFile(filepath.Join(dir, "packs", strings.TrimPrefix(old, blob.PackPrefix)), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("half a revisi")
	f.Close()
	d.Close()
	d2 := openDisk(t, dir)
	next, err := d2.PutPacked(ctx, [][]byte{[]byte("after the restart")})
	if err != nil {
		t.Fatal(err)
	}
	if blob.PackOf(next[0].Key) == old {
		t.Error("a reopened store appended to an old pack")
	}
	for i, info := range append(infos, next...) {
		want := "after the restart"
		if i < len(contents) {
			want = string(contents[i])
		}
		if got := blobtest.MustRead(t, d2, info.Key); string(got) != want {
			t.Errorf("after reopening, member %d reads %q", i, got)
		}
	}
}

// TestDiskPackKeysRefused: keys that are not a member's range, or that
// point past a pack's end or into no pack, are refused or not found;
// nobody can Put under the pack prefix; Delete of a member does nothing.
func TestDiskPackKeysRefused(t *testing.T) {
	d := openDisk(t, t.TempDir())
	ctx := context.Background()
	infos, err := d.PutPacked(ctx, [][]byte{[]byte("0123456789")})
	if err != nil {
		t.Fatal(err)
	}
	pack := blob.PackOf(infos[0].Key)
	for _, key := range []string{pack + "/5-6", pack + "/11-0", blob.PackPrefix + "nosuchpack/0-1"} {
		if _, err := d.Get(ctx, key); !blobtest.IsNotFound(err) {
			t.Errorf("Get %s: %v, want not found", key, err)
		}
	}
	for _, key := range []string{pack + "/5", pack + "/-1-3", pack + "/a-b", pack + "/1-2/3"} {
		if _, err := d.Get(ctx, key); !errs.Is(err, errs.Invalid) && !blobtest.IsNotFound(err) {
			t.Errorf("Get %s: %v, want refused", key, err)
		}
	}
	if _, err := d.Put(ctx, pack+"/0-3", strings.NewReader("forged")); !errs.Is(err, errs.Invalid) {
		t.Errorf("Put under the pack prefix: %v", err)
	}
	if err := d.Delete(ctx, infos[0].Key); err != nil {
		t.Fatal(err)
	}
	if got := blobtest.MustRead(t, d, infos[0].Key); string(got) != "0123456789" {
		t.Errorf("after Delete: %q", got)
	}
	if got := blobtest.MustRead(t, d, pack+"/3-4"); string(got) != "3456" {
		t.Errorf("a range inside the pack: %q", got)
	}
}

// TestDiskSweepPacks: a pack nothing refers into and older than the grace
// is removed; one referred into, a recent one and the pack being written
// are kept.
func TestDiskSweepPacks(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	write := func(content string) string {
		t.Helper()
		d := openDisk(t, dir) // each store opened writes its own pack
		infos, err := d.PutPacked(ctx, [][]byte{[]byte(content)})
		if err != nil {
			t.Fatal(err)
		}
		d.Close()
		return infos[0].Key
	}
	age := func(key string) {
		t.Helper()
		old := time.Now().Add(-48 * time.Hour)
		if err := os.Chtimes(filepath.Join(dir, "packs", strings.TrimPrefix(blob.PackOf(key), blob.PackPrefix)), old, old); err != nil {
			t.Fatal(err)
		}
	}
	orphan, referenced, recent := write("superseded"), write("current"), write("in flight")
	age(orphan)
	age(referenced)
	d := openDisk(t, dir)
	current, err := d.PutPacked(ctx, [][]byte{[]byte("being written")})
	if err != nil {
		t.Fatal(err)
	}
	age(current[0].Key)
	refs := blob.Refs{}
	refs.Add(referenced) // a member's key keeps its whole pack
	res, err := d.SweepContent(ctx, 24*time.Hour, refs.Keep)
	if err != nil {
		t.Fatal(err)
	}
	if res.Removed != 1 || res.Bytes != int64(len("superseded")) || res.Kept != 3 {
		t.Errorf("sweep = %+v, want the orphan's pack removed, 3 kept", res)
	}
	if _, err := d.Get(ctx, orphan); !blobtest.IsNotFound(err) {
		t.Errorf("the orphan's pack is still there: %v", err)
	}
	for _, key := range []string{referenced, recent, current[0].Key} {
		if _, err := d.Stat(ctx, key); err != nil {
			t.Errorf("%s removed: %v", key, err)
		}
	}
}

func sumHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
