package pdfnorm

import (
	"bytes"
	"fmt"
	"strconv"
)

// xrefEntry is one entry of a classic cross-reference table.
type xrefEntry struct {
	offset, gen int64
	inUse       bool
}

// classicXRef is the last cross-reference section of a file, when it is a
// classic table.
type classicXRef struct {
	offset  int64 // of the "xref" keyword
	entries map[int64]xrefEntry
	trailer []byte // from the trailer dictionary up to startxref
	size    int64  // trailer /Size
}

// parseClassic reads the cross-reference table that the file's final
// startxref points at. It returns why not when the file does not end in a
// well-formed classic table.
func parseClassic(pdf []byte) (*classicXRef, string) {
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		return nil, "header not at offset 0"
	}
	end := len(bytes.TrimRight(pdf, " \t\r\n\f\x00"))
	if !bytes.HasSuffix(pdf[:end], []byte("%%EOF")) {
		return nil, "no %%EOF at the end"
	}
	tailStart := max(0, end-1024)
	i := bytes.LastIndex(pdf[tailStart:end], []byte("startxref"))
	if i < 0 {
		return nil, "no startxref"
	}
	fields := bytes.Fields(pdf[tailStart+i+len("startxref") : end-len("%%EOF")])
	if len(fields) != 1 {
		return nil, "startxref not followed by one offset and %%EOF"
	}
	off, err := strconv.ParseInt(string(fields[0]), 10, 64)
	if err != nil || off <= 0 || off >= int64(tailStart+i) {
		return nil, fmt.Sprintf("bad startxref %q", fields[0])
	}
	p := &scanner{b: pdf[:tailStart+i], pos: int(off)}
	if p.token() != "xref" {
		return nil, "startxref does not point at a classic xref table"
	}
	x := &classicXRef{offset: off, entries: map[int64]xrefEntry{}}
	for {
		save := p.pos
		tok := p.token()
		if tok == "trailer" {
			break
		}
		start, err1 := strconv.ParseInt(tok, 10, 64)
		count, err2 := strconv.ParseInt(p.token(), 10, 64)
		if err1 != nil || err2 != nil || start < 0 || count < 0 || count > int64(len(pdf)/18) {
			return nil, fmt.Sprintf("bad xref subsection header at %d", save)
		}
		for k := range count {
			o, err1 := strconv.ParseInt(p.token(), 10, 64)
			g, err2 := strconv.ParseInt(p.token(), 10, 64)
			kind := p.token()
			if err1 != nil || err2 != nil || (kind != "n" && kind != "f") {
				return nil, fmt.Sprintf("bad xref entry for object %d", start+k)
			}
			if _, dup := x.entries[start+k]; dup {
				return nil, fmt.Sprintf("object %d listed twice", start+k)
			}
			x.entries[start+k] = xrefEntry{offset: o, gen: g, inUse: kind == "n"}
		}
	}
	x.trailer = p.b[p.pos:]
	if !bytes.HasPrefix(bytes.TrimLeft(x.trailer, " \t\r\n\f\x00"), []byte("<<")) {
		return nil, "no trailer dictionary"
	}
	var ok bool
	if x.size, ok = trailerInt(x.trailer, "/Size"); !ok || x.size <= 0 {
		return nil, "trailer has no /Size"
	}
	for n := range x.entries {
		if n >= x.size {
			return nil, fmt.Sprintf("object %d beyond /Size %d", n, x.size)
		}
	}
	return x, ""
}

// soundClassic checks that pdf is one revision with one classic
// cross-reference table that a signer can append an incremental update to
// as is. It returns "" when it is, or why not. It reads the file's own
// cross-reference data, not pdfcpu's (which may have been reconstructed).
func soundClassic(pdf []byte) string {
	x, reason := parseClassic(pdf)
	if reason != "" {
		return reason
	}
	for _, key := range []string{"/Prev", "/XRefStm", "/Encrypt"} {
		if hasName(x.trailer, key) {
			return "trailer has " + key
		}
	}
	if int64(len(x.entries)) != x.size {
		return fmt.Sprintf("xref lists %d objects, /Size is %d", len(x.entries), x.size)
	}
	for n, e := range x.entries {
		if !e.inUse {
			continue
		}
		if e.offset <= 0 || e.offset >= x.offset {
			return fmt.Sprintf("object %d at offset %d outside the body", n, e.offset)
		}
		h := &scanner{b: pdf[:x.offset], pos: int(e.offset)}
		if !isDigit(pdf[e.offset]) || h.token() != strconv.FormatInt(n, 10) ||
			h.token() != strconv.FormatInt(e.gen, 10) || h.token() != "obj" {
			return fmt.Sprintf("xref entry for object %d does not point at its header", n)
		}
	}
	return ""
}

