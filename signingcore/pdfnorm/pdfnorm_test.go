package pdfnorm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"signet/errs"
)

func mustNormalize(t testing.TB, pdf []byte, lim Limits) *Document {
	t.Helper()
	doc, err := Normalize(context.Background(), bytes.NewReader(pdf), lim)
	if err != nil {
		t.Fatalf("Normalize: %v", err)
	}
	return doc
}

// checkFrozen checks the invariants of every frozen file: hashes, a single
// sound classic revision, qpdf's approval, and page facts read back.
func checkFrozen(t *testing.T, upload []byte, doc *Document) {
	t.Helper()
	if got := sha256.Sum256(doc.PDF); got != doc.SHA256 {
		t.Errorf("SHA256 does not match PDF")
	}
	if got := sha256.Sum256(upload); got != doc.UploadSHA256 {
		t.Errorf("UploadSHA256 does not match the upload")
	}
	if doc.Rewritten == bytes.Equal(doc.PDF, upload) {
		t.Errorf("Rewritten = %v, but the frozen file equals the upload: %v", doc.Rewritten, bytes.Equal(doc.PDF, upload))
	}
	if reason := soundClassic(doc.PDF); reason != "" {
		t.Errorf("frozen file is not a single sound classic revision: %s", reason)
	}
	if n := bytes.Count(doc.PDF, []byte("startxref")); n != 1 {
		t.Errorf("frozen file has %d startxref keywords, want 1", n)
	}
	qpdfCheck(t, doc.PDF)
	for i, p := range doc.Pages {
		if p.Number != i+1 {
			t.Errorf("page %d numbered %d", i+1, p.Number)
		}
		if p.CropBox.Width() <= 0 || p.CropBox.Height() <= 0 || p.CropBox.LLX < p.MediaBox.LLX || p.CropBox.URY > p.MediaBox.URY {
			t.Errorf("page %d: crop box %+v not a non-empty part of media box %+v", i+1, p.CropBox, p.MediaBox)
		}
	}
}

func TestNormalizeAccepts(t *testing.T) {
	readGo := mustRead(t, pdfcpuFile(t, "testdata/read.go.pdf"))
	ten := mustQPDF(t, readGo, "--empty", "--pages", "IN", "1-10", "--", "OUT")
	a4 := Rect{0, 0, 594.95996, 840.95996}
	tests := []struct {
		name          string
		pdf           []byte
		wantRewritten bool
		wantPages     int
		wantPage1     Page
	}{
		{"minimal classic file kept", onePage(), false, 1, Page{1, Rect{0, 0, 595, 842}, Rect{0, 0, 595, 842}, 0}},
		{"read.go.pdf: one classic revision kept", readGo, false, 45, Page{1, a4, a4, 0}},
		{"qpdf page extract kept", ten, false, 10, Page{1, a4, a4, 0}},
		{"object and xref streams rewritten", mustQPDF(t, ten, "IN", "--object-streams=generate", "OUT"), true, 10, Page{1, a4, a4, 0}},
		{"linearized rewritten", mustQPDF(t, ten, "--linearize", "IN", "OUT"), true, 10, Page{1, a4, a4, 0}},
		{"incremental update rewritten", mustRead(t, pdfcpuFile(t, "testdata/pdf20/viaIncrementalSave.pdf")), true, 1, Page{1, Rect{0, 0, 612, 396}, Rect{0, 0, 612, 396}, 0}},
		{"junk before the header rewritten", mustRead(t, pdfcpuFile(t, "testdata/pdf20/withOffsetStart.pdf")), true, 1, Page{1, Rect{0, 0, 612, 396}, Rect{0, 0, 612, 396}, 0}},
		{"hybrid reference file rewritten", mustRead(t, pdfcpuFile(t, "testdata/Hybrid-PDF.pdf")), true, 1, Page{}},
		{"junk after %%EOF rewritten", append(bytes.Clone(readGo), "garbage\n"...), true, 45, Page{1, a4, a4, 0}},
		{"shifted offsets repaired and rewritten", bytes.Replace(readGo, []byte("\n"), []byte("\n%shift\n"), 1), true, 45, Page{1, a4, a4, 0}},
		{"lost xref table repaired and rewritten", readGo[:len(readGo)-300], true, 45, Page{1, a4, a4, 0}},
		{"crop box inside media box", mustRead(t, pdfcpuFile(t, "testdata/grid_example.pdf")), false, 4, Page{1, Rect{50, 50, 350, 350}, Rect{100, 100, 300, 300}, 0}},
		{"rotated page", mustRead(t, pdfcpuFile(t, "testdata/testRot.pdf")), true, 1, Page{1, Rect{0, 0, 595, 842}, Rect{0, 0, 595, 842}, 90}},
		{"PDF 2.0", mustRead(t, pdfcpuFile(t, "testdata/pdf20/SimplePDF2.0.pdf")), false, 1, Page{1, Rect{0, 0, 612, 396}, Rect{0, 0, 612, 396}, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := mustNormalize(t, tt.pdf, Limits{})
			checkFrozen(t, tt.pdf, doc)
			if doc.Rewritten != tt.wantRewritten {
				t.Errorf("Rewritten = %v, want %v (soundClassic of the upload: %q)", doc.Rewritten, tt.wantRewritten, soundClassic(tt.pdf))
			}
			if doc.PageCount() != tt.wantPages {
				t.Errorf("PageCount = %d, want %d", doc.PageCount(), tt.wantPages)
			}
			if tt.wantPage1.Number != 0 && !samePage(doc.Pages[0], tt.wantPage1) {
				t.Errorf("page 1 = %+v, want %+v", doc.Pages[0], tt.wantPage1)
			}
			// A rewrite keeps every page's geometry.
			if doc.Rewritten {
				again := mustNormalize(t, doc.PDF, Limits{})
				if again.Rewritten {
					t.Errorf("normalising the frozen file rewrote it again: %s", soundClassic(doc.PDF))
				}
				if len(again.Pages) != len(doc.Pages) {
					t.Errorf("frozen file has %d pages on re-reading, want %d", len(again.Pages), len(doc.Pages))
				}
			}
		})
	}
}

