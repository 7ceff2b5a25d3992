// Package pdfnorm normalises an uploaded PDF once, before anybody signs it,
// into the frozen original that every later signature is an incremental
// update of.
//
// Normalize validates the upload with pdfcpu and refuses, with an errs.Invalid
// error and a Chinese message, files that are not PDF, corrupt, encrypted,
// already digitally signed, too large, without pages or with too many pages.
// It reports the page count and each page's MediaBox, CropBox and rotation.
//
// # The frozen original
//
// The frozen file is the upload itself, byte for byte, when its structure is
// already what an incremental-update signer needs: the header at offset 0,
// exactly one revision with one classic cross-reference table (no /Prev, no
// /XRefStm, no xref stream) that covers every object number below /Size and
// whose every in-use entry points exactly at its "n g obj" header, and
// nothing but white space after the final %%EOF. Producers such as Word,
// LibreOffice and browsers' print-to-PDF usually write files like that. The
// user's file, its metadata and its hash are then preserved unchanged, which
// is the strongest evidence of what was uploaded.
//
// Any other file (earlier incremental updates, linearization, xref or object
// streams, hybrid references, a damaged xref table that pdfcpu had to
// reconstruct, junk before the header or after %%EOF) is rewritten by pdfcpu
// into a single revision with a classic cross-reference table and no object
// streams, so a signer can append to it with the simplest possible update.
// The rewrite keeps every object reachable from the catalog, including form
// fields (AcroForm) and their widgets, but pdfcpu sets the Info dictionary's
// Producer, CreationDate and ModDate and the file /ID. Document.Rewritten
// says which path was taken; Document.UploadSHA256 always records the hash of
// the upload as received.
//
// A file that already carries a digital signature is refused: rewriting it
// would invalidate that signature, and signing on top of a foreign revision
// history is outside this platform's evidence model.
package pdfnorm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"strings"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"

	"signet/errs"
	"signet/signingcore/internal/pdfcpuconf"
)

// Default limits, used where Limits leaves a field zero.
const (
	// DefaultMaxBytes is the largest upload accepted: 50 MiB.
	DefaultMaxBytes = 50 << 20
	// DefaultMaxPages is the largest page count accepted.
	DefaultMaxPages = 2000
)

// Limits bounds what Normalize accepts. Zero fields take the defaults.
type Limits struct {
	// MaxBytes is the largest accepted file size in bytes.
	MaxBytes int64
	// MaxPages is the largest accepted page count.
	MaxPages int
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxPages <= 0 {
		l.MaxPages = DefaultMaxPages
	}
	return l
}

// Rect is a rectangle in PDF user space units (points, 1/72 inch), given by
// its lower-left and upper-right corners.
type Rect struct {
	LLX, LLY, URX, URY float64
}

// Width returns the rectangle's width in points.
func (r Rect) Width() float64 { return r.URX - r.LLX }

// Height returns the rectangle's height in points.
func (r Rect) Height() float64 { return r.URY - r.LLY }

// Page describes one page of a normalised document.
type Page struct {
	// Number is the page number, starting at 1.
	Number int
	// MediaBox is the page's effective (possibly inherited) media box.
	MediaBox Rect
	// CropBox is the visible region: the effective crop box clipped to the
	// media box, or the media box when there is none.
	CropBox Rect
	// Rotate is the effective clockwise rotation for display: 0, 90, 180
	// or 270.
	Rotate int
}

// DisplaySize returns the page's size as a viewer shows it: the crop box with
// the rotation applied, in points.
func (p Page) DisplaySize() (width, height float64) {
	w, h := p.CropBox.Width(), p.CropBox.Height()
	if p.Rotate%180 != 0 {
		return h, w
	}
	return w, h
}

// Document is a normalised PDF: the frozen original and what was learned
// about it.
type Document struct {
	// PDF is the frozen original.
	PDF []byte
	// SHA256 is the SHA-256 of PDF.
	SHA256 [sha256.Size]byte
	// UploadSHA256 is the SHA-256 of the upload as received; it equals
	// SHA256 unless Rewritten.
	UploadSHA256 [sha256.Size]byte
	// Rewritten is true when PDF is pdfcpu's rewrite of the upload, false
	// when it is the upload unchanged.
	Rewritten bool
	// Version is the PDF version of PDF, such as "1.7".
	Version string
	// Pages describes each page, in order.
	Pages []Page
	// FormFields is the number of terminal form fields (AcroForm), kept by
	// normalisation.
	FormFields int
}

