// Package testpdf writes small, well-formed PDFs for tests: A4 pages with a
// line of text each, one revision, a classic cross-reference table.
package testpdf

import (
	"bytes"
	"fmt"
	"strings"
)

// Make returns a PDF of the given number of A4 pages (595×842 points).
func Make(pages int) []byte {
	var buf bytes.Buffer
	var offsets []int
	obj := func(n int, body string) {
		for len(offsets) < n {
			offsets = append(offsets, 0)
		}
		offsets[n-1] = buf.Len()
		fmt.Fprintf(&buf, "%d 0 obj\n%s\nendobj\n", n, body)
	}
	buf.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	// 1 catalog, 2 pages, 3 font, then per page: page, content.
	obj(3, "<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>")
	var kids []string
	for i := 0; i < pages; i++ {
		page, content := 4+2*i, 5+2*i
		text := fmt.Sprintf("BT /F1 18 Tf 72 760 Td (Contract page %d) Tj ET", i+1)
		obj(page, fmt.Sprintf("<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Resources<</Font<</F1 3 0 R>>>>/Contents %d 0 R>>", content))
		obj(content, fmt.Sprintf("<</Length %d>>\nstream\n%s\nendstream", len(text), text))
		kids = append(kids, fmt.Sprintf("%d 0 R", page))
	}
	obj(1, "<</Type/Catalog/Pages 2 0 R>>")
	obj(2, fmt.Sprintf("<</Type/Pages/Kids[%s]/Count %d>>", strings.Join(kids, " "), pages))
	xref := buf.Len()
	fmt.Fprintf(&buf, "xref\n0 %d\n0000000000 65535 f\r\n", len(offsets)+1)
	for _, o := range offsets {
		fmt.Fprintf(&buf, "%010d 00000 n\r\n", o)
	}
	fmt.Fprintf(&buf, "trailer\n<</Size %d/Root 1 0 R/ID[<0123456789abcdef0123456789abcdef><0123456789abcdef0123456789abcdef>]>>\nstartxref\n%d\n%%%%EOF\n", len(offsets)+1, xref)
	return buf.Bytes()
}