func samePage(a, b Page) bool {
	near := func(x, y float64) bool { return math.Abs(x-y) < 0.01 }
	nearRect := func(r, s Rect) bool {
		return near(r.LLX, s.LLX) && near(r.LLY, s.LLY) && near(r.URX, s.URX) && near(r.URY, s.URY)
	}
	return a.Number == b.Number && a.Rotate == b.Rotate && nearRect(a.MediaBox, b.MediaBox) && nearRect(a.CropBox, b.CropBox)
}

func TestDisplaySize(t *testing.T) {
	tests := []struct {
		page         Page
		wantW, wantH float64
	}{
		{Page{CropBox: Rect{0, 0, 595, 842}}, 595, 842},
		{Page{CropBox: Rect{0, 0, 595, 842}, Rotate: 90}, 842, 595},
		{Page{CropBox: Rect{10, 20, 110, 70}, Rotate: 180}, 100, 50},
		{Page{CropBox: Rect{10, 20, 110, 70}, Rotate: 270}, 50, 100},
	}
	for _, tt := range tests {
		if w, h := tt.page.DisplaySize(); w != tt.wantW || h != tt.wantH {
			t.Errorf("DisplaySize(%+v) = %v×%v, want %v×%v", tt.page, w, h, tt.wantW, tt.wantH)
		}
	}
}

