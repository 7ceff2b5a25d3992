package pades

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/types"

	"signet/errs"
	"signet/signingcore/cms"
	"signet/signingcore/cms/cmstest"
	"signet/signingcore/internal/pdfcpuconf"
)

// timestampToken returns the signature time-stamp token of a CMS signature
// and the signature value it stamps.
func timestampToken(t testing.TB, der []byte) ([]byte, []byte) {
	t.Helper()
	sd, err := cms.Parse(der)
	if err != nil {
		t.Fatalf("cms.Parse: %v", err)
	}
	si := sd.Signers[0]
	tok, _ := cms.FindAttribute(si.UnsignedAttrs, cms.OIDAttrTimeStampToken)
	return tok, si.Signature
}

func TestSignValidatesInPdfsigAndOpenSSL(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		pdf  []byte
		page int
	}{
		{"one page", makePDF(1, 2000, false), 1},
		{"ten pages, last page", makePDF(10, 20000, false), 10},
		{"form field", makePDF(2, 2000, true), 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := f.sign(t, tc.pdf, f.request(tc.page))
			if !bytes.Equal(out[:len(tc.pdf)], tc.pdf) {
				t.Fatal("the original bytes changed: not an incremental update")
			}
			f.requireValid(t, out, 1)
			sigs, err := ExtractSignatures(out)
			if err != nil {
				t.Fatal(err)
			}
			got := sigs[len(sigs)-1]
			if got.Name != "王小明" || got.Reason != "同意签署" || got.Location != "北京" {
				t.Errorf("decoded strings: got name %q reason %q location %q, want 王小明 同意签署 北京", got.Name, got.Reason, got.Location)
			}
			if got.SubFilter != "ETSI.CAdES.detached" || !got.CoversWholeFile || got.M != "D:20261127103000+08'00'" {
				t.Errorf("got %+v", got)
			}
		})
	}
}

func TestPdfsigShowsSignerName(t *testing.T) {
	f := newFixture(t)
	out := f.sign(t, makePDF(1, 1000, false), f.request(1))
	text, _, _ := f.pdfsig(t, out)
	if !strings.Contains(text, "Signer Certificate Common Name: 王小明") {
		t.Errorf("pdfsig output lacks the signer name 王小明:\n%s", text)
	}
	if !strings.Contains(text, "Signature Type: ETSI.CAdES.detached") {
		t.Errorf("pdfsig output lacks the SubFilter:\n%s", text)
	}
}

func TestTamperFlipsVerdict(t *testing.T) {
	f := newFixture(t)
	pdf := makePDF(1, 3000, false)
	out := f.sign(t, pdf, f.request(1))
	// One byte inside the page content (covered by the first byte range).
	i := bytes.Index(out, []byte("Contract page 1"))
	tampered := bytes.Clone(out)
	tampered[i] = 'K'
	text, n, good := f.pdfsig(t, tampered)
	if n != 1 || good != 0 || !strings.Contains(text, "Digest Mismatch") {
		t.Fatalf("pdfsig on a tampered file: got %d signatures, %d valid; want Digest Mismatch\n%s", n, good, text)
	}
	// One byte in the appended update (covered by the second byte range).
	sigs, err := ExtractSignatures(out)
	if err != nil {
		t.Fatal(err)
	}
	j := bytes.LastIndex(out, []byte("/Reason"))
	if int64(j) < sigs[0].ByteRange[2] {
		j = bytes.LastIndex(out, []byte("startxref")) - 3
	}
	tampered = bytes.Clone(out)
	tampered[j+1] ^= 0x01
	if _, _, good := f.pdfsig(t, tampered); good != 0 {
		t.Errorf("pdfsig accepted a file tampered in the second byte range")
	}
}

type countingSigner struct {
	crypto.Signer
	calls atomic.Int32
}

func (c *countingSigner) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	c.calls.Add(1)
	return c.Signer.Sign(r, digest, opts)
}

func TestSignCallsSignerOnce(t *testing.T) {
	f := newFixture(t)
	cs := &countingSigner{Signer: f.key}
	if _, err := f.signer.Sign(context.Background(), makePDF(3, 5000, false), f.request(2), cs, f.tsa); err != nil {
		t.Fatal(err)
	}
	if got := cs.calls.Load(); got != 1 {
		t.Errorf("signer calls: got %d, want 1", got)
	}
}

