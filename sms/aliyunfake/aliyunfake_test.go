package aliyunfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestSignOfficialExample checks the fake's own signing against the SendSms
// example in Alibaba Cloud's SMS documentation.
func TestSignOfficialExample(t *testing.T) {
	q := url.Values{}
	for k, v := range map[string]string{
		"AccessKeyId": "testId", "Action": "SendSms", "Format": "XML", "OutId": "123",
		"PhoneNumbers": "15300000001", "RegionId": "cn-hangzhou", "SignName": "阿里云短信测试专用",
		"SignatureMethod": "HMAC-SHA1", "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
		"SignatureVersion": "1.0", "TemplateCode": "SMS_71390007", "TemplateParam": `{"customer":"test"}`,
		"Timestamp": "2017-07-12T02:42:19Z", "Version": "2017-05-25",
		"Signature": "ignored when signing",
	} {
		q.Set(k, v)
	}
	if got, want := Sign("GET", q, "testSecret"), "zJDF+Lrzhj/ThnlvIToysFRq6t4="; got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
	if got := StringToSign("GET", q); !strings.HasPrefix(got, "GET&%2F&AccessKeyId%3DtestId%26Action%3DSendSms%26") ||
		!strings.Contains(got, "%26SignName%3D%25E9%2598%25BF") || strings.Contains(got, "Signature%3Dignored") {
		t.Errorf("StringToSign = %s", got)
	}
}

var fixedNow = time.Date(2026, 11, 27, 2, 30, 0, 0, time.UTC)

func newTestServer(t *testing.T) *Server {
	t.Helper()
	s := New(Config{
		AccessKeyID:     "id",
		AccessKeySecret: "secret",
		SignName:        "签网",
		Templates: map[string]string{
			"SMS_1": "您的验证码为${code}，5分钟内有效。",
			"SMS_2": "${sender}邀请您签署《${contract}》。",
		},
		Now: func() time.Time { return fixedNow },
	})
	t.Cleanup(s.Close)
	return s
}

var nonceSeq atomic.Int64

// request returns a correctly signed SendSms query after applying change
// (which may set "" to delete a parameter), re-signing unless change set
// Signature itself.
func request(change map[string]string) url.Values {
	q := url.Values{}
	for k, v := range map[string]string{
		"AccessKeyId": "id", "Action": "SendSms", "Format": "JSON", "PhoneNumbers": "13800138000",
		"SignName": "签网", "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0",
		"SignatureNonce": fmt.Sprintf("nonce-%d", nonceSeq.Add(1)), "TemplateCode": "SMS_1",
		"TemplateParam": `{"code":"123456"}`, "Timestamp": fixedNow.Format("2006-01-02T15:04:05Z"),
		"Version": "2017-05-25",
	} {
		q.Set(k, v)
	}
	for k, v := range change {
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
	}
	if _, own := change["Signature"]; !own {
		q.Set("Signature", Sign("GET", q, "secret"))
	}
	return q
}

type reply struct {
	Status int
	Code   string
	BizID  string `json:"BizId"`
}

func get(t *testing.T, s *Server, q url.Values) reply {
	t.Helper()
	resp, err := http.Get(s.URL() + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := reply{Status: resp.StatusCode}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("answer is not JSON: %v", err)
	}
	return r
}