// qpdfFieldCount returns the number of form field widgets qpdf sees.
func qpdfFieldCount(t *testing.T, pdf []byte) int {
	t.Helper()
	qpdf := mustTool(t, "qpdf", "qpdf")
	path := filepath.Join(t.TempDir(), "form.pdf")
	if err := os.WriteFile(path, pdf, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(qpdf, "--json", "--json-key=acroform", path).Output()
	if err != nil {
		t.Fatalf("qpdf --json: %v", err)
	}
	var v struct {
		AcroForm struct {
			Fields []json.RawMessage `json:"fields"`
		} `json:"acroform"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("qpdf json: %v", err)
	}
	return len(v.AcroForm.Fields)
}

func TestNormalizeKeepsFormFields(t *testing.T) {
	for _, name := range []string{"samples/form/fill/english.pdf", "samples/form/fill/chineseSimple.pdf", "samples/form/fill/person.pdf"} {
		t.Run(filepath.Base(name), func(t *testing.T) {
			upload := mustRead(t, pdfcpuFile(t, name))
			doc := mustNormalize(t, upload, Limits{})
			checkFrozen(t, upload, doc)
			before, after := qpdfFieldCount(t, upload), qpdfFieldCount(t, doc.PDF)
			if before == 0 || after != before {
				t.Errorf("qpdf sees %d form field widgets before and %d after, want the same non-zero count", before, after)
			}
			if doc.FormFields == 0 {
				t.Errorf("FormFields = 0, want the form's fields counted")
			}
		})
	}
}

func TestNormalizeRefuses(t *testing.T) {
	readGo := mustRead(t, pdfcpuFile(t, "testdata/read.go.pdf"))
	ten := mustQPDF(t, readGo, "--empty", "--pages", "IN", "1-10", "--", "OUT")
	tests := []struct {
		name    string
		pdf     []byte
		lim     Limits
		wantMsg string
	}{
		{"empty", nil, Limits{}, msgEmpty},
		{"not a PDF", []byte("PK\x03\x04 this is a zip file, not a contract"), Limits{}, msgNotPDF},
		{"PNG", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), Limits{}, msgNotPDF},
		{"truncated in the middle", readGo[:len(readGo)/2], Limits{}, msgCorrupt},
		{"header only", []byte("%PDF-1.7\n%%EOF\n"), Limits{}, msgCorrupt},
		{"user password", mustQPDF(t, ten, "--encrypt", "user", "owner", "256", "--", "IN", "OUT"), Limits{}, msgEncrypted},
		{"owner password only (AES-256)", mustQPDF(t, ten, "--encrypt", "", "owner", "256", "--", "IN", "OUT"), Limits{}, msgEncrypted},
		{"owner password only (RC4-128)", mustQPDF(t, ten, "--allow-weak-crypto", "--encrypt", "", "owner", "128", "--use-aes=n", "--", "IN", "OUT"), Limits{}, msgEncrypted},
		{"already signed (PAdES)", mustRead(t, pdfcpuFile(t, "samples/signatures/ETSI.CAdES.detached/testPAdES_BB.pdf")), Limits{}, msgSigned},
		{"already signed (pkcs7)", mustRead(t, pdfcpuFile(t, "samples/signatures/adbe.pkcs7.detached/sample1.pdf")), Limits{}, msgSigned},
		{"no pages", buildPDF("<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [] /Count 0 >>"), Limits{}, msgNoPages},
		{"too large", readGo, Limits{MaxBytes: 100 << 10}, "文件过大，最大支持 100 KB"},
		{"too many pages", readGo, Limits{MaxPages: 44}, "PDF 页数过多（45 页），最多支持 44 页"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Normalize(context.Background(), bytes.NewReader(tt.pdf), tt.lim)
			if err == nil {
				t.Fatalf("Normalize accepted it (%d pages, rewritten %v), want %q", doc.PageCount(), doc.Rewritten, tt.wantMsg)
			}
			if !errs.Is(err, errs.Invalid) || errs.MessageOf(err) != tt.wantMsg {
				t.Errorf("error = %v (message %q), want errs.Invalid %q", err, errs.MessageOf(err), tt.wantMsg)
			}
		})
	}
}

// TestNormalizeRecoversPanics checks that a panic inside pdfcpu is refused
// as a corrupt file and named as pdfcpu's, and that a panic in this package
// is named as ours, which is what FuzzNormalize fails on.
func TestNormalizeRecoversPanics(t *testing.T) {
	// Found by FuzzNormalize: an xref stream whose entry 0 has no generation
	// makes pdfcpu v0.15.0 dereference nil in XRefTable.EnsureValidFreeList.
	crasher := []byte("%PDF-1.0\n0bj <</Filter/Fl/Index[0 2 23 1]/Length 72/Root 0 0 R/Size 1/W[1 2 2]>>stream x\x9c$\xccI\n\x800\x14\x04\xd1\xfa\xd98\x1bG\xbc\x8c\x17\x14\xbcs\xa4L/x\xf4\xa621$2Bx22007071\x020i7x22\x0020\x04\"17100720$2200 18A0")
	_, err := Normalize(context.Background(), bytes.NewReader(crasher), Limits{})
	if !errs.Is(err, errs.Invalid) || errs.MessageOf(err) != msgCorrupt {
		t.Fatalf("error = %v (message %q), want errs.Invalid %q", err, errs.MessageOf(err), msgCorrupt)
	}
	var p *panicError
	if errors.As(err, &p) {
		if !p.inPdfcpu() || !strings.Contains(p.origin, "EnsureValidFreeList") {
			t.Errorf("origin = %q, want pdfcpu's EnsureValidFreeList", p.origin)
		}
	} else {
		t.Logf("pdfcpu no longer panics on this file (%v)", err)
	}

	ours := func() (err error) {
		defer func() {
			if v := recover(); v != nil {
				err = recovered(v)
			}
		}()
		var m map[string]int
		m["x"]++ // a nil map write: our own bug
		return nil
	}()
	if !errors.As(ours, &p) || p.inPdfcpu() || !strings.Contains(p.origin, "TestNormalizeRecoversPanics") {
		t.Errorf("our own panic = %v, want one named in this test, not pdfcpu", ours)
	}
}

// TestSoundClassic checks the structural test that decides whether an
// upload is kept byte for byte.
func TestSoundClassic(t *testing.T) {
	good := onePage()
	xref := bytes.Index(good, []byte("\nxref\n")) + 1
	tests := []struct {
		name string
		pdf  []byte
		want string
	}{
		{"sound", good, ""},
		{"trailing white space is fine", append(bytes.Clone(good), "\r\n\n"...), ""},
		{"/Prev", bytes.Replace(good, []byte("/Size 5"), []byte("/Size 5 /Prev 9"), 1), "trailer has /Prev"},
		{"/XRefStm", bytes.Replace(good, []byte("/Size 5"), []byte("/Size 5 /XRefStm 9"), 1), "trailer has /XRefStm"},
		{"/Size too big", bytes.Replace(good, []byte("/Size 5"), []byte("/Size 6"), 1), "xref lists 5 objects, /Size is 6"},
		{"offset off by one", bytes.Replace(good, []byte("0000000064 00000 n"), []byte("0000000063 00000 n"), 1), "xref entry for object 2 does not point at its header"},
		{"startxref off", bytes.Replace(good, []byte("startxref\n"+strconv.Itoa(xref)), []byte("startxref\n"+strconv.Itoa(xref+1)), 1), "startxref does not point at a classic xref table"},
		{"no %%EOF", good[:len(good)-6], "no %%EOF at the end"},
	}
	for _, tt := range tests {
		if got := soundClassic(tt.pdf); got != tt.want {
			t.Errorf("%s: soundClassic = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestCompleteXRef(t *testing.T) {
	// A table with a gap, as pdfcpu writes: objects 3 and 4 are missing.
	in := buildPDF(
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [5 0 R] /Count 1 >>",
		"null", "null",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 100] /Resources << >> >>",
	)
	in = bytes.Replace(in, []byte("xref\n0 6\n"), []byte("xref\n0 3\n"), 1)
	i := bytes.Index(in, []byte("0000000000 65535 f\r\n"))
	entries := in[i:]
	lines := bytes.SplitAfter(entries, []byte("\r\n"))
	// Keep entries 0-2, drop 3 and 4, add a subsection for 5.
	var table []byte
	table = append(table, bytes.Join(lines[:3], nil)...)
	table = append(table, "5 1\n"...)
	table = append(table, lines[5]...)
	table = append(table, bytes.Join(lines[6:], nil)...)
	gapped := append(bytes.Clone(in[:i]), table...)
	if got := soundClassic(gapped); got != "xref lists 4 objects, /Size is 6" {
		t.Fatalf("gapped table: soundClassic = %q, want the gap reported", got)
	}
	out, err := completeXRef(gapped)
	if err != nil {
		t.Fatalf("completeXRef: %v", err)
	}
	if got := soundClassic(out); got != "" {
		t.Errorf("completed table: soundClassic = %q, want sound", got)
	}
	x, _ := parseClassic(out)
	want := map[int64]xrefEntry{0: {3, 65535, false}, 3: {4, 0, false}, 4: {0, 0, false}}
	for n, w := range want {
		if got := x.entries[n]; got != w {
			t.Errorf("entry %d = %+v, want %+v (free list 0 → 3 → 4 → 0)", n, got, w)
		}
	}
	qpdfCheck(t, out)
}

func TestNormalizeCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	readGo := mustRead(t, pdfcpuFile(t, "testdata/read.go.pdf"))
	_, err := Normalize(ctx, bytes.NewReader(readGo), Limits{})
	if err == nil || errs.Is(err, errs.Invalid) {
		t.Errorf("Normalize with a cancelled context = %v, want a non-user error", err)
	}
}

// BenchmarkNormalize normalises a 10-page, ~230 KB file (pages 1-10 of
// pdfcpu's golang.pdf, written by qpdf with a classic xref table) as is, and
// as an object-stream and a linearized variant, which are rewritten.
func BenchmarkNormalize(b *testing.B) {
	golang := mustRead(b, pdfcpuFile(b, "testdata/golang.pdf"))
	ten := mustQPDF(b, golang, "--empty", "--pages", "IN", "1-10", "--", "OUT")
	for _, bb := range []struct {
		name string
		pdf  []byte
	}{
		{"kept-10pages", ten},
		{"rewritten-10pages-objstm", mustQPDF(b, ten, "IN", "--object-streams=generate", "OUT")},
		{"rewritten-10pages-linearized", mustQPDF(b, ten, "--linearize", "IN", "OUT")},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.SetBytes(int64(len(bb.pdf)))
			for b.Loop() {
				if _, err := Normalize(context.Background(), bytes.NewReader(bb.pdf), Limits{}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(bb.pdf))/1024, "KiB")
		})
	}
}
