package pades

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/digitorus/pdf"
	"github.com/digitorus/pdfsign/sign"

	"signet/signingcore/font"
	"signet/signingcore/seal"
)

// benchDocs are the documents of the benchmarks: 1 page, 10 pages of about
// 200 KB and a 5 MB file.
type benchDoc struct {
	name string
	pdf  []byte
}

var benchDocsOnce = sync.OnceValue(func() []benchDoc {
	return []benchDoc{
		{"1page", makePDF(1, 3000, false)},
		{"10pages-200KB", makePDF(10, 20000, false)},
		{"5MB", makeLargePDF(5 << 20)},
	}
})

// benchSealPNG is the visible seal of the benchmarks: a real 公章 (contract
// seal) drawn by signingcore/seal, 400×400 RGBA pixels.
var benchSealPNG = sync.OnceValues(func() ([]byte, error) {
	fnt, err := font.Parse()
	if err != nil {
		return nil, err
	}
	g, err := seal.New(fnt)
	if err != nil {
		return nil, err
	}
	// 400 px at the default 300 dpi is a 33.87 mm seal.
	img, err := g.Official(seal.Official{Name: "北京示例科技有限公司", Horizontal: "合同专用章", DiameterMM: 400 * 25.4 / 300})
	if err != nil {
		return nil, err
	}
	if img.Width != 400 || img.Height != 400 {
		return nil, fmt.Errorf("seal is %d×%d pixels, want 400×400", img.Width, img.Height)
	}
	return img.PNG, nil
})

// benchRequest is the fixture's request on page 1 with the benchmark seal
// and chain (the fixture's chain when nil).
func (f *fixture) benchRequest(tb testing.TB, chain []*x509.Certificate) Request {
	tb.Helper()
	png, err := benchSealPNG()
	if err != nil {
		tb.Fatalf("benchmark seal: %v", err)
	}
	req := f.request(1)
	req.Appearance = png
	if chain != nil {
		req.Chain = chain
	}
	return req
}

// reportPeakHeap runs fn once more with the garbage collector off and
// reports the heap it grew by plus the input (which a caller holds in
// memory): nothing is freed while the collector is off, so this bounds from
// above the heap one signature occupies at its peak. It reports the figure
// in bytes and as a multiple of the input size.
func reportPeakHeap(b *testing.B, input int, fn func()) {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	peak := int64(after.HeapAlloc) - int64(before.HeapAlloc) + int64(input)
	b.ReportMetric(float64(peak), "peak-heap-B")
	b.ReportMetric(float64(peak)/float64(input), "peak/file")
}

