package siem_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	syslog "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/octetcounting"
	"github.com/leodido/go-syslog/v4/rfc5424"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/siem"
	"github.com/tapdesk/tapdesk/store"
)

const testAuditKey = "siem-test-audit-key-0123456789abcdef"

// trail is a SQLite store with n events written.
func trail(t *testing.T, n int) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "tapdesk.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.SetAuditKey(testAuditKey); err != nil {
		t.Fatal(err)
	}
	appendEvents(t, db, n)
	return db
}

// appendEvents writes n events, every third a failure, with text that
// needs escaping in structured data ("] \ and non-ASCII).
func appendEvents(t *testing.T, db *store.DB, n int) {
	t.Helper()
	for range n {
		ev := tapdesk.Event{Activity: tapdesk.ActRequestFiled, Category: tapdesk.CatRequest, RequestID: `req-"x]\y`,
			Actor: tapdesk.Actor{UPN: "zoë.agent@contoso.example", Name: "Zoë [Agent]"}}
		if n%3 == 0 {
			ev.Result, ev.Reason = tapdesk.ResultFailure, "refused"
		}
		if err := db.AppendEvent(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
}

// selfSigned is a TLS certificate for 127.0.0.1 and the pool trusting it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "syslog test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// syslogReceiver is an RFC 5425 receiver: TLS, octet-counted RFC 5424
// messages, each parsed by go-syslog. It closes each connection after
// closeAfter messages (0: never), as a receiver restarting would.
type syslogReceiver struct {
	ln         net.Listener
	closeAfter int
	mu         sync.Mutex
	msgs       []*rfc5424.SyslogMessage
	errs       []error
	conns      int
}

func startSyslogReceiver(t *testing.T, cert tls.Certificate, closeAfter int) *syslogReceiver {
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	r := &syslogReceiver{ln: ln, closeAfter: closeAfter}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.mu.Lock()
			r.conns++
			r.mu.Unlock()
			go r.serve(c)
		}
	}()
	return r
}

func (r *syslogReceiver) serve(c net.Conn) {
	defer c.Close()
	n := 0
	done := errors.New("enough")
	pr, pw := io.Pipe()
	go func() {
		// Copy until the parser has seen closeAfter messages.
		io.Copy(pw, c)
		pw.Close()
	}()
	p := octetcounting.NewParser(syslog.WithMaxMessageLength(64<<10), syslog.WithListener(func(res *syslog.Result) {
		r.mu.Lock()
		defer r.mu.Unlock()
		if res.Error != nil {
			r.errs = append(r.errs, res.Error)
			return
		}
		r.msgs = append(r.msgs, res.Message.(*rfc5424.SyslogMessage))
		n++
		if r.closeAfter > 0 && n == r.closeAfter {
			c.Close()
			pr.CloseWithError(done)
		}
	}))
	p.Parse(bufio.NewReader(pr))
}

func (r *syslogReceiver) seqs(t *testing.T) []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int64
	for _, m := range r.msgs {
		sd := *m.StructuredData
		n, err := strconv.ParseInt(sd[siem.SyslogSDID]["seq"], 10, 64)
		if err != nil {
			t.Errorf("a message without seq: %+v", sd)
		}
		out = append(out, n)
	}
	return out
}

// dedupe keeps the first of each seq, as a receiver would: seq only grows.
func dedupe(seqs []int64) []int64 {
	var out []int64
	for _, s := range seqs {
		if len(out) == 0 || s > out[len(out)-1] {
			out = append(out, s)
		}
	}
	return out
}

func oneToN(n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = int64(i + 1)
	}
	return out
}

func run(t *testing.T, db *store.DB, sink siem.Sink, opts siem.Options) *siem.Streamer {
	t.Helper()
	opts.Logger = slog.New(slog.DiscardHandler)
	opts.Interval = cmpOr(opts.Interval, 20*time.Millisecond)
	opts.MinBackoff, opts.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	st := siem.NewStreamer(db, []siem.Sink{sink}, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); st.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return st
}

