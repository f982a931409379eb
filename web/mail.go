package web

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Mailer sends one plain-text mail. Bodies carry secret links: implementations must
// not log them above debug level, except [LogMailer], whose purpose that is.
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// LogMailerNotice is the message of the log line that carries a mail LogMailer did
// not send, link included.
const LogMailerNotice = "MAIL NOT SENT (no SMTP configured): its link is in this line"

// LogMailer writes mail to the log instead of sending it, body (with its secret
// link) included, at info, so that a self-hoster without SMTP can still verify an
// address or reset a password from the hub's log. It is the default when no SMTP
// server is configured; [New] says so at start.
type LogMailer struct {
	log *slog.Logger
}

// NewLogMailer returns a mailer writing to log.
func NewLogMailer(log *slog.Logger) *LogMailer {
	return &LogMailer{log: log}
}

// Send implements [Mailer].
func (m *LogMailer) Send(ctx context.Context, to, subject, body string) error {
	m.log.InfoContext(ctx, LogMailerNotice, "to", to, "subject", subject, "body", body)
	return nil
}

// SMTPMailer sends through an SMTP server.
type SMTPMailer struct {
	addr     string // host:port
	host     string
	implicit bool // smtps: TLS from the first byte
	auth     smtp.Auth
	from     string
}

// NewSMTPMailer parses a URL smtp://user:pass@host:port/?from=addr (STARTTLS when the
// server offers it; port 587 by default) or smtps://… (TLS from the start; port 465 by
// default). The user and password are optional; with them the mailer authenticates
// with PLAIN, which net/smtp allows only over TLS or to localhost.
func NewSMTPMailer(rawURL string) (*SMTPMailer, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("smtp url: %w", err)
	}
	m := &SMTPMailer{host: u.Hostname()}
	port := u.Port()
	switch u.Scheme {
	case "smtp":
		if port == "" {
			port = "587"
		}
	case "smtps":
		m.implicit = true
		if port == "" {
			port = "465"
		}
	default:
		return nil, fmt.Errorf("smtp url: scheme %q, want smtp or smtps", u.Scheme)
	}
	if m.host == "" {
		return nil, fmt.Errorf("smtp url: no host")
	}
	m.addr = net.JoinHostPort(m.host, port)
	from, err := mail.ParseAddress(u.Query().Get("from"))
	if err != nil {
		return nil, fmt.Errorf("smtp url: from=%q: %w", u.Query().Get("from"), err)
	}
	m.from = from.Address
	if u.User != nil && u.User.Username() != "" {
		pass, _ := u.User.Password()
		m.auth = smtp.PlainAuth("", u.User.Username(), pass, m.host)
	}
	return m, nil
}

// Send implements [Mailer]. It gives up when ctx ends.
func (m *SMTPMailer) Send(ctx context.Context, to, subject, body string) error {
	if strings.ContainsAny(to+subject, "\r\n") {
		return fmt.Errorf("smtp send: line break in address or subject")
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", m.addr)
	if err != nil {
		return fmt.Errorf("smtp dial: %w", err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if m.implicit {
		conn = tls.Client(conn, &tls.Config{ServerName: m.host, MinVersion: tls.VersionTLS12})
	}
	c, err := smtp.NewClient(conn, m.host)
	if err != nil {
		return fmt.Errorf("smtp greeting: %w", err)
	}
	defer c.Close()
	if err := m.deliver(c, to, subject, body); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("smtp send: %w", ctx.Err())
		}
		return err
	}
	return nil
}

func (m *SMTPMailer) deliver(c *smtp.Client, to, subject, body string) error {
	if !m.implicit {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(&tls.Config{ServerName: m.host, MinVersion: tls.VersionTLS12}); err != nil {
				return fmt.Errorf("smtp starttls: %w", err)
			}
		}
	}
	if m.auth != nil {
		if err := c.Auth(m.auth); err != nil {
			return fmt.Errorf("smtp auth: %w", err)
		}
	}
	if err := c.Mail(m.from); err != nil {
		return fmt.Errorf("smtp mail from: %w", err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("smtp rcpt to: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	if _, err := w.Write(m.message(to, subject, body)); err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	if err := c.Quit(); err != nil {
		return fmt.Errorf("smtp quit: %w", err)
	}
	return nil
}

func (m *SMTPMailer) message(to, subject, body string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\n", m.from)
	fmt.Fprintf(&b, "To: %s\r\n", to)
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", subject))
	fmt.Fprintf(&b, "Date: %s\r\n", time.Now().UTC().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", uuid.NewString(), m.host)
	b.WriteString("MIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n")
	b.WriteString("Content-Transfer-Encoding: quoted-printable\r\n\r\n")
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(strings.ReplaceAll(body, "\n", "\r\n")))
	_ = qp.Close()
	b.WriteString("\r\n")
	return b.Bytes()
}
