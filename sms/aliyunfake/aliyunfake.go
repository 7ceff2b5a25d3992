// Package aliyunfake is a local stand-in for Alibaba Cloud's SMS API
// (Dysmsapi, version 2017-05-25, action SendSms) for tests: point the real
// Aliyun provider of package sms at Server.URL.
//
// The fake checks a request the way the real gateway does, in this order,
// answering with the real error codes and HTTP statuses:
//
//   - Action must be SendSms (InvalidApi.NotFound, 404), Version 2017-05-25
//     (InvalidVersion, 400), Format JSON (InvalidParameter.Format, 400; the
//     real API also speaks XML, the fake does not);
//   - every common and SendSms parameter is present (Missing<Name>, 400);
//   - SignatureMethod HMAC-SHA1 and SignatureVersion 1.0
//     (InvalidSignatureMethod, InvalidSignatureVersion; 400);
//   - Timestamp is yyyy-MM-ddTHH:mm:ssZ (InvalidTimeStamp.Format, 400) and
//     within 15 minutes of the fake's clock (InvalidTimeStamp.Expired, 400);
//   - AccessKeyId is the configured one (InvalidAccessKeyId.NotFound, 404);
//   - Signature equals the one recomputed from the received parameters and
//     the configured secret (SignatureDoesNotMatch, 400, with the server's
//     string to sign in the message, as the real API gives it);
//   - SignatureNonce was not used in the last 15 minutes (SignatureNonceUsed,
//     400). Only requests with a valid signature use up a nonce.
//
// Then the business checks, answered with HTTP 200 like the real API:
// SignName approved (isv.SMS_SIGNATURE_ILLEGAL), TemplateCode approved
// (isv.SMS_TEMPLATE_ILLEGAL), TemplateParam a JSON object of strings
// (isv.INVALID_JSON_PARAM) holding every variable of the template's text
// (isv.TEMPLATE_MISSING_PARAMETERS), every phone number a mainland mobile
// number (isv.MOBILE_NUMBER_ILLEGAL). A Fault set with SetFault applies next;
// otherwise the fake answers Code OK and records one Message per phone.
//
// The signature is recomputed here independently of package sms, following
// the documented recipe (URL-encode, then + → %20, * → %2A, %7E → ~), so a
// bug in the client's signing shows up as SignatureDoesNotMatch.
package aliyunfake

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// Window is how far a request's Timestamp may be from the fake's clock, and
// how long a SignatureNonce stays used.
const Window = 15 * time.Minute

// Config describes the account the fake serves.
type Config struct {
	AccessKeyID     string
	AccessKeySecret string
	// SignName is the one approved signature (签名).
	SignName string
	// Templates maps each approved template code (SMS_…) to its approved
	// text with ${name} variables, e.g. "您的验证码为${code}，5分钟内有效。".
	Templates map[string]string
	// Now is the fake's clock; time.Now when nil.
	Now func() time.Time
}

// Fault makes the fake misbehave after a request has passed every check.
// The zero Fault means none.
type Fault struct {
	// Delay is how long to wait before answering; the fake stops waiting
	// when the client goes away or the server closes.
	Delay time.Duration
	// HTTPStatus, when not zero, is the status to answer with; 5xx answers
	// carry Code InternalError (or Code when set).
	HTTPStatus int
	// Code and Message, when Code is set, make the answer an error with
	// that Aliyun code, e.g. "isv.BUSINESS_LIMIT_CONTROL".
	Code    string
	Message string
	// Times is how many requests the fault applies to; 0 means until
	// SetFault is called again.
	Times int
}

// Message is one SMS the fake accepted.
type Message struct {
	Phone         string // one number from PhoneNumbers, as sent
	SignName      string
	TemplateCode  string
	TemplateParam string            // the raw JSON as received
	Params        map[string]string // TemplateParam decoded
	Text          string            // 【SignName】 + the template text with Params substituted
	OutID         string
	BizID         string
	ReceivedAt    time.Time
}

