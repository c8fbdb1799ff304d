package mail

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk/internal/freeport"
)

// startCapture starts a capture server that the test closes at its end.
func startCapture(t *testing.T) *Capture {
	t.Helper()
	c, err := StartCapture()
	if err != nil {
		t.Fatalf("StartCapture: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// captureSender returns a sender delivering to c over plain loopback SMTP.
func captureSender(t *testing.T, c *Capture) *SMTPSender {
	t.Helper()
	s, err := NewSMTPSender(SMTPConfig{
		Host: c.Host(), Port: c.Port(), TLS: TLSNone,
		From: "tapdesk <tapdesk@contoso.example>", Timeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatalf("NewSMTPSender: %v", err)
	}
	return s
}

func waitCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSMTPSender(t *testing.T) {
	t.Run("text and HTML with non-ASCII arrive decoded", func(t *testing.T) {
		c := startCapture(t)
		s := captureSender(t, c)

		// Long enough that quoted-printable must break the line, with '='
		// and '&' that it must escape.
		link := "https://tapdesk.contoso.example/approve/" + strings.Repeat("Zx9_-", 12) + "?a=1&b=2"
		subject := "Genehmigung nötig – TAP für Zoë Ångström ✓"
		text := "Grüße, Zoë!\n\nBitte prüfen: " + link + "\n\n— tapdesk 🔐\n"
		html := `<p>Grüße, Zoë!</p><p><a href="` + strings.ReplaceAll(link, "&", "&amp;") + `">Prüfen</a></p>`

		err := s.Send(t.Context(), Message{To: []string{"approver@contoso.example"}, Subject: subject, Text: text, HTML: html})
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		msgs, err := c.Wait(waitCtx(t), 1)
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
		m := msgs[0]
		if m.Subject != subject {
			t.Errorf("Subject = %q, want %q", m.Subject, subject)
		}
		if m.From != "tapdesk <tapdesk@contoso.example>" {
			t.Errorf("From = %q", m.From)
		}
		if len(m.To) != 1 || m.To[0] != "approver@contoso.example" {
			t.Errorf("To = %q", m.To)
		}
		if strings.TrimRight(m.Text, "\n") != strings.TrimRight(text, "\n") {
			t.Errorf("Text = %q, want %q", m.Text, text)
		}
		if !strings.Contains(m.Text, link) {
			t.Errorf("Text lacks the link %q", link)
		}
		if m.HTML != html {
			t.Errorf("HTML = %q, want %q", m.HTML, html)
		}
		raw := string(m.Raw)
		for _, want := range []string{
			"Auto-Submitted: auto-generated\r\n",
			"X-Auto-Response-Suppress: All\r\n",
			"@contoso.example>\r\n", // Message-ID on the sender's domain
			"\r\nDate: ",
			"multipart/alternative",
		} {
			if !strings.Contains(raw, want) {
				t.Errorf("raw message lacks %q:\n%s", want, raw)
			}
		}
		if !strings.Contains(raw, "Message-ID: <") {
			t.Errorf("raw message has no Message-ID:\n%s", raw)
		}
		if strings.Contains(raw, "go-mail") {
			t.Errorf("raw message advertises the mail library:\n%s", raw)
		}
	})

	t.Run("text only is a single text part", func(t *testing.T) {
		c := startCapture(t)
		s := captureSender(t, c)
		if err := s.Send(t.Context(), Message{To: []string{"a@contoso.example"}, Subject: "Hi", Text: "plain ✓"}); err != nil {
			t.Fatalf("Send: %v", err)
		}
		msgs, err := c.Wait(waitCtx(t), 1)
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
		// go-mail ends the body with a line break; the text is otherwise intact.
		if strings.TrimSuffix(msgs[0].Text, "\n") != "plain ✓" || msgs[0].HTML != "" {
			t.Errorf("Text = %q, HTML = %q", msgs[0].Text, msgs[0].HTML)
		}
		if strings.Contains(string(msgs[0].Raw), "multipart") {
			t.Errorf("text-only message is multipart:\n%s", msgs[0].Raw)
		}
	})

	t.Run("Message-IDs are unique", func(t *testing.T) {
		c := startCapture(t)
		s := captureSender(t, c)
		for range 2 {
			if err := s.Send(t.Context(), Message{To: []string{"a@contoso.example"}, Subject: "x", Text: "x"}); err != nil {
				t.Fatalf("Send: %v", err)
			}
		}
		msgs, err := c.Wait(waitCtx(t), 2)
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
		if messageID(msgs[0].Raw) == "" || messageID(msgs[0].Raw) == messageID(msgs[1].Raw) {
			t.Errorf("Message-IDs %q and %q", messageID(msgs[0].Raw), messageID(msgs[1].Raw))
		}
	})

	t.Run("a keyed message keeps its Message-ID across attempts", func(t *testing.T) {
		c := startCapture(t)
		s := captureSender(t, c)
		for _, key := range []string{"req1.7", "req1.7", "req1.8"} {
			if err := s.Send(t.Context(), Message{Key: key, To: []string{"a@contoso.example"}, Subject: "x", Text: "x"}); err != nil {
				t.Fatalf("Send: %v", err)
			}
		}
		msgs, err := c.Wait(waitCtx(t), 3)
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
		first, again, other := messageID(msgs[0].Raw), messageID(msgs[1].Raw), messageID(msgs[2].Raw)
		if first == "" || first != again || first == other {
			t.Errorf("Message-IDs %q, %q (same key), %q (other key)", first, again, other)
		}
		if strings.Contains(first, "req1") {
			t.Errorf("Message-ID %q shows the request id", first)
		}
	})

	t.Run("concurrent sends", func(t *testing.T) {
		c := startCapture(t)
		s := captureSender(t, c)
		var wg sync.WaitGroup
		errs := make(chan error, 5)
		for i := range 5 {
			wg.Go(func() {
				errs <- s.Send(t.Context(), Message{To: []string{fmt.Sprintf("u%d@contoso.example", i)}, Subject: "x", Text: "x"})
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("Send: %v", err)
			}
		}
		if _, err := c.Wait(waitCtx(t), 5); err != nil {
			t.Fatalf("Wait: %v", err)
		}
	})

	t.Run("mandatory STARTTLS refuses a plain server", func(t *testing.T) {
		c := startCapture(t)
		// Only reachable through normalize for a loopback host, which is
		// exactly the case: starttls is the default even there.
		s, err := NewSMTPSender(SMTPConfig{Host: c.Host(), Port: c.Port(), From: "tapdesk@contoso.example"})
		if err != nil {
			t.Fatalf("NewSMTPSender: %v", err)
		}
		err = s.Send(t.Context(), Message{To: []string{"a@contoso.example"}, Subject: "x", Text: "secret link"})
		if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
			t.Fatalf("Send over plain SMTP with starttls = %v, want a STARTTLS error", err)
		}
		if n := len(c.Messages()); n != 0 {
			t.Errorf("%d messages went out unencrypted", n)
		}
	})

	t.Run("server down", func(t *testing.T) {
		c := startCapture(t)
		s := captureSender(t, c)
		c.Close()
		err := s.Send(t.Context(), Message{To: []string{"a@contoso.example"}, Subject: "x", Text: "x"})
		if err == nil {
			t.Fatal("Send to a closed server succeeded")
		}
		if errors.Is(err, ErrPermanent) {
			t.Errorf("connection refused is permanent: %v", err)
		}
	})

	t.Run("bad messages are permanent failures", func(t *testing.T) {
		c := startCapture(t)
		s := captureSender(t, c)
		for name, m := range map[string]Message{
			"no recipient":      {Subject: "x", Text: "x"},
			"invalid recipient": {To: []string{"not an address"}, Subject: "x", Text: "x"},
			"no text":           {To: []string{"a@contoso.example"}, Subject: "x", HTML: "<p>x</p>"},
		} {
			if err := s.Send(t.Context(), m); !errors.Is(err, ErrPermanent) {
				t.Errorf("%s: Send = %v, want ErrPermanent", name, err)
			}
		}
	})
}

func messageID(raw []byte) string {
	for line := range strings.SplitSeq(string(raw), "\r\n") {
		if v, ok := strings.CutPrefix(line, "Message-ID: "); ok {
			return v
		}
	}
	return ""
}

func TestNewSMTPSenderValidation(t *testing.T) {
	valid := SMTPConfig{Host: "smtp.contoso.example", From: "tapdesk@contoso.example"}

	t.Run("defaults", func(t *testing.T) {
		cfg, err := valid.normalize()
		if err != nil {
			t.Fatalf("normalize: %v", err)
		}
		if cfg.TLS != TLSStartTLS || cfg.Port != 587 || cfg.Timeout != DefaultSMTPTimeout {
			t.Errorf("defaults: TLS %q, port %d, timeout %s", cfg.TLS, cfg.Port, cfg.Timeout)
		}
		for tls, port := range map[string]int{TLSImplicit: 465, TLSNone: 25} {
			c := valid
			c.Host, c.TLS = "127.0.0.1", tls
			if cfg, err := c.normalize(); err != nil || cfg.Port != port {
				t.Errorf("TLS %q: port %d, err %v; want port %d", tls, cfg.Port, err, port)
			}
		}
	})

	tests := []struct {
		name   string
		change func(*SMTPConfig)
		want   string // in one of the problems; "" means valid
	}{
		{"valid with auth", func(c *SMTPConfig) { c.Username, c.Password = "u", "p" }, ""},
		{"implicit TLS", func(c *SMTPConfig) { c.TLS = "TLS" }, ""},
		{"none on localhost", func(c *SMTPConfig) { c.Host, c.TLS, c.Port = "localhost", TLSNone, 2525 }, ""},
		{"none on ::1", func(c *SMTPConfig) { c.Host, c.TLS = "::1", TLSNone }, ""},
		{"display name in from", func(c *SMTPConfig) { c.From = `"Tapdesk Ü" <tapdesk@contoso.example>` }, ""},
		{"no host", func(c *SMTPConfig) { c.Host = " " }, "host is empty"},
		{"host with port", func(c *SMTPConfig) { c.Host = "smtp.contoso.example:587" }, "set the port separately"},
		{"host as URL", func(c *SMTPConfig) { c.Host = "smtp://smtp.contoso.example" }, "set the port separately"},
		{"bad port", func(c *SMTPConfig) { c.Port = 70000 }, "port 70000 is out of range"},
		{"unknown TLS", func(c *SMTPConfig) { c.TLS = "ssl" }, `TLS "ssl" is not one of`},
		{"none on a remote host", func(c *SMTPConfig) { c.TLS = TLSNone }, "only for a loopback host"},
		{"none with credentials", func(c *SMTPConfig) {
			c.Host, c.TLS, c.Username, c.Password = "127.0.0.1", TLSNone, "u", "p"
		}, "needs TLS"},
		{"username without password", func(c *SMTPConfig) { c.Username = "u" }, "must be set together"},
		{"no from", func(c *SMTPConfig) { c.From = "" }, "from address is empty"},
		{"bad from", func(c *SMTPConfig) { c.From = "tapdesk at contoso" }, "not a valid address"},
		{"negative timeout", func(c *SMTPConfig) { c.Timeout = -time.Second }, "timeout -1s is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.change(&cfg)
			s, err := NewSMTPSender(cfg)
			if tt.want == "" {
				if err != nil || s == nil {
					t.Fatalf("NewSMTPSender = %v", err)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("NewSMTPSender error = %v, want *ConfigError", err)
			}
			if !strings.Contains(ce.Error(), tt.want) {
				t.Errorf("problems %q lack %q", ce.Problems, tt.want)
			}
		})
	}

	t.Run("all problems at once", func(t *testing.T) {
		_, err := NewSMTPSender(SMTPConfig{Port: -1, TLS: "bogus"})
		var ce *ConfigError
		if !errors.As(err, &ce) || len(ce.Problems) != 4 {
			t.Fatalf("NewSMTPSender(empty) = %v, want 4 problems (host, TLS, port, from)", err)
		}
	})
}

// freePort returns a loopback port with nothing listening on it.
func freePort(t *testing.T) int {
	t.Helper()
	port, err := freeport.Port()
	if err != nil {
		t.Fatal(err)
	}
	return port
}
