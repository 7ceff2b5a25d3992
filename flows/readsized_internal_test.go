package flows

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadSized: a reader that knows its size is read into one slice of
// that size; one that does not, or says a wrong size, is read whole anyway.
func TestReadSized(t *testing.T) {
	data := bytes.Repeat([]byte("%PDF-1.7 signet "), 4096)
	path := filepath.Join(t.TempDir(), "doc.pdf")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for name, r := range map[string]io.Reader{
		"file":            f,
		"section":         io.NewSectionReader(bytes.NewReader(data), 0, int64(len(data))),
		"unsized":         strings.NewReader(string(data)),
		"says it is less": sized{bytes.NewReader(data), 100},
		"says it is more": sized{bytes.NewReader(data), int64(len(data)) + 100},
	} {
		got, err := readSized(r)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: %d bytes, %v", name, len(got), err)
		}
	}
	if got, err := readSized(io.NewSectionReader(bytes.NewReader(data), 0, int64(len(data)))); err == nil && cap(got) != len(data) {
		t.Errorf("a sized reader took a slice of %d for %d bytes", cap(got), len(data))
	}
}

type sized struct {
	io.Reader
	n int64
}

func (s sized) Size() int64 { return s.n }
