package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"signet/signingcore/cms/cmstest"
	"signet/signingcore/pades"
	"signet/signingcore/pki"
	"signet/signingcore/tsa"
	"signet/signingcore/verify"
)

// env is a getenv over a map.
func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// mustInitCA runs `signet ca init` in a new data folder and returns it.
func mustInitCA(t *testing.T) string {
	t.Helper()
	data := filepath.Join(t.TempDir(), "data")
	var out, errOut bytes.Buffer
	if err := runCA(context.Background(), []string{"init", "--data", data}, env(nil), &out, &errOut); err != nil {
		t.Fatalf("ca init: %v\n%s", err, errOut.String())
	}
	return data
}

// testPDF is a one-page classic-xref PDF that says "amount 100000 yuan".
func testPDF() []byte {
	var b bytes.Buffer
	var offs []int
	b.WriteString("%PDF-1.7\n")
	content := "BT /F1 18 Tf 72 760 Td (Contract, amount 100000 yuan) Tj ET"
	for _, body := range []string{
		"<</Type/Catalog/Pages 2 0 R>>",
		"<</Type/Pages/Kids[3 0 R]/Count 1>>",
		"<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Resources<</Font<</F1 5 0 R>>>>/Contents 4 0 R>>",
		fmt.Sprintf("<</Length %d>>\nstream\n%s\nendstream", len(content), content),
		"<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>",
	} {
		offs = append(offs, b.Len())
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", len(offs), body)
	}
	x := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f\r\n", len(offs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n\r\n", o)
	}
	fmt.Fprintf(&b, "trailer\n<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n", len(offs)+1, x)
	return b.Bytes()
}

func signPDF(t *testing.T, key *ecdsa.PrivateKey, chain []*x509.Certificate, ts tsa.Timestamper) []byte {
	t.Helper()
	out, err := pades.NewSigner(pades.Config{}).Sign(context.Background(), testPDF(), pades.Request{
		Page: 1, Rect: pades.Rect{300, 60, 450, 210}, Chain: chain, Name: chain[0].Subject.CommonName, Reason: "同意",
	}, key, ts)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return out
}

