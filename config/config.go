// Package config reads Signet's configuration once, from command-line flags
// and SIGNET_* environment variables, into one validated Config struct.
// A flag beats the environment, the environment beats the default. The
// defaults are the embedded mode: SQLite in the data folder, the SMS outbox,
// development mode.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Mode is the deployment mode.
type Mode string

// Modes. Development turns on the GraphQL playground, introspection, the SMS
// outbox page and auto-migration; production turns them off.
const (
	Development Mode = "development"
	Production  Mode = "production"
)

// Config is everything `signet serve` needs.
type Config struct {
	// Addr is the listen address (SIGNET_ADDR, --addr).
	Addr string
	// DataDir holds the SQLite database, keys and files (SIGNET_DATA_DIR, --data).
	DataDir string
	// DatabaseURL selects PostgreSQL when it is a postgres:// URL; empty means
	// SQLite in DataDir (SIGNET_DATABASE_URL, --database-url).
	DatabaseURL string
	// Mode is development or production (SIGNET_MODE, --mode).
	Mode Mode
	// BaseURL is the public URL of the server, used in links and certificates
	// (SIGNET_BASE_URL, --base-url).
	BaseURL string
	// AllowedOrigins are the browser origins allowed to open websockets
	// (SIGNET_ALLOWED_ORIGINS, comma-separated host patterns); BaseURL's host
	// is always allowed.
	AllowedOrigins []string
	// TrustedProxies are CIDRs whose X-Forwarded-For is believed
	// (SIGNET_TRUSTED_PROXIES).
	TrustedProxies []*net.IPNet
	// LogLevel is debug, info, warn or error (SIGNET_LOG_LEVEL).
	LogLevel string
	// LogFormat is text or json (SIGNET_LOG_FORMAT).
	LogFormat string
	// ShutdownTimeout bounds graceful shutdown (SIGNET_SHUTDOWN_TIMEOUT).
	ShutdownTimeout time.Duration
	// SMS configures the SMS provider.
	SMS SMSConfig
	// Argon2 configures password hashing.
	Argon2 Argon2Config
	// Keys configures where signing keys live.
	Keys KeysConfig
	// DevCaptchaText, in development only, fixes every captcha's answer so
	// browser tests can log in by password (SIGNET_DEV_CAPTCHA_TEXT).
	DevCaptchaText string
	// SandboxCAReviewDelay is how long the sandbox CA takes to approve an
	// enterprise certificate application (SIGNET_SANDBOX_CA_DELAY).
	SandboxCAReviewDelay time.Duration
	// Mail configures email (signed HR contracts, sendCompletedFlowEmail).
	Mail MailConfig
}

// MailConfig configures the email provider: SMTP when SMTPAddr is set,
// otherwise the development outbox (messages are logged, not sent).
type MailConfig struct {
	// SMTPAddr is host:port of the submission server (SIGNET_SMTP_ADDR).
	SMTPAddr string
	// Username is for AUTH PLAIN (SIGNET_SMTP_USERNAME); none when empty.
	Username string
	// Password is read from the file named by SIGNET_SMTP_PASSWORD_FILE.
	Password string
	// From is the sender, e.g. "签网 <noreply@example.cn>" (SIGNET_SMTP_FROM).
	From string
	// StartTLS is auto (default), require or off (SIGNET_SMTP_STARTTLS).
	StartTLS string
}

// String redacts the password so a Config can be logged.
func (c MailConfig) String() string {
	pw := ""
	if c.Password != "" {
		pw = "[redacted]"
	}
	return fmt.Sprintf("{SMTPAddr:%s Username:%s Password:%s From:%s StartTLS:%s}", c.SMTPAddr, c.Username, pw, c.From, c.StartTLS)
}

// KeysConfig selects the key store for the platform CA, the TSA and hosted
// signing keys.
type KeysConfig struct {
	// Store is "soft" (keys encrypted in the data folder; the default) or
	// "pkcs11" (an HSM) (SIGNET_KEYSTORE).
	Store string
	// MasterKeyFile is the software store's master key; <data>/master.key
	// when empty (SIGNET_MASTER_KEY_FILE).
	MasterKeyFile string
	// PKCS11Module is the HSM's PKCS#11 library (SIGNET_PKCS11_MODULE).
	PKCS11Module string
	// PKCS11Token is the token label (SIGNET_PKCS11_TOKEN).
	PKCS11Token string
	// PKCS11PINFile holds the user PIN (SIGNET_PKCS11_PIN_FILE); the PIN is
	// never taken from a flag or a variable.
	PKCS11PINFile string
}

