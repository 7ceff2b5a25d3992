package sms

import (
	"slices"
	"strings"
	"testing"
)

func TestRender(t *testing.T) {
	tests := []struct {
		name    string
		t       Template
		params  map[string]string
		want    string
		wantErr string // substring of the error; "" means success
	}{
		{
			name:   "register",
			t:      TemplateRegister,
			params: map[string]string{"code": "123456"},
			want:   "【签网】您的注册验证码为123456，5分钟内有效，请勿泄露给他人。",
		},
		{
			name:   "sign intent with every parameter",
			t:      TemplateSignIntent,
			params: map[string]string{"code": "654321", "contract": "房屋租赁合同", "fingerprint": "3F9A-07C2"},
			want:   "【签网】您正在签署《房屋租赁合同》（文件指纹3F9A-07C2），验证码为654321，5分钟内有效。请核对合同无误后再输入，切勿告知他人。",
		},
		{
			name:   "sign link",
			t:      TemplateSignLink,
			params: map[string]string{"sender": "杭州某某科技有限公司", "contract": "采购合同", "link": "https://signet.example/s/Ab3xY9"},
			want:   "【签网】杭州某某科技有限公司邀请您签署《采购合同》，请打开 https://signet.example/s/Ab3xY9 查看并签署。",
		},
		{
			name:   "a value that looks like a placeholder is not expanded again",
			t:      TemplateGeneric,
			params: map[string]string{"code": "${code}"},
			want:   "【签网】您的验证码为${code}，5分钟内有效，请勿泄露给他人。",
		},
		{
			name:    "missing parameter",
			t:       TemplateSignIntent,
			params:  map[string]string{"code": "654321", "contract": "房屋租赁合同"},
			wantErr: "missing parameter fingerprint",
		},
		{
			name:    "empty parameter counts as missing",
			t:       TemplateLogin,
			params:  map[string]string{"code": ""},
			wantErr: "missing parameter code",
		},
		{
			name:    "nil params",
			t:       TemplateRegister,
			params:  nil,
			wantErr: "missing parameter code",
		},
		{
			name:    "misspelt parameter",
			t:       TemplateRegister,
			params:  map[string]string{"code": "123456", "Code": "123456"},
			wantErr: "unknown parameter Code",
		},
		{
			name:    "unknown template",
			t:       Template("welcome"),
			params:  map[string]string{"code": "123456"},
			wantErr: `unknown template "welcome"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Render(tt.t, tt.params)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Render(%q, %v) = %q, %v; want error containing %q", tt.t, tt.params, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Render(%q, %v): %v", tt.t, tt.params, err)
			}
			if got != tt.want {
				t.Errorf("Render(%q, %v)\n got %q\nwant %q", tt.t, tt.params, got, tt.want)
			}
		})
	}
}

func TestRenderSignedUsesSignName(t *testing.T) {
	got, err := RenderSigned("Signet", TemplateLogin, map[string]string{"code": "000111"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "【Signet】您的登录验证码为000111，5分钟内有效，请勿泄露给他人。"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestTemplatesTable checks the table against the constants: every constant
// has exactly one entry with a purpose and parameters, the verification-code
// templates take exactly a code, and the notification templates take what
// their callers are documented to pass.
func TestTemplatesTable(t *testing.T) {
	want := map[Template][]string{
		TemplateRegister:       {"code"},
		TemplateLogin:          {"code"},
		TemplateResetPassword:  {"code"},
		TemplateChangePhoneOld: {"code"},
		TemplateChangePhoneNew: {"code"},
		TemplateSignIntent:     {"contract", "fingerprint", "code"},
		TemplateSignLink:       {"sender", "contract", "link"},
		TemplateGeneric:        {"code"},

		TemplateEnterpriseAuthCode: {"enterprise", "code"},
		TemplateCertApplyConfirm:   {"enterprise", "code"},
		TemplateCertResult:         {"enterprise", "result"},
		TemplateJoinResult:         {"enterprise", "result"},

		TemplateFlowCC:        {"sender", "contract", "link"},
		TemplateFlowCompleted: {"contract", "link"},
		TemplateFlowExpired:   {"contract"},
	}
	specs := Templates()
	if len(specs) != len(want) {
		t.Errorf("Templates() has %d entries, want %d", len(specs), len(want))
	}
	seen := map[Template]bool{}
	for _, s := range specs {
		if seen[s.Template] {
			t.Errorf("template %q listed twice", s.Template)
		}
		seen[s.Template] = true
		if s.Purpose == "" || s.Text == "" {
			t.Errorf("template %q: empty purpose or text", s.Template)
		}
		if strings.Contains(s.Text, "【") {
			t.Errorf("template %q: text %q carries a signature; the signature is added when rendering", s.Template, s.Text)
		}
		if got := s.Params; !slices.Equal(got, want[s.Template]) {
			t.Errorf("template %q: params %v, want %v", s.Template, got, want[s.Template])
		}
	}
	// The table is a copy: changing it changes nothing.
	specs[0].Text = "changed"
	if s, _ := Spec(specs[0].Template); s.Text == "changed" {
		t.Error("Templates() returned shared state")
	}
}

func TestValidPhone(t *testing.T) {
	tests := []struct {
		phone string
		want  bool
	}{
		{"13800138000", true},
		{"19912345678", true},
		{"16600000000", true},
		{"12800138000", false}, // no 12x mobile prefix
		{"23800138000", false},
		{"1380013800", false},   // 10 digits
		{"138001380001", false}, // 12 digits
		{"+8613800138000", false},
		{"8613800138000", false},
		{"1380013800a", false},
		{"138 0013 800", false},
		{"１３８００１３８０００", false}, // full-width digits
		{"", false},
	}
	for _, tt := range tests {
		if got := ValidPhone(tt.phone); got != tt.want {
			t.Errorf("ValidPhone(%q) = %v, want %v", tt.phone, got, tt.want)
		}
	}
}
