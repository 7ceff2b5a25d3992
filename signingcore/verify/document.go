package verify

import (
	"bytes"
	"errors"
	"fmt"
	"sort"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"

	"signet/errs"
	"signet/signingcore/internal/pdfcpuconf"
)

// Limits on walking untrusted object graphs.
const (
	maxDepth  = 64
	maxFields = 100000
	maxPages  = 1000000
)

var (
	errNotPDF    = errs.New(errs.Invalid, "文件不是有效的 PDF 文档")
	errCorrupt   = errs.New(errs.Invalid, "PDF 文件结构损坏，无法读取")
	errEncrypted = errs.New(errs.Invalid, "不支持加密的 PDF 文件，请先解除密码保护")
)

// view is one parsed state of the document: the whole file or the prefix
// that ends a signed revision.
type view struct {
	xt    *model.XRefTable
	root  int         // catalog object number
	pages []int       // page object numbers in page order
	page  map[int]int // page object number -> 1-based page number
	annot map[int]int // annotation object number -> 1-based page number
}

// readView parses data with pdfcpu. It recovers from a panic in the
// parser, which must never take the caller down on hostile input.
func readView(data []byte) (v *view, err error) {
	if len(data) < 16 || !bytes.Contains(data[:min(len(data), 1024)], []byte("%PDF-")) {
		return nil, errNotPDF
	}
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, errs.Wrap(fmt.Errorf("verify: pdfcpu panic: %v", r), errs.Invalid, errCorrupt.Message)
		}
	}()
	conf := pdfcpuconf.Default()
	conf.ValidationMode = model.ValidationRelaxed
	ctx, err := api.ReadContext(bytes.NewReader(data), conf)
	if err != nil {
		if isEncryptedErr(err) {
			return nil, errs.Wrap(err, errs.Invalid, errEncrypted.Message)
		}
		return nil, errs.Wrap(fmt.Errorf("verify: read pdf: %w", err), errs.Invalid, errCorrupt.Message)
	}
	xt := ctx.XRefTable
	if xt.Encrypt != nil {
		return nil, errEncrypted
	}
	if xt.Root == nil {
		return nil, errs.Wrap(errors.New("verify: no /Root"), errs.Invalid, "PDF 文件结构损坏：缺少文档目录")
	}
	v = &view{xt: xt, root: xt.Root.ObjectNumber.Value(), page: map[int]int{}, annot: map[int]int{}}
	v.walkPages()
	return v, nil
}

func isEncryptedErr(err error) bool {
	s := err.Error()
	return bytes.Contains([]byte(s), []byte("password")) || bytes.Contains([]byte(s), []byte("encrypt"))
}

// object returns object num, or nil when it is free or missing.
func (v *view) object(num int) types.Object {
	e, ok := v.xt.Table[num]
	if !ok || e == nil || e.Free {
		return nil
	}
	return e.Object
}

// resolve follows an indirect reference (one level is all PDF allows).
func (v *view) resolve(o types.Object) types.Object {
	for i := 0; i < 8; i++ {
		ref, ok := o.(types.IndirectRef)
		if !ok {
			return o
		}
		o = v.object(ref.ObjectNumber.Value())
	}
	return nil
}

// dict resolves o to a dictionary (the dictionary of a stream too).
func (v *view) dict(o types.Object) types.Dict {
	switch d := v.resolve(o).(type) {
	case types.Dict:
		return d
	case types.StreamDict:
		return d.Dict
	}
	return nil
}

// array resolves o to an array.
func (v *view) array(o types.Object) types.Array {
	a, _ := v.resolve(o).(types.Array)
	return a
}

func (v *view) catalog() types.Dict { return v.dict(*types.NewIndirectRef(v.root, 0)) }

// walkPages records the page objects in order and the page of every
// annotation listed in a page's /Annots.
func (v *view) walkPages() {
	cat := v.catalog()
	if cat == nil {
		return
	}
	seen := map[int]bool{}
	var walk func(o types.Object, depth int)
	walk = func(o types.Object, depth int) {
		ref, ok := o.(types.IndirectRef)
		if !ok || depth > maxDepth || len(v.pages) >= maxPages {
			return
		}
		n := ref.ObjectNumber.Value()
		if seen[n] {
			return
		}
		seen[n] = true
		d := v.dict(ref)
		if d == nil {
			return
		}
		if kids := v.array(d["Kids"]); kids != nil && nameOf(d["Type"]) != "Page" {
			for _, k := range kids {
				walk(k, depth+1)
			}
			return
		}
		v.pages = append(v.pages, n)
		p := len(v.pages)
		v.page[n] = p
		for _, a := range v.array(d["Annots"]) {
			if ar, ok := a.(types.IndirectRef); ok {
				if _, dup := v.annot[ar.ObjectNumber.Value()]; !dup {
					v.annot[ar.ObjectNumber.Value()] = p
				}
			}
		}
	}
	walk(cat["Pages"], 0)
}

func nameOf(o types.Object) string {
	n, _ := o.(types.Name)
	return string(n)
}

func textOf(o types.Object) string {
	s, err := types.StringOrHexLiteral(o)
	if err != nil || s == nil {
		return ""
	}
	return *s
}

func refNum(o types.Object) int {
	if r, ok := o.(types.IndirectRef); ok {
		return r.ObjectNumber.Value()
	}
	return 0
}

