// Package sms sends text messages to mainland Chinese mobile phones.
//
// Callers (accounts, notifications) describe a message as a logical Template
// with parameters; a Provider turns it into a real SMS. Two providers exist:
// Outbox, the development default, which stores and logs messages instead of
// sending them, and Aliyun, which calls Alibaba Cloud's Dysmsapi SendSms API.
// The subpackage aliyunfake is a local stand-in for that API for tests.
//
// The wording of every template lives in one table (Templates). For a real
// provider each template must be registered with the provider under the same
// text and parameter names; the provider's template code is configuration.
//
// Send calls are slow, external calls: callers must not hold a database
// transaction open across them (see STYLE.md, practice 6).
package sms

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Message is one SMS to send: a logical template with parameters.
type Message struct {
	Phone    string            // mainland mobile, 11 digits, no +86
	Template Template          // logical template name
	Params   map[string]string // e.g. {"code": "123456"}
}

// Template names a kind of message. The provider-specific template (its code
// at Aliyun, say) is looked up from this name.
type Template string

// The templates Signet sends. Templates lists their text and parameters.
const (
	TemplateRegister       Template = "register"         // 注册验证码: code
	TemplateLogin          Template = "login"            // 登录验证码: code
	TemplateResetPassword  Template = "reset_password"   // 重置密码验证码: code
	TemplateChangePhoneOld Template = "change_phone_old" // 更换手机号，原号码验证: code
	TemplateChangePhoneNew Template = "change_phone_new" // 更换手机号，新号码验证: code
	TemplateSignIntent     Template = "sign_intent"      // 意愿认证: code, contract, fingerprint
	TemplateSignLink       Template = "sign_link"        // 签署通知/催办: sender, contract, link
	TemplateGeneric        Template = "verify"           // other verification codes: code

	TemplateEnterpriseAuthCode Template = "ent_auth_code"     // 企业证书授权码（法定代表人）: enterprise, code
	TemplateCertApplyConfirm   Template = "ent_apply_confirm" // 证书申请签名确认（经办人）: enterprise, code
	TemplateCertResult         Template = "ent_cert_result"   // 企业认证审核结果: enterprise, result
	TemplateJoinResult         Template = "ent_join_result"   // 加入企业审核结果: enterprise, result

	TemplateFlowCC        Template = "flow_cc"        // 抄送通知: sender, contract, link
	TemplateFlowCompleted Template = "flow_completed" // 签署完成通知（发起方、抄送人）: contract, link
	TemplateFlowExpired   Template = "flow_expired"   // 合同过期通知（发起方）: contract
)

// DefaultSignName is the SMS signature (签名, the 【…】 prefix) used when
// none is configured: the product's name.
const DefaultSignName = "签网"

// Provider sends messages.
//
// Send returns nil once the provider has accepted the message, or an error
// classified with package errs: Invalid (field "phone") for a phone number
// that is not a mainland mobile number, RateLimited when the provider
// throttles the number, and Internal for everything else (outage, timeout,
// misconfiguration), whose user-facing message is "短信发送失败，请稍后再试".
type Provider interface {
	Send(ctx context.Context, m Message) error
}

// BatchProvider is a Provider that takes several messages in one call: the
// outbox keeps them with one insert. SendBatch returns one outcome per
// message, errs[i] being what Send would have returned for ms[i]; one
// message's refusal does not hold back the others.
type BatchProvider interface {
	Provider
	SendBatch(ctx context.Context, ms []Message) []error
}

// SendAll sends ms through p — in one call when p is a BatchProvider, one
// by one otherwise — and returns each message's outcome as SendBatch does.
func SendAll(ctx context.Context, p Provider, ms []Message) []error {
	if b, ok := p.(BatchProvider); ok {
		return b.SendBatch(ctx, ms)
	}
	errs := make([]error, len(ms))
	for i, m := range ms {
		errs[i] = p.Send(ctx, m)
	}
	return errs
}

// TemplateSpec describes one template: its purpose, its text without the
// signature, and the parameters the text uses.
type TemplateSpec struct {
	Template Template
	Purpose  string   // what the message is for, in Chinese
	Text     string   // body with ${param} placeholders; the 【签名】 prefix is added when rendering
	Params   []string // every placeholder in Text, in order of first use
}