// BenchmarkBaseline is SHA-256 over the document plus one ECDSA P-256
// signature: the bare cryptographic cost of a signature.
func BenchmarkBaseline(b *testing.B) {
	f := newFixture(b)
	key := f.key.(*ecdsa.PrivateKey)
	for _, d := range benchDocsOnce() {
		b.Run(d.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(d.pdf)))
			for b.Loop() {
				h := sha256.Sum256(d.pdf)
				if _, err := ecdsa.SignASN1(rand.Reader, key, h[:]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSign signs with a visible 400×400 seal and a software P-256 key,
// without a time-stamp (B-B) and with the in-process TSA (B-T).
func BenchmarkSign(b *testing.B) {
	f := newFixture(b)
	for _, mode := range []string{"B-B", "B-T"} {
		for _, d := range benchDocsOnce() {
			b.Run(mode+"/"+d.name, func(b *testing.B) {
				req := f.benchRequest(b, nil)
				var ts = f.tsa
				if mode == "B-B" {
					ts = nil
				}
				// Warm the seal cache as a long-running server would be.
				if _, err := f.signer.Prepare(d.pdf, req); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.SetBytes(int64(len(d.pdf)))
				for b.Loop() {
					var err error
					if ts == nil {
						_, err = f.signer.Sign(context.Background(), d.pdf, req, f.key, nil)
					} else {
						_, err = f.signer.Sign(context.Background(), d.pdf, req, f.key, ts)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkPdfsign is digitorus/pdfsign at its pinned version on the same
// files with the same seal and key (no time-stamp: it can only reach a TSA
// over HTTP).
func BenchmarkPdfsign(b *testing.B) {
	f := newFixture(b)
	sealImg := f.benchRequest(b, nil).Appearance
	for _, d := range benchDocsOnce() {
		b.Run(d.name, func(b *testing.B) {
			signOnce := func() {
				rdr, err := pdf.NewReader(bytes.NewReader(d.pdf), int64(len(d.pdf)))
				if err != nil {
					b.Fatal(err)
				}
				var out bytes.Buffer
				err = sign.Sign(bytes.NewReader(d.pdf), &out, rdr, int64(len(d.pdf)), sign.SignData{
					Signature: sign.SignDataSignature{
						Info:       sign.SignDataSignatureInfo{Name: "Wang", Reason: "agree", Date: time.Now()},
						CertType:   sign.ApprovalSignature,
						DocMDPPerm: sign.AllowFillingExistingFormFieldsAndSignaturesPerms,
					},
					Signer:            f.key,
					DigestAlgorithm:   crypto.SHA256,
					Certificate:       f.chain[0],
					CertificateChains: [][]*x509.Certificate{f.chain},
					Appearance:        sign.Appearance{Visible: true, Page: 1, LowerLeftX: 350, LowerLeftY: 60, UpperRightX: 500, UpperRightY: 210, Image: sealImg},
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(d.pdf)))
			for b.Loop() {
				signOnce()
			}
			reportPeakHeap(b, len(d.pdf), signOnce)
		})
	}
}

// TestPdfsignPeerOutputIsValid makes sure the benchmark peer does real work:
// its output on the 10-page file validates in pdfsig too.
func TestPdfsignPeerOutputIsValid(t *testing.T) {
	f := newFixture(t)
	d := makePDF(10, 20000, false)
	rdr, err := pdf.NewReader(bytes.NewReader(d), int64(len(d)))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = sign.Sign(bytes.NewReader(d), &out, rdr, int64(len(d)), sign.SignData{
		Signature:         sign.SignDataSignature{Info: sign.SignDataSignatureInfo{Name: "Wang", Date: time.Now()}, CertType: sign.ApprovalSignature, DocMDPPerm: sign.AllowFillingExistingFormFieldsAndSignaturesPerms},
		Signer:            f.key,
		DigestAlgorithm:   crypto.SHA256,
		Certificate:       f.chain[0],
		CertificateChains: [][]*x509.Certificate{f.chain},
		Appearance:        sign.Appearance{Visible: true, Page: 1, LowerLeftX: 350, LowerLeftY: 60, UpperRightX: 500, UpperRightY: 210, Image: sealPNG(400)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if text, n, good := f.pdfsig(t, out.Bytes()); n != 1 || good != 1 {
		t.Fatalf("pdfsig on the peer's output: %d signatures, %d valid\n%s", n, good, text)
	}
}

// TestMemoryOnLargeFile bounds what signing a 5 MB file allocates: the
// input plus everything allocated must stay under 3× the file size.
func TestMemoryOnLargeFile(t *testing.T) {
	f := newFixture(t)
	doc := makeLargePDF(5 << 20)
	req := f.request(1)
	if _, err := f.signer.Prepare(doc, req); err != nil { // warm the seal cache
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	out, err := f.signer.Sign(context.Background(), doc, req, f.key, f.tsa)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	if limit := uint64(2 * len(doc)); allocated > limit {
		t.Errorf("signing a %d-byte file allocated %d bytes; want at most %d (input + allocations ≤ 3× file size)", len(doc), allocated, limit)
	}
	t.Logf("file %d bytes, output %d bytes, allocated %d bytes (%.2f× file size)", len(doc), len(out), allocated, float64(allocated)/float64(len(doc)))
	f.requireValid(t, out, 1)
}
