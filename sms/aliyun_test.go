package sms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"signet/errs"
	"signet/sms/aliyunfake"
)

const (
	testKeyID  = "LTAI5tTestKeyID"
	testSecret = "test-secret-0123456789"
	testSign   = "签网"
)

// testTemplates returns a template code for every Template, and the same
// codes mapped to their text as the fake's approved templates.
func testTemplates() (map[Template]string, map[string]string) {
	codes := map[Template]string{}
	approved := map[string]string{}
	for i, s := range Templates() {
		code := fmt.Sprintf("SMS_%09d", 460000000+i)
		codes[s.Template] = code
		approved[code] = s.Text
	}
	return codes, approved
}

// newFake starts a fake Aliyun that knows every template.
func newFake(t *testing.T) *aliyunfake.Server {
	t.Helper()
	_, approved := testTemplates()
	fake := aliyunfake.New(aliyunfake.Config{
		AccessKeyID:     testKeyID,
		AccessKeySecret: testSecret,
		SignName:        testSign,
		Templates:       approved,
	})
	t.Cleanup(fake.Close)
	return fake
}

// testConfig is a valid configuration pointing at fake.
func testConfig(fake *aliyunfake.Server) AliyunConfig {
	codes, _ := testTemplates()
	return AliyunConfig{
		Endpoint:        fake.URL(),
		AccessKeyID:     testKeyID,
		AccessKeySecret: testSecret,
		SignName:        testSign,
		Templates:       codes,
	}
}

func mustNewAliyun(t *testing.T, cfg AliyunConfig, client *http.Client) *Aliyun {
	t.Helper()
	a, err := NewAliyun(cfg, client)
	if err != nil {
		t.Fatalf("NewAliyun: %v", err)
	}
	return a
}

// TestRPCSignatureOfficialExamples checks the signing against the two
// worked examples Alibaba Cloud publishes: the SendSms example of the SMS
// documentation ("签名机制", testId/testSecret) and the DescribeRegions example
// of the generic RPC signature documentation (testid/testsecret).
func TestRPCSignatureOfficialExamples(t *testing.T) {
	tests := []struct {
		name             string
		params           map[string]string
		secret           string
		wantStringToSign string
		wantSignature    string
	}{
		{
			name: "SMS documentation, SendSms",
			params: map[string]string{
				"AccessKeyId":      "testId",
				"Action":           "SendSms",
				"Format":           "XML",
				"OutId":            "123",
				"PhoneNumbers":     "15300000001",
				"RegionId":         "cn-hangzhou",
				"SignName":         "阿里云短信测试专用",
				"SignatureMethod":  "HMAC-SHA1",
				"SignatureNonce":   "45e25e9b-0a6f-4070-8c85-2956eda1b466",
				"SignatureVersion": "1.0",
				"TemplateCode":     "SMS_71390007",
				"TemplateParam":    `{"customer":"test"}`,
				"Timestamp":        "2017-07-12T02:42:19Z",
				"Version":          "2017-05-25",
			},
			secret: "testSecret",
			wantStringToSign: "GET&%2F&AccessKeyId%3DtestId%26Action%3DSendSms%26Format%3DXML%26OutId%3D123" +
				"%26PhoneNumbers%3D15300000001%26RegionId%3Dcn-hangzhou%26SignName%3D%25E9%2598%25BF%25E9%2587%258C" +
				"%25E4%25BA%2591%25E7%259F%25AD%25E4%25BF%25A1%25E6%25B5%258B%25E8%25AF%2595%25E4%25B8%2593%25E7%2594%25A8" +
				"%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D45e25e9b-0a6f-4070-8c85-2956eda1b466" +
				"%26SignatureVersion%3D1.0%26TemplateCode%3DSMS_71390007%26TemplateParam%3D%257B%2522customer%2522%253A%2522test%2522%257D" +
				"%26Timestamp%3D2017-07-12T02%253A42%253A19Z%26Version%3D2017-05-25",
			wantSignature: "zJDF+Lrzhj/ThnlvIToysFRq6t4=",
		},
		{
			name: "RPC signature documentation, DescribeRegions",
			params: map[string]string{
				"AccessKeyId":      "testid",
				"Action":           "DescribeRegions",
				"Format":           "XML",
				"SignatureMethod":  "HMAC-SHA1",
				"SignatureNonce":   "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
				"SignatureVersion": "1.0",
				"Timestamp":        "2016-02-23T12:46:24Z",
				"Version":          "2014-05-26",
			},
			secret: "testsecret",
			wantStringToSign: "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML" +
				"%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf" +
				"%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26",
			wantSignature: "OLeaidS1JvxuMvnyHOwuJ+uX5qY=",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			query := canonicalizedQuery(tt.params)
			if got := "GET&" + percentEncode("/") + "&" + percentEncode(query); got != tt.wantStringToSign {
				t.Errorf("string to sign\n got %s\nwant %s", got, tt.wantStringToSign)
			}
			if got := rpcSignature("GET", query, tt.secret); got != tt.wantSignature {
				t.Errorf("signature %s, want %s", got, tt.wantSignature)
			}
		})
	}
}

