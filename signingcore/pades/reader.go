package pades

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"

	"signet/errs"
	"signet/signingcore/internal/pdfcpuconf"
)

// xrefEntry locates one object of the newest revision.
type xrefEntry struct {
	kind   byte // 'f' free, 'n' at offset, 'c' in an object stream
	offset int64
	gen    int
	stream int // object stream number when kind == 'c'
	index  int
}

// objStream is a decoded object stream.
type objStream struct {
	content string
	offsets map[int]int // object number -> offset in content
}

// reader gives lazy access to the objects of a PDF held in memory. It walks
// the cross-reference sections itself (classic tables, xref streams and
// hybrids) and parses single objects with pdfcpu's object parser, so
// signing a large file touches only the few objects it changes. When the
// cross-reference data is damaged it falls back to pdfcpu's full reader,
// which repairs what it can.
type reader struct {
	data       []byte
	entries    map[int]xrefEntry
	trailer    types.Dict // merged: newest value of each key wins
	startXRef  int64      // offset of the newest cross-reference section
	xrefStream bool       // the newest section is an xref stream
	size       int        // trailer /Size
	objects    map[int]types.Object
	objStreams map[int]*objStream
	ctx        *model.Context // pdfcpu's full model, only after a fallback
}

var errNotPDF = errs.New(errs.Invalid, "文件不是有效的 PDF 文档")

// recoverPDF turns a panic while reading a malformed document (pdfcpu's
// parser and repairer can panic on hostile input) into errs.Invalid. Every
// exported entry point that reads a PDF defers it; the reader's state is
// per call, so nothing shared is left half-changed.
func recoverPDF(err *error) {
	if v := recover(); v != nil {
		*err = errs.Wrap(fmt.Errorf("pades: panic reading PDF: %v", v), errs.Invalid, "PDF 文件结构损坏，无法读取")
	}
}

// newReader reads the cross-reference data of pdf.
func newReader(pdf []byte) (*reader, error) {
	if len(pdf) < 16 || !bytes.Contains(pdf[:min(len(pdf), 1024)], []byte("%PDF-")) {
		return nil, errNotPDF
	}
	r := &reader{
		data:       pdf,
		entries:    make(map[int]xrefEntry),
		trailer:    types.Dict{},
		objects:    make(map[int]types.Object),
		objStreams: make(map[int]*objStream),
	}
	sx, err := findStartXRef(pdf)
	if err != nil {
		return nil, errs.Wrap(err, errs.Invalid, "PDF 文件结构损坏：找不到交叉引用表")
	}
	r.startXRef = sx
	if err := r.readXRefChain(sx); err != nil {
		if ferr := r.fallback(); ferr != nil {
			return nil, errs.Wrap(fmt.Errorf("%w; pdfcpu: %w", err, ferr), errs.Invalid, "PDF 文件结构损坏，无法读取")
		}
	}
	if _, ok := r.trailer["Encrypt"]; ok {
		return nil, errs.New(errs.Invalid, "不支持加密的 PDF 文件，请先解除密码保护")
	}
	if _, ok := r.trailer["Root"].(types.IndirectRef); !ok {
		return nil, errs.New(errs.Invalid, "PDF 文件结构损坏：缺少文档目录")
	}
	if s, ok := r.trailer["Size"].(types.Integer); ok {
		r.size = int(s)
	}
	for n := range r.entries {
		if n >= r.size {
			r.size = n + 1
		}
	}
	return r, nil
}

// fallback loads the whole document with pdfcpu, which repairs damaged
// cross-reference data, and serves every later lookup from its model.
func (r *reader) fallback() error {
	if r.ctx != nil {
		return nil
	}
	conf := pdfcpuconf.Default()
	ctx, err := pdfcpu.Read(bytes.NewReader(r.data), conf)
	if err != nil {
		return fmt.Errorf("pdfcpu read: %w", err)
	}
	r.ctx = ctx
	r.objects = make(map[int]types.Object)
	xt := ctx.XRefTable
	r.trailer = types.Dict{}
	if xt.Root != nil {
		r.trailer["Root"] = *xt.Root
	}
	if xt.Info != nil {
		r.trailer["Info"] = *xt.Info
	}
	if xt.ID != nil {
		r.trailer["ID"] = xt.ID
	}
	if xt.Encrypt != nil {
		r.trailer["Encrypt"] = *xt.Encrypt
	}
	if xt.Size != nil {
		r.trailer["Size"] = types.Integer(*xt.Size)
	}
	r.xrefStream = ctx.Read.UsingXRefStreams
	return nil
}