// Templates returns the table of every template, in a stable order. The
// result is a fresh copy; changing it changes nothing else.
func Templates() []TemplateSpec {
	specs := []TemplateSpec{
		{TemplateRegister, "注册验证码",
			"您的注册验证码为${code}，5分钟内有效，请勿泄露给他人。", nil},
		{TemplateLogin, "登录验证码",
			"您的登录验证码为${code}，5分钟内有效，请勿泄露给他人。", nil},
		{TemplateResetPassword, "重置密码验证码",
			"您正在重置登录密码，验证码为${code}，5分钟内有效，请勿泄露给他人。", nil},
		{TemplateChangePhoneOld, "更换手机号（原号码验证）",
			"您正在更换账号绑定的手机号，验证码为${code}，5分钟内有效。如非本人操作，请立即修改密码。", nil},
		{TemplateChangePhoneNew, "更换手机号（新号码验证）",
			"您正在将本号码绑定为签网账号的手机号，验证码为${code}，5分钟内有效，请勿泄露给他人。", nil},
		{TemplateSignIntent, "签署意愿认证",
			"您正在签署《${contract}》（文件指纹${fingerprint}），验证码为${code}，5分钟内有效。请核对合同无误后再输入，切勿告知他人。", nil},
		{TemplateSignLink, "签署通知与催办",
			"${sender}邀请您签署《${contract}》，请打开 ${link} 查看并签署。", nil},
		{TemplateGeneric, "通用验证码",
			"您的验证码为${code}，5分钟内有效，请勿泄露给他人。", nil},
		{TemplateEnterpriseAuthCode, "企业证书授权码（发送给法定代表人）",
			"${enterprise}正在申请企业数字证书，证书授权码为${code}，5分钟内有效。如非您本人授权，请勿告知他人。", nil},
		{TemplateCertApplyConfirm, "证书申请签名确认（发送给经办人）",
			"您正在确认${enterprise}的证书申请，验证码为${code}，5分钟内有效，请勿泄露给他人。", nil},
		{TemplateCertResult, "企业认证审核结果",
			"您为${enterprise}提交的企业认证申请${result}。", nil},
		{TemplateJoinResult, "加入企业审核结果",
			"您申请加入${enterprise}的请求${result}。", nil},
		{TemplateFlowCC, "抄送通知",
			"${sender}发起的《${contract}》已抄送给您，请打开 ${link} 查看。", nil},
		{TemplateFlowCompleted, "签署完成通知",
			"《${contract}》已签署完成，请打开 ${link} 查看。", nil},
		{TemplateFlowExpired, "合同过期通知",
			"您发起的《${contract}》已超过签署截止时间且未签署完成，合同已过期。", nil},
	}
	for i := range specs {
		specs[i].Params = placeholders(specs[i].Text)
	}
	return specs
}

// Spec returns the table entry for t.
func Spec(t Template) (TemplateSpec, bool) {
	for _, s := range Templates() {
		if s.Template == t {
			return s, true
		}
	}
	return TemplateSpec{}, false
}

// Render returns the full text of t with params substituted, signed with
// DefaultSignName, e.g. "【签网】您的注册验证码为123456，…". It fails when t is
// unknown, when a parameter the text uses is missing or empty, or when params
// holds a name the text does not use (a misspelt name would otherwise be
// silently dropped).
func Render(t Template, params map[string]string) (string, error) {
	return RenderSigned(DefaultSignName, t, params)
}

// RenderSigned is Render with an explicit signature (签名).
func RenderSigned(signName string, t Template, params map[string]string) (string, error) {
	spec, ok := Spec(t)
	if !ok {
		return "", fmt.Errorf("sms: render: unknown template %q", t)
	}
	if err := spec.check(params); err != nil {
		return "", fmt.Errorf("sms: render %s: %w", t, err)
	}
	var b strings.Builder
	b.WriteString("【" + signName + "】")
	rest := spec.Text
	for {
		i := strings.Index(rest, "${")
		if i < 0 {
			b.WriteString(rest)
			break
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			b.WriteString(rest)
			break
		}
		b.WriteString(rest[:i])
		b.WriteString(params[rest[i+2:i+j]])
		rest = rest[i+j+1:]
	}
	return b.String(), nil
}

// check reports a missing, empty or unexpected parameter.
func (s TemplateSpec) check(params map[string]string) error {
	var missing, extra []string
	for _, p := range s.Params {
		if params[p] == "" {
			missing = append(missing, p)
		}
	}
	for name := range params {
		if !slices.Contains(s.Params, name) {
			extra = append(extra, name)
		}
	}
	slices.Sort(extra)
	switch {
	case len(missing) > 0:
		return fmt.Errorf("missing parameter %s", strings.Join(missing, ", "))
	case len(extra) > 0:
		return fmt.Errorf("unknown parameter %s", strings.Join(extra, ", "))
	}
	return nil
}

// placeholders returns the names of the ${name} placeholders in text, each
// once, in order of first use.
func placeholders(text string) []string {
	var names []string
	for {
		i := strings.Index(text, "${")
		if i < 0 {
			return names
		}
		j := strings.IndexByte(text[i:], '}')
		if j < 0 {
			return names
		}
		if name := text[i+2 : i+j]; !slices.Contains(names, name) {
			names = append(names, name)
		}
		text = text[i+j+1:]
	}
}

// ValidPhone reports whether phone is a mainland Chinese mobile number in
// the form Signet stores: 11 digits starting 13–19, without +86.
func ValidPhone(phone string) bool {
	if len(phone) != 11 || phone[0] != '1' || phone[1] < '3' || phone[1] > '9' {
		return false
	}
	for i := 0; i < len(phone); i++ {
		if phone[i] < '0' || phone[i] > '9' {
			return false
		}
	}
	return true
}