func TestPercentEncode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"AZaz09-_.~", "AZaz09-_.~"},
		{"a b", "a%20b"},
		{"*", "%2A"},
		{"+", "%2B"},
		{"/", "%2F"},
		{"=&", "%3D%26"},
		{"2017-07-12T02:42:19Z", "2017-07-12T02%3A42%3A19Z"},
		{"张三", "%E5%BC%A0%E4%B8%89"},
		{`{"a":"b"}`, "%7B%22a%22%3A%22b%22%7D"},
		{"%", "%25"},
	}
	for _, tt := range tests {
		if got := percentEncode(tt.in); got != tt.want {
			t.Errorf("percentEncode(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNewAliyunValidation(t *testing.T) {
	codes, _ := testTemplates()
	valid := AliyunConfig{AccessKeyID: "id", AccessKeySecret: "s3cr3t-value", SignName: "签网", Templates: codes}
	without := func(t Template) map[Template]string {
		m := map[Template]string{}
		for k, v := range codes {
			if k != t {
				m[k] = v
			}
		}
		return m
	}
	with := func(t Template, code string) map[Template]string {
		m := without(t)
		m[t] = code
		return m
	}
	tests := []struct {
		name   string
		change func(*AliyunConfig)
		want   []string // substrings of the error; none means valid
	}{
		{"valid", func(*AliyunConfig) {}, nil},
		{"valid endpoint without slash", func(c *AliyunConfig) { c.Endpoint = "https://dysmsapi.aliyuncs.com" }, nil},
		{"missing template code", func(c *AliyunConfig) { c.Templates = without(TemplateSignIntent) }, []string{"template sign_intent: no template code"}},
		{"empty template code", func(c *AliyunConfig) { c.Templates = with(TemplateLogin, "") }, []string{"template login: no template code"}},
		{"malformed template code", func(c *AliyunConfig) { c.Templates = with(TemplateLogin, "SMS_12a") }, []string{`template login: code "SMS_12a"`}},
		{"unknown template", func(c *AliyunConfig) { c.Templates = with(Template("welcome"), "SMS_1") }, []string{`template "welcome": no such template`}},
		{"no templates at all", func(c *AliyunConfig) { c.Templates = nil }, []string{"template register: no template code", "template verify: no template code"}},
		{"every credential missing", func(c *AliyunConfig) { c.AccessKeyID, c.AccessKeySecret, c.SignName = "", "", "" },
			[]string{"access key id is empty", "access key secret is empty", "sign name is empty"}},
		{"endpoint with path", func(c *AliyunConfig) { c.Endpoint = "https://dysmsapi.aliyuncs.com/api" }, []string{"want no path"}},
		{"endpoint without scheme", func(c *AliyunConfig) { c.Endpoint = "dysmsapi.aliyuncs.com" }, []string{"want an http(s) URL"}},
		{"negative timeout", func(c *AliyunConfig) { c.Timeout = -time.Second }, []string{"timeout -1s is negative"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.change(&cfg)
			a, err := NewAliyun(cfg, nil)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("NewAliyun: %v", err)
				}
				if a.endpoint != DefaultAliyunEndpoint || a.cfg.Timeout != DefaultAliyunTimeout {
					t.Errorf("endpoint %q timeout %v, want the defaults", a.endpoint, a.cfg.Timeout)
				}
				return
			}
			if err == nil {
				t.Fatal("NewAliyun succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if cfg.AccessKeySecret != "" && strings.Contains(err.Error(), cfg.AccessKeySecret) {
				t.Errorf("error reveals the secret: %v", err)
			}
		})
	}
}

func TestAliyunConfigRedactsSecret(t *testing.T) {
	codes, _ := testTemplates()
	cfg := AliyunConfig{AccessKeyID: "LTAI5tVisibleID", AccessKeySecret: "hunter2-very-secret", SignName: "签网", Templates: codes}
	var jsonLog, textLog bytes.Buffer
	slog.New(slog.NewJSONHandler(&jsonLog, nil)).Info("config", "aliyun", cfg)
	slog.New(slog.NewTextHandler(&textLog, nil)).Info("config", "aliyun", cfg)
	outputs := map[string]string{
		"%v":        fmt.Sprintf("%v", cfg),
		"%+v":       fmt.Sprintf("%+v", cfg),
		"%#v":       fmt.Sprintf("%#v", cfg),
		"%s":        fmt.Sprintf("%s", cfg),
		"%v of ptr": fmt.Sprintf("%v", &cfg),
		"slog JSON": jsonLog.String(),
		"slog text": textLog.String(),
	}
	for how, out := range outputs {
		if strings.Contains(out, "hunter2") {
			t.Errorf("%s reveals the secret: %s", how, out)
		}
		if !strings.Contains(out, "LTAI5tVisibleID") || !strings.Contains(out, redacted) {
			t.Errorf("%s = %s; want the key id and %s", how, out, redacted)
		}
	}
	if !strings.Contains(jsonLog.String(), `"sign_intent":"SMS_460000005"`) {
		t.Errorf("slog JSON lacks the template codes: %s", jsonLog.String())
	}
	if cfg.AccessKeySecret != "hunter2-very-secret" {
		t.Error("redaction changed the config")
	}
}

// aliyunCode returns the Aliyun code and HTTP status in err's chain.
func aliyunCode(err error) (string, int) {
	var ae *AliyunError
	if errors.As(err, &ae) {
		return ae.Code, ae.HTTPStatus
	}
	return "", 0
}

func TestAliyunSendAgainstFake(t *testing.T) {
	login := Message{Phone: "13800138000", Template: TemplateLogin, Params: map[string]string{"code": "135790"}}
	tests := []struct {
		name       string
		msg        Message
		change     func(*AliyunConfig)
		fault      aliyunfake.Fault
		skew       time.Duration // added to the provider's clock
		wantCode   errs.Code     // "" means success
		wantMsg    string        // user-facing message
		wantField  string
		wantAliyun string // Aliyun code in the cause
		wantStatus int    // HTTP status in the cause
		wantReqs   int    // requests the fake received
	}{
		{name: "success", msg: login, wantReqs: 1},
		{name: "wrong secret", msg: login, change: func(c *AliyunConfig) { c.AccessKeySecret = "not-the-secret" },
			wantCode: errs.Internal, wantMsg: "系统繁忙，请稍后再试", wantAliyun: "SignatureDoesNotMatch", wantStatus: 400, wantReqs: 1},
		{name: "unknown access key", msg: login, change: func(c *AliyunConfig) { c.AccessKeyID = "LTAI5tSomeoneElse" },
			wantCode: errs.Internal, wantAliyun: "InvalidAccessKeyId.NotFound", wantStatus: 404, wantReqs: 1},
		{name: "clock 20 minutes slow", msg: login, skew: -20 * time.Minute,
			wantCode: errs.Internal, wantAliyun: "InvalidTimeStamp.Expired", wantStatus: 400, wantReqs: 1},
		{name: "clock 10 minutes fast is accepted", msg: login, skew: 10 * time.Minute, wantReqs: 1},
		{name: "sign name not approved", msg: login, change: func(c *AliyunConfig) { c.SignName = "别家" },
			wantCode: errs.Internal, wantAliyun: "isv.SMS_SIGNATURE_ILLEGAL", wantStatus: 200, wantReqs: 1},
		{name: "template code not approved", msg: login, change: func(c *AliyunConfig) { c.Templates[TemplateLogin] = "SMS_1" },
			wantCode: errs.Internal, wantAliyun: "isv.SMS_TEMPLATE_ILLEGAL", wantStatus: 200, wantReqs: 1},
		{name: "business limit", msg: login, fault: aliyunfake.Fault{Code: "isv.BUSINESS_LIMIT_CONTROL", Message: "触发小时级流控Permits:5"},
			wantCode: errs.RateLimited, wantMsg: "短信发送过于频繁，请稍后再试", wantAliyun: "isv.BUSINESS_LIMIT_CONTROL", wantStatus: 200, wantReqs: 1},
		{name: "daily limit", msg: login, fault: aliyunfake.Fault{Code: "isv.DAY_LIMIT_CONTROL"},
			wantCode: errs.RateLimited, wantMsg: "今日短信发送次数已达上限，请明天再试", wantAliyun: "isv.DAY_LIMIT_CONTROL", wantStatus: 200, wantReqs: 1},
		{name: "API throttling", msg: login, fault: aliyunfake.Fault{HTTPStatus: 400, Code: "Throttling.User"},
			wantCode: errs.RateLimited, wantAliyun: "Throttling.User", wantStatus: 400, wantReqs: 1},
		{name: "number refused by Aliyun", msg: login, fault: aliyunfake.Fault{Code: "isv.MOBILE_NUMBER_ILLEGAL"},
			wantCode: errs.Invalid, wantMsg: "手机号码无效，请检查后重试", wantField: "phone", wantAliyun: "isv.MOBILE_NUMBER_ILLEGAL", wantStatus: 200, wantReqs: 1},
		{name: "balance exhausted", msg: login, fault: aliyunfake.Fault{Code: "isv.AMOUNT_NOT_ENOUGH"},
			wantCode: errs.Internal, wantAliyun: "isv.AMOUNT_NOT_ENOUGH", wantStatus: 200, wantReqs: 1},
		{name: "HTTP 500 is not retried", msg: login, fault: aliyunfake.Fault{HTTPStatus: 500},
			wantCode: errs.Internal, wantMsg: "系统繁忙，请稍后再试", wantAliyun: "InternalError", wantStatus: 500, wantReqs: 1},
		{name: "HTTP 503", msg: login, fault: aliyunfake.Fault{HTTPStatus: 503, Code: "ServiceUnavailable"},
			wantCode: errs.Internal, wantAliyun: "ServiceUnavailable", wantStatus: 503, wantReqs: 1},
		{name: "bad phone is refused before any call", msg: Message{Phone: "1380013800", Template: TemplateLogin, Params: map[string]string{"code": "1"}},
			wantCode: errs.Invalid, wantMsg: "手机号码格式不正确", wantField: "phone", wantReqs: 0},
		{name: "missing parameter is refused before any call", msg: Message{Phone: "13800138000", Template: TemplateSignIntent, Params: map[string]string{"code": "123456"}},
			wantCode: errs.Internal, wantReqs: 0},
		{name: "unknown template is refused before any call", msg: Message{Phone: "13800138000", Template: "welcome", Params: map[string]string{"code": "123456"}},
			wantCode: errs.Internal, wantReqs: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake(t)
			fake.SetFault(tt.fault)
			cfg := testConfig(fake)
			if tt.change != nil {
				tt.change(&cfg)
			}
			a := mustNewAliyun(t, cfg, nil)
			a.now = func() time.Time { return time.Now().Add(tt.skew) }

			err := a.Send(context.Background(), tt.msg)

			if got := errs.CodeOf(err); got != tt.wantCode {
				t.Fatalf("Send error %v: code %q, want %q", err, got, tt.wantCode)
			}
			if got := len(fake.Requests()); got != tt.wantReqs {
				t.Errorf("fake received %d requests, want %d", got, tt.wantReqs)
			}
			if tt.wantCode == "" {
				msgs := fake.Messages()
				want, _ := RenderSigned(testSign, tt.msg.Template, tt.msg.Params)
				if len(msgs) != 1 || msgs[0].Phone != tt.msg.Phone || msgs[0].Text != want {
					t.Errorf("fake delivered %+v, want one message to %s reading %q", msgs, tt.msg.Phone, want)
				}
				return
			}
			if len(fake.Messages()) != 0 {
				t.Errorf("fake delivered %+v after a failure", fake.Messages())
			}
			if tt.wantMsg != "" {
				if got := errs.MessageOf(err); got != tt.wantMsg {
					t.Errorf("message %q, want %q", got, tt.wantMsg)
				}
			}
			if e := errs.As(err); e.Field != tt.wantField {
				t.Errorf("field %q, want %q", e.Field, tt.wantField)
			}
			code, status := aliyunCode(err)
			if code != tt.wantAliyun || status != tt.wantStatus {
				t.Errorf("cause has Aliyun code %q HTTP %d, want %q HTTP %d (error: %v)", code, status, tt.wantAliyun, tt.wantStatus, err)
			}
			if strings.Contains(err.Error(), cfg.AccessKeySecret) {
				t.Errorf("error reveals the secret: %v", err)
			}
		})
	}
}