func findStartXRef(pdf []byte) (int64, error) {
	tail := pdf[max(0, len(pdf)-2048):]
	i := bytes.LastIndex(tail, []byte("startxref"))
	if i < 0 {
		return 0, errors.New("no startxref")
	}
	rest := tail[i+len("startxref"):]
	tok, _ := nextToken(rest, 0)
	v, err := strconv.ParseInt(string(tok), 10, 64)
	if err != nil || v <= 0 || v >= int64(len(pdf)) {
		return 0, fmt.Errorf("bad startxref %q", tok)
	}
	return v, nil
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == 0
}

func isDelim(c byte) bool {
	return isSpace(c) || c == '/' || c == '[' || c == ']' || c == '<' || c == '>' || c == '(' || c == ')' || c == '%'
}

// nextToken returns the next whitespace-delimited token at or after pos and
// the position after it (comments are skipped).
func nextToken(b []byte, pos int) ([]byte, int) {
	for pos < len(b) {
		if isSpace(b[pos]) {
			pos++
			continue
		}
		if b[pos] == '%' {
			for pos < len(b) && b[pos] != '\n' && b[pos] != '\r' {
				pos++
			}
			continue
		}
		break
	}
	start := pos
	for pos < len(b) && !isDelim(b[pos]) {
		pos++
	}
	return b[start:pos], pos
}

func (r *reader) readXRefChain(off int64) error {
	seen := map[int64]bool{}
	first := true
	for off > 0 {
		if seen[off] || off >= int64(len(r.data)) {
			return fmt.Errorf("xref: bad or looping offset %d", off)
		}
		seen[off] = true
		tok, _ := nextToken(r.data, int(off))
		var trailer types.Dict
		var err error
		if string(tok) == "xref" {
			trailer, err = r.readXRefTable(off)
			if err != nil {
				return err
			}
			if xs, ok := trailer["XRefStm"].(types.Integer); ok {
				if _, err := r.readXRefStream(int64(xs)); err != nil {
					return err
				}
			}
		} else {
			trailer, err = r.readXRefStream(off)
			if err != nil {
				return err
			}
			if first {
				r.xrefStream = true
			}
		}
		first = false
		for _, k := range []string{"Root", "Info", "ID", "Size", "Encrypt"} {
			if _, ok := r.trailer[k]; ok {
				continue
			}
			if v, ok := trailer[k]; ok {
				r.trailer[k] = v
			}
		}
		prev, ok := trailer["Prev"].(types.Integer)
		if !ok {
			break
		}
		off = int64(prev)
	}
	return nil
}

func (r *reader) addEntry(n int, e xrefEntry) {
	if _, ok := r.entries[n]; !ok {
		r.entries[n] = e
	}
}

// readXRefTable reads a classic section at off and returns its trailer.
func (r *reader) readXRefTable(off int64) (types.Dict, error) {
	_, pos := nextToken(r.data, int(off)) // "xref"
	for {
		tok, p := nextToken(r.data, pos)
		if string(tok) == "trailer" {
			pos = p
			break
		}
		start, err1 := strconv.Atoi(string(tok))
		cnt, p2 := nextToken(r.data, p)
		count, err2 := strconv.Atoi(string(cnt))
		if err1 != nil || err2 != nil || count < 0 || start < 0 {
			return nil, fmt.Errorf("xref: bad subsection header at %d", pos)
		}
		pos = p2
		for i := 0; i < count; i++ {
			var f [3][]byte
			for j := range f {
				f[j], pos = nextToken(r.data, pos)
			}
			o, err1 := strconv.ParseInt(string(f[0]), 10, 64)
			g, err2 := strconv.Atoi(string(f[1]))
			if err1 != nil || err2 != nil || len(f[2]) != 1 {
				return nil, fmt.Errorf("xref: bad entry for object %d", start+i)
			}
			switch f[2][0] {
			case 'n':
				r.addEntry(start+i, xrefEntry{kind: 'n', offset: o, gen: g})
			case 'f':
				r.addEntry(start+i, xrefEntry{kind: 'f', gen: g})
			default:
				return nil, fmt.Errorf("xref: bad entry type for object %d", start+i)
			}
		}
	}
	obj, _, err := r.parseAt(pos)
	if err != nil {
		return nil, fmt.Errorf("xref: trailer: %w", err)
	}
	d, ok := obj.(types.Dict)
	if !ok {
		return nil, errors.New("xref: trailer is not a dictionary")
	}
	return d, nil
}

