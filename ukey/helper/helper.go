// Package helper is the UKey helper (证书应用环境) behind cmd/signet-ukey: a
// websocket service on 127.0.0.1 that lets a Signet page list the
// certificates on the user's token and have digests signed, after the user
// paired the page and confirmed each signature at the helper's own console,
// where the PIN is typed. The protocol is in package ukey.
package helper

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/coder/websocket/wsjson"

	"signet/errs"
	"signet/signingcore/keystore"
	"signet/ukey"
)

// Config builds a Server.
type Config struct {
	// Origins are the Signet origins allowed to connect, exactly as browsers
	// send them ("https://sign.example.com", "http://localhost:8080").
	Origins []string
	Token   Token
	Console Console
	// PairingsFile keeps pairings across restarts; in memory when empty.
	PairingsFile string
	Logger       *slog.Logger
	// Now and Rand default to time.Now and crypto/rand.
	Now  func() time.Time
	Rand io.Reader
}

// Server is the helper's websocket service.
type Server struct {
	origins  map[string]bool
	token    Token
	console  Console
	pairings *pairings
	log      *slog.Logger
	now      func() time.Time
	rand     io.Reader

	busy chan struct{} // one token operation at a time, process-wide

	mu       sync.Mutex
	lastPair time.Time
}

// New returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Token == nil || cfg.Console == nil {
		return nil, errors.New("helper: Token and Console are required")
	}
	if len(cfg.Origins) == 0 {
		return nil, errors.New("helper: at least one Signet origin is required (--origin)")
	}
	s := &Server{origins: map[string]bool{}, token: cfg.Token, console: cfg.Console, log: cfg.Logger,
		now: cfg.Now, rand: cfg.Rand, busy: make(chan struct{}, 1)}
	for _, o := range cfg.Origins {
		if err := ukey.CheckOrigin(o); err != nil {
			return nil, fmt.Errorf("helper: %w", err)
		}
		s.origins[o] = true
	}
	var err error
	if s.pairings, err = loadPairings(cfg.PairingsFile); err != nil {
		return nil, err
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	return s, nil
}

// CheckLoopback refuses a listen address that is not on the loopback
// interface: the helper must never be reachable from the network.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %v", addr, err)
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("listen address %q: the helper listens on 127.0.0.1 (or ::1) only", addr)
	}
	return nil
}

// Serve accepts connections on ln until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if err := CheckLoopback(ln.Addr().String()); err != nil {
		return err
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// ServeHTTP answers the websocket at ukey.Path and a plain-text notice at /.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !loopbackHost(r.Host) {
		// DNS rebinding: a foreign name resolving to 127.0.0.1.
		http.Error(w, "forbidden host", http.StatusForbidden)
		return
	}
	switch r.URL.Path {
	case "/":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "Signet 证书应用环境 (signet-ukey) 正在运行。\n")
	case ukey.Path:
		s.serveWS(w, r)
	default:
		http.NotFound(w, r)
	}
}

func loopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if !s.origins[origin] {
		s.log.Warn("refused a websocket from a foreign origin", "origin", origin)
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	// The origin was checked exactly above (coder/websocket's own check
	// compares hosts only, without the scheme).
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	c.SetReadLimit(64 << 10)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	conn := &conn{s: s, ws: c, origin: origin}
	conn.run(ctx, cancel)
}

// conn is one page connection.
type conn struct {
	s       *Server
	ws      *websocket.Conn
	origin  string
	paired  bool
	pending *pendingPair
}

// run reads requests in one goroutine and handles them in order in
// another, so a page that goes away cancels a prompt waiting at the console.
func (c *conn) run(ctx context.Context, cancel context.CancelFunc) {
	reqs := make(chan ukey.Request)
	go func() {
		defer cancel()
		defer close(reqs)
		for {
			var req ukey.Request
			if err := wsjson.Read(ctx, c.ws, &req); err != nil {
				if websocket.CloseStatus(err) == -1 && ctx.Err() == nil {
					// Not JSON or not a clean close: tell the page, then drop it.
					_ = c.ws.Close(websocket.StatusUnsupportedData, "bad message")
				}
				return
			}
			select {
			case reqs <- req:
			case <-ctx.Done():
				return
			}
		}
	}()
	for req := range reqs {
		reply := c.handle(ctx, req)
		reply.ID = req.ID
		if err := wsjson.Write(ctx, c.ws, reply); err != nil {
			return
		}
	}
	_ = c.ws.Close(websocket.StatusNormalClosure, "")
}

func fail(code, msg string) ukey.Reply {
	return ukey.Reply{Type: ukey.TypeError, Error: &ukey.Error{Code: code, Message: msg}}
}

