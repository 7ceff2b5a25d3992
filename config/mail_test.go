package config

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMailConfig(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "smtp.pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(nil, env(map[string]string{"SIGNET_SMTP_ADDR": "smtp.example.cn:587", "SIGNET_SMTP_USERNAME": "signet",
		"SIGNET_SMTP_PASSWORD_FILE": pw, "SIGNET_SMTP_FROM": "签网 <noreply@example.cn>", "SIGNET_SMTP_STARTTLS": "require"}), io.Discard)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Mail.SMTPAddr != "smtp.example.cn:587" || c.Mail.Username != "signet" || c.Mail.Password != "s3cret" || c.Mail.StartTLS != "require" {
		t.Fatalf("mail = %+v", c.Mail)
	}
	if s := fmt.Sprint(c.Mail); strings.Contains(s, "s3cret") {
		t.Fatalf("password in %s", s)
	}

	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"bad address":  {map[string]string{"SIGNET_SMTP_ADDR": "smtp.example.cn", "SIGNET_SMTP_FROM": "a@b.cn"}, "SIGNET_SMTP_ADDR"},
		"no sender":    {map[string]string{"SIGNET_SMTP_ADDR": "smtp.example.cn:25"}, "SIGNET_SMTP_FROM"},
		"no password":  {map[string]string{"SIGNET_SMTP_ADDR": "smtp.example.cn:25", "SIGNET_SMTP_FROM": "a@b.cn", "SIGNET_SMTP_USERNAME": "u"}, "SIGNET_SMTP_PASSWORD_FILE"},
		"missing file": {map[string]string{"SIGNET_SMTP_PASSWORD_FILE": "/nonexistent/pw"}, "SIGNET_SMTP_PASSWORD_FILE"},
		"bad STARTTLS": {map[string]string{"SIGNET_SMTP_STARTTLS": "maybe"}, "SIGNET_SMTP_STARTTLS"},
	} {
		if _, err := Load(nil, env(tc.env), io.Discard); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want it to name %s", name, err, tc.want)
		}
	}
	if c, err := Load(nil, env(nil), io.Discard); err != nil || c.Mail.SMTPAddr != "" {
		t.Fatalf("default: %+v %v", c.Mail, err)
	}
}
