// Package blob stores Signet's files (uploaded and signed PDFs, evidence
// reports, seal images) outside the database, behind one interface so a node
// can keep them on its disk or (later) in S3-compatible object storage.
//
// Content addressing is the default: PutContent stores bytes under
// "sha256/<hex>", so identical files are stored once, a key can never point
// at different bytes, and anyone can check what they read. Put stores under a
// caller-chosen key for the rare object that must be replaceable.
//
// Disk is the implementation for a single node (or a shared file system):
// writes go to a temporary file that is fsynced and then renamed into place,
// so a reader sees a whole blob or none, even after a crash; all file access
// goes through an os.Root, so no key can reach outside the store.
//
// An S3-compatible store is not written yet: there is nothing here to test it
// against for real. It would implement Store and pass blobtest.Run.
package blob

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"time"

	"signet/errs"
)

// Info describes a stored blob.
type Info struct {
	Key  string
	Size int64
	// SHA256 is the hex SHA-256 of the content. Put and PutContent always
	// set it; Stat sets it for content-addressed keys only.
	SHA256  string
	ModTime time.Time
}

// Store holds blobs by key. Keys are slash-separated paths of segments made
// of ASCII letters, digits, '.', '_' and '-' (not starting with '.'), at most
// 512 bytes; keys under "sha256/" are reserved for PutContent.
type Store interface {
	// Put stores r's content under key, replacing what was there atomically.
	// Errors: errs.Invalid for a bad key; a read or write failure leaves the
	// previous content (or nothing) in place.
	Put(ctx context.Context, key string, r io.Reader) (Info, error)
	// PutContent stores r's content under ContentKey of its SHA-256 and
	// returns that key. Storing the same content again is cheap and safe,
	// also concurrently.
	PutContent(ctx context.Context, r io.Reader) (Info, error)
	// Get opens the blob for reading. Errors: errs.NotFound.
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	// Stat describes the blob. Errors: errs.NotFound.
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes the blob; deleting a missing blob is not an error.
	Delete(ctx context.Context, key string) error
}

// ContentPrefix starts every content-addressed key.
const ContentPrefix = "sha256/"

// ContentKey is the key of content whose hex SHA-256 is sum.
func ContentKey(sum string) string { return ContentPrefix + sum }

// MaxKey bounds a key's length.
const MaxKey = 512

// notFound is the error of Get and Stat for a missing key: errs.NotFound,
// wrapping fs.ErrNotExist.
func notFound(key string, cause error) error {
	return &errs.Error{Code: errs.NotFound, Message: "文件不存在", Cause: &keyError{key: key, err: cause}}
}

type keyError struct {
	key string
	err error
}

func (e *keyError) Error() string { return "blob " + e.key + ": " + e.err.Error() }
func (e *keyError) Unwrap() error { return e.err }

func invalidKey(key string) error {
	return &errs.Error{Code: errs.Invalid, Message: "文件标识不正确", Cause: &keyError{key: key, err: errBadKey}}
}

var errBadKey = errors.New("invalid key")

// ValidKey reports whether key is well formed (see Store).
func ValidKey(key string) bool {
	if key == "" || len(key) > MaxKey {
		return false
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg[0] == '.' || len(seg) > 255 {
			return false
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			switch {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
			default:
				return false
			}
		}
	}
	return true
}

// contentSum returns the hex digest of a content key, or "" when key is not
// a well-formed content key.
func contentSum(key string) string {
	sum, ok := strings.CutPrefix(key, ContentPrefix)
	if !ok || len(sum) != 64 {
		return ""
	}
	if _, err := hex.DecodeString(sum); err != nil || strings.ToLower(sum) != sum {
		return ""
	}
	return sum
}
