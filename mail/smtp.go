package mail

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// TLS modes of SMTPConfig.TLS.
const (
	TLSStartTLS = "starttls" // plain connect, then mandatory STARTTLS (the default)
	TLSImplicit = "tls"      // TLS from the first byte ("SMTPS", usually port 465)
	TLSNone     = "none"     // no encryption; loopback test servers only
)

// Default SMTP settings.
const (
	DefaultSMTPTimeout = 15 * time.Second
)

// SMTPConfig holds the SMTP relay settings.
type SMTPConfig struct {
	Host     string // host name or IP, without port
	Port     int    // 0 means 587 for starttls, 465 for tls, 25 for none
	Username string // empty means no SMTP AUTH
	Password string
	From     string // "tapdesk <tapdesk@example.com>" or a bare address
	TLS      string // TLSStartTLS (default when empty), TLSImplicit or TLSNone
	Timeout  time.Duration
}

// ConfigError lists everything wrong with an SMTPConfig at once, so an
// operator fixes the settings in one round instead of one per restart.
type ConfigError struct {
	Problems []string
}

func (e *ConfigError) Error() string {
	return "mail: invalid SMTP settings: " + strings.Join(e.Problems, "; ")
}

// normalize validates cfg and fills in defaults.
func (cfg SMTPConfig) normalize() (SMTPConfig, error) {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	cfg.Host = strings.TrimSpace(cfg.Host)
	cfg.TLS = strings.ToLower(strings.TrimSpace(cfg.TLS))
	if cfg.TLS == "" {
		cfg.TLS = TLSStartTLS
	}

	switch {
	case cfg.Host == "":
		add("host is empty")
	case strings.ContainsAny(cfg.Host, " /@") || (strings.Contains(cfg.Host, ":") && net.ParseIP(cfg.Host) == nil):
		// "smtp.example.com:587" or a URL: the port has its own setting.
		add("host %q must be a host name or IP address only (set the port separately)", cfg.Host)
	}

	switch cfg.TLS {
	case TLSStartTLS, TLSImplicit:
	case TLSNone:
		// Unencrypted SMTP leaks approval links to anyone on the path; it
		// is only acceptable where there is no path, as with the demo
		// capture server.
		if cfg.Host != "" && !isLoopback(cfg.Host) {
			add("TLS %q is allowed only for a loopback host (localhost, 127.0.0.1, ::1), not %q; use %q or %q",
				TLSNone, cfg.Host, TLSStartTLS, TLSImplicit)
		}
		if cfg.Username != "" || cfg.Password != "" {
			add("a username or password needs TLS %q or %q, not %q", TLSStartTLS, TLSImplicit, TLSNone)
		}
	default:
		add("TLS %q is not one of %q, %q, %q", cfg.TLS, TLSStartTLS, TLSImplicit, TLSNone)
	}

	if cfg.Port == 0 {
		switch cfg.TLS {
		case TLSImplicit:
			cfg.Port = 465
		case TLSNone:
			cfg.Port = 25
		default:
			cfg.Port = 587
		}
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		add("port %d is out of range (1-65535)", cfg.Port)
	}

	if (cfg.Username == "") != (cfg.Password == "") {
		add("username and password must be set together")
	}

	if strings.TrimSpace(cfg.From) == "" {
		add("from address is empty")
	} else if addr, err := netmail.ParseAddress(cfg.From); err != nil {
		add("from address %q is not a valid address: %v", cfg.From, err)
	} else if !strings.Contains(addr.Address, "@") {
		add("from address %q has no domain", cfg.From)
	}

	switch {
	case cfg.Timeout == 0:
		cfg.Timeout = DefaultSMTPTimeout
	case cfg.Timeout < 0:
		add("timeout %s is negative", cfg.Timeout)
	}

	if len(problems) > 0 {
		return cfg, &ConfigError{Problems: problems}
	}
	return cfg, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// SMTPSender delivers messages through an SMTP relay, one connection per
// message: the worker sends a few mails now and then, so a pooled connection
// would mostly be a connection the relay has already timed out.
// It is safe for concurrent use.
type SMTPSender struct {
	cfg      SMTPConfig // normalised; Check dials with it
	client   *gomail.Client
	from     string
	idDomain string // right-hand side of Message-IDs
}

var _ Sender = (*SMTPSender)(nil)

// NewSMTPSender validates cfg and returns a sender for it. It does not
// connect: the relay may be down at start, and the outbox waits for it.
func NewSMTPSender(cfg SMTPConfig) (*SMTPSender, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	opts := []gomail.Option{
		gomail.WithPort(cfg.Port),
		gomail.WithTimeout(cfg.Timeout),
	}
	switch cfg.TLS {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
	case TLSNone:
		// go-mail's default policy is mandatory STARTTLS, which a plain
		// server refuses; NoTLS must be asked for explicitly.
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if cfg.Username != "" {
		// Auto-discovery picks the strongest mechanism the relay offers and,
		// on an unencrypted connection, never PLAIN or LOGIN.
		opts = append(opts,
			gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(cfg.Username),
			gomail.WithPassword(cfg.Password))
	}
	client, err := gomail.NewClient(cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("mail: SMTP client: %w", err)
	}
	from, _ := netmail.ParseAddress(cfg.From) // checked in normalize
	return &SMTPSender{
		cfg:      cfg,
		client:   client,
		from:     cfg.From,
		idDomain: from.Address[strings.LastIndexByte(from.Address, '@')+1:],
	}, nil
}

// Send delivers m. A recipient the relay refuses for good yields an error
// wrapping ErrPermanent. Errors never contain the body.
func (s *SMTPSender) Send(ctx context.Context, m Message) error {
	msg, err := s.build(m)
	if err != nil {
		return err
	}
	if err := s.client.DialAndSendWithContext(ctx, msg); err != nil {
		return sendError(err)
	}
	return nil
}

var _ BatchSender = (*SMTPSender)(nil)

// SendBatch delivers ms over one connection (one TCP and TLS handshake and
// one sign-in for the batch, not one per message); errs[i] is ms[i]'s
// outcome, as Send would give it. A refusal of one message does not stop
// the others. Once ctx is done, the messages not yet sent get its error.
func (s *SMTPSender) SendBatch(ctx context.Context, ms []Message) []error {
	errs := make([]error, len(ms))
	msgs := make([]*gomail.Msg, len(ms))
	pending := 0
	for i, m := range ms {
		if msgs[i], errs[i] = s.build(m); errs[i] == nil {
			pending++
		}
	}
	if pending == 0 {
		return errs
	}
	client, err := s.client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = fmt.Errorf("mail: dial failed: %w", err)
			}
		}
		return errs
	}
	// A failure to say QUIT after the messages went out changes nothing
	// about them.
	defer s.client.CloseWithSMTPClient(client) //nolint:errcheck
	for i, msg := range msgs {
		if errs[i] != nil {
			continue
		}
		if err := ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if err := s.client.SendWithSMTPClient(client, msg); err != nil {
			errs[i] = sendError(fmt.Errorf("send failed: %w", err))
		}
	}
	return errs
}

