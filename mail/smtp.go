package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/smtp"
	"time"

	"signet/errs"
)

// StartTLS says whether the SMTP provider upgrades the connection.
type StartTLS string

// STARTTLS policies.
const (
	// StartTLSAuto upgrades when the server offers it (the default).
	StartTLSAuto StartTLS = "auto"
	// StartTLSRequire refuses to send over a server that does not offer it.
	StartTLSRequire StartTLS = "require"
	// StartTLSOff never upgrades (a relay on the same host).
	StartTLSOff StartTLS = "off"
)

// SMTPConfig configures the SMTP provider.
type SMTPConfig struct {
	// Addr is host:port of the submission server, e.g. smtp.example.cn:587.
	Addr string
	// Username and Password are for AUTH PLAIN; no authentication when
	// Username is empty. net/smtp sends them only over TLS or to localhost.
	Username, Password string
	// From is the sender address (or "签网 <noreply@example.cn>").
	From string
	// StartTLS is the upgrade policy; StartTLSAuto when empty.
	StartTLS StartTLS
	// TLS configures the upgrade (ServerName defaults to Addr's host).
	TLS *tls.Config
	// Timeout bounds one delivery (30 s when 0).
	Timeout time.Duration
	// HelloName is the EHLO name ("localhost" when empty).
	HelloName string
	Logger    *slog.Logger
	// Now is the clock for the Date header; time.Now when nil.
	Now func() time.Time
}

// SMTP delivers through an SMTP submission server.
type SMTP struct {
	cfg  SMTPConfig
	host string
	from string // the envelope sender (addr-spec)
}

// NewSMTP checks cfg and returns the provider. It does not connect.
func NewSMTP(cfg SMTPConfig) (*SMTP, error) {
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("mail: smtp address %q: %w", cfg.Addr, err)
	}
	from, err := parseFrom(cfg.From)
	if err != nil {
		return nil, err
	}
	switch cfg.StartTLS {
	case "":
		cfg.StartTLS = StartTLSAuto
	case StartTLSAuto, StartTLSRequire, StartTLSOff:
	default:
		return nil, fmt.Errorf("mail: unknown STARTTLS policy %q", cfg.StartTLS)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &SMTP{cfg: cfg, host: host, from: from}, nil
}

// parseFrom returns the addr-spec of a From value.
func parseFrom(from string) (string, error) {
	a, err := parseAddressList(from)
	if err != nil {
		return "", fmt.Errorf("mail: sender %q: %w", from, err)
	}
	return a, nil
}

// errSend is the user-facing failure of a delivery.
func errSend(cause error) error {
	return errs.Wrap(cause, errs.Internal, "邮件发送失败，请稍后再试")
}

// Send implements Provider: one connection per message, EHLO, STARTTLS by
// policy, AUTH PLAIN when configured, MAIL/RCPT/DATA, QUIT.
func (s *SMTP) Send(ctx context.Context, m Message) (err error) {
	body, err := Compose(s.cfg.From, m, s.cfg.Now())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return errSend(fmt.Errorf("mail: dial %s: %w", s.cfg.Addr, err))
	}
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		conn.Close()
		return errSend(fmt.Errorf("mail: greeting: %w", err))
	}
	defer c.Close()
	if err := s.deliver(c, m.To, body); err != nil {
		return errSend(err)
	}
	s.cfg.Logger.InfoContext(ctx, "mail sent", "to", len(m.To), "bytes", len(body))
	return nil
}

func (s *SMTP) deliver(c *smtp.Client, to []string, body []byte) error {
	hello := s.cfg.HelloName
	if hello == "" {
		hello = "localhost"
	}
	if err := c.Hello(hello); err != nil {
		return fmt.Errorf("mail: EHLO: %w", err)
	}
	if s.cfg.StartTLS != StartTLSOff {
		if ok, _ := c.Extension("STARTTLS"); ok {
			tc := &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}
			if s.cfg.TLS != nil {
				tc = s.cfg.TLS.Clone()
				if tc.ServerName == "" {
					tc.ServerName = s.host
				}
			}
			if err := c.StartTLS(tc); err != nil {
				return fmt.Errorf("mail: STARTTLS: %w", err)
			}
		} else if s.cfg.StartTLS == StartTLSRequire {
			return errors.New("mail: the server does not offer STARTTLS")
		}
	}
	if s.cfg.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("mail: the server does not offer AUTH")
		}
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, s.host)); err != nil {
			return fmt.Errorf("mail: AUTH PLAIN: %w", err)
		}
	}
	if err := c.Mail(s.from); err != nil {
		return fmt.Errorf("mail: MAIL FROM: %w", err)
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt); err != nil {
			return fmt.Errorf("mail: RCPT TO: %w", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("mail: DATA: %w", err)
	}
	if _, err := w.Write(body); err != nil {
		return fmt.Errorf("mail: write message: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("mail: end of data: %w", err)
	}
	return c.Quit()
}
