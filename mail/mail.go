// Package mail sends email: completed contracts to people who have no
// account (HR scene, DOC-8) and to addresses an initiator chooses.
//
// Callers describe a Message (UTF-8 subject and text, attachments); a
// Provider delivers it. Two providers exist: SMTP (net/smtp with optional
// STARTTLS and AUTH PLAIN) and Outbox, the development default, which keeps
// messages in memory and logs them instead of sending. The subpackage
// smtptest is a small local SMTP server for tests.
//
// Send calls are slow, external calls: callers must not hold a database
// transaction open across them (STYLE.md, practice 6); flows sends through a
// River job.
package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"signet/errs"
)

// Message is one email.
type Message struct {
	// To are the recipients' addresses (plain addr-spec, e.g. a@b.cn).
	To []string
	// Subject and Text are UTF-8; Text is the plain-text body.
	Subject string
	Text    string
	// Attachments are sent as base64 parts after the text.
	Attachments []Attachment
}

// Attachment is a file sent with a message.
type Attachment struct {
	// Name is the file name shown to the recipient (UTF-8).
	Name string
	// ContentType is e.g. "application/pdf".
	ContentType string
	Data        []byte
}

// Provider delivers messages.
//
// Send returns nil once the provider has accepted the message, or an error
// classified with package errs: Invalid (field "email") for an address that
// is not one, and Internal for everything else (connection, refusal,
// authentication, timeout), whose user-facing message is
// "邮件发送失败，请稍后再试".
type Provider interface {
	Send(ctx context.Context, m Message) error
}

// MaxAttachments bounds the total size of a message's attachments.
const MaxAttachments = 20 << 20

// ValidAddress reports whether addr is a single plain email address
// (local@domain, no display name, no angle brackets) of sane length.
func ValidAddress(addr string) bool {
	if len(addr) < 3 || len(addr) > 128 || strings.ContainsAny(addr, " <>\r\n,;\"") {
		return false
	}
	a, err := netmail.ParseAddress(addr)
	if err != nil || a.Address != addr || a.Name != "" {
		return false
	}
	at := strings.LastIndexByte(addr, '@')
	return at > 0 && strings.Contains(addr[at+1:], ".")
}

// check validates m before it is sent.
func (m Message) check() error {
	if len(m.To) == 0 {
		return errs.InvalidField("email", "请填写收件人邮箱")
	}
	for _, to := range m.To {
		if !ValidAddress(to) {
			return errs.InvalidField("email", "邮箱地址格式不正确："+to)
		}
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return errs.InvalidField("subject", "邮件主题不能换行")
	}
	n := 0
	for _, a := range m.Attachments {
		n += len(a.Data)
	}
	if n > MaxAttachments {
		return errs.InvalidField("attachments", "附件过大（最大20MB）")
	}
	return nil
}

// Compose renders m as an RFC 5322 message with MIME parts: the subject
// encoded per RFC 2047 (UTF-8, base64 words), a quoted-printable UTF-8 text
// part and base64 attachments whose names use RFC 2231 (filename*) plus an
// RFC 2047 fallback for older clients. Lines end in CRLF.
func Compose(from string, m Message, now time.Time) ([]byte, error) {
	if err := m.check(); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	id := make([]byte, 12)
	if _, err := rand.Read(id); err != nil {
		return nil, fmt.Errorf("mail: message id: %w", err)
	}
	domain := "signet.local"
	if at := strings.LastIndexByte(from, '@'); at >= 0 {
		domain = strings.Trim(from[at+1:], "> ")
	}
	header := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	if a, err := netmail.ParseAddress(from); err == nil {
		header("From", a.String()) // encodes a display name per RFC 2047
	} else {
		return nil, fmt.Errorf("mail: sender %q: %w", from, err)
	}
	header("To", strings.Join(m.To, ", "))
	header("Subject", mime.BEncoding.Encode("UTF-8", m.Subject))
	header("Date", now.Format(time.RFC1123Z))
	header("Message-ID", "<"+hex.EncodeToString(id)+"@"+domain+">")
	header("MIME-Version", "1.0")
	mw := multipart.NewWriter(&b)
	header("Content-Type", "multipart/mixed; boundary="+mw.Boundary())
	b.WriteString("\r\n")

	tp, err := mw.CreatePart(textproto.MIMEHeader{
		"Content-Type":              {"text/plain; charset=UTF-8"},
		"Content-Transfer-Encoding": {"quoted-printable"},
	})
	if err != nil {
		return nil, err
	}
	qp := quotedprintable.NewWriter(tp)
	if _, err := qp.Write([]byte(strings.ReplaceAll(strings.ReplaceAll(m.Text, "\r\n", "\n"), "\n", "\r\n"))); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	for _, a := range m.Attachments {
		ct := a.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		name := strings.NewReplacer("\r", "", "\n", "", "\"", "", "\\", "").Replace(a.Name)
		enc := mime.BEncoding.Encode("UTF-8", name)
		star := "UTF-8''" + url.PathEscape(name)
		ap, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {fmt.Sprintf("%s; name=\"%s\"", ct, enc)},
			"Content-Transfer-Encoding": {"base64"},
			"Content-Disposition":       {fmt.Sprintf("attachment; filename=\"%s\"; filename*=%s", enc, star)},
		})
		if err != nil {
			return nil, err
		}
		if err := writeBase64Lines(ap, a.Data); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// writeBase64Lines writes data in base64, 76 characters per line (RFC 2045).
func writeBase64Lines(w interface{ Write([]byte) (int, error) }, data []byte) error {
	enc := base64.StdEncoding.EncodeToString(data)
	for len(enc) > 0 {
		n := min(76, len(enc))
		if _, err := w.Write([]byte(enc[:n] + "\r\n")); err != nil {
			return err
		}
		enc = enc[n:]
	}
	return nil
}

// MaskAddress shows an address as a trail may: the first character of the
// local part, then ***, then the domain (z***@example.cn).
func MaskAddress(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 {
		return "***"
	}
	r := []rune(addr[:at])
	return string(r[0]) + "***" + addr[at:]
}

// parseAddressList returns the addr-spec of a single address, with or
// without a display name ("签网 <noreply@example.cn>").
func parseAddressList(v string) (string, error) {
	a, err := netmail.ParseAddress(v)
	if err != nil {
		return "", err
	}
	if !ValidAddress(a.Address) {
		return "", fmt.Errorf("not a valid address: %q", a.Address)
	}
	return a.Address, nil
}
