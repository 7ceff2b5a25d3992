package app

import (
	"log/slog"

	"signet/config"
	"signet/mail"
)

// newMailProvider returns SMTP when SIGNET_SMTP_ADDR is set, otherwise the
// development outbox (messages are logged, not sent; production warns).
func newMailProvider(cfg config.Config, logger *slog.Logger) (mail.Provider, error) {
	if cfg.Mail.SMTPAddr == "" {
		if !cfg.Dev() {
			logger.Warn("no SMTP server configured (SIGNET_SMTP_ADDR): emails are logged, not sent")
		}
		return mail.NewOutbox(100, logger), nil
	}
	return mail.NewSMTP(mail.SMTPConfig{
		Addr: cfg.Mail.SMTPAddr, Username: cfg.Mail.Username, Password: cfg.Mail.Password,
		From: cfg.Mail.From, StartTLS: mail.StartTLS(cfg.Mail.StartTLS), Logger: logger,
	})
}
