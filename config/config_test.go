package config

import (
	"io"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := Load(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Addr != ":8080" || c.DataDir != "./data" || c.Mode != Development || c.SMS.Provider != "outbox" || c.UsesPostgres() {
		t.Errorf("defaults = %+v", c)
	}
	if c.SQLitePath() != "data/signet.db" {
		t.Errorf("SQLitePath = %q", c.SQLitePath())
	}
}

func TestPrecedence(t *testing.T) {
	c, err := Load([]string{"--addr", ":9000"}, env(map[string]string{
		"SIGNET_ADDR": ":7000", "SIGNET_DATA_DIR": "/var/lib/signet",
		"SIGNET_DATABASE_URL": "postgres://u@db/signet", "SIGNET_SHUTDOWN_TIMEOUT": "3s",
		"SIGNET_ALLOWED_ORIGINS": "app.example.com, *.example.cn", "SIGNET_TRUSTED_PROXIES": "10.0.0.0/8",
	}), io.Discard)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Addr != ":9000" {
		t.Errorf("flag should beat env: Addr = %q", c.Addr)
	}
	if c.DataDir != "/var/lib/signet" || !c.UsesPostgres() || c.ShutdownTimeout != 3*time.Second {
		t.Errorf("env not applied: %+v", c)
	}
	if len(c.AllowedOrigins) != 2 || c.AllowedOrigins[1] != "*.example.cn" || len(c.TrustedProxies) != 1 {
		t.Errorf("lists: %v %v", c.AllowedOrigins, c.TrustedProxies)
	}
}

func TestValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"bad addr", []string{"--addr", "8080"}, nil, "SIGNET_ADDR"},
		{"mysql url", nil, map[string]string{"SIGNET_DATABASE_URL": "mysql://x"}, "only postgres://"},
		{"bad mode", []string{"--mode", "staging"}, nil, "development or production"},
		{"bad base url", []string{"--base-url", "localhost"}, nil, "SIGNET_BASE_URL"},
		{"bad proxies", nil, map[string]string{"SIGNET_TRUSTED_PROXIES": "10.0.0.1"}, "CIDR"},
		{"outbox in production", []string{"--mode", "production"}, nil, "production needs a real provider"},
		{"aliyun without keys", []string{"--sms-provider", "aliyun"}, nil, "SIGNET_SMS_ALIYUN_ACCESS_KEY_ID"},
		{"bad templates", nil, map[string]string{"SIGNET_SMS_TEMPLATES": "register"}, "name=CODE"},
		{"bad argon2", nil, map[string]string{"SIGNET_ARGON2": "1,1"}, "SIGNET_ARGON2"},
		{"bad log level", []string{"--log-level", "loud"}, nil, "SIGNET_LOG_LEVEL"},
		{"unknown key store", nil, map[string]string{"SIGNET_KEYSTORE": "tpm"}, "soft or pkcs11"},
		{"pkcs11 without module", []string{"--keystore", "pkcs11"}, nil, "SIGNET_PKCS11_MODULE"},
		{"dev captcha in production", []string{"--mode", "production", "--sms-provider", "aliyun"}, map[string]string{"SIGNET_DEV_CAPTCHA_TEXT": "2345"}, "development only"},
		{"stray argument", []string{"extra"}, nil, "unexpected arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.args, env(tc.env), io.Discard)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load error = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestSecretsRedacted(t *testing.T) {
	c, err := Load([]string{"--sms-provider", "aliyun"}, env(map[string]string{
		"SIGNET_SMS_ALIYUN_ACCESS_KEY_ID": "LTAI", "SIGNET_SMS_ALIYUN_ACCESS_KEY_SECRET": "very-secret",
		"SIGNET_SMS_ALIYUN_SIGN_NAME": "签网", "SIGNET_SMS_TEMPLATES": "register=SMS_1",
	}), io.Discard)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.SMS.AliyunAccessKeySecret != "very-secret" {
		t.Fatal("secret not loaded")
	}
	if s := c.SMS.String(); strings.Contains(s, "very-secret") {
		t.Errorf("String() leaks the secret: %s", s)
	}
}