func TestServerChecks(t *testing.T) {
	tests := []struct {
		name       string
		change     map[string]string
		wantStatus int
		wantCode   string
		wantMsgs   int
	}{
		{"valid", nil, 200, "OK", 1},
		{"several numbers, with and without +86", map[string]string{"PhoneNumbers": "13800138000,+8613900139000,008615000000000"}, 200, "OK", 3},
		{"other action", map[string]string{"Action": "QuerySendDetails"}, 404, "InvalidApi.NotFound", 0},
		{"other version", map[string]string{"Version": "2023-01-01"}, 400, "InvalidVersion", 0},
		{"XML", map[string]string{"Format": "XML"}, 400, "InvalidParameter.Format", 0},
		{"no phone", map[string]string{"PhoneNumbers": ""}, 400, "MissingPhoneNumbers", 0},
		{"no signature", map[string]string{"Signature": ""}, 400, "MissingSignature", 0},
		{"no nonce", map[string]string{"SignatureNonce": ""}, 400, "MissingSignatureNonce", 0},
		{"SHA-256", map[string]string{"SignatureMethod": "HMAC-SHA256"}, 400, "InvalidSignatureMethod", 0},
		{"timestamp with offset", map[string]string{"Timestamp": "2026-11-27T10:30:00+08:00"}, 400, "InvalidTimeStamp.Format", 0},
		{"timestamp 16 minutes old", map[string]string{"Timestamp": fixedNow.Add(-16 * time.Minute).Format("2006-01-02T15:04:05Z")}, 400, "InvalidTimeStamp.Expired", 0},
		{"timestamp 16 minutes ahead", map[string]string{"Timestamp": fixedNow.Add(16 * time.Minute).Format("2006-01-02T15:04:05Z")}, 400, "InvalidTimeStamp.Expired", 0},
		{"timestamp 14 minutes old", map[string]string{"Timestamp": fixedNow.Add(-14 * time.Minute).Format("2006-01-02T15:04:05Z")}, 200, "OK", 1},
		{"unknown key", map[string]string{"AccessKeyId": "other"}, 404, "InvalidAccessKeyId.NotFound", 0},
		{"forged signature", map[string]string{"Signature": "zJDF+Lrzhj/ThnlvIToysFRq6t4="}, 400, "SignatureDoesNotMatch", 0},
		{"other sign name", map[string]string{"SignName": "阿里云"}, 200, "isv.SMS_SIGNATURE_ILLEGAL", 0},
		{"unknown template", map[string]string{"TemplateCode": "SMS_9"}, 200, "isv.SMS_TEMPLATE_ILLEGAL", 0},
		{"TemplateParam not JSON", map[string]string{"TemplateParam": "code=1"}, 200, "isv.INVALID_JSON_PARAM", 0},
		{"TemplateParam number", map[string]string{"TemplateParam": `{"code":123456}`}, 200, "isv.INVALID_JSON_PARAM", 0},
		{"variable missing", map[string]string{"TemplateCode": "SMS_2", "TemplateParam": `{"sender":"张三"}`}, 200, "isv.TEMPLATE_MISSING_PARAMETERS", 0},
		{"landline", map[string]string{"PhoneNumbers": "02161234567"}, 200, "isv.MOBILE_NUMBER_ILLEGAL", 0},
		{"one bad number in the list", map[string]string{"PhoneNumbers": "13800138000,1380013800"}, 200, "isv.MOBILE_NUMBER_ILLEGAL", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestServer(t)
			got := get(t, s, request(tt.change))
			if got.Status != tt.wantStatus || got.Code != tt.wantCode {
				t.Errorf("answer HTTP %d %q, want HTTP %d %q", got.Status, got.Code, tt.wantStatus, tt.wantCode)
			}
			if n := len(s.Messages()); n != tt.wantMsgs {
				t.Errorf("%d messages recorded, want %d", n, tt.wantMsgs)
			}
			reqs := s.Requests()
			if len(reqs) != 1 || reqs[0].Code != tt.wantCode || reqs[0].HTTPStatus != tt.wantStatus {
				t.Errorf("requests recorded %+v, want one answered HTTP %d %q", reqs, tt.wantStatus, tt.wantCode)
			}
		})
	}
}

func TestServerRecordsMessage(t *testing.T) {
	s := newTestServer(t)
	q := request(map[string]string{"TemplateCode": "SMS_2", "TemplateParam": `{"sender":"张三","contract":"劳动合同","extra":"x"}`, "OutId": "o-1"})
	r := get(t, s, q)
	if r.Code != "OK" || r.BizID == "" {
		t.Fatalf("answer %+v, want OK with a BizId", r)
	}
	msgs := s.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.Text != "【签网】张三邀请您签署《劳动合同》。" || m.Phone != "13800138000" || m.OutID != "o-1" ||
		m.BizID != r.BizID || m.TemplateCode != "SMS_2" || m.Params["contract"] != "劳动合同" || !m.ReceivedAt.Equal(fixedNow) {
		t.Errorf("message %+v", m)
	}
}

