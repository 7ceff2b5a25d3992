package helper_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"signet/signingcore/pki"
	"signet/trust"
	"signet/ukey"
	"signet/ukey/helper"
	"signet/ukey/ukeytest"
)

const origin = "http://localhost:8080"

// syncBuffer is the helper's console output, read by the test as the user
// would read the window.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fixture is a running helper with a stand-in UKey whose certificate the
// platform CA issued.
type fixture struct {
	t       *testing.T
	token   *ukeytest.Token
	cert    *pki.Issued
	url     string
	out     *syncBuffer
	in      *io.PipeWriter
	pinFile string
	srv     *helper.Server

	mu  sync.Mutex
	now time.Time
}

// advance moves the helper's clock (pairing code life, pairing request gap).
func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func newCA(t *testing.T) *pki.CA {
	t.Helper()
	ts, _, err := trust.Open(context.Background(), trust.Config{DataDir: t.TempDir(), BaseURL: "http://localhost:8080", Create: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ts.Close() })
	return ts.CA
}

func start(t *testing.T, kt ukeytest.KeyType, yes bool) *fixture {
	t.Helper()
	tok := ukeytest.New(t, kt)
	ca := newCA(t)
	iss, err := ca.IssuePerson(context.Background(), pki.PersonRequest{Name: "王小明", SubjectID: "u-test-1",
		Key: pki.SubjectKey{PublicKey: tok.MustPublicKey(t)}})
	if err != nil {
		t.Fatal(err)
	}
	tok.MustWriteCertificate(t, iss.DER())
	f := &fixture{t: t, token: tok, cert: iss, out: &syncBuffer{}, pinFile: filepath.Join(t.TempDir(), "pin"), now: time.Now()}
	f.setPIN(tok.PIN)
	inR, inW := io.Pipe()
	f.in = inW
	t.Cleanup(func() { inW.Close() })
	console := helper.NewTerminalConsole(inR, f.out, helper.ConsoleOptions{Yes: yes, PINFile: f.pinFile})
	f.srv, err = helper.New(helper.Config{Origins: []string{origin}, Token: helper.PKCS11Token{Module: tok.Module}, Console: console,
		Now: f.clock})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(f.srv) // 127.0.0.1
	t.Cleanup(hs.Close)
	f.url = strings.Replace(hs.URL, "http://", "ws://", 1) + ukey.Path
	return f
}

func (f *fixture) setPIN(pin string) {
	f.t.Helper()
	if err := os.WriteFile(f.pinFile, []byte(pin+"\n"), 0o600); err != nil {
		f.t.Fatal(err)
	}
}

// client is a page's connection.
type client struct {
	t  *testing.T
	ws *websocket.Conn
	n  int
}

func (f *fixture) dial(from string) (*client, *http.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, resp, err := websocket.Dial(ctx, f.url, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {from}}})
	if err != nil {
		return nil, resp, err
	}
	f.t.Cleanup(func() { ws.CloseNow() })
	return &client{t: f.t, ws: ws}, resp, nil
}

func (f *fixture) mustDial() *client {
	f.t.Helper()
	c, _, err := f.dial(origin)
	if err != nil {
		f.t.Fatalf("dial: %v", err)
	}
	return c
}

func (c *client) do(req ukey.Request) ukey.Reply {
	c.t.Helper()
	c.n++
	req.ID = "r" + string(rune('0'+c.n%10))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := wsjson.Write(ctx, c.ws, req); err != nil {
		c.t.Fatalf("write %s: %v", req.Type, err)
	}
	var r ukey.Reply
	if err := wsjson.Read(ctx, c.ws, &r); err != nil {
		c.t.Fatalf("read reply to %s: %v", req.Type, err)
	}
	if r.ID != req.ID {
		c.t.Fatalf("reply id %q, want %q", r.ID, req.ID)
	}
	return r
}

