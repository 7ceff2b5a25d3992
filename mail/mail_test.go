package mail_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	netmail "net/mail"
	"strings"
	"testing"
	"time"

	"signet/errs"
	"signet/mail"
	"signet/mail/smtptest"
)

func startServer(t *testing.T, cfg smtptest.Config) *smtptest.Server {
	t.Helper()
	srv, err := smtptest.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func newSMTP(t *testing.T, cfg mail.SMTPConfig) *mail.SMTP {
	t.Helper()
	p, err := mail.NewSMTP(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var pdf = append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte{0, 1, 2, 0xff, '\n', '.'}, 5000)...)

func message() mail.Message {
	return mail.Message{
		To:      []string{"zhang.san@example.cn"},
		Subject: "《2026年劳动合同》已签署完成",
		Text:    "您好，\n附件是已签署完成的合同。\n.\n行首的点也要原样送达。",
		Attachments: []mail.Attachment{
			{Name: "劳动合同 (已签署).pdf", ContentType: "application/pdf", Data: pdf},
		},
	}
}

// parsed is what a mail client sees of a received message.
type parsed struct {
	subject, from, to, text string
	files                   map[string][]byte
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	m, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("read message: %v", err)
	}
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("subject: %v", err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("content type %q: %v", m.Header.Get("Content-Type"), err)
	}
	out := parsed{subject: subject, from: m.Header.Get("From"), to: m.Header.Get("To"), files: map[string][]byte{}}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart() // decodes quoted-printable itself
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("part: %v", err)
		}
		body, _ := io.ReadAll(p)
		if name := p.FileName(); name != "" {
			if p.Header.Get("Content-Transfer-Encoding") != "base64" {
				t.Fatalf("attachment encoding %q", p.Header.Get("Content-Transfer-Encoding"))
			}
			for _, l := range strings.Split(string(body), "\r\n") {
				if len(l) > 76 {
					t.Fatalf("base64 line of %d characters", len(l))
				}
			}
			raw, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(body), "\r\n", ""))
			if err != nil {
				t.Fatal(err)
			}
			out.files[name] = raw
			continue
		}
		out.text = string(body)
	}
	return out
}