// parseAt parses one direct object starting at pos (stopping before a
// following "stream" keyword) and returns it and the position after it.
func (r *reader) parseAt(pos int) (types.Object, int, error) {
	if pos < 0 || pos >= len(r.data) {
		return nil, 0, errors.New("offset out of range")
	}
	rest := r.data[pos:]
	end := len(rest)
	if i := bytes.Index(rest, []byte("endobj")); i >= 0 {
		end = i
	}
	if i := bytes.Index(rest[:end], []byte("stream")); i >= 0 {
		end = i
	}
	if i := bytes.Index(rest[:end], []byte("startxref")); i >= 0 {
		end = i
	}
	s := string(rest[:end])
	l := s
	obj, err := model.ParseObject(&l)
	if err != nil {
		// A "stream" or "endobj" inside a string fooled the window; retry wider.
		s = string(rest[:min(len(rest), end+1<<16)])
		l = s
		if obj, err = model.ParseObject(&l); err != nil {
			return nil, 0, fmt.Errorf("parse object at %d: %w", pos, err)
		}
	}
	return obj, pos + len(s) - len(l), nil
}

// parseIndirectAt parses "N G obj <object>" at off.
func (r *reader) parseIndirectAt(off int64) (num, gen int, obj types.Object, after int, err error) {
	t1, p := nextToken(r.data, int(off))
	t2, p := nextToken(r.data, p)
	t3, p := nextToken(r.data, p)
	num, err1 := strconv.Atoi(string(t1))
	gen, err2 := strconv.Atoi(string(t2))
	if err1 != nil || err2 != nil || string(t3) != "obj" {
		return 0, 0, nil, 0, fmt.Errorf("no object header at offset %d", off)
	}
	obj, after, err = r.parseAt(p)
	return num, gen, obj, after, err
}

// streamData returns the raw (still encoded) bytes of the stream whose
// dictionary d ends at after.
func (r *reader) streamData(d types.Dict, after int) ([]byte, error) {
	tok, p := nextToken(r.data, after)
	if string(tok) != "stream" {
		return nil, errors.New("missing stream keyword")
	}
	if p < len(r.data) && r.data[p] == '\r' {
		p++
	}
	if p < len(r.data) && r.data[p] == '\n' {
		p++
	}
	lo, err := r.resolve(d["Length"])
	if err != nil {
		return nil, err
	}
	n, ok := lo.(types.Integer)
	if !ok || int(n) < 0 || p+int(n) > len(r.data) {
		return nil, errors.New("bad stream length")
	}
	return r.data[p : p+int(n)], nil
}

