package app_test

import (
	"strings"
	"testing"
	"time"

	"signet/internal/apitest"
	"signet/internal/dbtest"
)

const (
	phoneA = "13800138000"
	phoneB = "13900139000"
	phoneC = "13700137000"
	passA  = "Abc12345"
	passA2 = "Xyz!98765"
)

const meQuery = `{ me { id phone maskedPhone hasPassword sessions(first: 10) { totalCount edges { node { id method current revokedAt } } } } }`

type meResult struct {
	Me struct {
		ID          string
		Phone       string
		MaskedPhone string
		HasPassword bool
		Sessions    struct {
			TotalCount int
			Edges      []struct {
				Node struct {
					ID        string
					Method    string
					Current   bool
					RevokedAt *time.Time
				}
			}
		}
	}
}

const loginPasswordMutation = `mutation($in: LoginByPasswordInput!) { loginByPassword(input: $in) { token user { phone } } }`

func captchaKey(t *testing.T, s *apitest.Server) string {
	t.Helper()
	var out struct {
		NewCaptcha struct {
			Key          string
			ImageDataURL string
		}
	}
	s.MustDo("", `mutation { newCaptcha { key imageDataURL expiresAt } }`, nil, &out)
	if !strings.HasPrefix(out.NewCaptcha.ImageDataURL, "data:image/png;base64,") {
		t.Fatalf("captcha image = %.40q, want a PNG data URL", out.NewCaptcha.ImageDataURL)
	}
	return out.NewCaptcha.Key
}

func loginByPassword(t *testing.T, s *apitest.Server, phone, password string) apitest.Response {
	t.Helper()
	key := captchaKey(t, s)
	return s.Do("", loginPasswordMutation, map[string]any{"in": map[string]any{
		"phone": phone, "password": password, "captchaKey": key, "captchaAnswer": "ab3d",
	}})
}