// TestAliyunSendsEveryTemplate sends each template through the fake, whose
// approved texts are the table's: every parameter arrives and the text the
// phone shows is what Render says.
func TestAliyunSendsEveryTemplate(t *testing.T) {
	fake := newFake(t)
	a := mustNewAliyun(t, testConfig(fake), nil)
	for i, s := range Templates() {
		params := map[string]string{}
		for _, p := range s.Params {
			params[p] = fmt.Sprintf("%s-%d", p, i)
		}
		if err := a.Send(context.Background(), Message{Phone: "13900139000", Template: s.Template, Params: params}); err != nil {
			t.Fatalf("Send %s: %v", s.Template, err)
		}
		msgs := fake.Messages()
		got := msgs[len(msgs)-1]
		want, _ := RenderSigned(testSign, s.Template, params)
		if got.Text != want || got.TemplateCode != a.cfg.Templates[s.Template] {
			t.Errorf("%s: delivered %q with %s, want %q with %s", s.Template, got.Text, got.TemplateCode, want, a.cfg.Templates[s.Template])
		}
	}
}

func TestAliyunTemplateParamJSON(t *testing.T) {
	fake := newFake(t)
	a := mustNewAliyun(t, testConfig(fake), nil)
	msg := Message{Phone: "13800138000", Template: TemplateSignLink, Params: map[string]string{
		"sender":   "张三（杭州某某科技有限公司）",
		"contract": "房屋租赁合同<补充协议>",
		"link":     "https://signet.example/s/Ab3x?c=1&d=2",
	}}
	if err := a.Send(context.Background(), msg); err != nil {
		t.Fatalf("Send: %v", err)
	}
	msgs := fake.Messages()
	if len(msgs) != 1 {
		t.Fatalf("fake delivered %d messages, want 1", len(msgs))
	}
	want := `{"contract":"房屋租赁合同<补充协议>","link":"https://signet.example/s/Ab3x?c=1&d=2","sender":"张三（杭州某某科技有限公司）"}`
	if got := msgs[0].TemplateParam; got != want {
		t.Errorf("TemplateParam\n got %s\nwant %s", got, want)
	}
	var decoded map[string]string
	if err := json.Unmarshal([]byte(msgs[0].TemplateParam), &decoded); err != nil || fmt.Sprint(decoded) != fmt.Sprint(msg.Params) {
		t.Errorf("TemplateParam decodes to %v (%v), want %v", decoded, err, msg.Params)
	}
	// On the wire the UTF-8 bytes are percent-encoded, and a space would be
	// %20, never "+".
	raw := fake.Requests()[0].RawQuery
	if !strings.Contains(raw, "%E5%BC%A0%E4%B8%89") || strings.Contains(raw, "+") {
		t.Errorf("query %s: want 张三 as %%E5%%BC%%A0%%E4%%B8%%89 and no '+'", raw)
	}
	if !strings.Contains(raw, "SignName=%E7%AD%BE%E7%BD%91") {
		t.Errorf("query %s: want SignName 签网 percent-encoded", raw)
	}
}