func cmpOr(a, b time.Duration) time.Duration {
	if a != 0 {
		return a
	}
	return b
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The syslog sink to an in-process TLS receiver: every event arrives as a
// valid RFC 5424 message (parsed by go-syslog, octet-counted), in order,
// with seq, mac and the rest in tapdesk's structured data, the event's
// time, facility log audit, its category as MSGID and its JSON as MSG. A
// receiver that drops the connection mid-stream loses nothing: the sink
// notices and sends again on a new one.
func TestSyslogOverTLS(t *testing.T) {
	cert, pool := selfSigned(t)
	rcv := startSyslogReceiver(t, cert, 7)
	db := trail(t, 10)
	sink, err := siem.NewSyslog(siem.SyslogConfig{Addr: rcv.ln.Addr().String(), Hostname: "tapdesk host",
		TLS: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatal(err)
	}
	st := run(t, db, sink, siem.Options{Batch: 4})
	waitFor(t, "the first ten events", func() bool { return len(dedupe(rcv.seqs(t))) == 10 })
	appendEvents(t, db, 15)
	st.Kick()
	waitFor(t, "all 25 events", func() bool { return len(dedupe(rcv.seqs(t))) == 25 })

	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.errs) > 0 {
		t.Fatalf("messages that are not RFC 5424: %v", rcv.errs)
	}
	if rcv.conns < 2 {
		t.Errorf("the receiver closed the connection after 7 messages, yet the sink connected %d times", rcv.conns)
	}
	events, err := db.SIEMEvents(context.Background(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	last := int64(0)
	for _, m := range rcv.msgs {
		sd := (*m.StructuredData)[siem.SyslogSDID]
		seq, _ := strconv.ParseInt(sd["seq"], 10, 64)
		if seq <= last {
			continue // a duplicate after the reconnection
		}
		if seq != last+1 {
			t.Fatalf("seq %d came after %d: out of order or one lost", seq, last)
		}
		last = seq
		ev := events[seq-1]
		sev := uint8(5)
		if ev.Result == string(tapdesk.ResultFailure) {
			sev = 4
		}
		if *m.Facility != siem.SyslogFacility || *m.Severity != sev || m.Version != 1 {
			t.Errorf("seq %d: facility %d severity %d version %d", seq, *m.Facility, *m.Severity, m.Version)
		}
		if !m.Timestamp.Equal(ev.Time) || *m.Hostname != "tapdeskhost" || *m.Appname != "tapdesk" || *m.MsgID != ev.Category {
			t.Errorf("seq %d header: %v %q %q %q", seq, m.Timestamp, *m.Hostname, *m.Appname, *m.MsgID)
		}
		if sd["mac"] != ev.Mac || sd["keyId"] != ev.KeyID || sd["activity"] != ev.Activity || sd["result"] != ev.Result ||
			sd["requestId"] != `req-"x]\y` {
			t.Errorf("seq %d structured data %v, want the event's %+v", seq, sd, ev)
		}
		var body struct {
			Seq int64  `json:"seq"`
			Mac string `json:"mac"`
		}
		msg := strings.TrimPrefix(*m.Message, "\ufeff")
		if err := json.Unmarshal([]byte(msg), &body); err != nil || body.Seq != seq || body.Mac != ev.Mac {
			t.Errorf("seq %d MSG is not the event's JSON: %v %q", seq, err, msg)
		}
	}
	if last != 25 {
		t.Errorf("the last event received is %d, want 25", last)
	}
}

// Each webhook format is what its receiver parses: JSON Lines, one JSON
// array (Sentinel), or HEC event envelopes with the event's own time.
func TestWebhookFormats(t *testing.T) {
	db := trail(t, 3)
	events, err := db.SIEMEvents(context.Background(), 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	type line struct {
		Seq int64 `json:"seq"`
	}
	for _, format := range siem.WebhookFormats {
		t.Run(format, func(t *testing.T) {
			w, err := siem.NewWebhook(siem.WebhookConfig{URL: "https://siem.example/in", Format: format})
			if err != nil {
				t.Fatal(err)
			}
			body, ctype := w.Body(events)
			var got []int64
			switch format {
			case siem.FormatJSONArray:
				var arr []line
				if err := json.Unmarshal(body, &arr); err != nil || ctype != "application/json" {
					t.Fatalf("not one JSON array (%s): %v\n%s", ctype, err, body)
				}
				for _, l := range arr {
					got = append(got, l.Seq)
				}
			case siem.FormatSplunkEvent:
				for i, s := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
					var env struct {
						Time  float64 `json:"time"`
						Event line    `json:"event"`
					}
					if err := json.Unmarshal([]byte(s), &env); err != nil {
						t.Fatalf("line %d is not a HEC envelope: %v: %s", i, err, s)
					}
					if d := env.Time - float64(events[i].Time.UnixMicro())/1e6; d > 1e-6 || d < -1e-6 {
						t.Errorf("envelope time %f, event time %v", env.Time, events[i].Time)
					}
					got = append(got, env.Event.Seq)
				}
			default:
				for _, s := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
					var l line
					if err := json.Unmarshal([]byte(s), &l); err != nil {
						t.Fatalf("not a JSON line: %v: %s", err, s)
					}
					got = append(got, l.Seq)
				}
				if ctype != "application/x-ndjson" {
					t.Errorf("content type %s", ctype)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(oneToN(3)) {
				t.Errorf("seqs %v, want 1 2 3", got)
			}
		})
	}
	if _, err := siem.NewWebhook(siem.WebhookConfig{URL: "http://siem.example/in"}); err == nil {
		t.Error("a plain http URL was taken")
	}
	if _, err := siem.NewWebhook(siem.WebhookConfig{URL: "https://siem.example/in", Format: "xml"}); err == nil {
		t.Error("an unknown format was taken")
	}
}

// Waits grow with each failure in a row, stay within the bounds, and
// differ (jitter), so instances that failed together spread out.
func TestBackoffGrowsWithJitter(t *testing.T) {
	lo, hi := time.Second, time.Minute
	seen := map[time.Duration]bool{}
	for n := 1; n <= 40; n++ {
		d := siem.Backoff(n, lo, hi)
		ceiling := hi
		if n <= 6 {
			ceiling = lo << (n - 1)
		}
		if d > ceiling || d < ceiling/2 {
			t.Errorf("wait after %d failures = %v, want between %v and %v", n, d, ceiling/2, ceiling)
		}
		seen[d] = true
	}
	if len(seen) < 30 {
		t.Errorf("only %d different waits in 40: no jitter?", len(seen))
	}
}