func TestServerNonces(t *testing.T) {
	s := newTestServer(t)
	// A request with a bad signature does not use up its nonce.
	bad := request(map[string]string{"SignatureNonce": "n-1", "Signature": "AAAA"})
	if r := get(t, s, bad); r.Code != "SignatureDoesNotMatch" {
		t.Fatalf("bad signature answered %q", r.Code)
	}
	good := request(map[string]string{"SignatureNonce": "n-1"})
	if r := get(t, s, good); r.Code != "OK" {
		t.Fatalf("first use of nonce n-1 answered %q, want OK", r.Code)
	}
	if r := get(t, s, good); r.Status != 400 || r.Code != "SignatureNonceUsed" {
		t.Errorf("replay answered HTTP %d %q, want 400 SignatureNonceUsed", r.Status, r.Code)
	}
	if n := len(s.Messages()); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
}

func TestServerPOSTForm(t *testing.T) {
	s := newTestServer(t)
	q := request(nil)
	q.Set("Signature", Sign("POST", q, "secret"))
	resp, err := http.PostForm(s.URL(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r reply
	json.NewDecoder(resp.Body).Decode(&r)
	if resp.StatusCode != 200 || r.Code != "OK" {
		t.Errorf("POST answered HTTP %d %q, want 200 OK", resp.StatusCode, r.Code)
	}
}

func TestServerFaults(t *testing.T) {
	s := newTestServer(t)
	s.SetFault(Fault{Code: "isv.BUSINESS_LIMIT_CONTROL", Times: 2})
	want := []reply{
		{200, "isv.BUSINESS_LIMIT_CONTROL", ""},
		{200, "isv.BUSINESS_LIMIT_CONTROL", ""},
		{200, "OK", ""},
	}
	for i, w := range want {
		got := get(t, s, request(nil))
		if got.Status != w.Status || got.Code != w.Code {
			t.Errorf("request %d answered HTTP %d %q, want HTTP %d %q", i, got.Status, got.Code, w.Status, w.Code)
		}
	}
	s.SetFault(Fault{HTTPStatus: 500})
	if got := get(t, s, request(nil)); got.Status != 500 || got.Code != "InternalError" {
		t.Errorf("500 fault answered HTTP %d %q", got.Status, got.Code)
	}
	// Faults apply only to requests that pass the checks.
	if got := get(t, s, request(map[string]string{"Signature": "AAAA"})); got.Code != "SignatureDoesNotMatch" {
		t.Errorf("bad signature under a fault answered %q", got.Code)
	}
	s.SetFault(Fault{})
	if got := get(t, s, request(nil)); got.Code != "OK" {
		t.Errorf("after clearing the fault answered %q", got.Code)
	}
	if n := len(s.Messages()); n != 2 {
		t.Errorf("%d messages, want 2", n)
	}
}

func TestServerDelay(t *testing.T) {
	s := newTestServer(t)
	s.SetFault(Fault{Delay: 150 * time.Millisecond, Times: 1})
	start := time.Now()
	if got := get(t, s, request(nil)); got.Code != "OK" {
		t.Errorf("delayed request answered %q, want OK", got.Code)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("answered after %v, want at least 150ms", d)
	}

	// Close does not wait for a long delay to run out.
	s.SetFault(Fault{Delay: time.Minute})
	errc := make(chan error, 1)
	go func() {
		resp, err := http.Get(s.URL() + "?" + request(nil).Encode())
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	for deadline := time.Now().Add(5 * time.Second); !s.holding(); {
		if time.Now().After(deadline) {
			t.Fatal("the delayed request never arrived")
		}
		time.Sleep(5 * time.Millisecond)
	}
	closeStart := time.Now()
	s.Close()
	if d := time.Since(closeStart); d > 2*time.Second {
		t.Errorf("Close took %v with a delayed request open", d)
	}
	if err := <-errc; err == nil {
		t.Error("a request held when the server closed got an answer")
	}
	reqs := s.Requests()
	if last := reqs[len(reqs)-1]; last.HTTPStatus != 0 {
		t.Errorf("abandoned request recorded with HTTP %d, want 0", last.HTTPStatus)
	}
}