// TestAccountLifecycle walks one user through every account feature through
// the real handler: register, me, logout, SMS login, password login, change
// password, reset password, sessions, change phone.
func TestAccountLifecycle(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		s := apitest.Start(t, b, apitest.Options{})

		// Register (ACC-1) and read me.
		code := s.SendCode("", "REGISTER", phoneA)
		if len(code) != 6 {
			t.Fatalf("code %q, want 6 digits", code)
		}
		var reg struct {
			Register struct {
				Token string
				User  struct{ ID, Phone string }
			}
		}
		s.MustDo("", apitest.RegisterMutation, map[string]any{"in": apitest.RegisterInput(phoneA, passA, code)}, &reg)
		tok1 := reg.Register.Token
		var me meResult
		s.MustDo(tok1, meQuery, nil, &me)
		if me.Me.Phone != phoneA || me.Me.MaskedPhone != "138****8000" || !me.Me.HasPassword {
			t.Fatalf("me = %+v", me.Me)
		}
		if me.Me.Sessions.TotalCount != 1 || !me.Me.Sessions.Edges[0].Node.Current {
			t.Fatalf("sessions = %+v, want one current session", me.Me.Sessions)
		}

		// Logout ends the session.
		s.MustDo(tok1, `mutation { logout }`, nil, nil)
		if r := s.Do(tok1, meQuery, nil); r.Code() != "UNAUTHENTICATED" {
			t.Fatalf("me after logout: code %q, want UNAUTHENTICATED", r.Code())
		}

		// Login by SMS (ACC-2).
		s.Clock.Advance(61 * time.Second)
		code = s.SendCode("", "LOGIN", phoneA)
		var login struct{ LoginBySMS struct{ Token string } }
		s.MustDo("", `mutation($p: String!, $c: String!) { loginBySMS(input: {phone: $p, code: $c}) { token } }`,
			map[string]any{"p": phoneA, "c": code}, &login)
		tokSMS := login.LoginBySMS.Token

		// Login by password + captcha (ACC-3).
		r := loginByPassword(t, s, phoneA, passA)
		if r.Code() != "" {
			t.Fatalf("password login: %+v", r.Errors)
		}
		var pw struct{ LoginByPassword struct{ Token string } }
		r.Decode(t, &pw)
		tokPW := pw.LoginByPassword.Token

		// Change password (ACC-7): other sessions end, this one stays.
		s.MustDo(tokPW, `mutation($in: ChangePasswordInput!) { changePassword(input: $in) }`,
			map[string]any{"in": map[string]any{"oldPassword": passA, "newPassword": passA2, "newPasswordConfirm": passA2}}, nil)
		if r := s.Do(tokSMS, meQuery, nil); r.Code() != "UNAUTHENTICATED" {
			t.Fatalf("other session after password change: code %q, want UNAUTHENTICATED", r.Code())
		}
		s.MustDo(tokPW, meQuery, nil, &me)
		if r := loginByPassword(t, s, phoneA, passA); r.Code() != "INVALID_ARGUMENT" || r.Message() != "手机号或密码错误" {
			t.Fatalf("old password: %q %q, want INVALID_ARGUMENT 手机号或密码错误", r.Code(), r.Message())
		}
		if r := loginByPassword(t, s, phoneA, passA2); r.Code() != "" {
			t.Fatalf("new password: %+v", r.Errors)
		}

		// Reset password (ACC-5): every session ends.
		s.Clock.Advance(61 * time.Second)
		code = s.SendCode("", "RESET_PASSWORD", phoneA)
		s.MustDo("", `mutation($in: ResetPasswordInput!) { resetPassword(input: $in) }`,
			map[string]any{"in": map[string]any{"phone": phoneA, "newPassword": passA, "newPasswordConfirm": passA, "code": code}}, nil)
		if r := s.Do(tokPW, meQuery, nil); r.Code() != "UNAUTHENTICATED" {
			t.Fatalf("session after reset: code %q, want UNAUTHENTICATED", r.Code())
		}
		if r := loginByPassword(t, s, phoneA, passA2); r.Code() != "INVALID_ARGUMENT" {
			t.Fatalf("password before reset: code %q, want INVALID_ARGUMENT", r.Code())
		}
		r = loginByPassword(t, s, phoneA, passA)
		r.Decode(t, &pw)
		tok := pw.LoginByPassword.Token
		if tok == "" {
			t.Fatalf("login after reset: %+v", r.Errors)
		}

		// Sessions: list and revoke another of mine.
		r = loginByPassword(t, s, phoneA, passA)
		r.Decode(t, &pw)
		other := pw.LoginByPassword.Token
		s.MustDo(tok, meQuery, nil, &me)
		var otherID string
		for _, e := range me.Me.Sessions.Edges {
			if !e.Node.Current && e.Node.RevokedAt == nil {
				otherID = e.Node.ID
			}
		}
		if otherID == "" {
			t.Fatalf("no other live session in %+v", me.Me.Sessions)
		}
		s.MustDo(tok, `mutation($id: ID!) { revokeSession(id: $id) }`, map[string]any{"id": otherID}, nil)
		if r := s.Do(other, meQuery, nil); r.Code() != "UNAUTHENTICATED" {
			t.Fatalf("revoked session: code %q, want UNAUTHENTICATED", r.Code())
		}

		// Change phone (ACC-6): old phone's code, then the new phone's.
		s.Clock.Advance(61 * time.Second)
		s.MustDo(tok, `mutation { sendSMSCode(input: {purpose: CHANGE_PHONE_OLD}) { maskedPhone } }`, nil, nil)
		oldCode := s.LastCode(phoneA)
		var ticket struct{ VerifyOldPhone struct{ Ticket string } }
		s.MustDo(tok, `mutation($c: String!) { verifyOldPhone(code: $c) { ticket expiresAt } }`, map[string]any{"c": oldCode}, &ticket)
		newCode := s.SendCode(tok, "CHANGE_PHONE_NEW", phoneB)
		var changed struct{ ChangePhone struct{ Phone string } }
		s.MustDo(tok, `mutation($in: ChangePhoneInput!) { changePhone(input: $in) { phone } }`, map[string]any{"in": map[string]any{
			"ticket": ticket.VerifyOldPhone.Ticket, "newPhone": phoneB, "code": newCode,
		}}, &changed)
		if changed.ChangePhone.Phone != phoneB {
			t.Fatalf("phone after change = %q, want %q", changed.ChangePhone.Phone, phoneB)
		}
		if r := loginByPassword(t, s, phoneB, passA); r.Code() != "" {
			t.Fatalf("login with new phone: %+v", r.Errors)
		}
		if r := loginByPassword(t, s, phoneA, passA); r.Code() != "INVALID_ARGUMENT" {
			t.Fatalf("login with old phone: code %q, want INVALID_ARGUMENT", r.Code())
		}
		// The ticket is single-use.
		s.Clock.Advance(61 * time.Second)
		newCode = s.SendCode(tok, "CHANGE_PHONE_NEW", phoneC)
		r = s.Do(tok, `mutation($in: ChangePhoneInput!) { changePhone(input: $in) { phone } }`, map[string]any{"in": map[string]any{
			"ticket": ticket.VerifyOldPhone.Ticket, "newPhone": phoneC, "code": newCode,
		}})
		if r.Code() != "INVALID_ARGUMENT" {
			t.Fatalf("reused ticket: code %q, want INVALID_ARGUMENT", r.Code())
		}
	})
}

