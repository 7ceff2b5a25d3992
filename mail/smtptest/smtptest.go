// Package smtptest is a small SMTP server for tests: it listens on
// 127.0.0.1:0 and speaks enough ESMTP for net/smtp — EHLO/HELO, STARTTLS
// (with a throwaway certificate for 127.0.0.1), AUTH PLAIN, MAIL, RCPT,
// DATA with dot-unstuffing, RSET, NOOP, QUIT — and records every message it
// accepts.
package smtptest

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"net"
	"strings"
	"sync"
	"time"
)

// Config adjusts a Server.
type Config struct {
	// Username and Password, when set, are required (AUTH PLAIN) before MAIL.
	Username, Password string
	// StartTLS offers STARTTLS with a certificate for 127.0.0.1.
	StartTLS bool
	// RejectRecipient, when set, answers 550 to the recipients it names.
	RejectRecipient func(addr string) bool
}

// Message is a message the server accepted.
type Message struct {
	From string
	To   []string
	// Data is the message as received, dot-unstuffed, CRLF line ends.
	Data []byte
	// Username is who authenticated ("" when nobody did); TLS reports an
	// upgraded connection.
	Username string
	TLS      bool
}

// Server is a running test server.
type Server struct {
	// Addr is host:port to give the client.
	Addr string

	cfg    Config
	ln     net.Listener
	tlsCfg *tls.Config
	pool   *x509.CertPool
	wg     sync.WaitGroup

	mu       sync.Mutex
	messages []Message
	authFail int
}

// Start listens on 127.0.0.1:0 and serves until Close.
func Start(cfg Config) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Server{Addr: ln.Addr().String(), cfg: cfg, ln: ln}
	if cfg.StartTLS {
		if err := s.makeCert(); err != nil {
			ln.Close()
			return nil, err
		}
	}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// ClientTLS is a client configuration that trusts the server's certificate.
func (s *Server) ClientTLS() *tls.Config {
	return &tls.Config{RootCAs: s.pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// Messages returns the accepted messages, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// AuthFailures counts refused AUTH attempts.
func (s *Server) AuthFailures() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authFail
}

// Close stops listening and waits for open sessions to end.
func (s *Server) Close() error {
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(30 * time.Second))
			s.session(c)
		}()
	}
}

// session is one SMTP conversation.
func (s *Server) session(c net.Conn) {
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	reply := func(lines ...string) {
		for _, l := range lines {
			w.WriteString(l + "\r\n")
		}
		w.Flush()
	}
	var (
		isTLS bool
		user  string
		from  string
		to    []string
		inTx  bool
	)
	reply("220 127.0.0.1 smtptest ESMTP")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			ext := []string{"250-127.0.0.1 greets " + arg, "250-8BITMIME", "250-SIZE 31457280"}
			if s.tlsCfg != nil && !isTLS {
				ext = append(ext, "250-STARTTLS")
			}
			reply(append(ext, "250 AUTH PLAIN")...)
		case "HELO":
			reply("250 127.0.0.1")
		case "STARTTLS":
			if s.tlsCfg == nil || isTLS {
				reply("502 5.5.1 not available")
				continue
			}
			reply("220 2.0.0 ready to start TLS")
			tc := tls.Server(c, s.tlsCfg)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, isTLS = tc, true
			r, w = bufio.NewReader(tc), bufio.NewWriter(tc)
			user, from, to, inTx = "", "", nil, false
		case "AUTH":
			mech, initial, _ := strings.Cut(arg, " ")
			if !strings.EqualFold(mech, "PLAIN") {
				reply("504 5.5.4 unrecognised authentication type")
				continue
			}
			if initial == "" {
				reply("334 ")
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				initial = strings.TrimRight(l, "\r\n")
			}
			raw, err := base64.StdEncoding.DecodeString(initial)
			parts := strings.Split(string(raw), "\x00")
			if err != nil || len(parts) != 3 || parts[1] != s.cfg.Username || parts[2] != s.cfg.Password || s.cfg.Username == "" {
				s.mu.Lock()
				s.authFail++
				s.mu.Unlock()
				reply("535 5.7.8 authentication credentials invalid")
				continue
			}
			user = parts[1]
			reply("235 2.7.0 authentication successful")
		case "MAIL":
			if s.cfg.Username != "" && user == "" {
				reply("530 5.7.0 authentication required")
				continue
			}
			from, to, inTx = angle(arg), nil, true
			reply("250 2.1.0 ok")
		case "RCPT":
			if !inTx {
				reply("503 5.5.1 MAIL first")
				continue
			}
			addr := angle(arg)
			if s.cfg.RejectRecipient != nil && s.cfg.RejectRecipient(addr) {
				reply("550 5.1.1 no such user")
				continue
			}
			to = append(to, addr)
			reply("250 2.1.5 ok")
		case "DATA":
			if !inTx || len(to) == 0 {
				reply("503 5.5.1 RCPT first")
				continue
			}
			reply("354 end data with <CR><LF>.<CR><LF>")
			var data bytes.Buffer
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" || l == ".\n" {
					break
				}
				if strings.HasPrefix(l, ".") {
					l = l[1:]
				}
				data.WriteString(l)
			}
			s.mu.Lock()
			s.messages = append(s.messages, Message{From: from, To: to, Data: data.Bytes(), Username: user, TLS: isTLS})
			s.mu.Unlock()
			from, to, inTx = "", nil, false
			reply("250 2.0.0 queued")
		case "RSET":
			from, to, inTx = "", nil, false
			reply("250 2.0.0 ok")
		case "NOOP":
			reply("250 2.0.0 ok")
		case "QUIT":
			reply("221 2.0.0 bye")
			return
		default:
			reply("502 5.5.2 command not recognised")
		}
	}
}

// angle returns the address in "FROM:<a@b> SIZE=1" or "TO:<a@b>".
func angle(arg string) string {
	i, j := strings.IndexByte(arg, '<'), strings.IndexByte(arg, '>')
	if i < 0 || j < i {
		return ""
	}
	return arg[i+1 : j]
}

// makeCert creates a self-signed certificate for 127.0.0.1.
func (s *Server) makeCert() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtptest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("smtptest: certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	s.pool = x509.NewCertPool()
	s.pool.AddCert(cert)
	s.tlsCfg = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}}, MinVersion: tls.VersionTLS12}
	return nil
}
