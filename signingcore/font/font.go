// Package font provides the CJK font that Signet draws seal images with, so no
// font has to be installed on the host.
//
// The font is Droid Sans Fallback Full (Apache License 2.0, see LICENSE and
// README.md in this directory), taken from Debian's fonts-droid-fallback
// package. It covers the Simplified Chinese characters of GB 18030's common
// sets, Traditional Chinese, Japanese kana, Korean Hangul and Latin, and is one
// TrueType file of about 4 MB embedded in the binary.
package font

import (
	_ "embed"
	"fmt"

	"golang.org/x/image/font/opentype"
)

// droidSansFallbackFull holds the embedded TrueType file. It is never
// modified: Parse reads it, Bytes hands out a copy.
//
//go:embed DroidSansFallbackFull.ttf
var droidSansFallbackFull []byte

// Name is the font's family name as recorded in its name table.
const Name = "Droid Sans Fallback"

// Parse parses the embedded font. Parsing takes a few hundred microseconds and
// the result is safe for concurrent use (pass a separate sfnt.Buffer per
// goroutine), so callers parse once and keep the *opentype.Font.
func Parse() (*opentype.Font, error) {
	f, err := opentype.Parse(droidSansFallbackFull)
	if err != nil {
		return nil, fmt.Errorf("font: parse embedded %s: %w", Name, err)
	}
	return f, nil
}

// Bytes returns a copy of the embedded TrueType file, for callers that embed
// the font elsewhere (for example in a PDF).
func Bytes() []byte {
	return append([]byte(nil), droidSansFallbackFull...)
}
