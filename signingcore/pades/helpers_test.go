package pades

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"signet/signingcore/cms/cmstest"
	"signet/signingcore/tsa"
)

// fixture is the shared test PKI, TSA and signer key.
type fixture struct {
	pki    *cmstest.PKI
	key    crypto.Signer
	chain  []*x509.Certificate
	tsa    *tsa.Authority
	nssdb  string
	dir    string
	signer *Signer
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	p := cmstest.New(t)
	key := cmstest.MustECKey(t)
	cert := p.Signer(t, "王小明", key)
	a, err := tsa.New(p.TSAKey, []*x509.Certificate{p.TSA, p.Root}, asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1, 1}, nil)
	if err != nil {
		t.Fatalf("tsa.New: %v", err)
	}
	return &fixture{pki: p, key: key, chain: []*x509.Certificate{cert, p.Root}, tsa: a, dir: t.TempDir(), signer: NewSigner(Config{})}
}

func (f *fixture) request(page int) Request {
	return Request{
		Page:        page,
		Rect:        Rect{350, 60, 500, 210},
		Appearance:  sealPNG(400),
		Chain:       f.chain,
		Name:        "王小明",
		Reason:      "同意签署",
		Location:    "北京",
		ContactInfo: "wang@example.com",
		SigningTime: time.Date(2026, 11, 27, 10, 30, 0, 0, time.FixedZone("CST", 8*3600)),
	}
}

func (f *fixture) sign(t testing.TB, pdf []byte, req Request) []byte {
	t.Helper()
	out, err := f.signer.Sign(context.Background(), pdf, req, f.key, f.tsa)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return out
}

var sealOnce sync.Map

// sealPNG draws a red round seal with transparency, size×size pixels.
func sealPNG(size int) []byte {
	if v, ok := sealOnce.Load(size); ok {
		return v.([]byte)
	}
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	c := float64(size) / 2
	red := color.NRGBA{R: 0xd0, G: 0x10, B: 0x10}
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			dx, dy := float64(x)-c, float64(y)-c
			d := math.Hypot(dx, dy)
			a := 0.0
			switch {
			case d > c*0.86 && d < c*0.97: // ring
				a = 1
			case d < c*0.3: // star-ish centre
				ang := math.Atan2(dy, dx)
				if d < c*0.3*(0.5+0.5*math.Abs(math.Cos(2.5*ang))) {
					a = 1
				}
			case d > c*0.55 && d < c*0.8 && int(math.Atan2(dy, dx)*20)%3 == 0: // text-like marks
				a = 0.85
			}
			if a > 0 {
				px := red
				px.A = uint8(a * 255)
				img.SetNRGBA(x, y, px)
			}
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err)
	}
	sealOnce.Store(size, b.Bytes())
	return b.Bytes()
}

// pdfBuilder writes a small classic-xref PDF.
type pdfBuilder struct {
	buf     bytes.Buffer
	offsets []int
}

func (b *pdfBuilder) obj(body string) int {
	b.offsets = append(b.offsets, b.buf.Len())
	n := len(b.offsets)
	fmt.Fprintf(&b.buf, "%d 0 obj\n%s\nendobj\n", n, body)
	return n
}