func TestSuccessiveSignatures(t *testing.T) {
	f := newFixture(t)
	for _, n := range []int{2, 5, 20} {
		t.Run(strings.Repeat("I", 0)+itoa(n), func(t *testing.T) {
			doc := makePDF(3, 3000, true)
			for i := 0; i < n; i++ {
				req := f.request(i%3 + 1)
				req.Rect = Rect{40 + float64(i%5)*100, 60 + float64(i/5)*110, 130 + float64(i%5)*100, 150 + float64(i/5)*110}
				doc = f.sign(t, doc, req)
			}
			f.requireValid(t, doc, n)
			sigs, err := ExtractSignatures(doc)
			if err != nil {
				t.Fatal(err)
			}
			if len(sigs) != n {
				t.Fatalf("ExtractSignatures: got %d, want %d", len(sigs), n)
			}
			for i, s := range sigs {
				if want := "Signature" + itoa(i+1); s.FieldName != want {
					t.Errorf("field %d: got name %q, want %q", i, s.FieldName, want)
				}
				if s.CoversWholeFile != (i == n-1) {
					t.Errorf("field %d: CoversWholeFile %v", i, s.CoversWholeFile)
				}
			}
			requireTextField(t, doc)
		})
	}
}

func itoa(n int) string {
	return strings.TrimSpace(strings.Repeat(" ", 0) + string([]byte(func() []byte {
		var b []byte
		for n >= 10 {
			b = append([]byte{byte('0' + n%10)}, b...)
			n /= 10
		}
		return append([]byte{byte('0' + n)}, b...)
	}())))
}

// requireTextField checks, with pdfcpu's own reader, that the AcroForm still
// holds the text field "Customer" with its value.
func requireTextField(t testing.TB, pdf []byte) {
	t.Helper()
	ctx, err := api.ReadContext(bytes.NewReader(pdf), pdfcpuconf.Default())
	if err != nil {
		t.Fatalf("pdfcpu read: %v", err)
	}
	root, err := ctx.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	form, err := ctx.DereferenceDict(root["AcroForm"])
	if err != nil || form == nil {
		t.Fatalf("AcroForm missing: %v", err)
	}
	if sf, _ := form["SigFlags"].(types.Integer); sf != 3 {
		t.Errorf("/SigFlags: got %v, want 3", form["SigFlags"])
	}
	fields, err := ctx.DereferenceArray(form["Fields"])
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range fields {
		d, err := ctx.DereferenceDict(o)
		if err != nil {
			t.Fatal(err)
		}
		if name, _ := types.StringOrHexLiteral(d["T"]); name != nil && *name == "Customer" {
			if v, _ := types.StringOrHexLiteral(d["V"]); v == nil || *v != "ACME Ltd" {
				t.Errorf("Customer value: got %v, want ACME Ltd", d["V"])
			}
			return
		}
	}
	t.Errorf("text field Customer lost; fields: %v", fields)
}

func TestXRefStreamInput(t *testing.T) {
	f := newFixture(t)
	qpdf := cmstest.LookPath(t, "qpdf", "qpdf")
	in := f.writeFile(t, "classic.pdf", makePDF(4, 4000, true))
	outPath := filepath.Join(f.dir, "xref-stream.pdf")
	if out, err := exec.Command(qpdf, "--object-streams=generate", in, outPath).CombinedOutput(); err != nil {
		t.Fatalf("qpdf: %v\n%s", err, out)
	}
	pdf, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(pdf, []byte("/ObjStm")) {
		t.Fatal("qpdf did not make object streams")
	}
	doc := pdf
	for i := 0; i < 3; i++ {
		doc = f.sign(t, doc, f.request(i+1))
		if !bytes.Contains(doc[len(doc)-2000:], []byte("/Type/XRef")) {
			t.Fatalf("signature %d: update on an xref-stream file was not written as an xref stream", i+1)
		}
	}
	f.requireValid(t, doc, 3)
	requireTextField(t, doc)
}