func TestSMTPDelivery(t *testing.T) {
	srv := startServer(t, smtptest.Config{Username: "signet", Password: "s3cret", StartTLS: true})
	p := newSMTP(t, mail.SMTPConfig{Addr: srv.Addr, Username: "signet", Password: "s3cret",
		From: "签网 <noreply@signet.example.cn>", StartTLS: mail.StartTLSRequire, TLS: srv.ClientTLS()})
	if err := p.Send(context.Background(), message()); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	got := msgs[0]
	if got.From != "noreply@signet.example.cn" || len(got.To) != 1 || got.To[0] != "zhang.san@example.cn" || got.Username != "signet" || !got.TLS {
		t.Fatalf("envelope = %+v", got)
	}
	for _, l := range strings.Split(string(got.Data), "\r\n") {
		for _, c := range []byte(l) {
			if c >= 0x80 {
				t.Fatalf("raw 8-bit byte in the message: %q", l)
			}
		}
	}
	m := parse(t, got.Data)
	if from, err := (&mime.WordDecoder{}).DecodeHeader(m.from); err != nil || from != "\"签网\" <noreply@signet.example.cn>" && from != "签网 <noreply@signet.example.cn>" {
		t.Fatalf("from %q", from)
	}
	if m.subject != "《2026年劳动合同》已签署完成" {
		t.Fatalf("subject %q", m.subject)
	}
	if !strings.Contains(m.text, "附件是已签署完成的合同。") || !strings.Contains(m.text, "\r\n.\r\n行首的点") {
		t.Fatalf("text %q", m.text)
	}
	if !bytes.Equal(m.files["劳动合同 (已签署).pdf"], pdf) {
		t.Fatalf("attachment names %v or content differ", keys(m.files))
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestSMTPPlainLocal: without STARTTLS, net/smtp still authenticates to a
// server on localhost.
func TestSMTPPlainLocal(t *testing.T) {
	srv := startServer(t, smtptest.Config{Username: "u", Password: "p"})
	p := newSMTP(t, mail.SMTPConfig{Addr: srv.Addr, Username: "u", Password: "p", From: "noreply@signet.example.cn"})
	if err := p.Send(context.Background(), message()); err != nil {
		t.Fatal(err)
	}
	if m := srv.Messages(); len(m) != 1 || m[0].TLS || m[0].Username != "u" {
		t.Fatalf("messages %+v", m)
	}
}

func TestSMTPRefusals(t *testing.T) {
	ctx := context.Background()
	t.Run("wrong password", func(t *testing.T) {
		srv := startServer(t, smtptest.Config{Username: "u", Password: "p"})
		p := newSMTP(t, mail.SMTPConfig{Addr: srv.Addr, Username: "u", Password: "wrong", From: "noreply@signet.example.cn"})
		err := p.Send(ctx, message())
		if errs.CodeOf(err) != errs.Internal || errs.As(err).Message != "邮件发送失败，请稍后再试" || srv.AuthFailures() != 1 {
			t.Fatalf("err %v (%s), failures %d", err, errs.MessageOf(err), srv.AuthFailures())
		}
		if len(srv.Messages()) != 0 {
			t.Fatal("a message was accepted")
		}
	})
	t.Run("STARTTLS required but not offered", func(t *testing.T) {
		srv := startServer(t, smtptest.Config{})
		p := newSMTP(t, mail.SMTPConfig{Addr: srv.Addr, From: "noreply@signet.example.cn", StartTLS: mail.StartTLSRequire})
		if err := p.Send(ctx, message()); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
			t.Fatalf("err %v", err)
		}
		if len(srv.Messages()) != 0 {
			t.Fatal("sent in the clear")
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		srv := startServer(t, smtptest.Config{StartTLS: true})
		p := newSMTP(t, mail.SMTPConfig{Addr: srv.Addr, From: "noreply@signet.example.cn"})
		if err := p.Send(ctx, message()); err == nil || len(srv.Messages()) != 0 {
			t.Fatalf("err %v, %d messages", err, len(srv.Messages()))
		}
	})
	t.Run("recipient refused", func(t *testing.T) {
		srv := startServer(t, smtptest.Config{RejectRecipient: func(a string) bool { return strings.HasPrefix(a, "zhang") }})
		p := newSMTP(t, mail.SMTPConfig{Addr: srv.Addr, From: "noreply@signet.example.cn", StartTLS: mail.StartTLSOff})
		if err := p.Send(ctx, message()); errs.CodeOf(err) != errs.Internal || !strings.Contains(err.Error(), "RCPT") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("server down", func(t *testing.T) {
		srv := startServer(t, smtptest.Config{})
		addr := srv.Addr
		srv.Close()
		p := newSMTP(t, mail.SMTPConfig{Addr: addr, From: "noreply@signet.example.cn", Timeout: 2 * time.Second})
		if err := p.Send(ctx, message()); errs.CodeOf(err) != errs.Internal {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("bad addresses", func(t *testing.T) {
		srv := startServer(t, smtptest.Config{})
		p := newSMTP(t, mail.SMTPConfig{Addr: srv.Addr, From: "noreply@signet.example.cn"})
		for _, to := range []string{"", "not-an-address", "a@b", "王 <a@b.cn>", "a@b.cn\r\nBcc: x@y.cn", "a@b.cn, c@d.cn"} {
			m := message()
			m.To = []string{to}
			if err := p.Send(ctx, m); errs.CodeOf(err) != errs.Invalid || errs.As(err).Field != "email" {
				t.Errorf("to %q: err %v", to, err)
			}
		}
		m := message()
		m.Subject = "注入\r\nBcc: x@y.cn"
		if err := p.Send(ctx, m); errs.CodeOf(err) != errs.Invalid {
			t.Errorf("header injection in subject: %v", err)
		}
		if len(srv.Messages()) != 0 {
			t.Fatal("a bad message was sent")
		}
	})
	t.Run("bad config", func(t *testing.T) {
		for _, cfg := range []mail.SMTPConfig{
			{Addr: "no-port", From: "a@b.cn"},
			{Addr: "127.0.0.1:25", From: "nobody"},
			{Addr: "127.0.0.1:25", From: "a@b.cn", StartTLS: "sometimes"},
		} {
			if _, err := mail.NewSMTP(cfg); err == nil {
				t.Errorf("NewSMTP(%+v) accepted", cfg)
			}
		}
	})
}

func TestOutbox(t *testing.T) {
	o := mail.NewOutbox(2, nil)
	for i := 0; i < 3; i++ {
		if err := o.Send(context.Background(), message()); err != nil {
			t.Fatal(err)
		}
	}
	if got := o.To("zhang.san@example.cn"); len(got) != 2 || got[0].Subject != message().Subject {
		t.Fatalf("outbox keeps %d", len(got))
	}
	m := message()
	m.To = []string{"bad"}
	if err := o.Send(context.Background(), m); errs.CodeOf(err) != errs.Invalid {
		t.Fatalf("outbox accepted a bad address: %v", err)
	}
}

func TestMaskAddress(t *testing.T) {
	for in, want := range map[string]string{"zhang.san@example.cn": "z***@example.cn", "王@qq.com": "王***@qq.com", "x": "***"} {
		if got := mail.MaskAddress(in); got != want {
			t.Errorf("MaskAddress(%q) = %q, want %q", in, got, want)
		}
	}
}
