package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk/internal/freeport"
	"github.com/tapdesk/tapdesk/internal/pgtest"
	"github.com/tapdesk/tapdesk/siem"
	"github.com/tapdesk/tapdesk/store"
)

// siemReceiver is a SIEM's webhook over TLS that can fail with 5xx, lose
// its acknowledgements (keep a batch yet answer 500), or be down
// altogether (connection refused), and come back on the same address.
type siemReceiver struct {
	t    *testing.T
	addr string
	cert *x509.Certificate
	srv  *httptest.Server

	mu sync.Mutex
	// mode: "fail" answers 503 and keeps nothing; "lose-ack" keeps the
	// batch and answers 500; "ok" keeps it and answers 204. okLeft, when
	// above 0, acknowledges that many batches before turning to lose-ack.
	mode     string
	okLeft   int
	batches  [][]int64 // the seqs of each batch kept, in arrival order
	bodies   bytes.Buffer
	attempts int
	inFlight int
	overlap  bool // two batches were being delivered at once
	badAuth  int
}

func newSIEMReceiver(t *testing.T, mode string) *siemReceiver {
	r := &siemReceiver{t: t, mode: mode}
	r.up()
	t.Cleanup(func() { r.down() })
	return r
}

func (r *siemReceiver) up() {
	// The same address after down(): a port below the ephemeral range,
	// which no outgoing connection takes while the receiver is down.
	if r.addr == "" {
		r.addr = freeport.MustAddr(r.t)
	}
	ln, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.t.Fatal(err)
	}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	r.srv.Listener = ln
	r.srv.StartTLS()
	r.addr, r.cert = ln.Addr().String(), r.srv.Certificate()
}

func (r *siemReceiver) down() {
	if r.srv != nil {
		r.srv.Close()
		r.srv = nil
	}
}

func (r *siemReceiver) set(mode string, okLeft int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.mode, r.okLeft = mode, okLeft
}

func (r *siemReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.inFlight++
	r.overlap = r.overlap || r.inFlight > 1
	r.attempts++
	r.bodies.Write(body)
	r.mu.Unlock()
	defer func() { r.mu.Lock(); r.inFlight--; r.mu.Unlock() }()
	time.Sleep(2 * time.Millisecond) // long enough for a second sender to overlap

	r.mu.Lock()
	defer r.mu.Unlock()
	if req.Header.Get("Authorization") != "Splunk test-hec-token" || req.Header.Get("Content-Type") != "application/x-ndjson" {
		r.badAuth++
		http.Error(w, "bad token", http.StatusForbidden)
		return
	}
	if r.mode == "fail" {
		http.Error(w, "indexer busy", http.StatusServiceUnavailable)
		return
	}
	var seqs []int64
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var ev struct {
			Seq int64  `json:"seq"`
			Mac string `json:"mac"`
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil || ev.Seq == 0 || ev.Mac == "" {
			r.t.Errorf("a line that is not an event with seq and mac: %v: %s", err, sc.Bytes())
		}
		seqs = append(seqs, ev.Seq)
	}
	r.batches = append(r.batches, seqs)
	switch {
	case r.mode == "ok" || r.okLeft > 0:
		if r.okLeft > 0 {
			if r.okLeft--; r.okLeft == 0 {
				r.mode = "lose-ack"
			}
		}
		w.WriteHeader(http.StatusNoContent)
	default: // lose-ack: kept, but tapdesk never hears so
		http.Error(w, "gateway timeout", http.StatusGatewayTimeout)
	}
}

// received is what a SIEM ends up holding after dropping duplicates by
// seq, and how many duplicates it dropped. It fails the test if a batch
// ever skipped ahead of what had arrived (out of order, or one lost).
func (r *siemReceiver) received(t *testing.T) (kept []int64, dups int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var last int64
	for _, b := range r.batches {
		for _, s := range b {
			switch {
			case s <= last:
				dups++
			case s == last+1:
				kept, last = append(kept, s), s
			default:
				t.Fatalf("seq %d arrived after %d: an event skipped or out of order (batches %v)", s, last, r.batches)
			}
		}
	}
	return kept, dups
}

func (r *siemReceiver) count() (attempts, batches int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts, len(r.batches)
}