// files makes a valid, a tampered, a foreign and an unsigned PDF, signed
// with a certificate of the CA in data, and returns their paths and the
// foreign root's PEM file.
func files(t *testing.T, data string) (valid, tampered, foreign, unsigned, foreignRoot string) {
	t.Helper()
	ctx := context.Background()
	p, _, err := openCA(ctx, caFlags{dataDir: data, baseURL: "http://localhost:8080"}, false)
	if err != nil {
		t.Fatalf("openCA: %v", err)
	}
	defer p.Close()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	iss, err := p.CA.IssuePerson(ctx, pki.PersonRequest{Name: "王小明", SubjectID: "user-42", Key: pki.SubjectKey{PublicKey: key.Public()}})
	if err != nil {
		t.Fatalf("IssuePerson: %v", err)
	}
	tsKey, tsChain, err := p.CA.TSA()
	if err != nil {
		t.Fatal(err)
	}
	ta, err := tsa.New(tsKey, tsChain, asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 3}, nil)
	if err != nil {
		t.Fatal(err)
	}
	signed := signPDF(t, key, append([]*x509.Certificate{iss.Certificate}, iss.Chain...), ta)

	f := cmstest.New(t)
	fkey := cmstest.MustECKey(t)
	fcert := f.Signer(t, "Foreign Signer", fkey)
	fta, err := tsa.New(f.TSAKey, []*x509.Certificate{f.TSA, f.Root}, asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fsigned := signPDF(t, fkey, []*x509.Certificate{fcert, f.Root}, fta)

	dir := t.TempDir()
	write := func(name string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	return write("valid.pdf", signed),
		write("tampered.pdf", bytes.Replace(signed, []byte("100000 yuan"), []byte("900000 yuan"), 1)),
		write("foreign.pdf", fsigned),
		write("unsigned.pdf", testPDF()),
		write("foreign-root.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.Root.Raw}))
}

func TestPDFVerify(t *testing.T) {
	data := mustInitCA(t)
	valid, tampered, foreign, unsigned, foreignRoot := files(t, data)
	cases := []struct {
		name     string
		args     []string
		wantCode int
		want     []string
	}{
		{"valid", []string{valid}, exitValid, []string{"结论 verdict:        有效 valid — 文件完整，所有签名有效", "签署人 signer:           王小明", "受信任 trusted (Signet Issuing CA → Signet Root CA)", "未吊销 good", "（时间戳 timestamp）"}},
		{"tampered", []string{tampered}, exitInvalid, []string{"无效 invalid — 文件已被篡改，签名无效", "摘要不匹配", "digest ✗"}},
		{"foreign", []string{foreign}, exitNotPlatform, []string{"非本平台签署 not_platform — 非本平台签署的文件", "Foreign Signer", "不受信任 untrusted"}},
		{"unsigned", []string{unsigned}, exitNotPlatform, []string{"文件未签名，非本平台签署的文件"}},
		{"foreign with its root trusted", []string{"--root", foreignRoot, foreign}, exitValid, []string{"有效 valid — 文件完整，所有签名有效"}},
		{"flags after the file", []string{foreign, "--root", foreignRoot}, exitValid, []string{"文件完整"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append([]string{"verify", "--data", data}, c.args...)
			err := runPDF(context.Background(), args, env(nil), &out, &errOut)
			code := exitValid
			var ee *exitError
			switch {
			case errors.As(err, &ee):
				code = ee.ExitCode()
			case err != nil:
				t.Fatalf("runPDF: %v\n%s", err, errOut.String())
			}
			t.Logf("signet pdf %s\n%s", strings.Join(args, " "), out.String())
			if code != c.wantCode {
				t.Errorf("exit status %d, want %d\n%s", code, c.wantCode, out.String())
			}
			for _, w := range c.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestPDFVerifyJSON(t *testing.T) {
	data := mustInitCA(t)
	_, tampered, _, _, _ := files(t, data)
	var out, errOut bytes.Buffer
	err := runPDF(context.Background(), []string{"verify", "--json", tampered}, env(map[string]string{"SIGNET_DATA_DIR": data}), &out, &errOut)
	var ee *exitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitInvalid {
		t.Fatalf("runPDF: %v\n%s", err, errOut.String())
	}
	var rep verify.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("JSON: %v\n%s", err, out.String())
	}
	if rep.Verdict != verify.VerdictInvalid || len(rep.Signatures) != 1 || rep.Signatures[0].Integrity.DigestOK || !strings.Contains(out.String(), `"verdict": "invalid"`) {
		t.Errorf("report %+v", rep)
	}
}

func TestPDFVerifyErrors(t *testing.T) {
	data := mustInitCA(t)
	dir := t.TempDir()
	notPDF := filepath.Join(dir, "note.txt")
	if err := os.WriteFile(notPDF, []byte("hello, this is not a PDF document at all"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"not a pdf", []string{"verify", "--data", data, notPDF}, "文件不是有效的 PDF 文档"},
		{"missing file", []string{"verify", "--data", data, filepath.Join(dir, "nope.pdf")}, "no such file"},
		{"no file", []string{"verify", "--data", data}, "missing FILE.pdf"},
		{"no CA and no root", []string{"verify", "--data", filepath.Join(dir, "empty"), notPDF}, "signet ca init"},
		{"bad root", []string{"verify", "--data", data, "--root", notPDF, notPDF}, "no PEM certificate"},
		{"unknown subcommand", []string{"sign"}, "unknown subcommand"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := runPDF(context.Background(), c.args, env(nil), &out, &errOut)
			var ee *exitError
			if err == nil || errors.As(err, &ee) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
}

// TestRunDispatchesPDFAndCA goes through main's run: only the valid case,
// since a non-zero verdict ends the process.
func TestRunDispatchesPDFAndCA(t *testing.T) {
	data := mustInitCA(t)
	valid, _, _, _, _ := files(t, data)
	var out, errOut bytes.Buffer
	getenv := env(map[string]string{"SIGNET_DATA_DIR": data})
	if err := run(context.Background(), []string{"pdf", "verify", valid}, getenv, &out, &errOut); err != nil {
		t.Fatalf("run pdf verify: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "文件完整，所有签名有效") {
		t.Errorf("output:\n%s", out.String())
	}
	out.Reset()
	if err := run(context.Background(), []string{"ca", "status"}, getenv, &out, &errOut); err != nil || !strings.Contains(out.String(), "Signet Root CA") {
		t.Errorf("run ca status: %v\n%s", err, out.String())
	}
}