// PageCount returns the number of pages.
func (d *Document) PageCount() int { return len(d.Pages) }

// User-facing messages.
const (
	msgEmpty     = "文件为空，请上传 PDF 文件"
	msgNotPDF    = "文件不是 PDF 格式，请上传 PDF 文件"
	msgCorrupt   = "PDF 文件已损坏，无法读取，请重新导出后上传"
	msgEncrypted = "文件已加密，请上传未加密的 PDF"
	msgSigned    = "文件已包含数字签名，请上传未签名的 PDF"
	msgNoPages   = "PDF 文件没有页面"
)

// Normalize reads an upload from r and returns the frozen original. Bad
// input returns an errs.Invalid error with a Chinese message (its cause, for
// the log, is pdfcpu's diagnosis); a failure to read r or a cancelled ctx is
// returned as is. Normalize is safe for concurrent use.
func Normalize(ctx context.Context, r io.Reader, lim Limits) (*Document, error) {
	lim = lim.withDefaults()
	upload, err := io.ReadAll(io.LimitReader(r, lim.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("pdfnorm: read upload: %w", err)
	}
	if int64(len(upload)) > lim.MaxBytes {
		return nil, invalid(fmt.Sprintf("文件过大，最大支持 %s", humanBytes(lim.MaxBytes)), nil)
	}
	if len(upload) == 0 {
		return nil, invalid(msgEmpty, nil)
	}
	if !bytes.Contains(upload[:min(len(upload), 1024)], []byte("%PDF-")) {
		return nil, invalid(msgNotPDF, nil)
	}

	// pdfcpu keeps its configuration directory in a package variable; this
	// turns that off, once per process; every other setting comes from our
	// Configuration.
	pdfcpuconf.Ready()
	conf := configuration(lim)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("pdfnorm: %w", err)
	}

	pctx, err := read(ctx, upload, conf)
	if err != nil {
		return nil, err
	}
	if pctx.PageCount == 0 {
		return nil, invalid(msgNoPages, nil)
	}
	if pctx.PageCount > lim.MaxPages {
		return nil, invalid(fmt.Sprintf("PDF 页数过多（%d 页），最多支持 %d 页", pctx.PageCount, lim.MaxPages), nil)
	}
	for _, sigs := range pctx.Signatures {
		for _, s := range sigs {
			if s.Signed {
				return nil, invalid(msgSigned, nil)
			}
		}
	}

	doc := &Document{UploadSHA256: sha256.Sum256(upload)}
	if reason := soundClassic(upload); reason == "" {
		doc.PDF = upload
	} else {
		doc.Rewritten = true
		if doc.PDF, err = rewrite(pctx); err != nil {
			return nil, err
		}
		// Read the rewrite back: its facts, not the upload's, describe the
		// frozen file, and a rewrite that does not read back cleanly must
		// not be frozen. pdfcpu's repairs of badly damaged files can fail
		// this way; for the user that is a file we cannot read.
		if reason := soundClassic(doc.PDF); reason != "" {
			return nil, invalid(msgCorrupt, fmt.Errorf("pdfnorm: rewrite is not a single classic revision: %s", reason))
		}
		if pctx, err = read(ctx, doc.PDF, configuration(lim)); err != nil {
			return nil, fmt.Errorf("pdfnorm: read back rewrite: %w", err)
		}
	}
	doc.SHA256 = sha256.Sum256(doc.PDF)
	doc.Version = pctx.HeaderVersion.String()
	if doc.Pages, err = pages(pctx); err != nil {
		return nil, err
	}
	doc.FormFields = formFields(pctx)
	return doc, nil
}

