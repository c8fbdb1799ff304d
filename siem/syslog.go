package siem

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/tapdesk/tapdesk"
)

// Syslog facts tapdesk's messages carry.
const (
	// SyslogFacility is "log audit" (13 in RFC 5424's table).
	SyslogFacility = 13
	// SyslogSDID names tapdesk's structured data element. 32473 is the
	// private enterprise number RFC 5612 sets aside for examples and
	// documentation: tapdesk has none of its own, and receivers match the
	// element by this name.
	SyslogSDID = "tapdesk@32473"
	// SyslogAppName is the APP-NAME of every message.
	SyslogAppName                   = "tapdesk"
	severityWarning, severityNotice = 4, 5
)

// SyslogConfig says where a syslog sink sends.
type SyslogConfig struct {
	Addr string // host:port of an RFC 5425 (syslog over TLS) receiver
	// CAFile holds extra PEM certificates to trust; CertFile and KeyFile
	// a client certificate, for receivers that ask for one.
	CAFile, CertFile, KeyFile string
	// Hostname is the HOSTNAME of the messages (empty: this machine's).
	Hostname string
	// TLS replaces the TLS configuration built from the files (tests).
	TLS *tls.Config
}

// Syslog sends events as RFC 5424 messages over TLS, framed by octet
// counting (RFC 5425), on one connection kept open between batches.
//
// Syslog has no acknowledgement: a batch counts as delivered once written
// to the TLS connection. A receiver that closed the connection is noticed
// before and after each write (it then answers the read tapdesk tries with
// an end or a reset), and the batch is sent again on a new connection; a
// receiver that crashes with the batch unread in its buffers loses it.
// Where that matters, use the webhook, whose 2xx is an acknowledgement.
type Syslog struct {
	cfg  SyslogConfig
	tls  *tls.Config
	host string
	conn *tls.Conn
	buf  bytes.Buffer
}

// NewSyslog checks cfg and returns the sink; it connects on first send.
func NewSyslog(cfg SyslogConfig) (*Syslog, error) {
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil || host == "" {
		return nil, errors.New("must be host:port, like siem.example.com:6514")
	}
	tc := cfg.TLS
	if tc == nil {
		if tc, err = tlsConfig(cfg.CAFile, cfg.CertFile, cfg.KeyFile); err != nil {
			return nil, err
		}
	}
	tc = tc.Clone()
	if tc.ServerName == "" {
		tc.ServerName = host
	}
	name := cfg.Hostname
	if name == "" {
		name, _ = os.Hostname()
	}
	return &Syslog{cfg: cfg, tls: tc, host: headerField(name, 255)}, nil
}

// Name implements Sink.
func (s *Syslog) Name() string { return "syslog" }

// Target implements Sink.
func (s *Syslog) Target() string { return "syslog+tls://" + s.cfg.Addr }

// Close implements Sink.
func (s *Syslog) Close() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Close()
	s.conn = nil
	return err
}

// Send implements Sink.
func (s *Syslog) Send(ctx context.Context, events []Event) error {
	if s.conn != nil && !s.alive() {
		s.Close() // the receiver closed it while idle
	}
	if s.conn == nil {
		d := tls.Dialer{NetDialer: &net.Dialer{Timeout: SendTimeout, KeepAlive: 30 * time.Second}, Config: s.tls}
		c, err := d.DialContext(ctx, "tcp", s.cfg.Addr)
		if err != nil {
			return fmt.Errorf("connect to %s: %w", s.cfg.Addr, err)
		}
		s.conn = c.(*tls.Conn)
	}
	s.buf.Reset()
	for _, ev := range events {
		msg := FormatRFC5424(ev, s.host)
		s.buf.WriteString(strconv.Itoa(len(msg)))
		s.buf.WriteByte(' ')
		s.buf.Write(msg)
	}
	deadline := time.Now().Add(SendTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	s.conn.SetWriteDeadline(deadline)
	// Shutdown cuts a write the receiver is holding up, as it cuts the
	// webhook's request.
	conn := s.conn
	stop := context.AfterFunc(ctx, func() { conn.SetWriteDeadline(time.Now()) })
	_, err := s.conn.Write(s.buf.Bytes())
	stop()
	if err != nil {
		s.Close()
		return fmt.Errorf("write to %s: %w", s.cfg.Addr, err)
	}
	if !s.alive() {
		s.Close()
		return fmt.Errorf("write to %s: the receiver closed the connection", s.cfg.Addr)
	}
	return nil
}

// aliveWait is how long alive waits for the receiver to say anything.
const aliveWait = 5 * time.Millisecond

// alive says whether the connection still looks open: an RFC 5425
// receiver never writes, so an answer, an end or a reset means it is gone.
func (s *Syslog) alive() bool {
	s.conn.SetReadDeadline(time.Now().Add(aliveWait))
	var one [1]byte
	_, err := s.conn.Read(one[:])
	s.conn.SetReadDeadline(time.Time{})
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// FormatRFC5424 is ev as one RFC 5424 message: PRI (facility log audit;
// notice, or warning for a failure), the event's own time, HOSTNAME,
// APP-NAME tapdesk, MSGID the event's category, structured data
// [tapdesk@32473 seq mac keyId activity result requestId], and as MSG the
// event's JSON (the export's line), marked UTF-8 with a BOM.
func FormatRFC5424(ev Event, hostname string) []byte {
	sev := severityNotice
	if ev.Result == string(tapdesk.ResultFailure) {
		sev = severityWarning
	}
	var b []byte
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(SyslogFacility*8+sev), 10)
	b = append(b, ">1 "...)
	b = ev.Time.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
	b = append(b, ' ')
	b = append(b, cmp.Or(headerField(hostname, 255), "-")...)
	b = append(b, ' ')
	b = append(b, SyslogAppName...)
	b = append(b, " - "...) // PROCID
	b = append(b, cmp.Or(headerField(ev.Category, 32), "-")...)
	b = append(b, " ["...)
	b = append(b, SyslogSDID...)
	b = appendParam(b, "seq", strconv.FormatInt(ev.Seq, 10))
	for _, p := range [][2]string{{"mac", ev.Mac}, {"keyId", ev.KeyID}, {"activity", ev.Activity},
		{"result", ev.Result}, {"requestId", ev.RequestID}} {
		if p[1] != "" {
			b = appendParam(b, p[0], p[1])
		}
	}
	b = append(b, "] \xef\xbb\xbf"...)
	return append(b, ev.JSON...)
}

// appendParam appends ` name="value"`, escaping what RFC 5424 says must be.
func appendParam(b []byte, name, value string) []byte {
	b = append(b, ' ')
	b = append(b, name...)
	b = append(b, '=', '"')
	for i := 0; i < len(value); i++ {
		switch c := value[i]; c {
		case '"', '\\', ']':
			b = append(b, '\\', c)
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// headerField keeps the printable US-ASCII of s other than space (what
// RFC 5424's header fields allow), at most max of it.
func headerField(s string, max int) string {
	out := make([]byte, 0, min(len(s), max))
	for i := 0; i < len(s) && len(out) < max; i++ {
		if c := s[i]; c > 32 && c < 127 {
			out = append(out, c)
		}
	}
	return string(out)
}