// SMSConfig selects and configures the SMS provider.
type SMSConfig struct {
	// Provider is "outbox" (development default) or "aliyun"
	// (SIGNET_SMS_PROVIDER).
	Provider string
	// AliyunEndpoint is the Dysmsapi endpoint (SIGNET_SMS_ALIYUN_ENDPOINT).
	AliyunEndpoint string
	// AliyunAccessKeyID is the access key (SIGNET_SMS_ALIYUN_ACCESS_KEY_ID).
	AliyunAccessKeyID string
	// AliyunAccessKeySecret is read from SIGNET_SMS_ALIYUN_ACCESS_KEY_SECRET or
	// the file named by SIGNET_SMS_ALIYUN_ACCESS_KEY_SECRET_FILE.
	AliyunAccessKeySecret string
	// AliyunSignName is the approved SMS signature (SIGNET_SMS_ALIYUN_SIGN_NAME).
	AliyunSignName string
	// Templates maps Signet's logical templates to provider template codes
	// (SIGNET_SMS_TEMPLATES, e.g. "register=SMS_1,login=SMS_2").
	Templates map[string]string
}

// Argon2Config is the argon2id cost (see docs/benchmarks.md for the choice).
type Argon2Config struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
}

// String redacts secrets so a Config can be logged.
func (c SMSConfig) String() string {
	secret := ""
	if c.AliyunAccessKeySecret != "" {
		secret = "[redacted]"
	}
	return fmt.Sprintf("{Provider:%s AliyunEndpoint:%s AliyunAccessKeyID:%s AliyunAccessKeySecret:%s AliyunSignName:%s Templates:%v}",
		c.Provider, c.AliyunEndpoint, c.AliyunAccessKeyID, secret, c.AliyunSignName, c.Templates)
}

// Dev reports whether the server runs in development mode.
func (c *Config) Dev() bool { return c.Mode == Development }

// UsesPostgres reports whether DatabaseURL selects PostgreSQL.
func (c *Config) UsesPostgres() bool {
	return strings.HasPrefix(c.DatabaseURL, "postgres://") || strings.HasPrefix(c.DatabaseURL, "postgresql://")
}

// SQLitePath is the embedded database file.
func (c *Config) SQLitePath() string { return filepath.Join(c.DataDir, "signet.db") }

// Default returns the embedded-mode defaults.
func Default() Config {
	return Config{
		Addr:                 ":8080",
		DataDir:              "./data",
		Mode:                 Development,
		BaseURL:              "http://localhost:8080",
		LogLevel:             "info",
		LogFormat:            "text",
		ShutdownTimeout:      15 * time.Second,
		SandboxCAReviewDelay: 2 * time.Minute,
		SMS: SMSConfig{
			Provider:       "outbox",
			AliyunEndpoint: "https://dysmsapi.aliyuncs.com/",
		},
		Argon2: Argon2Config{MemoryKiB: 19 * 1024, Iterations: 2, Parallelism: 1},
		Keys:   KeysConfig{Store: "soft"},
	}
}