// makePDF writes a PDF with pages pages; each page content is padded with
// text lines so the file is about bytesPerPage per page. withField adds an
// AcroForm with a text field named "Customer".
func makePDF(pages, bytesPerPage int, withField bool) []byte {
	b := &pdfBuilder{}
	b.buf.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	// Object numbers: 1 catalog, 2 pages, 3 font, then per page: page, content.
	b.offsets = make([]int, 0)
	placeholder := func() int { b.offsets = append(b.offsets, 0); return len(b.offsets) }
	catalog := placeholder()
	pagesNum := placeholder()
	font := b.obj("<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>")
	var kids []string
	var textField int
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < pages; i++ {
		var content bytes.Buffer
		fmt.Fprintf(&content, "BT /F1 18 Tf 72 760 Td (Contract page %d) Tj ET\n", i+1)
		for line := 0; content.Len() < bytesPerPage; line++ {
			fmt.Fprintf(&content, "BT /F1 8 Tf 72 %d Td (", 740-(line%80)*9)
			for j := 0; j < 60; j++ {
				content.WriteByte(byte('a' + rnd.IntN(26)))
			}
			content.WriteString(") Tj ET\n")
		}
		cnum := b.obj(fmt.Sprintf("<</Length %d>>\nstream\n%s\nendstream", content.Len(), content.String()))
		pnum := len(b.offsets) + 1
		annots := ""
		if withField && i == 0 {
			textField = pnum + 1
			annots = fmt.Sprintf("/Annots[%d 0 R]", textField)
		}
		b.obj(fmt.Sprintf("<</Type/Page/Parent %d 0 R/MediaBox[0 0 595 842]/Resources<</Font<</F1 %d 0 R>>>>/Contents %d 0 R%s>>", pagesNum, font, cnum, annots))
		if withField && i == 0 {
			b.obj(fmt.Sprintf("<</Type/Annot/Subtype/Widget/FT/Tx/T(Customer)/V(ACME Ltd)/Rect[72 600 300 620]/P %d 0 R/F 4/DA(/Helv 10 Tf 0 g)>>", pnum))
		}
		kids = append(kids, fmt.Sprintf("%d 0 R", pnum))
	}
	form := ""
	if withField {
		form = fmt.Sprintf("/AcroForm<</Fields[%d 0 R]/DA(/Helv 0 Tf 0 g)/DR<</Font<</Helv %d 0 R>>>>>>", textField, font)
	}
	set := func(n int, body string) {
		b.offsets[n-1] = b.buf.Len()
		fmt.Fprintf(&b.buf, "%d 0 obj\n%s\nendobj\n", n, body)
	}
	set(catalog, fmt.Sprintf("<</Type/Catalog/Pages %d 0 R%s>>", pagesNum, form))
	set(pagesNum, fmt.Sprintf("<</Type/Pages/Kids[%s]/Count %d>>", strings.Join(kids, " "), pages))
	xref := b.buf.Len()
	fmt.Fprintf(&b.buf, "xref\n0 %d\n0000000000 65535 f\r\n", len(b.offsets)+1)
	for _, o := range b.offsets {
		fmt.Fprintf(&b.buf, "%010d 00000 n\r\n", o)
	}
	fmt.Fprintf(&b.buf, "trailer\n<</Size %d/Root %d 0 R/ID[<0123456789abcdef0123456789abcdef><0123456789abcdef0123456789abcdef>]>>\nstartxref\n%d\n%%%%EOF\n", len(b.offsets)+1, catalog, xref)
	return b.buf.Bytes()
}

// makeLargePDF writes a PDF of about size bytes: one page per ~1 MB image
// of incompressible data.
func makeLargePDF(size int) []byte {
	b := &pdfBuilder{}
	b.buf.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	b.offsets = append(b.offsets, 0, 0) // 1 catalog, 2 pages
	rnd := rand.New(rand.NewPCG(3, 4))
	var kids []string
	for b.buf.Len() < size {
		n := min(1<<20, size-b.buf.Len()+1024)
		side := int(math.Sqrt(float64(n / 3)))
		data := make([]byte, side*side*3)
		for i := range data {
			data[i] = byte(rnd.Uint32())
		}
		im := b.obj(fmt.Sprintf("<</Type/XObject/Subtype/Image/Width %d/Height %d/ColorSpace/DeviceRGB/BitsPerComponent 8/Length %d>>\nstream\n%s\nendstream", side, side, len(data), data))
		content := "q 500 0 0 500 50 200 cm /Im0 Do Q"
		cn := b.obj(fmt.Sprintf("<</Length %d>>\nstream\n%s\nendstream", len(content), content))
		pn := b.obj(fmt.Sprintf("<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Resources<</XObject<</Im0 %d 0 R>>>>/Contents %d 0 R>>", im, cn))
		kids = append(kids, fmt.Sprintf("%d 0 R", pn))
	}
	b.offsets[0] = b.buf.Len()
	b.buf.WriteString("1 0 obj\n<</Type/Catalog/Pages 2 0 R>>\nendobj\n")
	b.offsets[1] = b.buf.Len()
	fmt.Fprintf(&b.buf, "2 0 obj\n<</Type/Pages/Kids[%s]/Count %d>>\nendobj\n", strings.Join(kids, " "), len(kids))
	xref := b.buf.Len()
	fmt.Fprintf(&b.buf, "xref\n0 %d\n0000000000 65535 f\r\n", len(b.offsets)+1)
	for _, o := range b.offsets {
		fmt.Fprintf(&b.buf, "%010d 00000 n\r\n", o)
	}
	fmt.Fprintf(&b.buf, "trailer\n<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n", len(b.offsets)+1, xref)
	return b.buf.Bytes()
}

// writeFile writes data into the fixture directory.
func (f *fixture) writeFile(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(f.dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatalf("write %s: %v", p, err)
	}
	return p
}

var pdfsigSig = regexp.MustCompile(`(?m)^Signature #\d+:`)

// popplerStaleError is what poppler 22.12 prints when CERT_PKIXVerifyCert
// succeeded but an earlier NSS call left an error code behind: poppler reads
// PORT_GetError() without looking at the return value. It happens only for
// the second and later signatures of a file, depends on NSS's internal
// caches, and the same signature is reported trusted when the file is cut
// after an earlier revision (observed on a 5-signature file: revisions 1-4
// all trusted, the full file only the first).
const popplerStaleError = "Certificate Validation: Unknown issue with Certificate or corrupted data."

