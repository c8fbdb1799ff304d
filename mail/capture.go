package mail

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"slices"
	"strings"
	"sync"
	"time"

	smtp "github.com/emersion/go-smtp"
)

// captureLimit bounds how many messages a Capture keeps, so a demo left
// running for days does not grow without end.
const captureLimit = 500

// ErrCaptureClosed is returned by Wait once the Capture is closed.
var ErrCaptureClosed = errors.New("mail: capture server closed")

// Captured is one message received by a Capture.
type Captured struct {
	ID       int      // 1, 2, 3... in arrival order
	From     string   // the From header, decoded; the envelope sender if absent
	To       []string // envelope recipients (RCPT TO)
	Subject  string   // decoded
	Text     string   // decoded text/plain body, CRLF turned into LF
	HTML     string   // decoded text/html body, CRLF turned into LF
	Raw      []byte   // the message as received
	Received time.Time
}

// Capture is an SMTP server on loopback that keeps what it receives instead
// of delivering it. The demo mailbox page and the tests read from it; the
// real SMTP client code runs against it unchanged (with TLS "none").
type Capture struct {
	srv    *smtp.Server
	ln     net.Listener
	served chan struct{} // closed when Serve returns

	closeOnce sync.Once
	closed    chan struct{}

	mu      sync.Mutex
	msgs    []Captured // newest last, at most limit
	total   int        // messages received since start; the last ID
	arrived chan struct{}
	limit   int
}

// StartCapture starts a capture server on 127.0.0.1 at a free port.
func StartCapture() (*Capture, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c := &Capture{
		ln:      ln,
		served:  make(chan struct{}),
		closed:  make(chan struct{}),
		arrived: make(chan struct{}),
		limit:   captureLimit,
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		return &captureSession{c: c}, nil
	}))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	srv.MaxMessageBytes = 10 << 20
	srv.MaxRecipients = 100
	// A client that stops talking must not hold a goroutine forever.
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	// Dropped connections are normal in tests; go-smtp would print them.
	srv.ErrorLog = log.New(io.Discard, "", 0)
	c.srv = srv

	go func() {
		defer close(c.served)
		_ = srv.Serve(ln)
	}()
	return c, nil
}

// Addr is the listening address, "127.0.0.1:port".
func (c *Capture) Addr() string { return c.ln.Addr().String() }

// Host is the listening IP, for SMTPConfig.Host.
func (c *Capture) Host() string { return c.ln.Addr().(*net.TCPAddr).IP.String() }

// Port is the listening port, for SMTPConfig.Port.
func (c *Capture) Port() int { return c.ln.Addr().(*net.TCPAddr).Port }

// Close stops the server and drops open connections. Messages received so
// far stay readable. Close may be called more than once.
func (c *Capture) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.closed)
		err = c.srv.Close()
		// go-smtp closes only listeners Serve has registered; if Serve has
		// not got that far yet, Accept would block forever.
		if cerr := c.ln.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) && err == nil {
			err = cerr
		}
		<-c.served
	})
	return err
}

// Messages returns the kept messages, newest last.
func (c *Capture) Messages() []Captured {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snapshotLocked()
}

// Message returns the kept message with the given ID.
func (c *Capture) Message(id int) (Captured, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.msgs {
		if m.ID == id {
			return m.clone(), true
		}
	}
	return Captured{}, false
}

