package pades

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"
	"unicode/utf16"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"
)

// update builds one incremental update: objects appended after the
// original bytes, then a cross-reference section (a classic table or an xref
// stream, matching the newest section of the original) and a trailer whose
// /Prev points at the original's newest section. The original bytes are
// never copied or changed.
type update struct {
	r       *reader
	base    int64 // length of the original document
	buf     bytes.Buffer
	offsets map[int]objLoc // object number -> where it was written
	next    int            // next free object number
}

type objLoc struct {
	offset int64 // absolute offset in the updated file
	gen    int
}

func newUpdate(r *reader, sizeHint int) *update {
	u := &update{r: r, base: int64(len(r.data)), offsets: make(map[int]objLoc), next: r.size}
	u.buf.Grow(sizeHint + 4096)
	if n := len(r.data); n > 0 && r.data[n-1] != '\n' && r.data[n-1] != '\r' {
		u.buf.WriteByte('\n')
	}
	return u
}

// alloc reserves a new object number.
func (u *update) alloc() int {
	n := u.next
	u.next++
	return n
}

// pos returns the absolute offset of the next byte written.
func (u *update) pos() int64 { return u.base + int64(u.buf.Len()) }

// begin starts object num (generation gen).
func (u *update) begin(num, gen int) {
	u.offsets[num] = objLoc{offset: u.pos(), gen: gen}
	u.buf.WriteString(strconv.Itoa(num))
	u.buf.WriteByte(' ')
	u.buf.WriteString(strconv.Itoa(gen))
	u.buf.WriteString(" obj\n")
}

func (u *update) end() { u.buf.WriteString("\nendobj\n") }

// writeObject writes a whole object from its PDF syntax.
func (u *update) writeObject(num, gen int, body string) {
	u.begin(num, gen)
	u.buf.WriteString(body)
	u.end()
}

// rewrite writes a changed version of an existing object, keeping its number.
func (u *update) rewrite(ref types.IndirectRef, o types.Object) {
	n := ref.ObjectNumber.Value()
	u.writeObject(n, u.r.generation(n), o.PDFString())
}

// writeStream writes a stream object; dict is the dictionary body without
// << >> and /Length.
func (u *update) writeStream(num int, dict string, data []byte) {
	u.begin(num, 0)
	u.buf.WriteString("<<")
	u.buf.WriteString(dict)
	u.buf.WriteString("/Length ")
	u.buf.WriteString(strconv.Itoa(len(data)))
	u.buf.WriteString(">>\nstream\n")
	u.buf.Write(data)
	u.buf.WriteString("\nendstream")
	u.end()
}

// finish writes the cross-reference section and trailer and returns the
// update bytes.
func (u *update) finish() []byte {
	nums := make([]int, 0, len(u.offsets)+1)
	for n := range u.offsets {
		nums = append(nums, n)
	}
	size := max(u.next, u.r.size)
	id := u.fileID()
	if u.r.xrefStream {
		xnum := u.alloc()
		size = max(u.next, u.r.size)
		nums = append(nums, xnum)
		sort.Ints(nums)
		xoff := u.pos()
		u.offsets[xnum] = objLoc{offset: xoff}
		w := 4
		if xoff > math.MaxUint32 {
			w = 8
		}
		rec := 1 + w + 2
		data := make([]byte, 0, len(nums)*rec)
		for _, n := range nums {
			loc := u.offsets[n]
			data = append(data, 1)
			for i := w - 1; i >= 0; i-- {
				data = append(data, byte(loc.offset>>(8*i)))
			}
			data = append(data, byte(loc.gen>>8), byte(loc.gen))
		}
		var d bytes.Buffer
		fmt.Fprintf(&d, "/Type/XRef/Size %d/W[1 %d 2]/Index[", size, w)
		for i, run := range runs(nums) {
			if i > 0 {
				d.WriteByte(' ')
			}
			fmt.Fprintf(&d, "%d %d", run[0], run[1])
		}
		d.WriteString("]")
		u.trailerEntries(&d, id)
		u.writeStream(xnum, d.String(), data)
		fmt.Fprintf(&u.buf, "startxref\n%d\n%%%%EOF\n", xoff)
		return u.buf.Bytes()
	}
	sort.Ints(nums)
	xoff := u.pos()
	u.buf.WriteString("xref\n")
	i := 0
	for _, run := range runs(nums) {
		fmt.Fprintf(&u.buf, "%d %d\n", run[0], run[1])
		for j := 0; j < run[1]; j++ {
			loc := u.offsets[nums[i]]
			fmt.Fprintf(&u.buf, "%010d %05d n\r\n", loc.offset, loc.gen)
			i++
		}
	}
	fmt.Fprintf(&u.buf, "trailer\n<</Size %d", size)
	u.trailerEntries(&u.buf, id)
	fmt.Fprintf(&u.buf, ">>\nstartxref\n%d\n%%%%EOF\n", xoff)
	return u.buf.Bytes()
}

