package mail

import (
	"context"
	"errors"
	"fmt"
	netsmtp "net/smtp"
	"strings"
	"testing"
	"time"
)

// sendRaw delivers a hand-written message, for encodings go-mail does not
// produce.
func sendRaw(t *testing.T, c *Capture, to string, raw string) {
	t.Helper()
	raw = strings.ReplaceAll(raw, "\n", "\r\n")
	if err := netsmtp.SendMail(c.Addr(), nil, "sender@fabrikam.example", []string{to}, []byte(raw)); err != nil {
		t.Fatalf("SendMail: %v", err)
	}
}

func TestCapture(t *testing.T) {
	t.Run("address", func(t *testing.T) {
		c := startCapture(t)
		if c.Host() != "127.0.0.1" || c.Port() == 0 || c.Addr() != fmt.Sprintf("127.0.0.1:%d", c.Port()) {
			t.Errorf("Host %q, Port %d, Addr %q", c.Host(), c.Port(), c.Addr())
		}
	})

	t.Run("base64 and nested multipart", func(t *testing.T) {
		c := startCapture(t)
		sendRaw(t, c, "bob@contoso.example", `From: =?utf-8?q?J=C3=BCrgen?= <j@fabrikam.example>
To: bob@contoso.example
Subject: =?utf-8?b?R3LDvMOfZSDinJM=?=
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

--outer
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

R3LDvMOfZSEKaHR0cHM6Ly90YXBkZXNrLmV4YW1wbGUv
YXBwcm92ZS90b2tlbg==
--inner
Content-Type: text/html; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

<p>Gr=FC=DFe</p>
--inner--
--outer
Content-Type: text/plain
Content-Disposition: attachment; filename="x.txt"

not the body
--outer--
`)
		msgs, err := c.Wait(waitCtx(t), 1)
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
		m := msgs[0]
		if m.Subject != "Grüße ✓" {
			t.Errorf("Subject = %q", m.Subject)
		}
		if m.From != "Jürgen <j@fabrikam.example>" {
			t.Errorf("From = %q", m.From)
		}
		if m.Text != "Grüße!\nhttps://tapdesk.example/approve/token" {
			t.Errorf("Text = %q", m.Text)
		}
		if m.HTML != "<p>Grüße</p>" {
			t.Errorf("HTML = %q", m.HTML)
		}
		if m.ID != 1 || m.Received.IsZero() {
			t.Errorf("ID %d, Received %s", m.ID, m.Received)
		}
	})

	t.Run("no MIME headers is plain text", func(t *testing.T) {
		c := startCapture(t)
		sendRaw(t, c, "bob@contoso.example", "Subject: plain\n\nhello\n")
		msgs, err := c.Wait(waitCtx(t), 1)
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
		if msgs[0].Text != "hello\n" || msgs[0].From != "sender@fabrikam.example" {
			t.Errorf("Text %q, From %q (want the envelope sender)", msgs[0].Text, msgs[0].From)
		}
	})

	t.Run("keeps only the newest", func(t *testing.T) {
		c := startCapture(t)
		c.Keep(3)
		for i := range 5 {
			sendRaw(t, c, "bob@contoso.example", fmt.Sprintf("Subject: m%d\n\nx\n", i+1))
		}
		msgs, err := c.Wait(waitCtx(t), 5)
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
		var got []string
		for _, m := range msgs {
			got = append(got, fmt.Sprintf("%d:%s", m.ID, m.Subject))
		}
		if strings.Join(got, " ") != "3:m3 4:m4 5:m5" {
			t.Errorf("kept %v, want the last three, newest last", got)
		}
		if _, ok := c.Message(1); ok {
			t.Error("Message(1) still found after it was dropped")
		}
		if m, ok := c.Message(4); !ok || m.Subject != "m4" {
			t.Errorf("Message(4) = %q, %v", m.Subject, ok)
		}
	})

	t.Run("Wait honours its context", func(t *testing.T) {
		c := startCapture(t)
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		if _, err := c.Wait(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Wait = %v, want deadline exceeded", err)
		}
	})

	t.Run("Wait ends at Close", func(t *testing.T) {
		c := startCapture(t)
		go func() {
			time.Sleep(20 * time.Millisecond)
			c.Close()
		}()
		if _, err := c.Wait(waitCtx(t), 1); !errors.Is(err, ErrCaptureClosed) {
			t.Errorf("Wait = %v, want ErrCaptureClosed", err)
		}
		if err := c.Close(); err != nil {
			t.Errorf("second Close = %v", err)
		}
	})

	t.Run("messages are copies", func(t *testing.T) {
		c := startCapture(t)
		sendRaw(t, c, "bob@contoso.example", "Subject: x\n\nx\n")
		msgs, err := c.Wait(waitCtx(t), 1)
		if err != nil {
			t.Fatal(err)
		}
		msgs[0].To[0] = "mallory@evil.example"
		if got := c.Messages()[0].To[0]; got != "bob@contoso.example" {
			t.Errorf("changing a returned message changed the capture: %q", got)
		}
	})
}