// Load parses args (without the program and subcommand names) and the
// environment (getenv) into a validated Config. Errors name the flag or
// variable at fault. Usage text goes to usage.
func Load(args []string, getenv func(string) string, usage io.Writer) (Config, error) {
	c := Default()
	fs := flag.NewFlagSet("signet serve", flag.ContinueOnError)
	fs.SetOutput(usage)
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	var origins, proxies, templates, argon, shutdown string
	fs.StringVar(&c.Addr, "addr", env("SIGNET_ADDR", c.Addr), "listen address (SIGNET_ADDR)")
	fs.StringVar(&c.DataDir, "data", env("SIGNET_DATA_DIR", c.DataDir), "data folder (SIGNET_DATA_DIR)")
	fs.StringVar(&c.DatabaseURL, "database-url", env("SIGNET_DATABASE_URL", ""), "postgres:// URL; empty for SQLite in the data folder (SIGNET_DATABASE_URL)")
	mode := fs.String("mode", env("SIGNET_MODE", string(c.Mode)), "development or production (SIGNET_MODE)")
	fs.StringVar(&c.BaseURL, "base-url", env("SIGNET_BASE_URL", c.BaseURL), "public URL of this server (SIGNET_BASE_URL)")
	fs.StringVar(&origins, "allowed-origins", env("SIGNET_ALLOWED_ORIGINS", ""), "extra websocket origin patterns, comma-separated (SIGNET_ALLOWED_ORIGINS)")
	fs.StringVar(&proxies, "trusted-proxies", env("SIGNET_TRUSTED_PROXIES", ""), "CIDRs whose X-Forwarded-For is trusted (SIGNET_TRUSTED_PROXIES)")
	fs.StringVar(&c.LogLevel, "log-level", env("SIGNET_LOG_LEVEL", c.LogLevel), "debug, info, warn or error (SIGNET_LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", env("SIGNET_LOG_FORMAT", c.LogFormat), "text or json (SIGNET_LOG_FORMAT)")
	fs.StringVar(&shutdown, "shutdown-timeout", env("SIGNET_SHUTDOWN_TIMEOUT", c.ShutdownTimeout.String()), "graceful shutdown limit (SIGNET_SHUTDOWN_TIMEOUT)")
	fs.StringVar(&c.SMS.Provider, "sms-provider", env("SIGNET_SMS_PROVIDER", c.SMS.Provider), "outbox or aliyun (SIGNET_SMS_PROVIDER)")
	fs.StringVar(&c.SMS.AliyunEndpoint, "sms-aliyun-endpoint", env("SIGNET_SMS_ALIYUN_ENDPOINT", c.SMS.AliyunEndpoint), "Aliyun Dysmsapi endpoint (SIGNET_SMS_ALIYUN_ENDPOINT)")
	fs.StringVar(&c.SMS.AliyunAccessKeyID, "sms-aliyun-access-key-id", env("SIGNET_SMS_ALIYUN_ACCESS_KEY_ID", ""), "Aliyun access key id (SIGNET_SMS_ALIYUN_ACCESS_KEY_ID)")
	fs.StringVar(&c.SMS.AliyunSignName, "sms-aliyun-sign-name", env("SIGNET_SMS_ALIYUN_SIGN_NAME", ""), "Aliyun SMS signature (SIGNET_SMS_ALIYUN_SIGN_NAME)")
	fs.StringVar(&templates, "sms-templates", env("SIGNET_SMS_TEMPLATES", ""), "template codes, e.g. register=SMS_1,login=SMS_2 (SIGNET_SMS_TEMPLATES)")
	fs.StringVar(&c.Keys.Store, "keystore", env("SIGNET_KEYSTORE", c.Keys.Store), "soft or pkcs11 (SIGNET_KEYSTORE)")
	fs.StringVar(&c.Keys.MasterKeyFile, "master-key-file", env("SIGNET_MASTER_KEY_FILE", ""), "software key store master key; default <data>/master.key (SIGNET_MASTER_KEY_FILE)")
	fs.StringVar(&c.Keys.PKCS11Module, "pkcs11-module", env("SIGNET_PKCS11_MODULE", ""), "PKCS#11 library of the HSM (SIGNET_PKCS11_MODULE)")
	fs.StringVar(&c.Keys.PKCS11Token, "pkcs11-token", env("SIGNET_PKCS11_TOKEN", ""), "HSM token label (SIGNET_PKCS11_TOKEN)")
	fs.StringVar(&c.Keys.PKCS11PINFile, "pkcs11-pin-file", env("SIGNET_PKCS11_PIN_FILE", ""), "file holding the HSM user PIN (SIGNET_PKCS11_PIN_FILE)")
	caDelay := fs.String("sandbox-ca-delay", env("SIGNET_SANDBOX_CA_DELAY", c.SandboxCAReviewDelay.String()), "how long the sandbox CA takes to approve an enterprise (SIGNET_SANDBOX_CA_DELAY)")
	fs.StringVar(&c.Mail.SMTPAddr, "smtp-addr", env("SIGNET_SMTP_ADDR", ""), "SMTP submission server host:port; empty keeps mail in the outbox (SIGNET_SMTP_ADDR)")
	fs.StringVar(&c.Mail.Username, "smtp-username", env("SIGNET_SMTP_USERNAME", ""), "SMTP AUTH PLAIN user (SIGNET_SMTP_USERNAME)")
	fs.StringVar(&c.Mail.From, "smtp-from", env("SIGNET_SMTP_FROM", ""), "sender address, e.g. \"签网 <noreply@example.cn>\" (SIGNET_SMTP_FROM)")
	fs.StringVar(&c.Mail.StartTLS, "smtp-starttls", env("SIGNET_SMTP_STARTTLS", "auto"), "auto, require or off (SIGNET_SMTP_STARTTLS)")
	fs.StringVar(&argon, "argon2", env("SIGNET_ARGON2", ""), "argon2id cost memoryKiB,iterations,parallelism (SIGNET_ARGON2)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	c.Mode = Mode(*mode)
	var errList []error
	add := func(format string, a ...any) { errList = append(errList, fmt.Errorf(format, a...)) }

	if d, err := time.ParseDuration(shutdown); err != nil || d <= 0 {
		add("--shutdown-timeout / SIGNET_SHUTDOWN_TIMEOUT: %q is not a positive duration such as 15s", shutdown)
	} else {
		c.ShutdownTimeout = d
	}
	if d, err := time.ParseDuration(*caDelay); err != nil || d < 0 {
		add("--sandbox-ca-delay / SIGNET_SANDBOX_CA_DELAY: %q is not a duration such as 2m", *caDelay)
	} else {
		c.SandboxCAReviewDelay = d
	}
	c.AllowedOrigins = splitList(origins)
	for _, p := range splitList(proxies) {
		_, n, err := net.ParseCIDR(p)
		if err != nil {
			add("--trusted-proxies / SIGNET_TRUSTED_PROXIES: %q is not a CIDR such as 10.0.0.0/8", p)
			continue
		}
		c.TrustedProxies = append(c.TrustedProxies, n)
	}
	if templates != "" {
		c.SMS.Templates = map[string]string{}
		for _, kv := range splitList(templates) {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" || v == "" {
				add("--sms-templates / SIGNET_SMS_TEMPLATES: %q is not name=CODE", kv)
				continue
			}
			c.SMS.Templates[k] = v
		}
	}
	if argon != "" {
		parts := strings.Split(argon, ",")
		m, e1 := strconv.ParseUint(strings.TrimSpace(parts[0]), 10, 32)
		var it, par uint64
		var e2, e3 error = errors.New("missing"), errors.New("missing")
		if len(parts) == 3 {
			it, e2 = strconv.ParseUint(strings.TrimSpace(parts[1]), 10, 32)
			par, e3 = strconv.ParseUint(strings.TrimSpace(parts[2]), 10, 8)
		}
		if e1 != nil || e2 != nil || e3 != nil || m < 8*1024 || it < 1 || par < 1 {
			add("--argon2 / SIGNET_ARGON2: %q must be memoryKiB,iterations,parallelism with memory >= 8192 KiB", argon)
		} else {
			c.Argon2 = Argon2Config{MemoryKiB: uint32(m), Iterations: uint32(it), Parallelism: uint8(par)}
		}
	}
	c.DevCaptchaText = getenv("SIGNET_DEV_CAPTCHA_TEXT")
	if c.DevCaptchaText != "" && c.Mode != Development {
		add("SIGNET_DEV_CAPTCHA_TEXT is for development only; unset it in production")
	}
	secret := getenv("SIGNET_SMS_ALIYUN_ACCESS_KEY_SECRET")
	if f := getenv("SIGNET_SMS_ALIYUN_ACCESS_KEY_SECRET_FILE"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			add("SIGNET_SMS_ALIYUN_ACCESS_KEY_SECRET_FILE: %v", err)
		}
		secret = strings.TrimSpace(string(b))
	}
	c.SMS.AliyunAccessKeySecret = secret
	if f := getenv("SIGNET_SMTP_PASSWORD_FILE"); f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			add("SIGNET_SMTP_PASSWORD_FILE: %v", err)
		}
		c.Mail.Password = strings.TrimSpace(string(b))
	}

	if err := c.validate(); err != nil {
		errList = append(errList, err)
	}
	return c, errors.Join(errList...)
}