func wantError(t *testing.T, r ukey.Reply, code string) {
	t.Helper()
	if r.Type != ukey.TypeError || r.Error == nil || r.Error.Code != code {
		t.Fatalf("got %+v (error %+v), want error %q", r, r.Error, code)
	}
	if r.Error.Message == "" {
		t.Errorf("error %q without a message", code)
	}
}

var codeRE = regexp.MustCompile(`配对码：(\d{3}) (\d{3})`)

// pair runs the pairing handshake, reading the code from the console as the
// user would, and returns the pairing token.
func (f *fixture) pair(c *client) string {
	f.t.Helper()
	f.advance(time.Minute)
	r := c.do(ukey.Request{Type: ukey.TypePair})
	if r.Type != ukey.TypePairPending || r.ExpiresIn != 120 {
		f.t.Fatalf("pair: %+v", r)
	}
	m := codeRE.FindAllStringSubmatch(f.out.String(), -1)
	if len(m) == 0 {
		f.t.Fatalf("no pairing code at the console:\n%s", f.out.String())
	}
	code := m[len(m)-1][1] + m[len(m)-1][2]
	r = c.do(ukey.Request{Type: ukey.TypePairConfirm, Code: code})
	if r.Type != ukey.TypePaired || len(r.PairingToken) < 40 {
		f.t.Fatalf("pair_confirm: %+v", r)
	}
	return r.PairingToken
}

func challenge(o string, p ukey.Purpose) ukey.Challenge {
	return ukey.Challenge{Purpose: p, Origin: o, Nonce: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
		ExpiresAt: time.Now().Add(time.Minute).UTC().Truncate(time.Second)}
}