// trailerEntries writes /Root, /Info, /ID and /Prev.
func (u *update) trailerEntries(b *bytes.Buffer, id string) {
	for _, k := range []string{"Root", "Info"} {
		if v, ok := u.r.trailer[k]; ok {
			b.WriteString("/" + k + " " + v.PDFString())
		}
	}
	b.WriteString("/ID" + id)
	fmt.Fprintf(b, "/Prev %d", u.r.startXRef)
}

// fileID keeps the first element of the original /ID and derives a new
// second element from the update, as an incremental update should.
func (u *update) fileID() string {
	h := sha256.New()
	fmt.Fprintf(h, "%d %d %d", u.base, u.r.startXRef, u.buf.Len())
	h.Write(u.buf.Bytes()[:min(u.buf.Len(), 4096)])
	second := hex.EncodeToString(h.Sum(nil)[:16])
	first := second
	if a, ok := u.r.trailer["ID"].(types.Array); ok && len(a) > 0 {
		switch v := a[0].(type) {
		case types.HexLiteral:
			return "[<" + string(v) + "><" + second + ">]"
		case types.StringLiteral:
			return "[(" + string(v) + ")<" + second + ">]"
		}
	}
	return "[<" + first + "><" + second + ">]"
}

// runs groups sorted object numbers into [start count] subsections.
func runs(nums []int) [][2]int {
	var out [][2]int
	for _, n := range nums {
		if len(out) > 0 && out[len(out)-1][0]+out[len(out)-1][1] == n {
			out[len(out)-1][1]++
			continue
		}
		out = append(out, [2]int{n, 1})
	}
	return out
}

// pdfText encodes s as a PDF text string: a literal string when it is plain
// printable ASCII, else UTF-16BE with a byte order mark as a hex string.
func pdfText(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			ascii = false
			break
		}
	}
	if ascii {
		var b bytes.Buffer
		b.WriteByte('(')
		for i := 0; i < len(s); i++ {
			if c := s[i]; c == '(' || c == ')' || c == '\\' {
				b.WriteByte('\\')
			}
			b.WriteByte(s[i])
		}
		b.WriteByte(')')
		return b.String()
	}
	u := utf16.Encode([]rune(s))
	out := make([]byte, 0, 6+4*len(u))
	out = append(out, "<FEFF"...)
	for _, c := range u {
		out = fmt.Appendf(out, "%04X", c)
	}
	return string(append(out, '>'))
}

// pdfDate formats t as a PDF date string, D:YYYYMMDDHHmmSS+HH'mm'.
func pdfDate(t time.Time) string {
	_, off := t.Zone()
	sign := byte('+')
	if off < 0 {
		sign = '-'
		off = -off
	}
	return fmt.Sprintf("(D:%s%c%02d'%02d')", t.Format("20060102150405"), sign, off/3600, off%3600/60)
}

// num formats a coordinate with at most four decimals.
func num(v float64) string {
	return strconv.FormatFloat(math.Round(v*1e4)/1e4, 'f', -1, 64)
}

// pdfName encodes a name, escaping delimiters and non-regular bytes.
func pdfName(s string) string { return "/" + types.EncodeName(s) }
