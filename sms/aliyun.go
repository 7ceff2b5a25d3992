package sms

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"signet/errs"
)

// DefaultAliyunEndpoint is the public endpoint of Alibaba Cloud's SMS API.
const DefaultAliyunEndpoint = "https://dysmsapi.aliyuncs.com/"

// DefaultAliyunTimeout bounds one Send when AliyunConfig.Timeout is zero.
const DefaultAliyunTimeout = 10 * time.Second

// AliyunConfig configures the Aliyun provider. Print it with %v or log it
// with slog freely: String, GoString and LogValue hide AccessKeySecret.
type AliyunConfig struct {
	// Endpoint is the API's base URL; DefaultAliyunEndpoint when empty. Its
	// path must be "/" (the signature covers the path "/").
	Endpoint        string
	AccessKeyID     string
	AccessKeySecret string
	// SignName is the approved signature (签名) shown as 【SignName】.
	SignName string
	// Templates maps every Template to its approved template code at Aliyun
	// (SMS_ followed by digits). The approved text must use the parameter
	// names of Templates().
	Templates map[Template]string
	// Timeout bounds one Send, retry included, when the caller's context
	// allows longer; DefaultAliyunTimeout when zero.
	Timeout time.Duration
}

const redacted = "[REDACTED]"

// redactedCopy returns c with the secret replaced.
func (c AliyunConfig) redactedCopy() AliyunConfig {
	if c.AccessKeySecret != "" {
		c.AccessKeySecret = redacted
	}
	return c
}

// String implements fmt.Stringer without revealing the secret.
func (c AliyunConfig) String() string {
	type plain AliyunConfig // no methods, so no recursion
	return fmt.Sprintf("%+v", plain(c.redactedCopy()))
}

// GoString implements fmt.GoStringer (for %#v) without revealing the secret.
func (c AliyunConfig) GoString() string {
	type plain AliyunConfig
	return fmt.Sprintf("%#v", plain(c.redactedCopy()))
}

// LogValue implements slog.LogValuer without revealing the secret.
func (c AliyunConfig) LogValue() slog.Value {
	r := c.redactedCopy()
	codes := make([]any, 0, 2*len(r.Templates))
	for _, s := range Templates() {
		if code, ok := r.Templates[s.Template]; ok {
			codes = append(codes, slog.String(string(s.Template), code))
		}
	}
	return slog.GroupValue(
		slog.String("endpoint", r.Endpoint),
		slog.String("access_key_id", r.AccessKeyID),
		slog.String("access_key_secret", r.AccessKeySecret),
		slog.String("sign_name", r.SignName),
		slog.Group("templates", codes...),
		slog.Duration("timeout", r.Timeout),
	)
}

var _ slog.LogValuer = AliyunConfig{}

// Aliyun is a Provider that sends through Alibaba Cloud's SMS service
// (Dysmsapi, API version 2017-05-25, action SendSms), calling its RPC-style
// HTTP API with signature version 1.0 (HMAC-SHA1) as Alibaba Cloud documents
// it.
type Aliyun struct {
	cfg      AliyunConfig
	endpoint string // normalised, ends in "/"
	client   *http.Client
	// now and nonce are time.Now and a random nonce; tests replace them.
	now   func() time.Time
	nonce func() (string, error)
}

var _ Provider = (*Aliyun)(nil)

// NewAliyun checks cfg and returns the provider. Every problem in cfg is
// reported at once: a missing key, secret or sign name, a bad endpoint, and
// each Template without a well-formed code (or a code for a name that is not
// a Template). httpClient may be nil for a plain client; its own Timeout, if
// any, also applies.
func NewAliyun(cfg AliyunConfig, httpClient *http.Client) (*Aliyun, error) {
	if cfg.Endpoint == "" {
		cfg.Endpoint = DefaultAliyunEndpoint
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultAliyunTimeout
	}
	var problems []error
	u, err := url.Parse(cfg.Endpoint)
	switch {
	case err != nil:
		problems = append(problems, fmt.Errorf("endpoint: %w", err))
	case u.Scheme != "https" && u.Scheme != "http" || u.Host == "":
		problems = append(problems, fmt.Errorf("endpoint %q: want an http(s) URL with a host", cfg.Endpoint))
	case u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "":
		problems = append(problems, fmt.Errorf("endpoint %q: want no path, query or fragment", cfg.Endpoint))
	}
	if cfg.AccessKeyID == "" {
		problems = append(problems, errors.New("access key id is empty"))
	}
	if cfg.AccessKeySecret == "" {
		problems = append(problems, errors.New("access key secret is empty"))
	}
	if cfg.SignName == "" {
		problems = append(problems, errors.New("sign name is empty"))
	}
	if cfg.Timeout < 0 {
		problems = append(problems, fmt.Errorf("timeout %v is negative", cfg.Timeout))
	}
	known := map[Template]bool{}
	for _, s := range Templates() {
		known[s.Template] = true
		code, ok := cfg.Templates[s.Template]
		switch {
		case !ok || code == "":
			problems = append(problems, fmt.Errorf("template %s: no template code", s.Template))
		case !validTemplateCode(code):
			problems = append(problems, fmt.Errorf("template %s: code %q is not of the form SMS_123456789", s.Template, code))
		}
	}
	var unknown []string
	for t := range cfg.Templates {
		if !known[t] {
			unknown = append(unknown, string(t))
		}
	}
	slices.Sort(unknown)
	for _, t := range unknown {
		problems = append(problems, fmt.Errorf("template %q: no such template", t))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("sms: aliyun config: %w", errors.Join(problems...))
	}
	if httpClient == nil {
		httpClient = &http.Client{}
	}
	templates := make(map[Template]string, len(cfg.Templates))
	for t, code := range cfg.Templates {
		templates[t] = code
	}
	cfg.Templates = templates
	return &Aliyun{
		cfg:      cfg,
		endpoint: u.Scheme + "://" + u.Host + "/",
		client:   httpClient,
		now:      time.Now,
		nonce:    randomNonce,
	}, nil
}