// pdfsig runs poppler's pdfsig with the test root trusted and returns its
// output, the number of signatures, and how many are valid with a trusted
// certificate. A later signature that poppler marks with its stale NSS
// error counts as trusted: requireValid verifies every signature's chain to
// the root with openssl as well.
func (f *fixture) pdfsig(t testing.TB, pdf []byte) (string, int, int) {
	t.Helper()
	bin := cmstest.LookPath(t, "pdfsig", "poppler-utils")
	if f.nssdb == "" {
		f.nssdb = f.pki.NSSDB(t, filepath.Join(f.dir, "nssdb"))
	}
	path := f.writeFile(t, "pdfsig.pdf", pdf)
	out, _ := exec.Command(bin, "-nssdir", f.nssdb, path).CombinedOutput()
	s := string(out)
	sections := pdfsigSig.Split(s, -1)[1:]
	good := 0
	for i, sec := range sections {
		if !strings.Contains(sec, "Signature Validation: Signature is Valid.") {
			continue
		}
		switch {
		case strings.Contains(sec, "Certificate Validation: Certificate is Trusted."):
			good++
		case i > 0 && strings.Contains(sec, popplerStaleError):
			t.Logf("pdfsig: signature #%d valid, certificate check hit poppler's stale NSS error; openssl checks its chain", i+1)
			good++
		}
	}
	return s, len(sections), good
}

// requireValid checks that pdfsig reports want signatures, all valid and
// trusted, that qpdf --check accepts the file and that openssl verifies
// every CMS signature and its time-stamp token.
func (f *fixture) requireValid(t testing.TB, pdf []byte, want int) {
	t.Helper()
	out, n, good := f.pdfsig(t, pdf)
	if n != want || good != want {
		t.Fatalf("pdfsig: got %d signatures, %d valid and trusted; want %d\n%s", n, good, want, out)
	}
	f.qpdfCheck(t, pdf)
	sigs, err := ExtractSignatures(pdf)
	if err != nil {
		t.Fatalf("ExtractSignatures: %v", err)
	}
	for i, s := range sigs {
		if !s.CoversRevision {
			t.Errorf("signature %d (%s): CoversRevision false, byte range %v", i, s.FieldName, s.ByteRange)
		}
		if s.Type == "Sig" {
			f.opensslCMS(t, pdf, s)
		}
	}
}

func (f *fixture) qpdfCheck(t testing.TB, pdf []byte) {
	t.Helper()
	bin := cmstest.LookPath(t, "qpdf", "qpdf")
	path := f.writeFile(t, "check.pdf", pdf)
	out, err := exec.Command(bin, "--check", path).CombinedOutput()
	if err != nil || strings.Contains(string(out), "WARNING") {
		t.Fatalf("qpdf --check: %v\n%s", err, out)
	}
}

func signedBytes(pdf []byte, br []int64) []byte {
	var b bytes.Buffer
	for i := 0; i+1 < len(br); i += 2 {
		b.Write(pdf[br[i] : br[i]+br[i+1]])
	}
	return b.Bytes()
}

// opensslCMS verifies the signature's CMS with openssl cms -verify and its
// signature time-stamp token with openssl ts -verify.
func (f *fixture) opensslCMS(t testing.TB, pdf []byte, s SignatureInfo) {
	t.Helper()
	bin := cmstest.LookPath(t, "openssl", "openssl")
	sigPath := f.writeFile(t, "sig.der", s.Contents)
	content := f.writeFile(t, "signed.bin", signedBytes(pdf, s.ByteRange))
	root := cmstest.WritePEM(t, f.dir, "root.pem", f.pki.Root)
	out, err := exec.Command(bin, "cms", "-verify", "-binary", "-inform", "DER", "-in", sigPath, "-content", content,
		"-CAfile", root, "-purpose", "any", "-out", os.DevNull).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Verification successful") {
		t.Fatalf("openssl cms -verify (%s): %v\n%s", s.FieldName, err, out)
	}
	tok, sigValue := timestampToken(t, s.Contents)
	if tok == nil {
		t.Fatalf("signature %s has no signature time-stamp token", s.FieldName)
	}
	d := sha256.Sum256(sigValue)
	tokPath := f.writeFile(t, "token.der", tok)
	tsaPEM := cmstest.WritePEM(t, f.dir, "tsa.pem", f.pki.TSA)
	out, err = exec.Command(bin, "ts", "-verify", "-token_in", "-in", tokPath, "-digest", hex.EncodeToString(d[:]),
		"-CAfile", root, "-untrusted", tsaPEM).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Verification: OK") {
		t.Fatalf("openssl ts -verify of the signature time-stamp: %v\n%s", err, out)
	}
}

func copyFile(t testing.TB, dst string, src io.Reader) {
	t.Helper()
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, src); err != nil {
		t.Fatal(err)
	}
}