func TestTwoPhaseWithMarshalledState(t *testing.T) {
	f := newFixture(t)
	pdf := makePDF(2, 2000, false)
	p, err := f.signer.Prepare(pdf, f.request(1))
	if err != nil {
		t.Fatal(err)
	}
	state, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	// Another process: restore, sign the digest as a UKey would (raw r||s).
	var q Prepared
	if err := q.UnmarshalBinary(state); err != nil {
		t.Fatal(err)
	}
	r, s, err := ecdsa.Sign(rand.Reader, f.key.(*ecdsa.PrivateKey), q.Digest)
	if err != nil {
		t.Fatal(err)
	}
	raw := append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	out, err := NewSigner(Config{}).Complete(context.Background(), &q, raw, f.tsa)
	if err != nil {
		t.Fatalf("Complete with r||s: %v", err)
	}
	f.requireValid(t, out, 1)

	// A signature by another key is refused with errs.Invalid.
	other := cmstest.MustECKey(t)
	bad, err := other.Sign(rand.Reader, q.Digest, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.signer.Complete(context.Background(), &q, bad, f.tsa); !errs.Is(err, errs.Invalid) {
		t.Errorf("Complete with a foreign signature: got %v, want errs.Invalid", err)
	}
	// A damaged state is refused.
	if err := q.UnmarshalBinary(state[:len(state)/2]); !errs.Is(err, errs.Invalid) {
		t.Errorf("UnmarshalBinary of truncated state: got %v, want errs.Invalid", err)
	}
}

func TestRSASigner(t *testing.T) {
	f := newFixture(t)
	key := cmstest.MustRSAKey(t, 2048)
	req := f.request(1)
	req.Chain = []*x509.Certificate{f.pki.Signer(t, "李四", key), f.pki.Root}
	out, err := f.signer.Sign(context.Background(), makePDF(1, 1000, false), req, key, f.tsa)
	if err != nil {
		t.Fatal(err)
	}
	f.requireValid(t, out, 1)
}

func TestPrepareRejectsBadInput(t *testing.T) {
	f := newFixture(t)
	pdf := makePDF(2, 1000, true)
	good := f.request(1)
	tests := []struct {
		name string
		pdf  []byte
		mod  func(*Request)
	}{
		{"not a pdf", []byte("hello world, this is not a PDF file at all"), nil},
		{"page 0", pdf, func(r *Request) { r.Page = 0 }},
		{"page past the end", pdf, func(r *Request) { r.Page = 3 }},
		{"no certificate", pdf, func(r *Request) { r.Chain = nil }},
		{"inverted rect", pdf, func(r *Request) { r.Rect = Rect{100, 100, 50, 50} }},
		{"bad png", pdf, func(r *Request) { r.Appearance = []byte("\x89PNG broken") }},
		{"existing field name", pdf, func(r *Request) { r.FieldName = "Customer" }},
		{"truncated pdf", pdf[:len(pdf)/3], nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := good
			if tc.mod != nil {
				tc.mod(&req)
			}
			_, err := f.signer.Prepare(tc.pdf, req)
			if !errs.Is(err, errs.Invalid) {
				t.Fatalf("got %v, want errs.Invalid", err)
			}
			if m := errs.MessageOf(err); m == "" || m == "请求参数不正确" {
				t.Errorf("message %q is not specific", m)
			}
		})
	}
}

func TestInvisibleSignatureAndLTV(t *testing.T) {
	f := newFixture(t)
	openssl := cmstest.LookPath(t, "openssl", "openssl")
	req := f.request(1)
	req.Rect, req.Appearance = Rect{}, nil
	doc := f.sign(t, makePDF(1, 1000, false), req)
	f.requireValid(t, doc, 1)

	doc, err := f.signer.AddValidationData(doc, [][]byte{f.pki.Root.Raw, f.pki.TSA.Raw, f.chain[0].Raw, f.pki.Root.Raw}, [][]byte{[]byte("crl placeholder DER")}, nil)
	if err != nil {
		t.Fatalf("AddValidationData: %v", err)
	}
	doc, err = f.signer.AddDocumentTimestamp(context.Background(), doc, f.tsa)
	if err != nil {
		t.Fatalf("AddDocumentTimestamp: %v", err)
	}
	f.qpdfCheck(t, doc)
	text, n, good := f.pdfsig(t, doc)
	if n != 2 || good < 1 {
		t.Fatalf("pdfsig after LTV: got %d signatures, %d valid, want the approval signature valid\n%s", n, good, text)
	}
	sigs, err := ExtractSignatures(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 2 || sigs[1].Type != "DocTimeStamp" || sigs[1].SubFilter != "ETSI.RFC3161" || !sigs[1].CoversWholeFile || !sigs[1].CoversRevision {
		t.Fatalf("signatures after LTV: %+v", sigs)
	}
	if sigs[0].CoversWholeFile || !sigs[0].CoversRevision {
		t.Errorf("approval signature: %+v", sigs[0])
	}
	f.opensslCMS(t, doc, sigs[0])
	tok := f.writeFile(t, "doc-ts.der", sigs[1].Contents)
	data := f.writeFile(t, "doc-ts-data.bin", signedBytes(doc, sigs[1].ByteRange))
	root := cmstest.WritePEM(t, f.dir, "root.pem", f.pki.Root)
	tsaPEM := cmstest.WritePEM(t, f.dir, "tsa.pem", f.pki.TSA)
	out, err := exec.Command(openssl, "ts", "-verify", "-token_in", "-in", tok, "-data", data, "-CAfile", root, "-untrusted", tsaPEM).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Verification: OK") {
		t.Fatalf("openssl ts -verify of the document time-stamp: %v\n%s", err, out)
	}
	// The DSS holds three distinct certificates and one CRL.
	r, err := newReader(doc)
	if err != nil {
		t.Fatal(err)
	}
	_, cat, _ := r.catalog()
	dss, _ := r.dict(cat["DSS"])
	certs, _ := r.resolve(dss["Certs"])
	crls, _ := r.resolve(dss["CRLs"])
	if len(certs.(types.Array)) != 3 || len(crls.(types.Array)) != 1 {
		t.Errorf("DSS: got %v certs %v crls, want 3 and 1", certs, crls)
	}
	// Signing after the time-stamp keeps everything valid.
	doc = f.sign(t, doc, f.request(1))
	if _, n, good := f.pdfsig(t, doc); n != 3 || good < 2 {
		t.Errorf("pdfsig after signing again: got %d signatures, %d valid", n, good)
	}
}