type refusal struct {
	name     string
	run      func(t *testing.T, s *apitest.Server) apitest.Response
	code     string
	message  string // substring
	fieldErr string
}

// TestAccountRefusals checks that every bad input gets a typed error with a
// clear Chinese message and changes nothing.
func TestAccountRefusals(t *testing.T) {
	register := func(phone, password, confirm, code, sv, pv string) func(*testing.T, *apitest.Server) apitest.Response {
		return func(t *testing.T, s *apitest.Server) apitest.Response {
			in := apitest.RegisterInput(phone, password, code)
			in["passwordConfirm"] = confirm
			in["serviceAgreementVersion"] = sv
			in["privacyStatementVersion"] = pv
			return s.Do("", apitest.RegisterMutation, map[string]any{"in": in})
		}
	}
	withCode := func(phone string, f func(code string) func(*testing.T, *apitest.Server) apitest.Response) func(*testing.T, *apitest.Server) apitest.Response {
		return func(t *testing.T, s *apitest.Server) apitest.Response {
			code := s.SendCode("", "REGISTER", phone)
			return f(code)(t, s)
		}
	}
	const v = "2026-11-01"
	cases := []refusal{
		{name: "unauthenticated me", code: "UNAUTHENTICATED", message: "请先登录",
			run: func(t *testing.T, s *apitest.Server) apitest.Response { return s.Do("", meQuery, nil) }},
		{name: "garbage token", code: "UNAUTHENTICATED",
			run: func(t *testing.T, s *apitest.Server) apitest.Response { return s.Do("sgt_nope", meQuery, nil) }},
		{name: "invalid phone", code: "INVALID_ARGUMENT", message: "请输入正确的11位手机号", fieldErr: "phone",
			run: func(t *testing.T, s *apitest.Server) apitest.Response {
				return s.Do("", `mutation { sendSMSCode(input: {purpose: REGISTER, phone: "12345"}) { maskedPhone } }`, nil)
			}},
		{name: "weak password", code: "INVALID_ARGUMENT", message: "至少三种", fieldErr: "password",
			run: withCode(phoneB, func(c string) func(*testing.T, *apitest.Server) apitest.Response {
				return register(phoneB, "abcdefgh1", "abcdefgh1", c, v, v)
			})},
		{name: "short password", code: "INVALID_ARGUMENT", message: "8-16位",
			run: withCode(phoneB, func(c string) func(*testing.T, *apitest.Server) apitest.Response {
				return register(phoneB, "Ab1!", "Ab1!", c, v, v)
			})},
		{name: "long password", code: "INVALID_ARGUMENT", message: "8-16位",
			run: withCode(phoneB, func(c string) func(*testing.T, *apitest.Server) apitest.Response {
				return register(phoneB, "Abcdefgh12345678x", "Abcdefgh12345678x", c, v, v)
			})},
		{name: "mismatched password", code: "INVALID_ARGUMENT", message: "两次输入的密码不一致", fieldErr: "passwordConfirm",
			run: withCode(phoneB, func(c string) func(*testing.T, *apitest.Server) apitest.Response {
				return register(phoneB, passA, passA+"x", c, v, v)
			})},
		{name: "agreement not accepted", code: "INVALID_ARGUMENT", message: "请阅读并同意", fieldErr: "agreements",
			run: withCode(phoneB, func(c string) func(*testing.T, *apitest.Server) apitest.Response {
				return register(phoneB, passA, passA, c, "", v)
			})},
		{name: "outdated agreement", code: "INVALID_ARGUMENT", message: "已更新",
			run: withCode(phoneB, func(c string) func(*testing.T, *apitest.Server) apitest.Response {
				return register(phoneB, passA, passA, c, v, "2020-01-01")
			})},
		{name: "wrong code", code: "INVALID_ARGUMENT", message: "验证码错误，还可尝试4次", fieldErr: "code",
			run: withCode(phoneB, func(c string) func(*testing.T, *apitest.Server) apitest.Response {
				return register(phoneB, passA, passA, wrong(c), v, v)
			})},
		{name: "no code sent", code: "INVALID_ARGUMENT", message: "请先获取验证码",
			run: register(phoneB, passA, passA, "123456", v, v)},
		{name: "expired code", code: "INVALID_ARGUMENT", message: "验证码已过期",
			run: func(t *testing.T, s *apitest.Server) apitest.Response {
				code := s.SendCode("", "REGISTER", phoneB)
				s.Clock.Advance(5*time.Minute + time.Second)
				return register(phoneB, passA, passA, code, v, v)(t, s)
			}},
		{name: "exhausted code", code: "INVALID_ARGUMENT", message: "错误次数过多",
			run: func(t *testing.T, s *apitest.Server) apitest.Response {
				code := s.SendCode("", "REGISTER", phoneB)
				for i := 0; i < 5; i++ {
					register(phoneB, passA, passA, wrong(code), v, v)(t, s)
				}
				return register(phoneB, passA, passA, code, v, v)(t, s)
			}},
		{name: "reused code", code: "INVALID_ARGUMENT", message: "验证码已使用",
			run: func(t *testing.T, s *apitest.Server) apitest.Response {
				s.Clock.Advance(61 * time.Second)
				code := s.SendCode("", "LOGIN", phoneA)
				q := `mutation($p: String!, $c: String!) { loginBySMS(input: {phone: $p, code: $c}) { token } }`
				s.MustDo("", q, map[string]any{"p": phoneA, "c": code}, nil)
				return s.Do("", q, map[string]any{"p": phoneA, "c": code})
			}},
		{name: "code for another purpose", code: "INVALID_ARGUMENT",
			run: func(t *testing.T, s *apitest.Server) apitest.Response {
				s.Clock.Advance(61 * time.Second)
				code := s.SendCode("", "RESET_PASSWORD", phoneA)
				return s.Do("", `mutation($p: String!, $c: String!) { loginBySMS(input: {phone: $p, code: $c}) { token } }`,
					map[string]any{"p": phoneA, "c": code})
			}},
		{name: "resend too soon", code: "RATE_LIMITED", message: "秒后再试",
			run: func(t *testing.T, s *apitest.Server) apitest.Response {
				s.SendCode("", "REGISTER", phoneB)
				s.Clock.Advance(30 * time.Second)
				return s.Do("", `mutation { sendSMSCode(input: {purpose: REGISTER, phone: "13900139000"}) { maskedPhone } }`, nil)
			}},
		{name: "daily cap per phone", code: "RATE_LIMITED", message: "今日获取验证码次数已达上限",
			run: func(t *testing.T, s *apitest.Server) apitest.Response {
				for i := 0; i < 10; i++ {
					s.SendCode("", "REGISTER", phoneB)
					s.Clock.Advance(61 * time.Second)
				}
				return s.Do("", `mutation { sendSMSCode(input: {purpose: REGISTER, phone: "13900139000"}) { maskedPhone } }`, nil)
			}},
		{name: "daily cap per IP", code: "RATE_LIMITED", message: "当前网络",
			run: func(t *testing.T, s *apitest.Server) apitest.Response {
				for i := 0; i < 49; i++ { // one code already went to phoneA from this IP
					phone := "1350000" + pad4(i)
					s.SendCode("", "REGISTER", phone)
				}
				return s.Do("", `mutation { sendSMSCode(input: {purpose: REGISTER, phone: "13600000000"}) { maskedPhone } }`, nil)
			}},
		{name: "phone taken", code: "CONFLICT", message: "该手机号已注册",
			run: func(t *testing.T, s *apitest.Server) apitest.Response {
				return s.Do("", `mutation { sendSMSCode(input: {purpose: REGISTER, phone: "13800138000"}) { maskedPhone } }`, nil)
			}},
		{name: "login code for unknown phone", code: "NOT_FOUND", message: "未注册",
			run: func(t *testing.T, s *apitest.Server) apitest.Response {
				return s.Do("", `mutation { sendSMSCode(input: {purpose: LOGIN, phone: "13900139000"}) { maskedPhone } }`, nil)
			}},
		{name: "wrong captcha", code: "INVALID_ARGUMENT", message: "图形验证码错误", fieldErr: "captchaAnswer",
			run: func(t *testing.T, s *apitest.Server) apitest.Response {
				key := captchaKey(t, s)
				return s.Do("", loginPasswordMutation, map[string]any{"in": map[string]any{
					"phone": phoneA, "password": passA, "captchaKey": key, "captchaAnswer": "ZZZZ"}})
			}},
		{name: "reused captcha", code: "INVALID_ARGUMENT", message: "图形验证码已失效",
			run: func(t *testing.T, s *apitest.Server) apitest.Response {
				key := captchaKey(t, s)
				in := map[string]any{"in": map[string]any{"phone": phoneA, "password": passA, "captchaKey": key, "captchaAnswer": "AB3D"}}
				s.MustDo("", loginPasswordMutation, in, nil)
				return s.Do("", loginPasswordMutation, in)
			}},
		{name: "expired captcha", code: "INVALID_ARGUMENT", message: "图形验证码已失效",
			run: func(t *testing.T, s *apitest.Server) apitest.Response {
				key := captchaKey(t, s)
				s.Clock.Advance(3 * time.Minute)
				return s.Do("", loginPasswordMutation, map[string]any{"in": map[string]any{
					"phone": phoneA, "password": passA, "captchaKey": key, "captchaAnswer": "AB3D"}})
			}},
		{name: "throttled login", code: "RATE_LIMITED", message: "登录失败次数过多",
			run: func(t *testing.T, s *apitest.Server) apitest.Response {
				for i := 0; i < 5; i++ {
					if r := loginByPassword(t, s, phoneA, "Wrong!pass1"); r.Code() != "INVALID_ARGUMENT" {
						t.Fatalf("failure %d: %q", i, r.Code())
					}
				}
				return loginByPassword(t, s, phoneA, passA) // even the right password waits
			}},
		{name: "unknown phone at password login", code: "INVALID_ARGUMENT", message: "手机号或密码错误",
			run: func(t *testing.T, s *apitest.Server) apitest.Response { return loginByPassword(t, s, phoneC, passA) }},
		{name: "change password with wrong old password", code: "INVALID_ARGUMENT", message: "原密码错误", fieldErr: "oldPassword",
			run: func(t *testing.T, s *apitest.Server) apitest.Response {
				tok := loginToken(t, s)
				return s.Do(tok, `mutation($in: ChangePasswordInput!) { changePassword(input: $in) }`,
					map[string]any{"in": map[string]any{"oldPassword": "Nope!1234", "newPassword": passA2, "newPasswordConfirm": passA2}})
			}},
		{name: "change password unauthenticated", code: "UNAUTHENTICATED",
			run: func(t *testing.T, s *apitest.Server) apitest.Response {
				return s.Do("", `mutation($in: ChangePasswordInput!) { changePassword(input: $in) }`,
					map[string]any{"in": map[string]any{"oldPassword": passA, "newPassword": passA2, "newPasswordConfirm": passA2}})
			}},
		{name: "revoke another user's session", code: "NOT_FOUND",
			run: func(t *testing.T, s *apitest.Server) apitest.Response {
				tokA := loginToken(t, s)
				var me meResult
				s.MustDo(tokA, meQuery, nil, &me)
				idA := me.Me.Sessions.Edges[0].Node.ID
				tokB := s.Register(phoneB, passA)
				return s.Do(tokB, `mutation($id: ID!) { revokeSession(id: $id) }`, map[string]any{"id": idA})
			}},
		{name: "another user's session through node", code: "",
			run: func(t *testing.T, s *apitest.Server) apitest.Response {
				tokA := loginToken(t, s)
				var me meResult
				s.MustDo(tokA, meQuery, nil, &me)
				idA := me.Me.Sessions.Edges[0].Node.ID
				tokB := s.Register(phoneB, passA)
				r := s.Do(tokB, `query($id: ID!) { node(id: $id) { id ... on Session { ip } } }`, map[string]any{"id": idA})
				if string(r.Data) != `{"node":null}` && r.Code() == "" {
					t.Fatalf("another user's session is reachable: %s", r.Data)
				}
				return apitest.Response{}
			}},
		{name: "new phone equals current", code: "INVALID_ARGUMENT", message: "新手机号不能与当前手机号相同",
			run: func(t *testing.T, s *apitest.Server) apitest.Response {
				tok := loginToken(t, s)
				return s.Do(tok, `mutation { sendSMSCode(input: {purpose: CHANGE_PHONE_NEW, phone: "13800138000"}) { maskedPhone } }`, nil)
			}},
		{name: "new phone taken", code: "CONFLICT", message: "已被其他账号使用",
			run: func(t *testing.T, s *apitest.Server) apitest.Response {
				tok := loginToken(t, s)
				s.Register(phoneB, passA)
				return s.Do(tok, `mutation { sendSMSCode(input: {purpose: CHANGE_PHONE_NEW, phone: "13900139000"}) { maskedPhone } }`, nil)
			}},
		{name: "change phone without ticket", code: "INVALID_ARGUMENT", message: "原手机号验证已失效",
			run: func(t *testing.T, s *apitest.Server) apitest.Response {
				tok := loginToken(t, s)
				code := s.SendCode(tok, "CHANGE_PHONE_NEW", phoneC)
				return s.Do(tok, `mutation($in: ChangePhoneInput!) { changePhone(input: $in) { phone } }`, map[string]any{"in": map[string]any{
					"ticket": "forged", "newPhone": phoneC, "code": code}})
			}},
	}
	for _, kind := range dbtest.Kinds {
		t.Run(kind, func(t *testing.T) {
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					s := apitest.Start(t, dbtest.New(t, kind), apitest.Options{})
					s.Register(phoneA, passA)
					r := tc.run(t, s)
					if r.Code() != tc.code {
						t.Fatalf("code = %q (%q), want %q", r.Code(), r.Message(), tc.code)
					}
					if !strings.Contains(r.Message(), tc.message) {
						t.Errorf("message = %q, want it to contain %q", r.Message(), tc.message)
					}
					if tc.fieldErr != "" {
						if got, _ := r.Errors[0].Extensions["field"].(string); got != tc.fieldErr {
							t.Errorf("field = %q, want %q", got, tc.fieldErr)
						}
					}
					// The refusal lost nothing: the registered user still logs in.
					if tc.code != "" && tc.name != "throttled login" {
						if r := loginByPassword(t, s, phoneA, passA); r.Code() != "" && r.Code() != "RATE_LIMITED" {
							t.Errorf("after refusal the user cannot log in: %+v", r.Errors)
						}
					}
				})
			}
		})
	}
}

func loginToken(t *testing.T, s *apitest.Server) string {
	t.Helper()
	r := loginByPassword(t, s, phoneA, passA)
	var pw struct{ LoginByPassword struct{ Token string } }
	r.Decode(t, &pw)
	if pw.LoginByPassword.Token == "" {
		t.Fatalf("login: %+v", r.Errors)
	}
	return pw.LoginByPassword.Token
}

func wrong(code string) string {
	if code[0] == '9' {
		return "0" + code[1:]
	}
	return string(code[0]+1) + code[1:]
}

func pad4(i int) string {
	s := "0000" + itoa(i)
	return s[len(s)-4:]
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}