func TestAliyunTimeout(t *testing.T) {
	tests := []struct {
		name       string
		ctxTimeout time.Duration // 0: no deadline on the caller's context
		cfgTimeout time.Duration
	}{
		{name: "caller's deadline", ctxTimeout: 200 * time.Millisecond},
		{name: "configured timeout", cfgTimeout: 200 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake(t)
			fake.SetFault(aliyunfake.Fault{Delay: 10 * time.Second})
			cfg := testConfig(fake)
			cfg.Timeout = tt.cfgTimeout
			a := mustNewAliyun(t, cfg, nil)
			ctx := context.Background()
			if tt.ctxTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxTimeout)
				defer cancel()
			}
			start := time.Now()
			err := a.Send(ctx, Message{Phone: "13800138000", Template: TemplateLogin, Params: map[string]string{"code": "123456"}})
			elapsed := time.Since(start)
			if got := errs.CodeOf(err); got != errs.Internal {
				t.Fatalf("Send error %v: code %q, want INTERNAL", err, got)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
			}
			if elapsed > 3*time.Second {
				t.Errorf("Send took %v, want about 200ms", elapsed)
			}
			if n := len(fake.Requests()); n > 1 {
				t.Errorf("fake received %d requests, want no retry after a timeout", n)
			}
		})
	}
}

