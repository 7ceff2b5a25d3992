package verify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"

	"signet/signingcore/cms/cmstest"
	"signet/signingcore/keystore"
	"signet/signingcore/pades"
	"signet/signingcore/pki"
	"signet/signingcore/tsa"
)

// clock is an adjustable clock shared by the CA, the TSA, the signer and
// the verifier of a test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// platform is the platform CA in a temporary directory with its TSA, a
// signer for PDFs and the verification options that trust its root.
type platform struct {
	ca     *pki.CA
	root   *x509.Certificate
	tsa    *tsa.Authority
	clock  *clock
	signer *pades.Signer
	dir    string
}

func newPlatform(t testing.TB) *platform {
	t.Helper()
	dir := t.TempDir()
	keys, err := keystore.OpenSoft(keystore.SoftConfig{Dir: filepath.Join(dir, "keys"), MasterKeyFile: filepath.Join(dir, "master.key"), CreateMasterKey: true})
	if err != nil {
		t.Fatalf("OpenSoft: %v", err)
	}
	t.Cleanup(func() { keys.Close() })
	repo, err := pki.OpenFileRepository(filepath.Join(dir, "pki"))
	if err != nil {
		t.Fatalf("OpenFileRepository: %v", err)
	}
	clk := &clock{t: time.Now().Add(-time.Hour).Truncate(time.Second)}
	ca, err := pki.New(pki.Config{Keys: keys, Repo: repo, BaseURL: "https://sign.example.cn", Now: clk.Now})
	if err != nil {
		t.Fatalf("pki.New: %v", err)
	}
	if _, err := ca.Init(context.Background()); err != nil {
		t.Fatalf("Init: %v", err)
	}
	root, err := ca.RootCertificate()
	if err != nil {
		t.Fatalf("RootCertificate: %v", err)
	}
	key, chain, err := ca.TSA()
	if err != nil {
		t.Fatalf("TSA: %v", err)
	}
	a, err := tsa.New(key, chain, asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 2, 1}, clk.Now)
	if err != nil {
		t.Fatalf("tsa.New: %v", err)
	}
	return &platform{ca: ca, root: root, tsa: a, clock: clk, signer: pades.NewSigner(pades.Config{Now: clk.Now}), dir: dir}
}

// options trusts the platform root, asks the platform CA about revocation
// and uses the test clock.
func (p *platform) options() Options {
	return Options{Roots: []*x509.Certificate{p.root}, Revocation: PKIRevocation{CA: p.ca}, Now: p.clock.Now}
}

// person issues a person certificate on a fresh key of the given kind
// ("ec" or "rsa") and returns the key and the chain.
func (p *platform) person(t testing.TB, name, kind string) (crypto.Signer, []*x509.Certificate) {
	t.Helper()
	var key crypto.Signer
	var err error
	if kind == "rsa" {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatalf("GenerateKey: %v", err)
	}
	iss, err := p.ca.IssuePerson(context.Background(), pki.PersonRequest{Name: name, SubjectID: fmt.Sprintf("U-%x", sha256.Sum256([]byte(name)))[:18], Key: pki.SubjectKey{PublicKey: key.Public()}})
	if err != nil {
		t.Fatalf("IssuePerson: %v", err)
	}
	return key, append([]*x509.Certificate{iss.Certificate}, iss.Chain...)
}

// enterprise issues an enterprise certificate on a fresh P-256 key.
func (p *platform) enterprise(t testing.TB, name, code string) (crypto.Signer, []*x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("GenerateKey: %v", err)
	}
	iss, err := p.ca.IssueEnterprise(context.Background(), pki.EnterpriseRequest{Name: name, CreditCode: code, Key: pki.SubjectKey{PublicKey: key.Public()}})
	if err != nil {
		t.Fatalf("IssueEnterprise: %v", err)
	}
	return key, append([]*x509.Certificate{iss.Certificate}, iss.Chain...)
}

// sign adds a visible signature on page with the platform TSA.
func (p *platform) sign(t testing.TB, pdf []byte, key crypto.Signer, chain []*x509.Certificate, field string, page int) []byte {
	t.Helper()
	return signWith(t, p.signer, p.tsa, pdf, key, chain, field, page)
}