// Wait blocks until at least n messages have arrived since the start, then
// returns the kept messages, newest last.
func (c *Capture) Wait(ctx context.Context, n int) ([]Captured, error) {
	for {
		c.mu.Lock()
		if c.total >= n {
			msgs := c.snapshotLocked()
			c.mu.Unlock()
			return msgs, nil
		}
		arrived := c.arrived
		c.mu.Unlock()

		select {
		case <-arrived:
		case <-c.closed:
			return nil, ErrCaptureClosed
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Keep sets how many of the newest messages the capture keeps (500 unless
// set); older ones are dropped, though their IDs stay counted. A test
// that checks every message of a long run raises it first.
func (c *Capture) Keep(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.limit = max(n, 1)
}

func (c *Capture) snapshotLocked() []Captured {
	out := make([]Captured, len(c.msgs))
	for i, m := range c.msgs {
		// Copies, so a caller changing a slice cannot race the next reader.
		out[i] = m.clone()
	}
	return out
}

func (c *Capture) add(m Captured) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total++
	m.ID = c.total
	c.msgs = append(c.msgs, m)
	if len(c.msgs) > c.limit {
		// Copy down rather than reslice, so the dropped messages can be
		// collected.
		n := copy(c.msgs, c.msgs[len(c.msgs)-c.limit:])
		clear(c.msgs[n:])
		c.msgs = c.msgs[:n]
	}
	// Wake every Wait: closing the channel broadcasts.
	close(c.arrived)
	c.arrived = make(chan struct{})
}

func (m Captured) clone() Captured {
	m.To = slices.Clone(m.To)
	m.Raw = bytes.Clone(m.Raw)
	return m
}

// captureSession is one SMTP connection's envelope.
type captureSession struct {
	c    *Capture
	from string
	to   []string
}

func (s *captureSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *captureSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

// Data reads the whole message: go-smtp requires r to be consumed before
// Data returns.
func (s *captureSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := parseCaptured(raw)
	if m.From == "" {
		m.From = s.from
	}
	m.To = slices.Clone(s.to)
	m.Received = time.Now()
	s.c.add(m)
	return nil
}

func (s *captureSession) Reset() {
	s.from = ""
	s.to = nil
}

func (s *captureSession) Logout() error { return nil }

// maxMIMEDepth stops a hostile message from nesting multiparts until the
// stack runs out. Real mail nests two or three levels.
const maxMIMEDepth = 10

// parseCaptured decodes headers and the first text and HTML parts of raw.
// A message it cannot parse is kept with its raw text as the Text body, so
// the mailbox still shows something.
func parseCaptured(raw []byte) Captured {
	m := Captured{Raw: raw}
	msg, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		m.Text = normalizeNewlines(string(raw))
		return m
	}
	var dec mime.WordDecoder
	m.Subject = msg.Header.Get("Subject")
	if s, err := dec.DecodeHeader(m.Subject); err == nil {
		m.Subject = s
	}
	if from, err := msg.Header.AddressList("From"); err == nil && len(from) > 0 {
		m.From = from[0].Address
		if from[0].Name != "" {
			m.From = from[0].Name + " <" + from[0].Address + ">"
		}
	} else if f := msg.Header.Get("From"); f != "" {
		m.From = f
	}
	if err := m.walk(msg.Header.Get("Content-Type"), msg.Header.Get("Content-Transfer-Encoding"), "", msg.Body, 0); err != nil && m.Text == "" && m.HTML == "" {
		m.Text = normalizeNewlines(string(raw))
	}
	return m
}

// walk visits one MIME entity and, for a multipart, its parts.
func (m *Captured) walk(contentType, transferEncoding, disposition string, body io.Reader, depth int) error {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil || contentType == "" {
		// RFC 2045: no (or a broken) Content-Type means plain ASCII text.
		mediaType, params = "text/plain", map[string]string{}
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		if depth >= maxMIMEDepth {
			return nil
		}
		mr := multipart.NewReader(body, params["boundary"])
		for {
			// NextRawPart: NextPart would decode quoted-printable itself
			// but not base64; decode both in one place instead.
			part, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			h := part.Header
			if err := m.walk(h.Get("Content-Type"), h.Get("Content-Transfer-Encoding"), h.Get("Content-Disposition"), part, depth+1); err != nil {
				return err
			}
		}
	}
	if d, _, _ := mime.ParseMediaType(disposition); d == "attachment" {
		return nil
	}
	if mediaType != "text/plain" && mediaType != "text/html" {
		return nil
	}
	b, err := io.ReadAll(decodeTransfer(transferEncoding, body))
	if err != nil {
		return err
	}
	text := normalizeNewlines(decodeCharset(params["charset"], b))
	switch {
	case mediaType == "text/plain" && m.Text == "":
		m.Text = text
	case mediaType == "text/html" && m.HTML == "":
		m.HTML = text
	}
	return nil
}

func decodeTransfer(encoding string, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(encoding)) {
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	case "base64":
		// The decoder skips the CRLFs between base64 lines.
		return base64.NewDecoder(base64.StdEncoding, r)
	default: // 7bit, 8bit, binary
		return r
	}
}

// decodeCharset turns b into a Go string. tapdesk sends UTF-8; Latin-1 is
// the one other charset common enough in test tools to be worth reading.
func decodeCharset(charset string, b []byte) string {
	switch strings.ToLower(charset) {
	case "iso-8859-1", "latin1", "latin-1":
		runes := make([]rune, len(b))
		for i, c := range b {
			runes[i] = rune(c)
		}
		return string(runes)
	default:
		return string(b)
	}
}

func normalizeNewlines(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }
