package sms_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"

	"signet/sms"
	"signet/sms/aliyunfake"
)

// The real Aliyun provider pointed at the local fake, as an end-to-end test
// of the server can wire it: the fake approves the template table's texts
// under made-up codes.
func ExampleNewAliyun() {
	codes := map[sms.Template]string{}
	approved := map[string]string{}
	for i, s := range sms.Templates() {
		code := fmt.Sprintf("SMS_%d", 100+i)
		codes[s.Template] = code
		approved[code] = s.Text
	}
	fake := aliyunfake.New(aliyunfake.Config{
		AccessKeyID: "LTAI-example", AccessKeySecret: "example-secret",
		SignName: "签网", Templates: approved,
	})
	defer fake.Close()

	provider, err := sms.NewAliyun(sms.AliyunConfig{
		Endpoint:    fake.URL(),
		AccessKeyID: "LTAI-example", AccessKeySecret: "example-secret",
		SignName: "签网", Templates: codes,
	}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	err = provider.Send(context.Background(), sms.Message{
		Phone: "13800138000", Template: sms.TemplateLogin, Params: map[string]string{"code": "480620"},
	})
	fmt.Println(err)
	for _, m := range fake.Messages() {
		fmt.Println(m.Phone, m.Text)
	}
	// Output:
	// <nil>
	// 13800138000 【签网】您的登录验证码为480620，5分钟内有效，请勿泄露给他人。
}

// The development outbox and its handler, as the server mounts it at
// /dev/outbox.
func ExampleOutboxHandler() {
	store := sms.NewMemoryOutboxStore(0)
	outbox := sms.NewOutbox(store, nil)
	_ = outbox.Send(context.Background(), sms.Message{
		Phone: "13800138000", Template: sms.TemplateRegister, Params: map[string]string{"code": "123456"},
	})

	rec := httptest.NewRecorder()
	sms.OutboxHandler(store).ServeHTTP(rec, httptest.NewRequest("GET", "/dev/outbox?phone=13800138000", nil))
	fmt.Println(rec.Code, strings.Contains(rec.Body.String(), `"text":"【签网】您的注册验证码为123456，5分钟内有效，请勿泄露给他人。"`))

	rec = httptest.NewRecorder()
	sms.OutboxHandler(store).ServeHTTP(rec, httptest.NewRequest("GET", "/dev/outbox", nil))
	fmt.Print(rec.Code, " ", rec.Body.String())
	// Output:
	// 200 true
	// 400 {"error":{"code":"INVALID_ARGUMENT","message":"请提供手机号码（phone 参数）","field":"phone"}}
}
