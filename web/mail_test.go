package web_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"net"
	"net/http/httptest"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/securecam/securecam/store/storetest"
	"github.com/securecam/securecam/web"
)

// Without SMTP the links reach the operator: in the log at the default level,
// marked, and the hub says so when it starts.
func TestLogMailerLogsLinksAtInfo(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	srv, err := web.NewFast(web.Config{}, web.Deps{Store: storetest.NewSQLite(t), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "no SMTP server configured") {
		t.Fatalf("no warning at start that links go to the log:\n%s", buf.String())
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	res, err := hs.Client().Post(hs.URL+"/api/v1/auth/password-reset/request", "application/json",
		strings.NewReader(`{"email":"nobody-yet@example.com"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	res, err = hs.Client().Post(hs.URL+"/api/v1/auth/sign-up", "application/json",
		strings.NewReader(`{"email":"a@example.com","password":"correct horse battery","name":"A"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 201 {
		t.Fatalf("sign-up: %d", res.StatusCode)
	}
	deadline := time.After(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !strings.Contains(buf.String(), "/verify-email?token=") {
		select {
		case <-deadline:
			t.Fatalf("the verification link is not in the info log:\n%s", buf.String())
		case <-tick.C:
		}
	}
	for line := range strings.Lines(buf.String()) {
		if strings.Contains(line, "/verify-email?token=") &&
			(!strings.Contains(line, "level=INFO") || !strings.Contains(line, web.LogMailerNotice) || !strings.Contains(line, "a@example.com")) {
			t.Errorf("link logged without its mark, level or recipient: %s", line)
		}
	}
}

// syncBuffer is a log destination written from the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestNewSMTPMailerRefusesBadURLs(t *testing.T) {
	t.Parallel()
	for _, u := range []string{
		"http://host/?from=a@example.com",
		"smtp:///?from=a@example.com",
		"smtp://host:25/",
		"smtp://host:25/?from=not-an-address",
		"::",
	} {
		if _, err := web.NewSMTPMailer(u); err == nil {
			t.Errorf("NewSMTPMailer(%q): no error", u)
		}
	}
}

// smtpSession is what the fake server saw.
type smtpSession struct {
	auth, from, to, data string
}

// fakeSMTP accepts one connection and speaks just enough SMTP (no TLS, AUTH PLAIN).
func fakeSMTP(t *testing.T) (addr string, got <-chan smtpSession) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan smtpSession, 1)
	done := make(chan struct{})
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		tp := textproto.NewConn(conn)
		var s smtpSession
		_ = tp.PrintfLine("220 fake ESMTP")
		for {
			line, err := tp.ReadLine()
			if err != nil {
				return
			}
			verb, arg, _ := strings.Cut(line, " ")
			switch strings.ToUpper(verb) {
			case "EHLO", "HELO":
				_ = tp.PrintfLine("250-fake\r\n250 AUTH PLAIN")
			case "AUTH":
				_, b64, _ := strings.Cut(arg, " ")
				raw, _ := base64.StdEncoding.DecodeString(b64)
				s.auth = string(raw)
				_ = tp.PrintfLine("235 ok")
			case "MAIL":
				s.from = arg
				_ = tp.PrintfLine("250 ok")
			case "RCPT":
				s.to = arg
				_ = tp.PrintfLine("250 ok")
			case "DATA":
				_ = tp.PrintfLine("354 go")
				b, err := tp.ReadDotBytes()
				if err != nil {
					return
				}
				s.data = string(b)
				_ = tp.PrintfLine("250 queued")
			case "QUIT":
				_ = tp.PrintfLine("221 bye")
				ch <- s
				return
			default:
				_ = tp.PrintfLine("502 no")
			}
		}
	}()
	return ln.Addr().String(), ch
}

func TestSMTPMailerSends(t *testing.T) {
	t.Parallel()
	addr, got := fakeSMTP(t)
	m, err := web.NewSMTPMailer("smtp://hub:p%40ss@" + addr + "/?from=hub@example.com")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	body := "Open this link:\n\nhttps://hub.example.com/verify-email?token=abc.def\n"
	if err := m.Send(ctx, "user@example.com", "Verify — now", body); err != nil {
		t.Fatal(err)
	}
	s := <-got
	if s.auth != "\x00hub\x00p@ss" {
		t.Errorf("AUTH PLAIN %q", s.auth)
	}
	if s.from != "FROM:<hub@example.com>" || s.to != "TO:<user@example.com>" {
		t.Errorf("envelope %q %q", s.from, s.to)
	}
	msg, err := textproto.NewReader(bufio.NewReader(strings.NewReader(s.data))).ReadMIMEHeader()
	if err != nil {
		t.Fatal(err)
	}
	if msg.Get("To") != "user@example.com" || msg.Get("From") != "hub@example.com" ||
		msg.Get("Subject") != "=?utf-8?q?Verify_=E2=80=94_now?=" {
		t.Errorf("headers %v", msg)
	}
	if !strings.Contains(s.data, "https://hub.example.com/verify-email?token=3Dabc.def") {
		t.Errorf("body lacks the (quoted-printable) link:\n%s", s.data)
	}
}

func TestSMTPMailerHonoursContext(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c // never greets
		}
	}()
	m, err := web.NewSMTPMailer("smtp://" + ln.Addr().String() + "/?from=hub@example.com")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- m.Send(ctx, "u@example.com", "s", "b") }()
	c := <-accepted
	defer c.Close()
	cancel()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("Send returned nil after its context ended")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Send did not return after its context ended")
	}
}