// webhookSink is a new webhook sink to the receiver, trusting its
// certificate, in JSON Lines with a Splunk-style token.
func (r *siemReceiver) webhookSink(t *testing.T) siem.Sink {
	pool := x509.NewCertPool()
	pool.AddCert(r.cert)
	w, err := siem.NewWebhook(siem.WebhookConfig{URL: "https://" + r.addr + "/services/collector/raw?channel=tapdesk",
		AuthValue: "Splunk test-hec-token",
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// syslogCollector is an RFC 5425 receiver that keeps the raw bytes.
type syslogCollector struct {
	addr string
	pool *x509.CertPool
	mu   sync.Mutex
	raw  bytes.Buffer
}

func newSyslogCollector(t *testing.T) *syslogCollector {
	// httptest's certificate, for 127.0.0.1, served by a bare TLS listener.
	h := httptest.NewUnstartedServer(nil)
	h.StartTLS()
	cert, ca := h.TLS.Certificates[0], h.Certificate()
	h.Close()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	c := &syslogCollector{addr: ln.Addr().String(), pool: x509.NewCertPool()}
	c.pool.AddCert(ca)
	serveConns(t, ln, func(conn net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := conn.Read(buf)
			c.mu.Lock()
			c.raw.Write(buf[:n])
			c.mu.Unlock()
			if err != nil {
				return
			}
		}
	})
	return c
}

func (c *syslogCollector) sink(t *testing.T) siem.Sink {
	s, err := siem.NewSyslog(siem.SyslogConfig{Addr: c.addr, TLS: &tls.Config{RootCAs: c.pool}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (c *syslogCollector) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.raw.String()
}

// startSIEMDemo starts a demo on dbPath streaming to sinks, with retries
// fast enough for a test; stop stops it (as SIGTERM would), once.
func startSIEMDemo(t *testing.T, dbPath string, sinks ...siem.Sink) (*testDemo, func()) {
	t.Helper()
	return runTestDemo(t, demoOptions{Addr: "127.0.0.1:0", DBPath: dbPath, MetricsAddr: "127.0.0.1:0",
		MailInterval: 50 * time.Millisecond, ReadyCacheOK: time.Millisecond, ReadyCacheFailed: time.Millisecond,
		SIEM: siemConfig{Sinks: sinks, Options: siem.Options{Batch: 5, Interval: 50 * time.Millisecond,
			MinBackoff: 20 * time.Millisecond, MaxBackoff: 150 * time.Millisecond}}})
}

// siemGauge reads one SIEM series for the webhook sink from /metrics.
func siemGauge(t *testing.T, d *testDemo, name string) float64 {
	t.Helper()
	_, fams := scrape(t, d.metricsURL)
	v, ok := sample(fams, name, map[string]string{"sink": "webhook"})
	if !ok {
		t.Fatalf("/metrics has no %s{sink=\"webhook\"}", name)
	}
	return v
}

// siemReadyz is /readyz's text, asked from loopback (which sees the details).
func siemReadyz(t *testing.T, d *testDemo) (int, string) {
	t.Helper()
	res, err := http.Get(d.baseURL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// Issue 13: SIEM delivery exactly once by seq across a receiver outage
// and a restart. The receiver first answers 503, then is down (connection
// refused), then comes back but loses some acknowledgements (it keeps the
// batch, tapdesk hears 504), and tapdesk is restarted in the middle. In
// the end the receiver, dropping duplicates by seq, holds every event of
// the trail exactly once, in order, and never saw a batch skip ahead; the
// lag metric rose during the outage and falls to zero; /readyz named the
// failing sink while staying ready; and the pass of a full flow was never
// streamed.
func TestSIEMWebhookAcrossOutageAndRestart(t *testing.T) {
	pgtest.Backends(t, testSIEMWebhookAcrossOutageAndRestart)
}

func testSIEMWebhookAcrossOutageAndRestart(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "tapdesk.db")
	if pgtest.OnPostgres(t) {
		dbPath = pgtest.URL(t)
	}
	rcv := newSIEMReceiver(t, "fail")
	sl := newSyslogCollector(t) // a second sink, up throughout
	d1, stop1 := startSIEMDemo(t, dbPath, rcv.webhookSink(t), sl.sink(t))

	agent := d1.browser(t)
	agent.signIn("/", "agent")
	_, pass := issuedFor(t, d1, agent, "nina.newhire@contoso.example", "Locked out, phone replaced")

	// Down with 5xx: events wait, lag rises, failures are counted, and
	// the portal stays ready while /readyz says what is wrong.
	eventually(t, "three refused attempts", func() bool { a, _ := rcv.count(); return a >= 3 })
	if behind := siemGauge(t, d1, "tapdesk_siem_events_behind"); behind < 10 {
		t.Errorf("events behind during the outage = %v, want the flow's events (10 or more)", behind)
	}
	eventually(t, "the oldest undelivered event to age", func() bool {
		return siemGauge(t, d1, "tapdesk_siem_oldest_undelivered_age_seconds") > 0
	})
	// Counted once each refusal's answer is back at the sender, a moment
	// after the receiver saw the attempt.
	eventually(t, "send failures counted for the 3 refused", func() bool {
		return siemGauge(t, d1, "tapdesk_siem_send_failures_total") >= 3
	})
	if code, body := siemReadyz(t, d1); code != http.StatusOK || !strings.Contains(body, "siem webhook: ok (https://"+rcv.addr+"/services/collector/raw: failing since") ||
		!strings.Contains(body, "503") || strings.Contains(body, "test-hec-token") || strings.Contains(body, "channel=") {
		t.Errorf("/readyz during the outage: %d\n%s", code, body)
	}

	// Down altogether: connection refused, retried.
	failures := siemGauge(t, d1, "tapdesk_siem_send_failures_total")
	rcv.down()
	eventually(t, "refused connections to be retried", func() bool {
		return siemGauge(t, d1, "tapdesk_siem_send_failures_total") >= failures+2
	})

	// Back, acknowledging two batches and then losing acknowledgements:
	// the cursor moves only for what was acknowledged.
	rcv.set("ok", 2)
	rcv.up()
	eventually(t, "two acknowledged batches and one kept unacknowledged", func() bool { _, b := rcv.count(); return b >= 3 })

	// tapdesk restarts in the middle, and the receiver recovers.
	stop1()
	rcv.set("ok", 0)
	d2, _ := startSIEMDemo(t, dbPath, rcv.webhookSink(t), sl.sink(t))
	d2.browser(t).signIn("/", "auditor") // more events, written after the restart

	var head int64
	eventually(t, "the receiver to hold the whole trail and the lag to fall to zero", func() bool {
		behind, _, err := d2.app.db.SIEMLag(context.Background(), "webhook")
		if err != nil {
			t.Fatal(err)
		}
		evs, err := d2.app.db.Events(context.Background(), store.EventFilter{Limit: 1})
		if err != nil || len(evs) == 0 {
			t.Fatal(err)
		}
		head = evs[0].Seq
		kept, _ := rcv.received(t)
		return behind == 0 && len(kept) > 0 && kept[len(kept)-1] == head
	})
	kept, dups := rcv.received(t)
	if int64(len(kept)) != head || kept[0] != 1 {
		t.Fatalf("the receiver holds %d distinct events from seq %d, want all %d from 1", len(kept), kept[0], head)
	}
	if dups == 0 {
		t.Error("no duplicates: the lost acknowledgements and the restart should have sent some events twice")
	}
	if behind := siemGauge(t, d2, "tapdesk_siem_events_behind"); behind != 0 {
		t.Errorf("events behind after recovery = %v", behind)
	}
	if age := siemGauge(t, d2, "tapdesk_siem_oldest_undelivered_age_seconds"); age != 0 {
		t.Errorf("age of the oldest undelivered event after recovery = %v", age)
	}
	if sent := siemGauge(t, d2, "tapdesk_siem_events_sent_total"); sent == 0 {
		t.Error("no events counted as sent after the restart")
	}
	if code, body := siemReadyz(t, d2); code != http.StatusOK || !strings.Contains(body, "siem webhook: ok (https://"+rcv.addr+"/services/collector/raw: delivered up to seq") {
		t.Errorf("/readyz after recovery: %d\n%s", code, body)
	}

	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if rcv.overlap {
		t.Error("two batches were delivered at once")
	}
	if rcv.badAuth > 0 {
		t.Errorf("%d batches came without the HEC token or as another content type", rcv.badAuth)
	}
	if strings.Contains(rcv.bodies.String(), pass) {
		t.Fatal("the pass was streamed to the SIEM")
	}
	// The syslog sink, unaffected by the webhook's outage, carried the
	// same flow, without the pass either.
	if text := sl.text(); strings.Contains(text, pass) || !strings.Contains(text, `[tapdesk@32473 seq="1" `) ||
		!strings.Contains(text, "Reveal temporary access pass") {
		t.Errorf("the syslog stream holds the pass, or lacks the flow (%d bytes)", len(text))
	}
	for _, act := range []string{"File request", "Approve request", "Issue temporary access pass", "Reveal temporary access pass", "Start service"} {
		if !strings.Contains(rcv.bodies.String(), fmt.Sprintf(`"activityDisplayName":%q`, act)) {
			t.Errorf("the stream lacks %q", act)
		}
	}
}

// Two instances on one PostgreSQL database, both configured to stream to
// the same SIEM: the sink's lease lets one deliver at a time, so the
// receiver gets every event of both once, in order, and no duplicates
// (two deliverers would each send the whole trail from the cursor).
func TestSIEMOneDelivererAcrossInstancesPostgres(t *testing.T) {
	dbPath := pgtest.URL(t) // skipped without a PostgreSQL server (failed under CI)
	rcv := newSIEMReceiver(t, "ok")
	a, _ := startSIEMDemo(t, dbPath, rcv.webhookSink(t))
	b, _ := startSIEMDemo(t, dbPath, rcv.webhookSink(t))
	for range 3 {
		a.browser(t).signIn("/", "agent")
		b.browser(t).signIn("/", "auditor")
	}
	var head int64
	eventually(t, "the receiver to hold both instances' events", func() bool {
		evs, err := a.app.db.Events(context.Background(), store.EventFilter{Limit: 1})
		if err != nil || len(evs) == 0 {
			t.Fatal(err)
		}
		head = evs[0].Seq
		kept, _ := rcv.received(t)
		return len(kept) > 0 && kept[len(kept)-1] == head
	})
	kept, dups := rcv.received(t)
	if int64(len(kept)) != head || dups != 0 {
		t.Errorf("the receiver holds %d distinct events with %d duplicates, want all %d once", len(kept), dups, head)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if rcv.overlap {
		t.Error("two instances delivered batches at once")
	}
	// The one without the lease says so on /readyz.
	_, ra := siemReadyz(t, a)
	_, rb := siemReadyz(t, b)
	if strings.Contains(ra, "another instance delivers") == strings.Contains(rb, "another instance delivers") {
		t.Errorf("/readyz should name exactly one instance as standing by:\n%s\n%s", ra, rb)
	}
}
