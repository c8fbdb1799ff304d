package mail_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk/mail"
)

// Check says whether the relay takes connections, without sending or
// signing in, and names what failed.
func TestSMTPCheck(t *testing.T) {
	capture, err := mail.StartCapture()
	if err != nil {
		t.Fatal(err)
	}
	defer capture.Close()
	sender := func(tlsMode string) *mail.SMTPSender {
		s, err := mail.NewSMTPSender(mail.SMTPConfig{Host: capture.Host(), Port: capture.Port(), From: "tapdesk@contoso.example", TLS: tlsMode})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	if err := sender(mail.TLSNone).Check(ctx); err != nil {
		t.Fatalf("relay up: %v", err)
	}
	if n := len(capture.Messages()); n != 0 {
		t.Fatalf("the check sent %d messages", n)
	}
	// The capture server offers no STARTTLS: a relay that must encrypt
	// but cannot is not ready.
	if err := sender(mail.TLSStartTLS).Check(ctx); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("relay without STARTTLS: %v", err)
	}
	s := sender(mail.TLSNone)
	capture.Close()
	if err := s.Check(ctx); err == nil || !strings.Contains(err.Error(), "connect to "+capture.Addr()) {
		t.Fatalf("relay down: %v", err)
	}
}