// Request is one request the fake received, with its answer.
type Request struct {
	Method     string
	Query      url.Values // the received parameters (query, and form for POST)
	RawQuery   string
	ReceivedAt time.Time
	HTTPStatus int    // 0 when the client went away before the answer
	Code       string // the Code answered
}

// Server is a running fake. It is safe for concurrent use.
type Server struct {
	cfg    Config
	srv    *httptest.Server
	closed chan struct{}

	mu       sync.Mutex
	fault    Fault
	nonces   map[string]time.Time
	messages []Message
	requests []Request
	bizSeq   int
	delaying int // requests waiting out a Fault.Delay
}

// New starts a fake on a free local port. Close it when done.
func New(cfg Config) *Server {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	templates := make(map[string]string, len(cfg.Templates))
	for code, text := range cfg.Templates {
		templates[code] = text
	}
	cfg.Templates = templates
	s := &Server{cfg: cfg, closed: make(chan struct{}), nonces: map[string]time.Time{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	return s
}

// URL is the endpoint to configure in the client: "http://127.0.0.1:port/".
func (s *Server) URL() string { return s.srv.URL + "/" }

// Client returns an HTTP client for the fake.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Close stops the fake, ending any delayed answer first.
func (s *Server) Close() {
	select {
	case <-s.closed:
	default:
		close(s.closed)
	}
	s.srv.Close()
}

// SetFault sets the fault applied to the following requests; SetFault(Fault{})
// clears it.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// Messages returns the messages accepted so far, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.messages))
	copy(out, s.messages)
	return out
}

// Requests returns every request received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	copy(out, s.requests)
	return out
}

// answer is the JSON body of every response.
type answer struct {
	RequestID string `json:"RequestId"`
	HostID    string `json:"HostId,omitempty"`
	Code      string `json:"Code"`
	Message   string `json:"Message"`
	BizID     string `json:"BizId,omitempty"`
}