func (c *Config) validate() error {
	var errList []error
	add := func(format string, a ...any) { errList = append(errList, fmt.Errorf(format, a...)) }
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		add("--addr / SIGNET_ADDR: %q is not host:port (for example :8080)", c.Addr)
	}
	if c.DataDir == "" {
		add("--data / SIGNET_DATA_DIR must not be empty")
	}
	if c.DatabaseURL != "" && !c.UsesPostgres() {
		add("--database-url / SIGNET_DATABASE_URL: only postgres:// URLs are supported (leave it empty for the embedded SQLite)")
	}
	if c.UsesPostgres() {
		if _, err := url.Parse(c.DatabaseURL); err != nil {
			add("--database-url / SIGNET_DATABASE_URL: not a URL")
		}
	}
	switch c.Mode {
	case Development, Production:
	default:
		add("--mode / SIGNET_MODE: %q must be development or production", c.Mode)
	}
	if u, err := url.Parse(c.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add("--base-url / SIGNET_BASE_URL: %q must be an http(s) URL such as https://sign.example.com", c.BaseURL)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		add("--log-level / SIGNET_LOG_LEVEL: %q must be debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		add("--log-format / SIGNET_LOG_FORMAT: %q must be text or json", c.LogFormat)
	}
	switch c.Keys.Store {
	case "soft":
	case "pkcs11":
		if c.Keys.PKCS11Module == "" || c.Keys.PKCS11Token == "" || c.Keys.PKCS11PINFile == "" {
			add("--keystore / SIGNET_KEYSTORE pkcs11 needs SIGNET_PKCS11_MODULE, SIGNET_PKCS11_TOKEN and SIGNET_PKCS11_PIN_FILE")
		}
	default:
		add("--keystore / SIGNET_KEYSTORE: %q must be soft or pkcs11", c.Keys.Store)
	}
	switch c.SMS.Provider {
	case "outbox":
		if c.Mode == Production {
			add("--sms-provider / SIGNET_SMS_PROVIDER: the outbox only keeps messages; production needs a real provider (aliyun)")
		}
	case "aliyun":
		if c.SMS.AliyunAccessKeyID == "" || c.SMS.AliyunAccessKeySecret == "" || c.SMS.AliyunSignName == "" {
			add("SMS provider aliyun needs SIGNET_SMS_ALIYUN_ACCESS_KEY_ID, SIGNET_SMS_ALIYUN_ACCESS_KEY_SECRET (or _FILE) and SIGNET_SMS_ALIYUN_SIGN_NAME")
		}
		if len(c.SMS.Templates) == 0 {
			add("SMS provider aliyun needs SIGNET_SMS_TEMPLATES (e.g. register=SMS_1,login=SMS_2,...)")
		}
	default:
		add("--sms-provider / SIGNET_SMS_PROVIDER: %q must be outbox or aliyun", c.SMS.Provider)
	}
	switch c.Mail.StartTLS {
	case "", "auto", "require", "off":
	default:
		add("--smtp-starttls / SIGNET_SMTP_STARTTLS: %q must be auto, require or off", c.Mail.StartTLS)
	}
	if c.Mail.SMTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.Mail.SMTPAddr); err != nil {
			add("--smtp-addr / SIGNET_SMTP_ADDR: %q is not host:port (for example smtp.example.cn:587)", c.Mail.SMTPAddr)
		}
		if c.Mail.From == "" {
			add("--smtp-from / SIGNET_SMTP_FROM is required with SIGNET_SMTP_ADDR")
		}
		if c.Mail.Username != "" && c.Mail.Password == "" {
			add("SIGNET_SMTP_USERNAME needs SIGNET_SMTP_PASSWORD_FILE")
		}
	}
	return errors.Join(errList...)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