// TestAliyunNonceReplay checks that the fake, like Aliyun, refuses a request
// whose SignatureNonce was used, and that the provider uses a fresh nonce
// for every request.
func TestAliyunNonceReplay(t *testing.T) {
	fake := newFake(t)
	a := mustNewAliyun(t, testConfig(fake), nil)
	msg := Message{Phone: "13800138000", Template: TemplateLogin, Params: map[string]string{"code": "123456"}}
	for range 2 {
		if err := a.Send(context.Background(), msg); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	reqs := fake.Requests()
	if n1, n2 := reqs[0].Query.Get("SignatureNonce"), reqs[1].Query.Get("SignatureNonce"); n1 == n2 || len(n1) != 32 {
		t.Errorf("nonces %q and %q: want two different 32-character nonces", n1, n2)
	}

	// A captured request replayed as is: signed correctly, nonce used.
	resp, err := http.Get(fake.URL() + "?" + reqs[0].RawQuery)
	if err != nil {
		t.Fatal(err)
	}
	var body struct{ Code string }
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != 400 || body.Code != "SignatureNonceUsed" {
		t.Errorf("replay answered HTTP %d %q, want 400 SignatureNonceUsed", resp.StatusCode, body.Code)
	}

	// A provider that repeats its nonce is refused the second time.
	a.nonce = func() (string, error) { return "fixed-nonce-0001", nil }
	if err := a.Send(context.Background(), msg); err != nil {
		t.Fatalf("first send with the fixed nonce: %v", err)
	}
	err = a.Send(context.Background(), msg)
	if code, _ := aliyunCode(err); errs.CodeOf(err) != errs.Internal || code != "SignatureNonceUsed" {
		t.Errorf("second send with the same nonce: %v; want INTERNAL caused by SignatureNonceUsed", err)
	}
	if got := len(fake.Messages()); got != 3 {
		t.Errorf("fake delivered %d messages, want 3 (no replay delivered)", got)
	}
}

// TestAliyunRetriesOnceOnDialError makes the first connection attempts fail
// for real (a closed port) and checks that Send retries exactly once.
func TestAliyunRetriesOnceOnDialError(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := closed.Addr().String()
	closed.Close()

	tests := []struct {
		name      string
		failDials int64 // leading dials that go to the closed port
		wantDials int64
		wantCode  errs.Code
	}{
		{name: "first dial fails, retry succeeds", failDials: 1, wantDials: 2},
		{name: "both dials fail", failDials: 2, wantDials: 2, wantCode: errs.Internal},
		{name: "no failure, one dial", failDials: 0, wantDials: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake(t)
			var dials atomic.Int64
			var d net.Dialer
			client := &http.Client{Transport: &http.Transport{
				DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					if dials.Add(1) <= tt.failDials {
						addr = deadAddr
					}
					return d.DialContext(ctx, network, addr)
				},
			}}
			a := mustNewAliyun(t, testConfig(fake), client)
			err := a.Send(context.Background(), Message{Phone: "13800138000", Template: TemplateLogin, Params: map[string]string{"code": "123456"}})
			if got := errs.CodeOf(err); got != tt.wantCode {
				t.Fatalf("Send error %v: code %q, want %q", err, got, tt.wantCode)
			}
			if got := dials.Load(); got != tt.wantDials {
				t.Errorf("%d dials, want %d", got, tt.wantDials)
			}
			wantDelivered := 1
			if tt.wantCode != "" {
				wantDelivered = 0
			}
			if got := len(fake.Messages()); got != wantDelivered {
				t.Errorf("fake delivered %d messages, want %d", got, wantDelivered)
			}
		})
	}
}

// TestAliyunUnreadableAnswers covers answers the fake never gives: a proxy's
// HTML error page and a 200 that is not JSON.
func TestAliyunUnreadableAnswers(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		wantStatus int
	}{
		{"502 HTML from a proxy", 502, "<html><body>Bad Gateway</body></html>", 502},
		{"200 not JSON", 200, "<Response>OK</Response>", 200},
		{"200 JSON without Code", 200, `{"RequestId":"X"}`, 200},
		{"403 JSON without Code", 403, `{}`, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			cfg := testConfig(newFake(t))
			cfg.Endpoint = srv.URL
			err := mustNewAliyun(t, cfg, nil).Send(context.Background(),
				Message{Phone: "13800138000", Template: TemplateLogin, Params: map[string]string{"code": "123456"}})
			if got := errs.CodeOf(err); got != errs.Internal {
				t.Fatalf("Send error %v: code %q, want INTERNAL", err, got)
			}
			var ae *AliyunError
			if !errors.As(err, &ae) || ae.HTTPStatus != tt.wantStatus || !strings.Contains(ae.Message, strings.TrimSpace(tt.body)[:2]) {
				t.Errorf("cause %+v, want HTTP %d with the body's start", ae, tt.wantStatus)
			}
		})
	}
}