// completeXRef replaces the final classic cross-reference table of pdf with
// one subsection covering every object number below /Size, as ISO 32000
// requires of a file that was never updated: numbers the table skipped
// become free entries, and all free entries form one linked list from
// object 0. pdfcpu writes tables with gaps. Object offsets do not change,
// since the table follows every object.
func completeXRef(pdf []byte) ([]byte, error) {
	x, reason := parseClassic(pdf)
	if reason != "" {
		return nil, fmt.Errorf("pdfnorm: complete xref: %s", reason)
	}
	var free []int64 // free object numbers after 0, ascending
	for n := int64(1); n < x.size; n++ {
		if e, ok := x.entries[n]; !ok || !e.inUse {
			free = append(free, n)
		}
	}
	next := func(i int) int64 { // the free entry after free[i-1]
		if i < len(free) {
			return free[i]
		}
		return 0
	}
	var b bytes.Buffer
	b.Grow(int(x.offset) + 20*int(x.size) + len(x.trailer) + 64)
	b.Write(pdf[:x.offset])
	fmt.Fprintf(&b, "xref\n0 %d\n", x.size)
	fmt.Fprintf(&b, "%010d 65535 f\r\n", next(0))
	fi := 0
	for n := int64(1); n < x.size; n++ {
		e, ok := x.entries[n]
		switch {
		case ok && e.inUse:
			fmt.Fprintf(&b, "%010d %05d n\r\n", e.offset, e.gen)
		default:
			fi++
			gen := int64(0)
			if ok {
				gen = e.gen
			}
			fmt.Fprintf(&b, "%010d %05d f\r\n", next(fi), gen)
		}
	}
	b.WriteString("trailer\n")
	b.Write(bytes.TrimLeft(x.trailer, " \t\r\n\f\x00"))
	if !bytes.HasSuffix(x.trailer, []byte("\n")) {
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "startxref\n%d\n%%%%EOF\n", x.offset)
	return b.Bytes(), nil
}

// scanner splits PDF text into white-space separated tokens (enough for the
// cross-reference table, which holds no strings or comments).
type scanner struct {
	b   []byte
	pos int
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// isDelim reports PDF delimiters, which end a token like white space.
func isDelim(c byte) bool { return bytes.IndexByte([]byte("()<>[]{}/%"), c) >= 0 }

// token returns the next token, or "" at the end. A token stops at white
// space or a delimiter; a leading delimiter is a token of its own.
func (s *scanner) token() string {
	for s.pos < len(s.b) && isSpace(s.b[s.pos]) {
		s.pos++
	}
	start := s.pos
	if s.pos < len(s.b) && isDelim(s.b[s.pos]) {
		s.pos++
		return string(s.b[start:s.pos])
	}
	for s.pos < len(s.b) && !isSpace(s.b[s.pos]) && !isDelim(s.b[s.pos]) {
		s.pos++
	}
	return string(s.b[start:s.pos])
}

// hasName reports whether the name key occurs in dict text as a whole name.
func hasName(dict []byte, key string) bool {
	for i := 0; ; {
		j := bytes.Index(dict[i:], []byte(key))
		if j < 0 {
			return false
		}
		k := i + j + len(key)
		if k == len(dict) || isSpace(dict[k]) || isDelim(dict[k]) {
			return true
		}
		i = k
	}
}

// trailerInt returns the integer value of the name key in dict text.
func trailerInt(dict []byte, key string) (int64, bool) {
	for i := 0; ; {
		j := bytes.Index(dict[i:], []byte(key))
		if j < 0 {
			return 0, false
		}
		k := i + j + len(key)
		if k == len(dict) || isSpace(dict[k]) || isDelim(dict[k]) {
			s := &scanner{b: dict, pos: k}
			v, err := strconv.ParseInt(s.token(), 10, 64)
			return v, err == nil
		}
		i = k
	}
}