// configuration is pdfcpu's configuration for reading and rewriting uploads,
// with resource limits derived from lim.
func configuration(lim Limits) *model.Configuration {
	objects := int(min(lim.MaxBytes/8+1024, math.MaxInt32))
	return &model.Configuration{
		Reader15:       true,
		ValidationMode: model.ValidationRelaxed,
		Eol:            types.EolLF,
		// A classic xref table and no object streams: the simplest base for
		// incremental updates.
		WriteObjectStream: false,
		WriteXRefStream:   false,
		// Keep the content as it is: no merging of fonts, images or
		// resources.
		Optimize:                  false,
		OptimizeBeforeWriting:     false,
		Offline:                   true,
		Cmd:                       model.VALIDATE,
		UnsupportedResourcePolicy: model.UnsupportedResourceSkip,
		TimestampFormat:           "2006-01-02 15:04",
		DateFormat:                "2006-01-02",
		Limits: model.ResourceLimits{
			MaxStreamBytes:       lim.MaxBytes,
			MaxDecodeBytes:       min(max(16*lim.MaxBytes, 16<<20), 1<<30),
			MaxImagePixels:       100 << 20,
			MaxImageBytes:        512 << 20,
			MaxObjectCount:       objects,
			MaxObjectStreamCount: objects,
			MaxObjectStreamFirst: min(lim.MaxBytes, 16<<20),
			MaxXRefEntries:       objects,
			MaxRecursionDepth:    100,
		},
	}
}

// read parses and validates pdf, translating pdfcpu's failures into user
// errors.
func read(ctx context.Context, pdf []byte, conf *model.Configuration) (pctx *model.Context, err error) {
	defer func() {
		// pdfcpu is a large parser fed untrusted bytes: a panic in it is a
		// corrupt file for the user, and a bug we want to see in the log.
		if p := recover(); p != nil {
			pctx, err = nil, invalid(msgCorrupt, recovered(p))
		}
	}()
	pctx, err = pdfcpu.ReadWithContext(ctx, bytes.NewReader(pdf), conf)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("pdfnorm: read: %w", ctx.Err())
		}
		if encryptionError(err) {
			return nil, invalid(msgEncrypted, err)
		}
		return nil, invalid(msgCorrupt, err)
	}
	if pctx.Encrypt != nil || pctx.E != nil {
		return nil, invalid(msgEncrypted, nil)
	}
	if err := api.ValidateContext(pctx); err != nil {
		return nil, invalid(msgCorrupt, err)
	}
	return pctx, nil
}

// encryptionError reports whether pdfcpu failed because the file is
// encrypted (with a user password, or with a scheme it does not support).
func encryptionError(err error) bool {
	return errors.Is(err, pdfcpu.ErrWrongPassword) ||
		errors.Is(err, pdfcpu.ErrEncrypted) ||
		errors.Is(err, pdfcpu.ErrUnsupportedEncryptionFeature)
}

// panicError carries a recovered panic value as an error cause, with the
// function that panicked.
type panicError struct {
	value any
	// origin is the fully qualified name of the function the panic started
	// in, or "" when it could not be told.
	origin string
}

func (p *panicError) Error() string {
	return fmt.Sprintf("panic in %s: %v", p.origin, p.value)
}

// inPdfcpu reports whether the panic started inside pdfcpu rather than in
// this package: the former is a corrupt upload meeting a parser bug we
// cannot fix here, the latter is our own bug.
func (p *panicError) inPdfcpu() bool {
	return strings.HasPrefix(p.origin, "github.com/pdfcpu/pdfcpu/")
}

// recovered wraps a value recovered in a deferred function of read or
// rewrite, naming the function the panic started in: the first frame below
// the runtime's panic machinery.
func recovered(value any) *panicError {
	pcs := make([]uintptr, 32)
	// Skip runtime.Callers, recovered and the deferred function.
	frames := runtime.CallersFrames(pcs[:runtime.Callers(3, pcs)])
	for {
		f, more := frames.Next()
		if !strings.HasPrefix(f.Function, "runtime.") {
			return &panicError{value: value, origin: f.Function}
		}
		if !more {
			return &panicError{value: value}
		}
	}
}

// rewrite writes pctx as a single revision with a classic xref table.
func rewrite(pctx *model.Context) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, invalid(msgCorrupt, recovered(p))
		}
	}()
	var buf bytes.Buffer
	if err := api.WriteContext(pctx, &buf); err != nil {
		return nil, invalid(msgCorrupt, err)
	}
	out, err = completeXRef(buf.Bytes())
	if err != nil {
		// pdfcpu's output of a damaged file it half understood.
		return nil, invalid(msgCorrupt, err)
	}
	return out, nil
}