// build turns m into go-mail's message, or refuses it for good.
func (s *SMTPSender) build(m Message) (*gomail.Msg, error) {
	if len(m.To) == 0 {
		return nil, fmt.Errorf("mail: message has no recipient: %w", ErrPermanent)
	}
	if m.Text == "" {
		// Every mail has a plain text part: it is what screen readers and
		// text-only clients show, and the HTML part is optional.
		return nil, fmt.Errorf("mail: message has no text body: %w", ErrPermanent)
	}

	// No default User-Agent: it would advertise the library and version.
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.From(s.from); err != nil {
		return nil, fmt.Errorf("mail: from address: %w", err)
	}
	if err := msg.To(m.To...); err != nil {
		return nil, fmt.Errorf("mail: recipient: %w", errors.Join(ErrPermanent, err))
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(messageIDFor(m.Key, s.idDomain))
	msg.SetDateWithValue(time.Now())
	// RFC 3834: machine-generated, so autoresponders stay quiet.
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	// Exchange and Outlook ignore Auto-Submitted for out-of-office replies.
	msg.SetGenHeader(gomail.HeaderXAutoResponseSuppress, "All")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// sendError is go-mail's error as the worker needs it: a recipient refused
// for good is permanent, anything else may pass on a retry.
func sendError(err error) error {
	var se *gomail.SendError
	if errors.As(err, &se) && se.Reason == gomail.ErrSMTPRcptTo && !se.IsTemp() {
		return fmt.Errorf("mail: %w: %w", ErrPermanent, err)
	}
	return fmt.Errorf("mail: %w", err)
}

// messageIDFor returns a Message-ID on the sender's domain rather than the
// host name go-mail would use, which inside a container is a random ID and
// tells recipients about our infrastructure. A message with a Key gets the
// same id on every attempt (a hash, so the request id stays out of
// headers); one without gets a random id.
func messageIDFor(key, domain string) string {
	if key != "" {
		sum := sha256.Sum256([]byte("tapdesk message id\x00" + key))
		return "tapdesk." + hex.EncodeToString(sum[:16]) + "@" + domain
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:]) + "@" + domain
}