// required lists the parameters every SendSms request must carry.
func required() []string {
	return []string{
		"AccessKeyId", "Action", "Format", "PhoneNumbers", "SignName", "Signature",
		"SignatureMethod", "SignatureNonce", "SignatureVersion", "TemplateCode",
		"Timestamp", "Version",
	}
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	now := s.cfg.Now()
	rec := Request{Method: r.Method, RawQuery: r.URL.RawQuery, ReceivedAt: now}
	status, a, msgs := s.handle(r, now, &rec)
	if a.RequestID == "" {
		a.RequestID = newRequestID()
	}
	rec.Code = a.Code
	if status != 0 {
		rec.HTTPStatus = status
	}
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	if status == http.StatusOK && a.Code == "OK" {
		s.messages = append(s.messages, msgs...)
	}
	s.mu.Unlock()
	if status == 0 {
		// The client went away or the server is closing: drop the
		// connection without an answer.
		panic(http.ErrAbortHandler)
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	// A failed write means the client went away; there is no one to tell.
	_ = json.NewEncoder(w).Encode(a)
}

// handle checks r and returns the status and answer, and the messages to
// record on success. Status 0 means the client went away.
func (s *Server) handle(r *http.Request, now time.Time, rec *Request) (int, answer, []Message) {
	fail := func(status int, code, format string, args ...any) (int, answer, []Message) {
		return status, answer{HostID: "dysmsapi.aliyuncs.com", Code: code, Message: fmt.Sprintf(format, args...)}, nil
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		return fail(http.StatusBadRequest, "UnsupportedHTTPMethod", "This http method is not supported.")
	}
	if err := r.ParseForm(); err != nil {
		return fail(http.StatusBadRequest, "InvalidParameter", "Cannot parse the request: %v", err)
	}
	q := r.Form
	rec.Query = cloneValues(q)

	if q.Get("Action") != "SendSms" && q.Get("Action") != "" {
		return fail(http.StatusNotFound, "InvalidApi.NotFound", "Specified api is not found, please check your url and method.")
	}
	if v := q.Get("Version"); v != "" && v != "2017-05-25" {
		return fail(http.StatusBadRequest, "InvalidVersion", "Specified parameter Version is not valid.")
	}
	if f := q.Get("Format"); f != "" && !strings.EqualFold(f, "JSON") {
		return fail(http.StatusBadRequest, "InvalidParameter.Format", "Specified parameter format is not valid.")
	}
	for _, name := range required() {
		if q.Get(name) == "" {
			return fail(http.StatusBadRequest, "Missing"+name, "%s is mandatory for this action.", name)
		}
	}
	if q.Get("SignatureMethod") != "HMAC-SHA1" {
		return fail(http.StatusBadRequest, "InvalidSignatureMethod", "Specified signature method is not valid.")
	}
	if q.Get("SignatureVersion") != "1.0" {
		return fail(http.StatusBadRequest, "InvalidSignatureVersion", "Specified signature version is not valid.")
	}
	ts, err := time.Parse("2006-01-02T15:04:05Z", q.Get("Timestamp"))
	if err != nil {
		return fail(http.StatusBadRequest, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.")
	}
	if d := now.Sub(ts); d > Window || d < -Window {
		return fail(http.StatusBadRequest, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")
	}
	if q.Get("AccessKeyId") != s.cfg.AccessKeyID {
		return fail(http.StatusNotFound, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
	}
	stringToSign := StringToSign(r.Method, q)
	want := signString(stringToSign, s.cfg.AccessKeySecret)
	if !hmac.Equal([]byte(q.Get("Signature")), []byte(want)) {
		return fail(http.StatusBadRequest, "SignatureDoesNotMatch",
			"Specified signature is not matched with our calculation. server string to sign is:%s", stringToSign)
	}
	if !s.useNonce(q.Get("SignatureNonce"), now) {
		return fail(http.StatusBadRequest, "SignatureNonceUsed", "Specified signature nonce was used already.")
	}

	// Business checks: HTTP 200 with an isv.* code.
	if q.Get("SignName") != s.cfg.SignName {
		return fail(http.StatusOK, "isv.SMS_SIGNATURE_ILLEGAL", "该账号下找不到对应签名")
	}
	text, ok := s.cfg.Templates[q.Get("TemplateCode")]
	if !ok {
		return fail(http.StatusOK, "isv.SMS_TEMPLATE_ILLEGAL", "该账号下找不到对应模板")
	}
	params := map[string]string{}
	if raw := q.Get("TemplateParam"); raw != "" {
		if err := json.Unmarshal([]byte(raw), &params); err != nil {
			return fail(http.StatusOK, "isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值")
		}
	}
	rendered, missing := render(text, params)
	if missing != "" {
		return fail(http.StatusOK, "isv.TEMPLATE_MISSING_PARAMETERS", "模板变量缺少对应参数值: %s", missing)
	}
	phones := strings.Split(q.Get("PhoneNumbers"), ",")
	for _, p := range phones {
		if !mainlandMobile(p) {
			return fail(http.StatusOK, "isv.MOBILE_NUMBER_ILLEGAL", "%s invalid", p)
		}
	}

	if f, ok := s.takeFault(); ok {
		if f.Delay > 0 && !s.wait(r, f.Delay) {
			return 0, answer{}, nil
		}
		status := f.HTTPStatus
		code := f.Code
		if status >= 500 && code == "" {
			code = "InternalError"
		}
		if code != "" {
			if status == 0 {
				status = http.StatusOK
			}
			msg := f.Message
			if msg == "" {
				msg = "fault injected by aliyunfake"
			}
			return fail(status, code, "%s", msg)
		}
		if status != 0 && status != http.StatusOK {
			return fail(status, "InternalError", "fault injected by aliyunfake")
		}
	}

	biz := s.nextBizID(now)
	msgs := make([]Message, 0, len(phones))
	for _, p := range phones {
		msgs = append(msgs, Message{
			Phone:         p,
			SignName:      q.Get("SignName"),
			TemplateCode:  q.Get("TemplateCode"),
			TemplateParam: q.Get("TemplateParam"),
			Params:        params,
			Text:          "【" + q.Get("SignName") + "】" + rendered,
			OutID:         q.Get("OutId"),
			BizID:         biz,
			ReceivedAt:    now,
		})
	}
	return http.StatusOK, answer{Code: "OK", Message: "OK", BizID: biz}, msgs
}

// useNonce records nonce and reports whether it was fresh. Nonces older than
// Window are forgotten.
func (s *Server) useNonce(nonce string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for n, at := range s.nonces {
		if now.Sub(at) > Window {
			delete(s.nonces, n)
		}
	}
	if _, used := s.nonces[nonce]; used {
		return false
	}
	s.nonces[nonce] = now
	return true
}

// wait waits d and reports true, or false when the client goes away or the
// server closes first.
func (s *Server) wait(r *http.Request, d time.Duration) bool {
	s.mu.Lock()
	s.delaying++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.delaying--
		s.mu.Unlock()
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-s.closed:
		return false
	}
}

// holding reports whether a request is waiting out a delay.
func (s *Server) holding() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.delaying > 0
}

// takeFault returns the current fault, if any, counting one use.
func (s *Server) takeFault() (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fault
	if f == (Fault{}) {
		return f, false
	}
	if f.Times > 0 {
		s.fault.Times--
		if s.fault.Times == 0 {
			s.fault = Fault{}
		}
	}
	return f, true
}

func (s *Server) nextBizID(now time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bizSeq++
	return fmt.Sprintf("%06d^%d", s.bizSeq, now.UnixMilli())
}

// StringToSign returns Aliyun's RPC string to sign for a request: the
// method, the encoded path "/", and the encoded canonicalized query of every
// parameter but Signature (the first value of each), sorted by name.
func StringToSign(method string, params url.Values) string {
	names := make([]string, 0, len(params))
	for name := range params {
		if name != "Signature" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	pairs := make([]string, len(names))
	for i, name := range names {
		pairs[i] = specialURLEncode(name) + "=" + specialURLEncode(params.Get(name))
	}
	return method + "&" + specialURLEncode("/") + "&" + specialURLEncode(strings.Join(pairs, "&"))
}

// Sign returns the signature Aliyun expects for a request with params:
// base64(HMAC-SHA1(secret + "&", StringToSign(method, params))).
func Sign(method string, params url.Values, secret string) string {
	return signString(StringToSign(method, params), secret)
}

func signString(stringToSign, secret string) string {
	mac := hmac.New(sha1.New, []byte(secret+"&"))
	mac.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// specialURLEncode is the documented POP encoding: form URL-encoding, then
// "+" → "%20", "*" → "%2A", "%7E" → "~".
func specialURLEncode(s string) string {
	e := url.QueryEscape(s)
	e = strings.ReplaceAll(e, "+", "%20")
	e = strings.ReplaceAll(e, "*", "%2A")
	return strings.ReplaceAll(e, "%7E", "~")
}

// render substitutes params into text, returning the first variable that
// has no value.
func render(text string, params map[string]string) (string, string) {
	var b strings.Builder
	for {
		i := strings.Index(text, "${")
		if i < 0 {
			b.WriteString(text)
			return b.String(), ""
		}
		j := strings.Index(text[i:], "}")
		if j < 0 {
			b.WriteString(text)
			return b.String(), ""
		}
		name := text[i+2 : i+j]
		v, ok := params[name]
		if !ok || v == "" {
			return "", name
		}
		b.WriteString(text[:i])
		b.WriteString(v)
		text = text[i+j+1:]
	}
}

// mainlandMobile reports whether p is a mainland mobile number, with or
// without an 86 / +86 / 0086 prefix.
func mainlandMobile(p string) bool {
	for _, prefix := range []string{"+86", "0086", "86"} {
		if len(p) == len(prefix)+11 && strings.HasPrefix(p, prefix) {
			p = p[len(prefix):]
			break
		}
	}
	if len(p) != 11 || p[0] != '1' || !strings.ContainsRune("3456789", rune(p[1])) {
		return false
	}
	return strings.Trim(p, "0123456789") == ""
}

func cloneValues(v url.Values) url.Values {
	c := make(url.Values, len(v))
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	h := hex.EncodeToString(b[:])
	return strings.ToUpper(h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:])
}
