package siem

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// SendTimeout bounds one send: a receiver that hangs is a failure, retried.
const SendTimeout = 30 * time.Second

// Webhook body formats.
const (
	// FormatJSONLines is one JSON object a line (application/x-ndjson): a
	// plain webhook, Splunk HEC's /services/collector/raw.
	FormatJSONLines = "jsonl"
	// FormatJSONArray is one JSON array of the objects (application/json):
	// Microsoft Sentinel's Logs Ingestion API.
	FormatJSONArray = "json-array"
	// FormatSplunkEvent is Splunk HEC's event protocol, one envelope a line,
	// {"time":…,"event":{…}}: /services/collector/event, with each event's
	// own time.
	FormatSplunkEvent = "splunk-event"
)

// WebhookFormats are the formats a webhook sink takes.
var WebhookFormats = []string{FormatJSONLines, FormatJSONArray, FormatSplunkEvent}

// WebhookConfig says where and how a webhook sink posts.
type WebhookConfig struct {
	URL    string // https
	Format string // one of WebhookFormats (empty: jsonl)
	// AuthHeader and AuthValue are sent with each batch, e.g.
	// Authorization: Splunk <token> (empty AuthValue: none).
	AuthHeader, AuthValue string
	// Token, when set, supplies a bearer token per batch instead (Entra
	// client credentials for Sentinel); it refreshes itself.
	Token oauth2.TokenSource
	// CAFile holds extra PEM certificates to trust (a private CA).
	CAFile string
	// Transport replaces the HTTP transport (tests); CAFile is then ignored.
	Transport http.RoundTripper
}

// Webhook posts batches of events over HTTPS. A 2xx answer acknowledges the
// batch; anything else, or no answer, is a failure retried later.
type Webhook struct {
	cfg    WebhookConfig
	client *http.Client
	target string
}

// NewWebhook checks cfg and returns the sink.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, errors.New("must be an https URL, like https://splunk.example.com:8088/services/collector/event")
	}
	if cfg.Format == "" {
		cfg.Format = FormatJSONLines
	}
	known := false
	for _, f := range WebhookFormats {
		known = known || f == cfg.Format
	}
	if !known {
		return nil, fmt.Errorf("format %q: use %s", cfg.Format, strings.Join(WebhookFormats, ", "))
	}
	if cfg.AuthHeader == "" {
		cfg.AuthHeader = "Authorization"
	}
	rt := cfg.Transport
	if rt == nil {
		tc, err := tlsConfig(cfg.CAFile, "", "")
		if err != nil {
			return nil, err
		}
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = tc
		rt = t
	}
	// Where it posts, for /readyz and the log: scheme, host and path only
	// (a query may carry a token).
	target := u.Scheme + "://" + u.Host + u.Path
	return &Webhook{cfg: cfg, target: target, client: &http.Client{Transport: rt, Timeout: SendTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}, nil
}

// Name implements Sink.
func (w *Webhook) Name() string { return "webhook" }

// Target implements Sink.
func (w *Webhook) Target() string { return w.target }

// Close implements Sink.
func (w *Webhook) Close() error { w.client.CloseIdleConnections(); return nil }

// Body encodes events in the webhook's format, with its content type.
func (w *Webhook) Body(events []Event) ([]byte, string) {
	var b bytes.Buffer
	switch w.cfg.Format {
	case FormatJSONArray:
		b.WriteByte('[')
		for i, ev := range events {
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(ev.JSON)
		}
		b.WriteByte(']')
		return b.Bytes(), "application/json"
	case FormatSplunkEvent:
		for _, ev := range events {
			// HEC takes time as epoch seconds with a fraction.
			b.WriteString(`{"time":`)
			b.WriteString(strconv.FormatFloat(float64(ev.Time.UnixMicro())/1e6, 'f', 6, 64))
			b.WriteString(`,"event":`)
			b.Write(ev.JSON)
			b.WriteString("}\n")
		}
		return b.Bytes(), "application/json"
	default:
		for _, ev := range events {
			b.Write(ev.JSON)
			b.WriteByte('\n')
		}
		return b.Bytes(), "application/x-ndjson"
	}
}

// Send implements Sink.
func (w *Webhook) Send(ctx context.Context, events []Event) error {
	body, contentType := w.Body(events)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("User-Agent", "tapdesk-siem")
	// Which events the batch holds, for receivers that log requests.
	req.Header.Set("X-Tapdesk-Seq-Range", fmt.Sprintf("%d-%d", events[0].Seq, events[len(events)-1].Seq))
	switch {
	case w.cfg.Token != nil:
		tok, err := w.cfg.Token.Token()
		if err != nil {
			return fmt.Errorf("getting a token for the webhook: %w", redactURL(err))
		}
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	case w.cfg.AuthValue != "":
		req.Header.Set(w.cfg.AuthHeader, w.cfg.AuthValue)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", w.target, redactURL(err))
	}
	defer resp.Body.Close()
	// Read a little of the answer: a refusal says why; then drain it so
	// the connection is kept.
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: the receiver answered %s: %s", w.target, resp.Status, strings.Join(strings.Fields(string(answer)), " "))
	}
	return nil
}

// redactURL drops the URL from a client error: its query may hold a token.
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// tlsConfig trusts the system's roots and those in caFile, and presents
// the client certificate in certFile and keyFile if given.
func tlsConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("cannot read the CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("the CA file %s holds no PEM certificate", caFile)
		}
		tc.RootCAs = pool
	}
	if certFile != "" || keyFile != "" {
		if certFile == "" || keyFile == "" {
			return nil, errors.New("a client certificate needs both its certificate and its key file")
		}
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("cannot load the client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}