// sigField is a signature field with a value, as found in the AcroForm.
type sigField struct {
	name     string
	fieldNum int        // object number of the field dictionary (0 if direct)
	valueNum int        // object number of the signature dictionary (0 if direct)
	value    types.Dict // the signature dictionary
	widget   types.Dict // the first widget annotation (maybe the field itself)
	widgetNr int
}

// fieldType returns a field's /FT, inherited through /Parent.
func (v *view) fieldType(d types.Dict) string {
	for i := 0; d != nil && i < maxDepth; i++ {
		if ft := nameOf(d["FT"]); ft != "" {
			return ft
		}
		d = v.dict(d["Parent"])
	}
	return ""
}

// forEachField calls fn for every field dictionary in the AcroForm tree
// with its fully qualified name and object number (0 when direct).
func (v *view) forEachField(fn func(name string, num int, d types.Dict)) {
	cat := v.catalog()
	if cat == nil {
		return
	}
	form := v.dict(cat["AcroForm"])
	if form == nil {
		return
	}
	visited := map[int]bool{}
	var walk func(a types.Array, prefix string, depth int)
	walk = func(a types.Array, prefix string, depth int) {
		if depth > maxDepth {
			return
		}
		for _, o := range a {
			num := refNum(o)
			if num != 0 {
				if visited[num] || len(visited) > maxFields {
					continue
				}
				visited[num] = true
			}
			d := v.dict(o)
			if d == nil {
				continue
			}
			name := prefix
			if t, ok := d["T"]; ok {
				if name != "" {
					name += "."
				}
				name += textOf(t)
			}
			fn(name, num, d)
			walk(v.array(d["Kids"]), name, depth+1)
		}
	}
	walk(v.array(form["Fields"]), "", 0)
}

// signatureFields returns the signed signature fields (those with a /V
// dictionary), sorted by the end of their byte range.
func (v *view) signatureFields() []sigField {
	var out []sigField
	v.forEachField(func(name string, num int, d types.Dict) {
		if v.fieldType(d) != "Sig" {
			return
		}
		if _, hasT := d["T"]; !hasT && nameOf(d["Subtype"]) == "Widget" {
			return // a widget kid of a field, not a field
		}
		val := v.dict(d["V"])
		if val == nil {
			return
		}
		f := sigField{name: name, fieldNum: num, valueNum: refNum(d["V"]), value: val}
		if nameOf(d["Subtype"]) == "Widget" {
			f.widget, f.widgetNr = d, num
		} else {
			for _, k := range v.array(d["Kids"]) {
				if kd := v.dict(k); kd != nil && nameOf(kd["Subtype"]) == "Widget" {
					f.widget, f.widgetNr = kd, refNum(k)
					break
				}
			}
		}
		out = append(out, f)
	})
	sort.SliceStable(out, func(i, j int) bool { return rangeEnd(out[i].value) < rangeEnd(out[j].value) })
	return out
}

// byteRange returns a signature dictionary's /ByteRange, or nil when it is
// missing or malformed.
func byteRange(d types.Dict) []int64 {
	a, ok := d["ByteRange"].(types.Array)
	if !ok || len(a) == 0 || len(a)%2 != 0 || len(a) > 64 {
		return nil
	}
	out := make([]int64, len(a))
	for i, o := range a {
		n, ok := o.(types.Integer)
		if !ok || n < 0 {
			return nil
		}
		out[i] = int64(n)
	}
	return out
}

func rangeEnd(d types.Dict) int64 {
	br := byteRange(d)
	if br == nil {
		return -1
	}
	return br[len(br)-2] + br[len(br)-1]
}

// contentsBytes returns the /Contents string's bytes.
func contentsBytes(d types.Dict) ([]byte, bool) {
	switch c := d["Contents"].(type) {
	case types.HexLiteral:
		b, err := c.Bytes()
		return b, err == nil
	case types.StringLiteral:
		b, err := types.Unescape(c.Value())
		return b, err == nil
	}
	return nil, false
}

// revisionMarks returns the offsets just after each %%EOF marker, in order.
func revisionMarks(data []byte) []int64 {
	var out []int64
	marker := []byte("%%EOF")
	for off := 0; off < len(data); {
		i := bytes.Index(data[off:], marker)
		if i < 0 {
			break
		}
		e := off + i + len(marker)
		out = append(out, int64(e))
		off = e
	}
	return out
}

// isRevisionEnd reports that end is just after a %%EOF marker, optionally
// followed by one end-of-line.
func isRevisionEnd(data []byte, marks []int64, end int64) bool {
	for _, m := range marks {
		if end < m {
			return false
		}
		tail := data[m:end]
		if len(tail) == 0 || string(tail) == "\n" || string(tail) == "\r" || string(tail) == "\r\n" {
			return true
		}
	}
	return false
}

// objectSpan returns where the uncompressed object num starts in data and
// where its "endobj" keyword begins.
func (v *view) objectSpan(data []byte, num int) (start, end int64, ok bool) {
	e, found := v.xt.Table[num]
	if !found || e == nil || e.Free || e.Compressed || e.Offset == nil {
		return 0, 0, false
	}
	start = *e.Offset
	if start <= 0 || start >= int64(len(data)) {
		return 0, 0, false
	}
	i := bytes.Index(data[start:], []byte("endobj"))
	if i < 0 {
		return 0, 0, false
	}
	return start, start + int64(i), true
}
