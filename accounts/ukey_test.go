package accounts_test

import (
	"context"
	"encoding/base64"
	"errors"
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

	"signet/audit"
	"signet/ent/certificate"
	"signet/ent/privacy"
	"signet/ent/session"
	"signet/enterprises/enterprisestest"
	"signet/identity"
	"signet/internal/apitest"
	"signet/internal/dbtest"
	"signet/signingcore/pki"
	"signet/trust"
	"signet/ukey"
	"signet/ukey/helper"
	"signet/ukey/ukeytest"
	"signet/viewer"
)

// page is the browser side of the UKey flow: the Signet page's connection to
// the helper running on the user's PC.
type page struct {
	t   *testing.T
	ws  *websocket.Conn
	out *lockedBuffer
	n   int
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startHelper runs the helper for the token (confirmations answered yes, the
// PIN from a file, as signet-ukey --yes --pin-file) and connects a paired
// page of origin to it.
func startHelper(t *testing.T, tok *ukeytest.Token, origin, pin string) *page {
	t.Helper()
	pinFile := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pinFile, []byte(pin), 0o600); err != nil {
		t.Fatal(err)
	}
	out := &lockedBuffer{}
	inR, inW := io.Pipe()
	t.Cleanup(func() { inW.Close() })
	h, err := helper.New(helper.Config{Origins: []string{origin}, Token: helper.PKCS11Token{Module: tok.Module},
		Console: helper.NewTerminalConsole(inR, out, helper.ConsoleOptions{Yes: true, PINFile: pinFile})})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, strings.Replace(hs.URL, "http:", "ws:", 1)+ukey.Path,
		&websocket.DialOptions{HTTPHeader: http.Header{"Origin": {origin}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.CloseNow() })
	p := &page{t: t, ws: ws, out: out}
	p.do(ukey.Request{Type: ukey.TypePair})
	m := regexp.MustCompile(`配对码：(\d{3}) (\d{3})`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no pairing code:\n%s", out.String())
	}
	if r := p.do(ukey.Request{Type: ukey.TypePairConfirm, Code: m[1] + m[2]}); r.Type != ukey.TypePaired {
		t.Fatalf("pairing: %+v", r)
	}
	return p
}

func (p *page) do(req ukey.Request) ukey.Reply {
	p.t.Helper()
	p.n++
	req.ID = strings.Repeat("x", p.n)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := wsjson.Write(ctx, p.ws, req); err != nil {
		p.t.Fatal(err)
	}
	var r ukey.Reply
	if err := wsjson.Read(ctx, p.ws, &r); err != nil {
		p.t.Fatal(err)
	}
	return r
}

// sign has the helper sign a challenge text with the certificate.
func (p *page) sign(text string, certDER []byte) (sig, cert string) {
	p.t.Helper()
	r := p.do(ukey.Request{Type: ukey.TypeSignChallenge, Certificate: ukey.Fingerprint(certDER), Challenge: text})
	if r.Type != ukey.TypeSignature {
		p.t.Fatalf("helper: %+v %+v", r, r.Error)
	}
	return r.Signature, r.CertificateDER
}

type challengeResp struct {
	CreateUKeyChallenge struct {
		Nonce, Text, Digest string
		ExpiresAt           time.Time
	}
}

const createChallenge = `mutation($p: UKeyChallengePurpose!) { createUKeyChallenge(purpose: $p) { nonce text digest expiresAt } }`

const loginMutation = `mutation($in: UKeySignatureInput!) { loginByCertificate(input: $in) { token user { id } session { id } } }`

const bindMutation = `mutation($in: UKeySignatureInput!) { bindUKey(input: $in) { id serial fingerprint subject notAfter boundAt } }`

// signed asks the server for a challenge as token's user and has the helper
// sign it with certDER.
func signed(t *testing.T, s *apitest.Server, p *page, token, purpose string, certDER []byte) map[string]any {
	t.Helper()
	var ch challengeResp
	s.MustDo(token, createChallenge, map[string]any{"p": purpose}, &ch)
	c := ch.CreateUKeyChallenge
	if !strings.Contains(c.Text, "purpose: "+strings.ToLower(purpose)+"\n") {
		t.Fatalf("challenge text %q", c.Text)
	}
	sig, cert := p.sign(c.Text, certDER)
	return map[string]any{"nonce": c.Nonce, "certificate": cert, "signature": sig}
}

func wantRefused(t *testing.T, r apitest.Response, code, msg string) {
	t.Helper()
	if len(r.Errors) == 0 || r.Code() != code || !strings.Contains(r.Message(), msg) {
		t.Fatalf("got %s %q, want %s containing %q", r.Code(), r.Message(), code, msg)
	}
}

// verifiedUser registers phone and verifies the person (carrier sandbox),
// which gives them a hosted personal certificate; it returns the token, the
// user's context and the certificate's pseudonymous subject id.
func verifiedUser(t *testing.T, s *apitest.Server, phone, name, idNumber string) (context.Context, string, string) {
	t.Helper()
	ctx, token := enterprisestest.User(t, s, phone)
	v := enterprisestest.Must(s.App.Identity.Start(ctx, identity.Details{Name: name, IDNumber: idNumber, Phone: phone}))(t)
	enterprisestest.Must(s.App.Identity.VerifyCarrier(ctx, v.ID))(t)
	uid := viewer.FromContext(ctx).UserID
	c := enterprisestest.Must(s.App.DB.Client.Certificate.Query().
		Where(certificate.UserID(uid), certificate.KindEQ(certificate.KindPerson)).Only(viewer.System(ctx)))(t)
	return ctx, token, c.SubjectID
}

// TestUKeyLoginAndBinding takes a stand-in UKey (SoftHSM, keys made by
// pkcs11-tool, certificate from the platform CA) through binding and
// certificate login with the helper in the middle, and every refusal.
func TestUKeyLoginAndBinding(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		s := apitest.Start(t, b, apitest.Options{})
		// The CA stamps certificates with the real time; the app's clock
		// must not be before them.
		s.Clock.Advance(time.Until(s.Clock.Now()) * -1)
		origin := "http://localhost:8080"
		ca := s.App.Trust.CA
		bg := context.Background()

		ctxA, tokenA, subjectA := verifiedUser(t, s, "13800002001", "王小明", enterprisestest.IDNumber("19880808", 321))
		_, tokenB, subjectB := verifiedUser(t, s, "13800002002", "李小红", enterprisestest.IDNumber("19950101", 7))
		_, tokenC := enterprisestest.User(t, s, "13800002003") // not verified
		if subjectA == "" || subjectA == subjectB {
			t.Fatalf("subject ids %q %q", subjectA, subjectB)
		}

		// The UKey: keys by pkcs11-tool; certificates from the platform CA
		// for its public key, written back with pkcs11-tool.
		tok := ukeytest.New(t, ukeytest.ECP256)
		pub := tok.MustPublicKey(t)
		personal := enterprisestest.Must(ca.IssuePerson(bg, pki.PersonRequest{Name: "王小明", SubjectID: subjectA, Key: pki.SubjectKey{PublicKey: pub}}))(t)
		tok.MustWriteCertificate(t, personal.DER())
		ent := enterprisestest.Must(ca.IssueEnterprise(bg, pki.EnterpriseRequest{Name: "北京示例科技有限公司",
			CreditCode: enterprisestest.CreditCode(1), Key: pki.SubjectKey{PublicKey: pub}}))(t)
		tok.MustWriteCertificate(t, ent.DER())
		// A person certificate naming someone else (B), and one from a
		// foreign CA, on the same key.
		forB := enterprisestest.Must(ca.IssuePerson(bg, pki.PersonRequest{Name: "李小红", SubjectID: subjectB, Key: pki.SubjectKey{PublicKey: pub}}))(t)
		tok.MustWriteCertificate(t, forB.DER())
		other, _, err := trust.Open(bg, trust.Config{DataDir: t.TempDir(), BaseURL: origin, Create: true})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		foreign := enterprisestest.Must(other.CA.IssuePerson(bg, pki.PersonRequest{Name: "王小明", SubjectID: subjectA, Key: pki.SubjectKey{PublicKey: pub}}))(t)
		tok.MustWriteCertificate(t, foreign.DER())

		p := startHelper(t, tok, origin, tok.PIN)
		if r := p.do(ukey.Request{Type: ukey.TypeListCertificates}); len(r.Certificates) != 4 {
			t.Fatalf("the token lists %+v", r)
		}

		t.Run("an unbound certificate cannot log in", func(t *testing.T) {
			r := s.Do("", loginMutation, map[string]any{"in": signed(t, s, p, "", "LOGIN", personal.DER())})
			wantRefused(t, r, "UNAUTHENTICATED", "尚未绑定")
		})
		t.Run("an enterprise certificate cannot log in", func(t *testing.T) {
			r := s.Do("", loginMutation, map[string]any{"in": signed(t, s, p, "", "LOGIN", ent.DER())})
			wantRefused(t, r, "INVALID_ARGUMENT", "企业证书")
		})
		t.Run("binding needs a login", func(t *testing.T) {
			wantRefused(t, s.Do("", createChallenge, map[string]any{"p": "BIND"}), "UNAUTHENTICATED", "请先登录")
		})
		t.Run("binding refuses what is not the user's own", func(t *testing.T) {
			wantRefused(t, s.Do(tokenA, bindMutation, map[string]any{"in": signed(t, s, p, tokenA, "BIND", forB.DER())}),
				"INVALID_ARGUMENT", "不属于您本人")
			wantRefused(t, s.Do(tokenA, bindMutation, map[string]any{"in": signed(t, s, p, tokenA, "BIND", ent.DER())}),
				"INVALID_ARGUMENT", "企业证书")
			wantRefused(t, s.Do(tokenA, bindMutation, map[string]any{"in": signed(t, s, p, tokenA, "BIND", foreign.DER())}),
				"INVALID_ARGUMENT", "不是本平台签发")
			wantRefused(t, s.Do(tokenC, bindMutation, map[string]any{"in": signed(t, s, p, tokenC, "BIND", personal.DER())}),
				"FORBIDDEN", "实名认证")
			// A's bind challenge cannot serve B, nor a login challenge a bind.
			wantRefused(t, s.Do(tokenB, bindMutation, map[string]any{"in": signed(t, s, p, tokenA, "BIND", personal.DER())}),
				"INVALID_ARGUMENT", "验证请求无效")
			wantRefused(t, s.Do(tokenA, bindMutation, map[string]any{"in": signed(t, s, p, "", "LOGIN", personal.DER())}),
				"INVALID_ARGUMENT", "验证请求无效")
		})

		var bound struct {
			BindUKey struct{ ID, Serial, Fingerprint, Subject string }
		}
		t.Run("bind with proof of possession", func(t *testing.T) {
			s.MustDo(tokenA, bindMutation, map[string]any{"in": signed(t, s, p, tokenA, "BIND", personal.DER())}, &bound)
			if bound.BindUKey.Serial != personal.Serial || bound.BindUKey.Fingerprint != ukey.Fingerprint(personal.DER()) ||
				!strings.Contains(bound.BindUKey.Subject, "王小明") {
				t.Fatalf("bound %+v", bound.BindUKey)
			}
			var list struct{ UkeyBindings []struct{ ID string } }
			s.MustDo(tokenA, `{ ukeyBindings { id } }`, nil, &list)
			if len(list.UkeyBindings) != 1 || list.UkeyBindings[0].ID != bound.BindUKey.ID {
				t.Fatalf("A's bindings %+v", list)
			}
			s.MustDo(tokenB, `{ ukeyBindings { id } }`, nil, &list)
			if len(list.UkeyBindings) != 0 {
				t.Fatalf("B sees A's bindings %+v", list)
			}
			if n, err := s.App.DB.Client.UKeyBinding.Query().Count(context.Background()); !errors.Is(err, privacy.Deny) {
				t.Fatalf("an anonymous query: %d bindings, %v", n, err)
			}
			wantRefused(t, s.Do(tokenA, bindMutation, map[string]any{"in": signed(t, s, p, tokenA, "BIND", personal.DER())}),
				"CONFLICT", "已绑定")
		})

		var in map[string]any
		t.Run("certificate login", func(t *testing.T) {
			in = signed(t, s, p, "", "LOGIN", personal.DER())
			var res struct {
				LoginByCertificate struct {
					Token   string
					User    struct{ ID string }
					Session struct{ ID string }
				}
			}
			s.MustDo("", loginMutation, map[string]any{"in": in}, &res)
			if res.LoginByCertificate.Token == "" {
				t.Fatal("no token")
			}
			uid := viewer.FromContext(ctxA).UserID
			sess := enterprisestest.Must(s.App.DB.Client.Session.Query().Where(session.UserID(uid)).
				Order(session.ByID()).All(viewer.System(bg)))(t)
			if last := sess[len(sess)-1]; last.Method != session.MethodCertificate {
				t.Fatalf("session method %s", last.Method)
			}
			var me struct{ Me struct{ Phone string } }
			s.MustDo(res.LoginByCertificate.Token, `{ me { phone } }`, nil, &me)
			if me.Me.Phone != "13800002001" {
				t.Fatalf("logged in as %+v", me)
			}
		})
		t.Run("a replayed challenge is refused", func(t *testing.T) {
			wantRefused(t, s.Do("", loginMutation, map[string]any{"in": in}), "INVALID_ARGUMENT", "已使用")
		})
		t.Run("an expired challenge is refused", func(t *testing.T) {
			late := signed(t, s, p, "", "LOGIN", personal.DER())
			s.Clock.Advance(accountsChallengeTTL + time.Second)
			wantRefused(t, s.Do("", loginMutation, map[string]any{"in": late}), "INVALID_ARGUMENT", "已过期")
		})
		t.Run("a signature that does not match is refused", func(t *testing.T) {
			good := signed(t, s, p, "", "LOGIN", personal.DER())
			other := signed(t, s, p, "", "LOGIN", personal.DER())
			good["signature"] = other["signature"] // a signature over another challenge
			wantRefused(t, s.Do("", loginMutation, map[string]any{"in": good}), "INVALID_ARGUMENT", "签名验证失败")
			// The failed attempt used the challenge up.
			good["signature"] = signed(t, s, p, "", "LOGIN", personal.DER())["signature"]
			wantRefused(t, s.Do("", loginMutation, map[string]any{"in": good}), "INVALID_ARGUMENT", "已使用")
			bad := signed(t, s, p, "", "LOGIN", personal.DER())
			bad["nonce"] = "not-a-nonce"
			wantRefused(t, s.Do("", loginMutation, map[string]any{"in": bad}), "INVALID_ARGUMENT", "验证请求无效")
			bad = signed(t, s, p, "", "LOGIN", personal.DER())
			bad["certificate"] = base64.StdEncoding.EncodeToString([]byte("junk"))
			wantRefused(t, s.Do("", loginMutation, map[string]any{"in": bad}), "INVALID_ARGUMENT", "证书格式")
		})
		t.Run("a wrong PIN or a removed token never reaches the server", func(t *testing.T) {
			wrong := startHelper(t, tok, origin, "000000")
			r := wrong.do(ukey.Request{Type: ukey.TypeSignChallenge, Certificate: ukey.Fingerprint(personal.DER()),
				Challenge: ukey.Challenge{Purpose: ukey.PurposeLogin, Origin: origin, Nonce: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
					ExpiresAt: time.Now().UTC().Truncate(time.Second)}.Text()})
			if r.Error == nil || r.Error.Code != ukey.ErrWrongPIN {
				t.Fatalf("wrong PIN: %+v", r)
			}
		})

		t.Run("unbind needs the password or an SMS code", func(t *testing.T) {
			const unbind = `mutation($in: UnbindUKeyInput!) { unbindUKey(input: $in) }`
			id := bound.BindUKey.ID
			wantRefused(t, s.Do(tokenA, unbind, map[string]any{"in": map[string]any{"id": id}}), "INVALID_ARGUMENT", "请输入登录密码或短信验证码")
			wantRefused(t, s.Do(tokenA, unbind, map[string]any{"in": map[string]any{"id": id, "password": "Wrong#Pass1"}}), "INVALID_ARGUMENT", "登录密码错误")
			wantRefused(t, s.Do(tokenA, unbind, map[string]any{"in": map[string]any{"id": id, "code": "000000"}}), "INVALID_ARGUMENT", "")
			wantRefused(t, s.Do(tokenB, unbind, map[string]any{"in": map[string]any{"id": id, "password": "Passw0rd!"}}), "NOT_FOUND", "")
			s.MustDo(tokenA, `mutation { sendUKeyUnbindCode { maskedPhone } }`, nil, nil)
			code := s.LastCode("13800002001")
			var ok struct{ UnbindUKey bool }
			s.MustDo(tokenA, unbind, map[string]any{"in": map[string]any{"id": id, "code": code}}, &ok)
			if !ok.UnbindUKey {
				t.Fatal("unbind said false")
			}
			r := s.Do("", loginMutation, map[string]any{"in": signed(t, s, p, "", "LOGIN", personal.DER())})
			wantRefused(t, r, "UNAUTHENTICATED", "尚未绑定")
			// Binding and unbinding are on the user's trail, and the chain holds.
			v, err := s.App.Accounts.Authenticate(bg, tokenA)
			if err != nil {
				t.Fatal(err)
			}
			page, err := audit.List(viewer.System(bg), s.App.DB.Client, audit.UserChain(v.UserID), 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[audit.Action]bool{}
			for _, ev := range page.Events {
				seen[audit.Action(ev.Action)] = true
			}
			if !seen[audit.UKeyBound] || !seen[audit.UKeyUnbound] {
				t.Errorf("user trail actions %v, want bind and unbind", seen)
			}
			if rep, err := audit.Verify(viewer.System(bg), s.App.DB.Client, audit.UserChain(v.UserID)); err != nil || !rep.OK() {
				t.Errorf("user chain: %v %+v", err, rep)
			}
		})

		t.Run("a revoked certificate can neither bind nor log in", func(t *testing.T) {
			in := signed(t, s, p, tokenA, "BIND", personal.DER())
			if err := ca.Revoke(bg, personal.Serial, pki.ReasonKeyCompromise); err != nil {
				t.Fatal(err)
			}
			wantRefused(t, s.Do(tokenA, bindMutation, map[string]any{"in": in}), "INVALID_ARGUMENT", "已吊销")
		})

		t.Run("the token removed", func(t *testing.T) {
			if err := tok.Remove(); err != nil {
				t.Fatal(err)
			}
			r := p.do(ukey.Request{Type: ukey.TypeSignChallenge, Certificate: ukey.Fingerprint(personal.DER()),
				Challenge: ukey.Challenge{Purpose: ukey.PurposeLogin, Origin: origin, Nonce: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
					ExpiresAt: time.Now().UTC().Truncate(time.Second)}.Text()})
			if r.Error == nil || r.Error.Code != ukey.ErrTokenAbsent {
				t.Fatalf("removed token: %+v", r)
			}
		})
		if strings.Contains(p.out.String(), tok.PIN) {
			t.Fatal("the PIN appeared at the helper's console")
		}
	})
}

const accountsChallengeTTL = 2 * time.Minute