func TestImageCacheReused(t *testing.T) {
	s := NewSigner(Config{})
	png := sealPNG(400)
	a, err := s.images.get(png)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.images.get(bytes.Clone(png))
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Error("the same PNG was encoded twice")
	}
	if a.alpha == nil || a.width != 400 || a.height != 400 {
		t.Errorf("encoded seal: got %dx%d alpha %v, want 400x400 with a soft mask", a.width, a.height, a.alpha != nil)
	}
}

// TestEncodedAppearance: a seal encoded once (EncodeAppearance, stored with
// the seal) signs to the same bytes as its PNG, without touching the
// Signer's cache; a damaged encoding is refused with Invalid, not drawn.
func TestEncodedAppearance(t *testing.T) {
	f := newFixture(t)
	pdf := makePDF(2, 1000, false)
	enc, err := EncodeAppearance(sealPNG(400))
	if err != nil {
		t.Fatal(err)
	}
	fromPNG := f.sign(t, pdf, f.request(1))
	s := NewSigner(Config{})
	req := f.request(1)
	req.Appearance, req.EncodedAppearance = nil, enc
	fromEnc, err := s.Sign(context.Background(), pdf, req, f.key, f.tsa)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.images.items) != 0 {
		t.Errorf("the encoded appearance went through the cache (%d images)", len(s.images.items))
	}
	// The signature values differ (ECDSA is randomised, and so is the
	// time-stamp); everything before /Contents is the same.
	cut := func(b []byte) []byte {
		i := bytes.LastIndex(b, []byte("/Contents<"))
		if i <= len(pdf) {
			t.Fatal("no /Contents in the update")
		}
		return b[:i]
	}
	if !bytes.Equal(cut(fromPNG), cut(fromEnc)) {
		t.Error("signing with the encoded appearance wrote another document than with the PNG")
	}
	if _, n, good := f.pdfsig(t, fromEnc); n != 1 || good != 1 {
		t.Errorf("pdfsig: %d signatures, %d valid", n, good)
	}
	for name, bad := range map[string][]byte{
		"not an encoding": sealPNG(400),
		"truncated":       enc[:12],
		"no planes":       enc[:len(appearanceMagic)+3],
	} {
		req.EncodedAppearance = bad
		_, err := s.Sign(context.Background(), pdf, req, f.key, f.tsa)
		if errs.CodeOf(err) != errs.Invalid {
			t.Errorf("%s: %v, want Invalid", name, err)
		}
	}
}

func TestPdfText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Plain (x) \\", `(Plain \(x\) \\)`},
		{"王小明", "<FEFF738B5C0F660E>"},
		{"A😀", "<FEFF0041D83DDE00>"},
	}
	for _, tc := range tests {
		if got := pdfText(tc.in); got != tc.want {
			t.Errorf("pdfText(%q): got %s, want %s", tc.in, got, tc.want)
		}
		o := types.Object(types.StringLiteral(strings.Trim(tc.want, "()")))
		if strings.HasPrefix(tc.want, "<") {
			o = types.HexLiteral(strings.Trim(tc.want, "<>"))
		}
		if got := text(o); got != tc.in {
			t.Errorf("decode %s: got %q, want %q", tc.want, got, tc.in)
		}
	}
	_ = hex.EncodeToString
}