// decodeStream decodes FlateDecode (with PNG predictors) or unfiltered data.
func decodeStream(d types.Dict, raw []byte) ([]byte, error) {
	f := d["Filter"]
	if a, ok := f.(types.Array); ok {
		if len(a) > 1 {
			return nil, errors.New("filter chains are not supported")
		}
		if len(a) == 1 {
			f = a[0]
		} else {
			f = nil
		}
	}
	if f == nil {
		return raw, nil
	}
	if n, ok := f.(types.Name); !ok || n != "FlateDecode" {
		return nil, fmt.Errorf("unsupported filter %v", f)
	}
	zr, err := zlib.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("flate: %w", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, 64<<20))
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("flate: %w", err)
	}
	parms, _ := d["DecodeParms"].(types.Dict)
	if a, ok := d["DecodeParms"].(types.Array); ok && len(a) == 1 {
		parms, _ = a[0].(types.Dict)
	}
	if parms == nil {
		return out, nil
	}
	pred, _ := parms["Predictor"].(types.Integer)
	if pred < 10 {
		if pred > 1 {
			return nil, fmt.Errorf("unsupported predictor %d", pred)
		}
		return out, nil
	}
	cols := 1
	if c, ok := parms["Columns"].(types.Integer); ok {
		cols = int(c)
	}
	colors := 1
	if c, ok := parms["Colors"].(types.Integer); ok {
		colors = int(c)
	}
	bpc := 8
	if c, ok := parms["BitsPerComponent"].(types.Integer); ok {
		bpc = int(c)
	}
	return unpredictPNG(out, cols*colors*bpc/8, max(1, colors*bpc/8))
}

// unpredictPNG reverses PNG row filters (predictors 10-15).
func unpredictPNG(in []byte, rowLen, bpp int) ([]byte, error) {
	if rowLen <= 0 {
		return nil, errors.New("bad predictor columns")
	}
	stride := rowLen + 1
	rows := len(in) / stride
	out := make([]byte, rows*rowLen)
	prev := make([]byte, rowLen)
	for y := 0; y < rows; y++ {
		ft := in[y*stride]
		src := in[y*stride+1 : (y+1)*stride]
		cur := out[y*rowLen : (y+1)*rowLen]
		for i := 0; i < rowLen; i++ {
			var a, c byte
			if i >= bpp {
				a = cur[i-bpp]
				c = prev[i-bpp]
			}
			b := prev[i]
			switch ft {
			case 0:
				cur[i] = src[i]
			case 1:
				cur[i] = src[i] + a
			case 2:
				cur[i] = src[i] + b
			case 3:
				cur[i] = src[i] + byte((int(a)+int(b))/2)
			case 4:
				cur[i] = src[i] + paeth(a, b, c)
			default:
				return nil, fmt.Errorf("bad png filter %d", ft)
			}
		}
		prev = cur
	}
	return out, nil
}