func TestHelperECDSA(t *testing.T) {
	f := start(t, ukeytest.ECP256, true)
	fp := ukey.Fingerprint(f.cert.DER())

	t.Run("foreign origin refused at the handshake", func(t *testing.T) {
		for _, o := range []string{"https://evil.example", "http://localhost:8081", "https://localhost:8080", "null", ""} {
			_, resp, err := f.dial(o)
			if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Errorf("origin %q: err %v, resp %v", o, err, resp)
			}
		}
	})
	t.Run("foreign host refused (DNS rebinding)", func(t *testing.T) {
		req, _ := http.NewRequest("GET", strings.Replace(f.url, "ws://", "http://", 1), nil)
		req.Host = "rebind.evil.example"
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("status %d", resp.StatusCode)
		}
	})

	c := f.mustDial()
	t.Run("unpaired client may do nothing", func(t *testing.T) {
		r := c.do(ukey.Request{Type: ukey.TypeHello})
		if r.Type != ukey.TypeHello || r.Paired || r.Version != ukey.ProtocolVersion {
			t.Fatalf("hello: %+v", r)
		}
		wantError(t, c.do(ukey.Request{Type: ukey.TypeListCertificates}), ukey.ErrUnpaired)
		wantError(t, c.do(ukey.Request{Type: ukey.TypeSignChallenge, Certificate: fp, Challenge: challenge(origin, ukey.PurposeLogin).Text()}), ukey.ErrUnpaired)
		wantError(t, c.do(ukey.Request{Type: ukey.TypeSignDigest, Certificate: fp, Hash: ukey.HashSHA256,
			Digest: base64.StdEncoding.EncodeToString(make([]byte, 32)), ContractName: "x", Fingerprint: "y"}), ukey.ErrUnpaired)
		if r := c.do(ukey.Request{Type: ukey.TypeHello, PairingToken: "forged-token"}); r.Paired {
			t.Fatal("a forged pairing token paired the connection")
		}
		wantError(t, c.do(ukey.Request{Type: ukey.TypeListCertificates}), ukey.ErrUnpaired)
		if strings.Contains(f.out.String(), "签名确认") {
			t.Error("an unpaired request reached the console")
		}
	})

	t.Run("pairing codes: wrong, exhausted, without a request", func(t *testing.T) {
		c := f.mustDial()
		wantError(t, c.do(ukey.Request{Type: ukey.TypePairConfirm, Code: "000000"}), ukey.ErrPairing)
		f.advance(time.Minute)
		if r := c.do(ukey.Request{Type: ukey.TypePair}); r.Type != ukey.TypePairPending {
			t.Fatalf("pair: %+v", r)
		}
		m := codeRE.FindAllStringSubmatch(f.out.String(), -1)
		good := m[len(m)-1][1] + m[len(m)-1][2]
		bad := "999999"
		if good == bad {
			bad = "999998"
		}
		for range 3 {
			wantError(t, c.do(ukey.Request{Type: ukey.TypePairConfirm, Code: bad}), ukey.ErrPairing)
		}
		// Three wrong codes end the attempt: the right one no longer works.
		wantError(t, c.do(ukey.Request{Type: ukey.TypePairConfirm, Code: good}), ukey.ErrPairing)
		wantError(t, c.do(ukey.Request{Type: ukey.TypeListCertificates}), ukey.ErrUnpaired)
		// The console is not flooded: one pairing request per 3 s, process-wide.
		c2 := f.mustDial()
		wantError(t, c2.do(ukey.Request{Type: ukey.TypePair}), ukey.ErrBusy)
		f.advance(2 * time.Second)
		wantError(t, c.do(ukey.Request{Type: ukey.TypePair}), ukey.ErrBusy)
		// A code expires after two minutes.
		f.advance(2 * time.Second)
		if r := c.do(ukey.Request{Type: ukey.TypePair}); r.Type != ukey.TypePairPending {
			t.Fatalf("pair: %+v", r)
		}
		m = codeRE.FindAllStringSubmatch(f.out.String(), -1)
		good = m[len(m)-1][1] + m[len(m)-1][2]
		f.advance(2*time.Minute + time.Second)
		wantError(t, c.do(ukey.Request{Type: ukey.TypePairConfirm, Code: good}), ukey.ErrPairing)
		wantError(t, c.do(ukey.Request{Type: ukey.TypeListCertificates}), ukey.ErrUnpaired)
	})

	token := f.pair(c)

	t.Run("list certificates", func(t *testing.T) {
		r := c.do(ukey.Request{Type: ukey.TypeListCertificates})
		if r.Type != ukey.TypeCertificates || len(r.Certificates) != 1 {
			t.Fatalf("list: %+v", r)
		}
		got := r.Certificates[0]
		der, _ := base64.StdEncoding.DecodeString(got.DER)
		if got.Fingerprint != fp || !bytes.Equal(der, f.cert.DER()) || got.KeyID != "4b01" || got.Token != f.token.Label ||
			!strings.Contains(got.Subject, "王小明") {
			t.Fatalf("certificate %+v", got)
		}
	})

	t.Run("sign a login challenge", func(t *testing.T) {
		ch := challenge(origin, ukey.PurposeLogin)
		r := c.do(ukey.Request{Type: ukey.TypeSignChallenge, Certificate: fp, Challenge: ch.Text()})
		if r.Type != ukey.TypeSignature || r.Algorithm != "ECDSA" || r.Hash != ukey.HashSHA256 {
			t.Fatalf("sign: %+v", r)
		}
		sig, _ := base64.StdEncoding.DecodeString(r.Signature)
		certDER, _ := base64.StdEncoding.DecodeString(r.CertificateDER)
		if !bytes.Equal(certDER, f.cert.DER()) {
			t.Error("the reply names another certificate")
		}
		digest := sha256.Sum256([]byte(ch.Text()))
		if !ecdsa.VerifyASN1(f.cert.Certificate.PublicKey.(*ecdsa.PublicKey), digest[:], sig) {
			t.Fatal("the signature does not verify (ASN.1 DER over SHA-256 of the challenge text)")
		}
		out := f.out.String()
		if !strings.Contains(out, "操作：登录 "+origin) || !strings.Contains(out, "王小明") {
			t.Errorf("the console did not show what is signed:\n%s", out)
		}
	})

	t.Run("sign an enterprise binding challenge", func(t *testing.T) {
		ch := challenge(origin, ukey.PurposeBindEnterprise)
		r := c.do(ukey.Request{Type: ukey.TypeSignChallenge, Certificate: fp, Challenge: ch.Text()})
		if r.Type != ukey.TypeSignature {
			t.Fatalf("sign: %+v", r)
		}
		sig, _ := base64.StdEncoding.DecodeString(r.Signature)
		if !ecdsa.VerifyASN1(f.cert.Certificate.PublicKey.(*ecdsa.PublicKey), ch.Digest(), sig) {
			t.Fatal("the signature does not verify")
		}
		if out := f.out.String(); !strings.Contains(out, "操作：将此 UKey 作为企业 UKey 绑定到 "+origin+" 的企业印章") {
			t.Errorf("the console did not show the enterprise binding:\n%s", out)
		}
	})

	t.Run("a challenge for another origin is refused", func(t *testing.T) {
		for _, text := range []string{
			challenge("https://evil.example", ukey.PurposeLogin).Text(),
			strings.Replace(challenge(origin, ukey.PurposeLogin).Text(), "purpose: login", "purpose: sign", 1),
			"not a challenge",
		} {
			wantError(t, c.do(ukey.Request{Type: ukey.TypeSignChallenge, Certificate: fp, Challenge: text}), ukey.ErrInvalid)
		}
	})

	t.Run("sign a contract digest", func(t *testing.T) {
		digest := sha256.Sum256([]byte("signed attributes"))
		req := ukey.Request{Type: ukey.TypeSignDigest, Certificate: fp, Hash: ukey.HashSHA256,
			Digest: base64.StdEncoding.EncodeToString(digest[:]), ContractName: "房屋租赁合同", Fingerprint: "A1B2C3D4"}
		r := c.do(req)
		if r.Type != ukey.TypeSignature {
			t.Fatalf("sign: %+v", r)
		}
		sig, _ := base64.StdEncoding.DecodeString(r.Signature)
		if !ecdsa.VerifyASN1(f.cert.Certificate.PublicKey.(*ecdsa.PublicKey), digest[:], sig) {
			t.Fatal("the digest signature does not verify")
		}
		out := f.out.String()
		if !strings.Contains(out, "合同：房屋租赁合同") || !strings.Contains(out, "合同指纹：A1B2C3D4") {
			t.Errorf("the console did not show the contract:\n%s", out)
		}
		bad := []ukey.Request{
			{Type: ukey.TypeSignDigest, Certificate: fp, Hash: "SHA-1", Digest: req.Digest, ContractName: "x", Fingerprint: "y"},
			{Type: ukey.TypeSignDigest, Certificate: fp, Hash: ukey.HashSHA256, Digest: "AAAA", ContractName: "x", Fingerprint: "y"},
			{Type: ukey.TypeSignDigest, Certificate: fp, Hash: ukey.HashSHA256, Digest: req.Digest, Fingerprint: "y"},
			{Type: ukey.TypeSignDigest, Certificate: fp, Hash: ukey.HashSHA256, Digest: req.Digest, ContractName: "合同\n操作：登录", Fingerprint: "y"},
			{Type: ukey.TypeSignDigest, Certificate: fp, Hash: ukey.HashSHA256, Digest: req.Digest, ContractName: "x"},
		}
		for _, b := range bad {
			wantError(t, c.do(b), ukey.ErrInvalid)
		}
		wantError(t, c.do(ukey.Request{Type: ukey.TypeSignDigest, Certificate: strings.Repeat("0", 64), Hash: ukey.HashSHA256,
			Digest: req.Digest, ContractName: "x", Fingerprint: "y"}), ukey.ErrNoCertificate)
	})

	t.Run("wrong PIN", func(t *testing.T) {
		f.setPIN("000000-wrong")
		defer f.setPIN(f.token.PIN)
		r := c.do(ukey.Request{Type: ukey.TypeSignChallenge, Certificate: fp, Challenge: challenge(origin, ukey.PurposeLogin).Text()})
		wantError(t, r, ukey.ErrWrongPIN)
	})

	t.Run("a later connection resumes the pairing with its token", func(t *testing.T) {
		c2 := f.mustDial()
		if r := c2.do(ukey.Request{Type: ukey.TypeHello, PairingToken: token}); !r.Paired {
			t.Fatalf("hello with the pairing token: %+v", r)
		}
		if r := c2.do(ukey.Request{Type: ukey.TypeListCertificates}); r.Type != ukey.TypeCertificates {
			t.Fatalf("list: %+v", r)
		}
	})

	t.Run("the PIN never leaves the helper", func(t *testing.T) {
		if strings.Contains(f.out.String(), f.token.PIN) {
			t.Fatal("the PIN appeared at the console")
		}
	})

	t.Run("token removed", func(t *testing.T) {
		if err := f.token.Remove(); err != nil {
			t.Fatal(err)
		}
		wantError(t, c.do(ukey.Request{Type: ukey.TypeListCertificates}), ukey.ErrTokenAbsent)
		wantError(t, c.do(ukey.Request{Type: ukey.TypeSignChallenge, Certificate: fp, Challenge: challenge(origin, ukey.PurposeLogin).Text()}), ukey.ErrTokenAbsent)
	})
}