// AliyunError is the cause of errors from the Aliyun provider when the API
// answered: the HTTP status and Aliyun's error code, message and request ID
// (quote the request ID to Alibaba Cloud support).
type AliyunError struct {
	HTTPStatus int
	Code       string
	Message    string
	RequestID  string
}

// Error implements error.
func (e *AliyunError) Error() string {
	return fmt.Sprintf("aliyun sms: HTTP %d: %s: %s (request id %s)", e.HTTPStatus, e.Code, e.Message, e.RequestID)
}

// Send implements Provider by calling SendSms once.
//
// It returns Invalid (field "phone") for a phone that is not a mainland
// mobile number, checked before any call, or that Aliyun rejects
// (isv.MOBILE_NUMBER_ILLEGAL); RateLimited when Aliyun throttles the number
// (isv.BUSINESS_LIMIT_CONTROL, isv.DAY_LIMIT_CONTROL) or the account's API
// rate (Throttling.*); Internal for everything else: a missing parameter,
// credentials or signature refused, an empty balance, an unapproved sign or
// template, HTTP 5xx, an unreadable answer, a timeout. The cause of an error
// from the API is an *AliyunError.
//
// Send gives up when ctx ends or after AliyunConfig.Timeout. It retries once,
// with a fresh nonce and timestamp, only when the connection could not be
// opened (a dial error), because then Aliyun cannot have seen the request.
// Any later failure is not retried, since the message may have been sent:
// retrying could deliver it twice.
func (a *Aliyun) Send(ctx context.Context, m Message) error {
	if !ValidPhone(m.Phone) {
		return errs.InvalidField("phone", "手机号码格式不正确")
	}
	internal := func(err error) error {
		return errs.Wrap(fmt.Errorf("sms: aliyun send %s: %w", m.Template, err), errs.Internal, "短信发送失败，请稍后再试")
	}
	spec, ok := Spec(m.Template)
	if !ok {
		return internal(fmt.Errorf("unknown template %q", m.Template))
	}
	if err := spec.check(m.Params); err != nil {
		return internal(err)
	}
	templateParam, err := templateParamJSON(m.Params)
	if err != nil {
		return internal(err)
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()

	var resp *http.Response
	for attempt := 1; ; attempt++ {
		var req *http.Request
		req, err = a.newRequest(ctx, m.Phone, a.cfg.Templates[m.Template], templateParam)
		if err != nil {
			return internal(err)
		}
		resp, err = a.client.Do(req)
		if err == nil || attempt == 2 || !isDialError(err) || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return internal(fmt.Errorf("call SendSms: %w", err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return internal(fmt.Errorf("read SendSms answer (HTTP %d): %w", resp.StatusCode, err))
	}
	var answer struct {
		Code      string
		Message   string
		BizID     string `json:"BizId"`
		RequestID string `json:"RequestId"`
	}
	jsonErr := json.Unmarshal(body, &answer)
	aerr := &AliyunError{HTTPStatus: resp.StatusCode, Code: answer.Code, Message: answer.Message, RequestID: answer.RequestID}
	switch {
	case resp.StatusCode >= 500:
		if jsonErr != nil || aerr.Code == "" {
			aerr.Message = snippet(body)
		}
		return internal(aerr)
	case jsonErr != nil || answer.Code == "":
		aerr.Message = snippet(body)
		return internal(fmt.Errorf("unreadable SendSms answer: %w", aerr))
	case answer.Code == "OK" && resp.StatusCode == http.StatusOK:
		return nil
	}
	return classifyAliyun(fmt.Errorf("sms: aliyun send %s: %w", m.Template, aerr), answer.Code)
}

// classifyAliyun maps an Aliyun error code to the errs vocabulary. Codes
// not listed (isv.AMOUNT_NOT_ENOUGH, InvalidAccessKeyId.NotFound,
// SignatureDoesNotMatch, isv.SMS_TEMPLATE_ILLEGAL, …) are configuration or
// account problems the user cannot fix: Internal.
func classifyAliyun(err error, code string) error {
	switch {
	case code == "isv.MOBILE_NUMBER_ILLEGAL":
		return &errs.Error{Code: errs.Invalid, Field: "phone", Message: "手机号码无效，请检查后重试", Cause: err}
	case code == "isv.BUSINESS_LIMIT_CONTROL":
		return errs.Wrap(err, errs.RateLimited, "短信发送过于频繁，请稍后再试")
	case code == "isv.DAY_LIMIT_CONTROL":
		return errs.Wrap(err, errs.RateLimited, "今日短信发送次数已达上限，请明天再试")
	case code == "Throttling" || strings.HasPrefix(code, "Throttling."):
		return errs.Wrap(err, errs.RateLimited, "短信服务繁忙，请稍后再试")
	}
	return errs.Wrap(err, errs.Internal, "短信发送失败，请稍后再试")
}

// newRequest builds a signed SendSms GET request with a fresh nonce and
// timestamp.
func (a *Aliyun) newRequest(ctx context.Context, phone, templateCode, templateParam string) (*http.Request, error) {
	nonce, err := a.nonce()
	if err != nil {
		return nil, err
	}
	params := map[string]string{
		"AccessKeyId":      a.cfg.AccessKeyID,
		"Action":           "SendSms",
		"Format":           "JSON",
		"PhoneNumbers":     phone,
		"SignName":         a.cfg.SignName,
		"SignatureMethod":  "HMAC-SHA1",
		"SignatureNonce":   nonce,
		"SignatureVersion": "1.0",
		"TemplateCode":     templateCode,
		"TemplateParam":    templateParam,
		"Timestamp":        a.now().UTC().Format("2006-01-02T15:04:05Z"),
		"Version":          "2017-05-25",
	}
	query := canonicalizedQuery(params)
	signature := rpcSignature(http.MethodGet, query, a.cfg.AccessKeySecret)
	u := a.endpoint + "?Signature=" + percentEncode(signature) + "&" + query
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("new request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	return req, nil
}

// templateParamJSON encodes params as the TemplateParam JSON object: UTF-8
// as is (Chinese is not \u-escaped), no HTML escaping of & < > in links,
// keys sorted.
func templateParamJSON(params map[string]string) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(params); err != nil {
		return "", fmt.Errorf("encode TemplateParam: %w", err)
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// canonicalizedQuery returns the parameters sorted by name, each name and
// value percent-encoded, joined as name=value&name=value: Aliyun's
// "canonicalized query string".
func canonicalizedQuery(params map[string]string) string {
	names := make([]string, 0, len(params))
	for name := range params {
		names = append(names, name)
	}
	slices.Sort(names)
	var b strings.Builder
	for i, name := range names {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(percentEncode(name))
		b.WriteByte('=')
		b.WriteString(percentEncode(params[name]))
	}
	return b.String()
}

// rpcSignature is Aliyun's RPC signature, version 1.0:
//
//	StringToSign = METHOD + "&" + percentEncode("/") + "&" + percentEncode(canonicalizedQuery)
//	Signature    = base64(HMAC-SHA1(key = secret + "&", StringToSign))
func rpcSignature(method, canonicalizedQuery, secret string) string {
	stringToSign := method + "&" + percentEncode("/") + "&" + percentEncode(canonicalizedQuery)
	mac := hmac.New(sha1.New, []byte(secret+"&"))
	mac.Write([]byte(stringToSign))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// percentEncode encodes s by RFC 3986 as Aliyun requires: the UTF-8 bytes
// A–Z a–z 0–9 - _ . ~ stay, every other byte becomes %XX (upper-case hex).
// This equals the documented recipe "URL-encode, then + → %20, * → %2A,
// %7E → ~".
func percentEncode(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9',
			c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

// randomNonce returns 16 random bytes in hex; Aliyun requires a different
// SignatureNonce for every request.
func randomNonce() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("nonce: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// validTemplateCode reports whether code looks like an Aliyun template
// code: SMS_ followed by digits.
func validTemplateCode(code string) bool {
	digits, ok := strings.CutPrefix(code, "SMS_")
	if !ok || digits == "" {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// isDialError reports whether err happened while opening the connection,
// before any byte of the request was sent.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// snippet returns the start of a body for an error message.
func snippet(body []byte) string {
	s := strings.ToValidUTF8(string(body), "?")
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}