// pages reads each page's boxes and rotation.
func pages(pctx *model.Context) ([]Page, error) {
	pbs, err := pctx.PageBoundaries(nil)
	if err != nil {
		return nil, invalid(msgCorrupt, err)
	}
	out := make([]Page, len(pbs))
	for i, pb := range pbs {
		media := pb.MediaBox()
		if media == nil {
			return nil, invalid(msgCorrupt, fmt.Errorf("page %d: no MediaBox", i+1))
		}
		m := rect(media)
		c := m
		if cb := pb.CropBox(); cb != nil {
			c = intersect(rect(cb), m)
		}
		if m.Width() <= 0 || m.Height() <= 0 || c.Width() <= 0 || c.Height() <= 0 {
			return nil, invalid(msgCorrupt, fmt.Errorf("page %d: empty page box %v / %v", i+1, m, c))
		}
		rot := pb.Rot % 360
		if rot < 0 {
			rot += 360
		}
		if rot%90 != 0 {
			return nil, invalid(msgCorrupt, fmt.Errorf("page %d: /Rotate %d", i+1, pb.Rot))
		}
		out[i] = Page{Number: i + 1, MediaBox: m, CropBox: c, Rotate: rot}
	}
	return out, nil
}

// rect converts a pdfcpu rectangle, putting its corners in order.
func rect(r *types.Rectangle) Rect {
	return Rect{
		LLX: math.Min(r.LL.X, r.UR.X), LLY: math.Min(r.LL.Y, r.UR.Y),
		URX: math.Max(r.LL.X, r.UR.X), URY: math.Max(r.LL.Y, r.UR.Y),
	}
}

// intersect returns the part of a inside b (empty when they do not meet).
func intersect(a, b Rect) Rect {
	r := Rect{
		LLX: math.Max(a.LLX, b.LLX), LLY: math.Max(a.LLY, b.LLY),
		URX: math.Min(a.URX, b.URX), URY: math.Min(a.URY, b.URY),
	}
	if r.URX < r.LLX {
		r.URX = r.LLX
	}
	if r.URY < r.LLY {
		r.URY = r.LLY
	}
	return r
}

// formFields counts the terminal fields of the AcroForm field tree.
func formFields(pctx *model.Context) int {
	root, err := pctx.Catalog()
	if err != nil {
		return 0
	}
	form, err := pctx.DereferenceDict(root["AcroForm"])
	if err != nil || form == nil {
		return 0
	}
	seen := map[int]bool{}
	var count func(o types.Object, depth int) int
	count = func(o types.Object, depth int) int {
		if depth > 32 {
			return 0
		}
		if ref, ok := o.(types.IndirectRef); ok {
			if seen[ref.ObjectNumber.Value()] {
				return 0
			}
			seen[ref.ObjectNumber.Value()] = true
		}
		d, err := pctx.DereferenceDict(o)
		if err != nil || d == nil {
			return 0
		}
		kids, err := pctx.DereferenceArray(d["Kids"])
		if err != nil {
			return 1
		}
		n := 0
		for _, k := range kids {
			// Kids without a partial name (and without kids of their own)
			// are the field's widget annotations, not fields.
			kd, err := pctx.DereferenceDict(k)
			if err != nil || kd == nil {
				continue
			}
			_, named := kd["T"]
			_, parent := kd["Kids"]
			if named || parent {
				n += count(k, depth+1)
			}
		}
		return max(n, 1)
	}
	fields, err := pctx.DereferenceArray(form["Fields"])
	if err != nil {
		return 0
	}
	n := 0
	for _, f := range fields {
		n += count(f, 0)
	}
	return n
}

// invalid is the error for an upload the user must fix: errs.Invalid on the
// "file" input, with the internal cause kept for the log.
func invalid(message string, cause error) error {
	return &errs.Error{Code: errs.Invalid, Message: message, Field: "file", Cause: cause}
}

// humanBytes formats a size limit for a message.
func humanBytes(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KB", n>>10)
	}
	return fmt.Sprintf("%d 字节", n)
}