// TestHelperRSAAndRefusal signs with an RSA key (PKCS#1 v1.5 over the
// DigestInfo) and shows that the user's "no" at the console refuses.
func TestHelperRSAAndRefusal(t *testing.T) {
	f := start(t, ukeytest.RSA2048, false)
	fp := ukey.Fingerprint(f.cert.DER())
	c := f.mustDial()
	f.pair(c)
	digest := sha256.Sum256([]byte("signed attributes"))
	req := ukey.Request{Type: ukey.TypeSignDigest, Certificate: fp, Hash: ukey.HashSHA256,
		Digest: base64.StdEncoding.EncodeToString(digest[:]), ContractName: "采购合同", Fingerprint: "0F0F0F0F"}

	// The user answers "n".
	go io.WriteString(f.in, "n\n")
	wantError(t, c.do(req), ukey.ErrRefused)

	// The user answers "y".
	go io.WriteString(f.in, "y\n")
	r := c.do(req)
	if r.Type != ukey.TypeSignature || r.Algorithm != "RSA-PKCS1v15" {
		t.Fatalf("sign: %+v", r)
	}
	sig, _ := base64.StdEncoding.DecodeString(r.Signature)
	if err := rsa.VerifyPKCS1v15(f.cert.Certificate.PublicKey.(*rsa.PublicKey), crypto.SHA256, digest[:], sig); err != nil {
		t.Fatalf("RSA PKCS#1 v1.5 signature: %v", err)
	}

	// A page that goes away while the console waits cancels the prompt; the
	// next request is served (the console is not left waiting).
	c2 := f.mustDial()
	f.pair(c2)
	if err := wsjson.Write(context.Background(), c2.ws, ukey.Request{ID: "x", Type: ukey.TypeSignDigest, Certificate: fp,
		Hash: ukey.HashSHA256, Digest: req.Digest, ContractName: "采购合同", Fingerprint: "0F0F0F0F"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Count(f.out.String(), "确认签名吗") == 3 })
	c2.ws.CloseNow()
	waitFor(t, func() bool { return strings.Count(f.out.String(), "已取消（按回车继续）") == 1 })
	go io.WriteString(f.in, "\ny\n") // the abandoned read takes the first line
	if r := c.do(req); r.Type != ukey.TypeSignature {
		t.Fatalf("after an abandoned prompt: %+v", r)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("timed out")
}