func (c *conn) handle(ctx context.Context, req ukey.Request) ukey.Reply {
	switch req.Type {
	case ukey.TypeHello:
		if c.s.pairings.valid(c.origin, req.PairingToken) {
			c.paired = true
		}
		return ukey.Reply{Type: ukey.TypeHello, Version: ukey.ProtocolVersion, Paired: c.paired}
	case ukey.TypePair:
		return c.pair()
	case ukey.TypePairConfirm:
		return c.confirmPair(req.Code)
	case ukey.TypeListCertificates, ukey.TypeSignChallenge, ukey.TypeSignDigest:
	default:
		return fail(ukey.ErrInvalid, "不支持的请求类型")
	}
	if !c.paired {
		return fail(ukey.ErrUnpaired, "证书应用环境尚未与本网页配对，请先配对")
	}
	select {
	case c.s.busy <- struct{}{}:
		defer func() { <-c.s.busy }()
	default:
		return fail(ukey.ErrBusy, "证书应用环境正在处理另一个请求，请在其窗口中完成后重试")
	}
	switch req.Type {
	case ukey.TypeListCertificates:
		return c.list(ctx)
	case ukey.TypeSignChallenge:
		return c.signChallenge(ctx, req)
	default:
		return c.signDigest(ctx, req)
	}
}

func (c *conn) pair() ukey.Reply {
	now := c.s.now()
	c.s.mu.Lock()
	if now.Sub(c.s.lastPair) < pairRequestGap {
		c.s.mu.Unlock()
		return fail(ukey.ErrBusy, "配对请求过于频繁，请稍后再试")
	}
	c.s.lastPair = now
	c.s.mu.Unlock()
	n, err := rand.Int(c.s.rand, big.NewInt(1_000_000))
	if err != nil {
		return fail(ukey.ErrInternal, "生成配对码失败")
	}
	code := fmt.Sprintf("%06d", n.Int64())
	c.pending = &pendingPair{code: code, expires: now.Add(pairCodeTTL)}
	c.s.console.Show(fmt.Sprintf("\n网页 %s 请求使用证书应用环境。\n配对码：%s %s（%d 分钟内有效）\n请在网页中输入此配对码。如果不是您本人操作，请忽略。",
		c.origin, code[:3], code[3:], int(pairCodeTTL/time.Minute)))
	return ukey.Reply{Type: ukey.TypePairPending, ExpiresIn: int(pairCodeTTL / time.Second)}
}

func (c *conn) confirmPair(code string) ukey.Reply {
	p := c.pending
	if p == nil || !c.s.now().Before(p.expires) {
		c.pending = nil
		return fail(ukey.ErrPairing, "配对码已失效，请重新获取")
	}
	code = strings.ReplaceAll(strings.TrimSpace(code), " ", "")
	if code != p.code {
		p.attempts++
		if p.attempts >= pairCodeAttempts {
			c.pending = nil
			return fail(ukey.ErrPairing, "配对码错误次数过多，请重新获取")
		}
		return fail(ukey.ErrPairing, "配对码错误，请查看证书应用环境窗口中的配对码")
	}
	c.pending = nil
	raw := make([]byte, 32)
	if _, err := io.ReadFull(c.s.rand, raw); err != nil {
		return fail(ukey.ErrInternal, "生成配对凭证失败")
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	if err := c.s.pairings.add(c.origin, token); err != nil {
		c.s.log.Error("save pairing", "err", err)
		return fail(ukey.ErrInternal, "保存配对失败")
	}
	c.paired = true
	c.s.console.Show("已与 " + c.origin + " 配对。")
	return ukey.Reply{Type: ukey.TypePaired, PairingToken: token}
}

func (c *conn) list(ctx context.Context) ukey.Reply {
	certs, err := c.s.token.Certificates(ctx)
	if err != nil {
		return c.tokenError(err)
	}
	out := make([]ukey.Certificate, 0, len(certs))
	for _, tc := range certs {
		out = append(out, describe(tc))
	}
	return ukey.Reply{Type: ukey.TypeCertificates, Certificates: out}
}

func describe(tc TokenCertificate) ukey.Certificate {
	x := tc.Certificate
	return ukey.Certificate{
		Fingerprint: ukey.Fingerprint(x.Raw), KeyID: hex.EncodeToString(tc.KeyID), Token: tc.Token, Label: tc.Label,
		Subject: x.Subject.String(), Issuer: x.Issuer.String(), Serial: x.SerialNumber.Text(16), NotAfter: x.NotAfter,
		DER: base64.StdEncoding.EncodeToString(x.Raw),
	}
}

// find returns the token certificate with the fingerprint.
func (c *conn) find(ctx context.Context, fingerprint string) (TokenCertificate, *ukey.Reply) {
	certs, err := c.s.token.Certificates(ctx)
	if err != nil {
		r := c.tokenError(err)
		return TokenCertificate{}, &r
	}
	for _, tc := range certs {
		if ukey.Fingerprint(tc.Certificate.Raw) == strings.ToLower(fingerprint) {
			return tc, nil
		}
	}
	r := fail(ukey.ErrNoCertificate, "UKey 中没有所选的证书，请确认插入的是正确的 UKey")
	return TokenCertificate{}, &r
}

func (c *conn) signChallenge(ctx context.Context, req ukey.Request) ukey.Reply {
	ch, err := ukey.ParseChallenge(req.Challenge)
	if err != nil {
		return fail(ukey.ErrInvalid, "登录或绑定请求的格式不正确")
	}
	if ch.Origin != c.origin {
		// A challenge of another site: never sign it for this page.
		return fail(ukey.ErrInvalid, "请求来源与网页不一致，已拒绝")
	}
	tc, bad := c.find(ctx, req.Certificate)
	if bad != nil {
		return *bad
	}
	action := "登录 " + ch.Origin
	switch ch.Purpose {
	case ukey.PurposeBind:
		action = "将此 UKey 绑定到 " + ch.Origin + " 的当前账号"
	case ukey.PurposeBindEnterprise:
		action = "将此 UKey 作为企业 UKey 绑定到 " + ch.Origin + " 的企业印章（绑定后这些印章须插入此 UKey 签署）"
	}
	summary := fmt.Sprintf("===== 证书应用环境：签名确认 =====\n操作：%s\n证书：%s\n请求编号：%s…", action,
		ukey.Describe(tc.Certificate), ch.Nonce[:8])
	return c.sign(ctx, tc, summary, ch.Digest())
}

func (c *conn) signDigest(ctx context.Context, req ukey.Request) ukey.Reply {
	if req.Hash != ukey.HashSHA256 {
		return fail(ukey.ErrInvalid, "不支持的摘要算法，仅支持 SHA-256")
	}
	digest, err := base64.StdEncoding.DecodeString(req.Digest)
	if err != nil || len(digest) != 32 {
		return fail(ukey.ErrInvalid, "待签名摘要不正确")
	}
	name, ok := printable(req.ContractName, 200)
	if !ok {
		return fail(ukey.ErrInvalid, "请提供合同名称")
	}
	fp, ok := printable(req.Fingerprint, 128)
	if !ok {
		return fail(ukey.ErrInvalid, "请提供合同指纹")
	}
	tc, bad := c.find(ctx, req.Certificate)
	if bad != nil {
		return *bad
	}
	summary := fmt.Sprintf("===== 证书应用环境：签署确认 =====\n网页：%s\n合同：%s\n合同指纹：%s\n证书：%s\n待签摘要：%s",
		c.origin, name, fp, ukey.Describe(tc.Certificate), hex.EncodeToString(digest))
	return c.sign(ctx, tc, summary, digest)
}

// printable accepts non-empty text of at most max characters without control
// characters (which could forge extra lines at the console).
func printable(s string, max int) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > max {
		return "", false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return "", false
		}
	}
	return s, true
}