func paeth(a, b, c byte) byte {
	p := int(a) + int(b) - int(c)
	pa, pb, pc := abs(p-int(a)), abs(p-int(b)), abs(p-int(c))
	if pa <= pb && pa <= pc {
		return a
	}
	if pb <= pc {
		return b
	}
	return c
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// readXRefStream reads an xref stream at off and returns its dictionary.
func (r *reader) readXRefStream(off int64) (types.Dict, error) {
	_, _, obj, after, err := r.parseIndirectAt(off)
	if err != nil {
		return nil, fmt.Errorf("xref stream: %w", err)
	}
	d, ok := obj.(types.Dict)
	if !ok || d["Type"] != types.Name("XRef") {
		return nil, fmt.Errorf("xref stream: no XRef dictionary at %d", off)
	}
	raw, err := r.streamData(d, after)
	if err != nil {
		return nil, fmt.Errorf("xref stream: %w", err)
	}
	data, err := decodeStream(d, raw)
	if err != nil {
		return nil, fmt.Errorf("xref stream: %w", err)
	}
	wa, ok := d["W"].(types.Array)
	if !ok || len(wa) != 3 {
		return nil, errors.New("xref stream: bad /W")
	}
	var w [3]int
	for i := range w {
		v, ok := wa[i].(types.Integer)
		if !ok || v < 0 || v > 8 {
			return nil, errors.New("xref stream: bad /W")
		}
		w[i] = int(v)
	}
	size, _ := d["Size"].(types.Integer)
	index := []int{0, int(size)}
	if ia, ok := d["Index"].(types.Array); ok {
		index = index[:0]
		for _, v := range ia {
			n, ok := v.(types.Integer)
			if !ok {
				return nil, errors.New("xref stream: bad /Index")
			}
			index = append(index, int(n))
		}
	}
	rec := w[0] + w[1] + w[2]
	if rec == 0 {
		return nil, errors.New("xref stream: empty /W")
	}
	field := func(b []byte) int64 {
		var v int64
		for _, c := range b {
			v = v<<8 | int64(c)
		}
		return v
	}
	pos := 0
	for i := 0; i+1 < len(index); i += 2 {
		start, count := index[i], index[i+1]
		if start < 0 || count < 0 || count > (len(data)-pos)/rec {
			return nil, errors.New("xref stream: /Index does not match the data")
		}
		for j := 0; j < count; j++ {
			if pos+rec > len(data) {
				return nil, errors.New("xref stream: truncated")
			}
			t := int64(1)
			if w[0] > 0 {
				t = field(data[pos : pos+w[0]])
			}
			f2 := field(data[pos+w[0] : pos+w[0]+w[1]])
			f3 := field(data[pos+w[0]+w[1] : pos+rec])
			pos += rec
			switch t {
			case 0:
				r.addEntry(start+j, xrefEntry{kind: 'f'})
			case 1:
				r.addEntry(start+j, xrefEntry{kind: 'n', offset: f2, gen: int(f3)})
			case 2:
				r.addEntry(start+j, xrefEntry{kind: 'c', stream: int(f2), index: int(f3)})
			}
		}
	}
	return d, nil
}

// object returns the object numbered num.
func (r *reader) object(num int) (types.Object, error) {
	if o, ok := r.objects[num]; ok {
		return o, nil
	}
	if r.ctx != nil {
		e, ok := r.ctx.XRefTable.Table[num]
		if !ok || e.Free {
			return nil, nil
		}
		o := e.Object
		if sd, ok := o.(types.StreamDict); ok {
			o = sd.Dict
		}
		r.objects[num] = o
		return o, nil
	}
	o, err := r.loadObject(num)
	if err != nil {
		// Offsets that do not hold what the xref says: let pdfcpu repair.
		if ferr := r.fallback(); ferr != nil {
			return nil, errs.Wrap(fmt.Errorf("%w; pdfcpu: %w", err, ferr), errs.Invalid, "PDF 文件结构损坏，无法读取")
		}
		return r.object(num)
	}
	r.objects[num] = o
	return o, nil
}

func (r *reader) loadObject(num int) (types.Object, error) {
	e, ok := r.entries[num]
	if !ok || e.kind == 'f' {
		return nil, nil // a missing object is null
	}
	if e.kind == 'c' {
		os, err := r.objStream(e.stream)
		if err != nil {
			return nil, err
		}
		off, ok := os.offsets[num]
		if !ok {
			return nil, fmt.Errorf("object %d not in object stream %d", num, e.stream)
		}
		l := os.content[off:]
		o, err := model.ParseObject(&l)
		if err != nil {
			return nil, fmt.Errorf("object %d in stream %d: %w", num, e.stream, err)
		}
		return o, nil
	}
	n, _, o, _, err := r.parseIndirectAt(e.offset)
	if err != nil {
		return nil, fmt.Errorf("object %d: %w", num, err)
	}
	if n != num {
		return nil, fmt.Errorf("object %d: offset %d holds object %d", num, e.offset, n)
	}
	return o, nil
}

func (r *reader) objStream(num int) (*objStream, error) {
	if os, ok := r.objStreams[num]; ok {
		return os, nil
	}
	e, ok := r.entries[num]
	if !ok || e.kind != 'n' {
		return nil, fmt.Errorf("object stream %d not found", num)
	}
	_, _, obj, after, err := r.parseIndirectAt(e.offset)
	if err != nil {
		return nil, fmt.Errorf("object stream %d: %w", num, err)
	}
	d, ok := obj.(types.Dict)
	if !ok {
		return nil, fmt.Errorf("object stream %d: not a stream", num)
	}
	raw, err := r.streamData(d, after)
	if err != nil {
		return nil, fmt.Errorf("object stream %d: %w", num, err)
	}
	data, err := decodeStream(d, raw)
	if err != nil {
		return nil, fmt.Errorf("object stream %d: %w", num, err)
	}
	n, _ := d["N"].(types.Integer)
	first, _ := d["First"].(types.Integer)
	if int(first) > len(data) || first < 0 {
		return nil, fmt.Errorf("object stream %d: bad /First", num)
	}
	os := &objStream{content: string(data[first:]), offsets: make(map[int]int, int(n))}
	pos := 0
	for i := 0; i < int(n); i++ {
		var a, b []byte
		a, pos = nextToken(data[:first], pos)
		b, pos = nextToken(data[:first], pos)
		on, err1 := strconv.Atoi(string(a))
		oo, err2 := strconv.Atoi(string(b))
		if err1 != nil || err2 != nil || oo < 0 || oo >= len(os.content) {
			return nil, fmt.Errorf("object stream %d: bad header", num)
		}
		os.offsets[on] = oo
	}
	r.objStreams[num] = os
	return os, nil
}

// resolve follows indirect references.
func (r *reader) resolve(o types.Object) (types.Object, error) {
	for i := 0; i < 32; i++ {
		ref, ok := o.(types.IndirectRef)
		if !ok {
			return o, nil
		}
		var err error
		if o, err = r.object(ref.ObjectNumber.Value()); err != nil {
			return nil, err
		}
	}
	return nil, errors.New("reference chain too long")
}

// dict resolves o to a dictionary (nil when it is not one).
func (r *reader) dict(o types.Object) (types.Dict, error) {
	o, err := r.resolve(o)
	if err != nil {
		return nil, err
	}
	d, _ := o.(types.Dict)
	return d, nil
}

// generation returns the generation number of object num.
func (r *reader) generation(num int) int {
	if r.ctx != nil {
		if e, ok := r.ctx.XRefTable.Table[num]; ok && e.Generation != nil {
			return *e.Generation
		}
		return 0
	}
	return r.entries[num].gen
}

// catalog returns the document catalog and its reference.
func (r *reader) catalog() (types.IndirectRef, types.Dict, error) {
	ref := r.trailer["Root"].(types.IndirectRef)
	d, err := r.dict(ref)
	if err != nil {
		return ref, nil, err
	}
	if d == nil {
		return ref, nil, errs.New(errs.Invalid, "PDF 文件结构损坏：文档目录无效")
	}
	return ref, d, nil
}

// page returns the reference and dictionary of page n (1-based).
func (r *reader) page(n int) (types.IndirectRef, types.Dict, error) {
	_, cat, err := r.catalog()
	if err != nil {
		return types.IndirectRef{}, nil, err
	}
	node, ok := cat["Pages"].(types.IndirectRef)
	if !ok {
		return types.IndirectRef{}, nil, errs.New(errs.Invalid, "PDF 文件结构损坏：缺少页面树")
	}
	outOfRange := errs.New(errs.Invalid, "签名页码超出文档的页数")
	if n < 1 {
		return types.IndirectRef{}, nil, outOfRange
	}
	for depth := 0; depth < 64; depth++ {
		d, err := r.dict(node)
		if err != nil {
			return types.IndirectRef{}, nil, err
		}
		if d == nil {
			return types.IndirectRef{}, nil, errs.New(errs.Invalid, "PDF 文件结构损坏：页面树无效")
		}
		kids, err := r.resolve(d["Kids"])
		if err != nil {
			return types.IndirectRef{}, nil, err
		}
		ka, isNode := kids.(types.Array)
		if !isNode {
			if n == 1 {
				return node, d, nil
			}
			return types.IndirectRef{}, nil, outOfRange
		}
		found := false
		for _, k := range ka {
			kref, ok := k.(types.IndirectRef)
			if !ok {
				continue
			}
			kd, err := r.dict(kref)
			if err != nil {
				return types.IndirectRef{}, nil, err
			}
			if kd == nil {
				continue
			}
			count := 1
			if _, hasKids := kd["Kids"]; hasKids {
				c, _ := r.resolve(kd["Count"])
				ci, _ := c.(types.Integer)
				count = int(ci)
			}
			if n <= count {
				node = kref
				found = true
				break
			}
			n -= count
		}
		if !found {
			return types.IndirectRef{}, nil, outOfRange
		}
	}
	return types.IndirectRef{}, nil, errs.New(errs.Invalid, "PDF 文件结构损坏：页面树过深")
}