func signWith(t testing.TB, s *pades.Signer, ts tsa.Timestamper, pdf []byte, key crypto.Signer, chain []*x509.Certificate, field string, page int) []byte {
	t.Helper()
	out, err := s.Sign(context.Background(), pdf, pades.Request{
		FieldName: field, Page: page, Rect: pades.Rect{350, 60, 500, 210}, Appearance: sealPNG(t),
		Chain: chain, Name: chain[0].Subject.CommonName, Reason: "同意签署", Location: "北京",
	}, key, ts)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return out
}

// foreign is a CA that is not the platform's (cmstest's test hierarchy).
type foreign struct {
	pki *cmstest.PKI
	tsa *tsa.Authority
}

func newForeign(t testing.TB) *foreign {
	t.Helper()
	p := cmstest.New(t)
	a, err := tsa.New(p.TSAKey, []*x509.Certificate{p.TSA, p.Root}, asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1, 1}, nil)
	if err != nil {
		t.Fatalf("tsa.New: %v", err)
	}
	return &foreign{pki: p, tsa: a}
}

// sealPNG draws a small red ring with transparency.
func sealPNG(t testing.TB) []byte {
	t.Helper()
	const n = 120
	img := image.NewNRGBA(image.Rect(0, 0, n, n))
	for y := 0; y < n; y++ {
		for x := 0; x < n; x++ {
			dx, dy := x-n/2, y-n/2
			d := dx*dx + dy*dy
			if d < (n/2)*(n/2) && d > (n/2-8)*(n/2-8) {
				img.SetNRGBA(x, y, color.NRGBA{R: 0xd0, G: 0x10, B: 0x10, A: 0xff})
			}
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatalf("png: %v", err)
	}
	return b.Bytes()
}

// makePDF writes a small classic-xref PDF with pages pages; page i shows
// "Contract page i, amount 100000 yuan". Object numbers: 1 catalog,
// 2 pages, 3 font, then per page a content stream and a page. withField
// adds a text field "Customer" on page 1 (the last object).
func makePDF(pages int, withField bool) []byte { return buildPDF(pages, withField, 0) }

// buildPDF is makePDF with about pad bytes of extra text on every page.
func buildPDF(pages int, withField bool, pad int) []byte {
	var buf bytes.Buffer
	var offsets []int
	obj := func(body string) int {
		offsets = append(offsets, buf.Len())
		fmt.Fprintf(&buf, "%d 0 obj\n%s\nendobj\n", len(offsets), body)
		return len(offsets)
	}
	buf.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	offsets = append(offsets, 0, 0)
	font := obj("<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>")
	var kids []string
	firstPage := 0
	for i := 0; i < pages; i++ {
		content := fmt.Sprintf("BT /F1 18 Tf 72 760 Td (Contract page %d, amount 100000 yuan) Tj ET", i+1)
		for line := 0; len(content) < pad; line++ {
			content += fmt.Sprintf("\nBT /F1 8 Tf 72 %d Td (clause %d.%d lorem ipsum dolor sit amet consectetur adipiscing) Tj ET", 740-(line%80)*9, i+1, line)
		}
		c := obj(fmt.Sprintf("<</Length %d>>\nstream\n%s\nendstream", len(content), content))
		pn := len(offsets) + 1
		annots := ""
		if withField && i == 0 {
			annots = fmt.Sprintf("/Annots[%d 0 R]", 3+2*pages+1)
		}
		obj(fmt.Sprintf("<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Resources<</Font<</F1 %d 0 R>>>>/Contents %d 0 R%s>>", font, c, annots))
		if i == 0 {
			firstPage = pn
		}
		kids = append(kids, fmt.Sprintf("%d 0 R", pn))
	}
	form := ""
	if withField {
		tf := obj(fmt.Sprintf("<</Type/Annot/Subtype/Widget/FT/Tx/T(Customer)/V(ACME Ltd)/Rect[72 600 300 620]/P %d 0 R/F 4/DA(/Helv 10 Tf 0 g)>>", firstPage))
		form = fmt.Sprintf("/AcroForm<</Fields[%d 0 R]/DA(/Helv 0 Tf 0 g)/DR<</Font<</Helv %d 0 R>>>>>>", tf, font)
	}
	offsets[0] = buf.Len()
	fmt.Fprintf(&buf, "1 0 obj\n<</Type/Catalog/Pages 2 0 R%s>>\nendobj\n", form)
	offsets[1] = buf.Len()
	fmt.Fprintf(&buf, "2 0 obj\n<</Type/Pages/Kids[%s]/Count %d>>\nendobj\n", strings.Join(kids, " "), pages)
	xref := buf.Len()
	fmt.Fprintf(&buf, "xref\n0 %d\n0000000000 65535 f\r\n", len(offsets)+1)
	for _, o := range offsets {
		fmt.Fprintf(&buf, "%010d 00000 n\r\n", o)
	}
	fmt.Fprintf(&buf, "trailer\n<</Size %d/Root 1 0 R/ID[<0123456789abcdef0123456789abcdef><0123456789abcdef0123456789abcdef>]>>\nstartxref\n%d\n%%%%EOF\n", len(offsets)+1, xref)
	return buf.Bytes()
}

var (
	reStartXRef = regexp.MustCompile(`startxref\s+(\d+)\s+%%EOF\s*$`)
	reSize      = regexp.MustCompile(`/Size (\d+)`)
)

// appendUpdate appends a classic incremental update that writes the
// objects (number -> body; a body "" frees the object) to pdf.
func appendUpdate(t testing.TB, pdf []byte, objs map[int]string) []byte {
	t.Helper()
	m := reStartXRef.FindSubmatch(pdf)
	if m == nil {
		t.Fatalf("appendUpdate: no startxref at the end")
	}
	prev, _ := strconv.Atoi(string(m[1]))
	sizes := reSize.FindAllSubmatch(pdf, -1)
	size, _ := strconv.Atoi(string(sizes[len(sizes)-1][1]))
	var buf bytes.Buffer
	buf.Write(pdf)
	if pdf[len(pdf)-1] != '\n' {
		buf.WriteByte('\n')
	}
	var nums []int
	for n := range objs {
		nums = append(nums, n)
		if n >= size {
			size = n + 1
		}
	}
	sortInts(nums)
	offs := map[int]int{}
	for _, n := range nums {
		if objs[n] == "" {
			continue
		}
		offs[n] = buf.Len()
		fmt.Fprintf(&buf, "%d 0 obj\n%s\nendobj\n", n, objs[n])
	}
	xref := buf.Len()
	buf.WriteString("xref\n")
	for _, n := range nums {
		if objs[n] == "" {
			fmt.Fprintf(&buf, "%d 1\n0000000000 00001 f\r\n", n)
			continue
		}
		fmt.Fprintf(&buf, "%d 1\n%010d 00000 n\r\n", n, offs[n])
	}
	fmt.Fprintf(&buf, "trailer\n<</Size %d/Root 1 0 R/Prev %d>>\nstartxref\n%d\n%%%%EOF\n", size, prev, xref)
	return buf.Bytes()
}

func sortInts(a []int) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// objectText returns the PDF text of object num in pdf's final view.
func objectText(t testing.TB, pdf []byte, num int) string {
	t.Helper()
	v, err := readView(pdf)
	if err != nil {
		t.Fatalf("readView: %v", err)
	}
	switch o := v.object(num).(type) {
	case types.Dict:
		return o.PDFString()
	case nil:
		t.Fatalf("object %d missing", num)
	default:
		return o.PDFString()
	}
	return ""
}

// nextObject returns the trailer /Size of pdf: the first free number.
func nextObject(t testing.TB, pdf []byte) int {
	t.Helper()
	v, err := readView(pdf)
	if err != nil {
		t.Fatalf("readView: %v", err)
	}
	return *v.xt.Size
}

func mustVerify(t testing.TB, pdf []byte, opts Options) *Report {
	t.Helper()
	rep, err := Verify(pdf, opts)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return rep
}

// describe renders a report for failure messages.
func describe(rep *Report) string {
	var b strings.Builder
	fmt.Fprintf(&b, "verdict %s: %s %v\n", rep.Verdict, rep.Summary, rep.Reasons)
	for _, s := range rep.Signatures {
		fmt.Fprintf(&b, "  #%d %s %s %s: %s problems=%v notes=%v changes=%s %+v\n", s.Index, s.Kind, s.FieldName, s.Status, s.Summary, s.Problems, s.Notes, s.Coverage.ChangesAfter, s.Coverage.Changes)
	}
	return b.String()
}