// sign shows the summary, asks for confirmation and the PIN, and signs.
func (c *conn) sign(ctx context.Context, tc TokenCertificate, summary string, digest []byte) ukey.Reply {
	ok, err := c.s.console.Confirm(ctx, summary)
	if err != nil || !ok {
		return fail(ukey.ErrRefused, "已在证书应用环境中取消签名")
	}
	pin, err := c.s.console.PIN(ctx, "请输入 UKey 的 PIN 码（输入时不显示）：")
	if err != nil {
		return fail(ukey.ErrRefused, "未输入 PIN 码，签名已取消")
	}
	sig, err := c.s.token.Sign(ctx, tc, pin, digest)
	if err != nil {
		return c.tokenError(err)
	}
	alg := "ECDSA"
	switch tc.Certificate.PublicKey.(type) {
	case *ecdsa.PublicKey:
	case *rsa.PublicKey:
		alg = "RSA-PKCS1v15"
	default:
		alg = tc.Certificate.PublicKeyAlgorithm.String()
	}
	c.s.console.Show("已签名。")
	return ukey.Reply{Type: ukey.TypeSignature, Signature: base64.StdEncoding.EncodeToString(sig), Algorithm: alg,
		Hash: ukey.HashSHA256, CertificateDER: base64.StdEncoding.EncodeToString(tc.Certificate.Raw)}
}

// tokenError turns token failures into error replies; details go to the
// console log only (never the PIN: keystore's errors do not carry it).
func (c *conn) tokenError(err error) ukey.Reply {
	switch {
	case errors.Is(err, ErrNoToken), errors.Is(err, keystore.ErrTokenUnavailable), errs.Is(err, errs.NotFound):
		c.s.console.Show("未检测到 UKey。")
		return fail(ukey.ErrTokenAbsent, "未检测到 UKey，请插入后重试")
	case errs.Is(err, errs.Unauthenticated):
		c.s.console.Show("PIN 码错误。")
		return fail(ukey.ErrWrongPIN, "PIN 码错误，请重试（多次错误会锁定 UKey）")
	case errs.Is(err, errs.Forbidden):
		c.s.console.Show("UKey 的 PIN 码已锁定。")
		return fail(ukey.ErrPINLocked, "UKey 的 PIN 码已锁定，请联系证书颁发机构解锁")
	}
	c.s.log.Error("token operation failed", "err", err)
	c.s.console.Show("UKey 操作失败：" + err.Error())
	return fail(ukey.ErrInternal, "UKey 操作失败，详情见证书应用环境窗口")
}

// Addr formats the default listen address for a port.
func Addr(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }
