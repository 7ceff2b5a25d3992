package font

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"golang.org/x/image/font/sfnt"
)

// TestEmbeddedFile pins the bundled file to the one README.md documents.
func TestEmbeddedFile(t *testing.T) {
	const wantSHA = "acb6440a713d880a13a21b468ba7cd43f5a2b2934972e51be791c880730777b8"
	b := Bytes()
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != wantSHA {
		t.Errorf("embedded font SHA-256 = %s, want %s (update README.md when the font changes)", got, wantSHA)
	}
	if len(b) > 5<<20 {
		t.Errorf("embedded font is %d bytes, want at most 5 MiB", len(b))
	}
	b[0] ^= 0xff
	if bytes.Equal(b[:1], Bytes()[:1]) {
		t.Error("Bytes returned the embedded slice itself, want a copy")
	}
}

func TestParse(t *testing.T) {
	f, err := Parse()
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	var buf sfnt.Buffer
	name, err := f.Name(&buf, sfnt.NameIDFamily)
	if err != nil || name != Name {
		t.Errorf("family name = %q, %v; want %q", name, err, Name)
	}
	tests := []struct {
		r         rune
		wantGlyph bool
	}{
		{'国', true},
		{'章', true},
		{'䶮', true},  // Extension A
		{'Ａ', true},  // full-width Latin
		{'・', true},  // katakana middle dot
		{'A', false}, // no ASCII: callers fold to full width
		{'·', false},
		{'😀', false},
		{'𠀀', false}, // Extension B
	}
	for _, tt := range tests {
		gi, err := f.GlyphIndex(&buf, tt.r)
		if err != nil {
			t.Fatalf("GlyphIndex(%q): %v", tt.r, err)
		}
		if got := gi != 0; got != tt.wantGlyph {
			t.Errorf("glyph for %q (%U) present = %v, want %v", tt.r, tt.r, got, tt.wantGlyph)
		}
	}
}
