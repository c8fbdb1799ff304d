package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/store"
)

// lookUp opens a user card (which writes a "Look up user" event) sending
// X-Request-Id sent (none if empty) and returns the id the answer names.
func lookUp(t *testing.T, b *browser, sent string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.abs("/users/nina.newhire@contoso.example"), nil)
	if sent != "" {
		req.Header.Set(tapdesk.HeaderXRequestID, sent)
	}
	b.do(req).status(http.StatusOK)
	return b.last.Header.Get(tapdesk.HeaderXRequestID)
}

// lookupEventIDs are the request ids of the "Look up user" events, oldest first.
func lookupEventIDs(t *testing.T, d *testDemo) []string {
	t.Helper()
	evs, err := d.app.db.Events(context.Background(), store.EventFilter{Activity: string(tapdesk.ActUserLookup)})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := len(evs) - 1; i >= 0; i-- {
		ids = append(ids, evs[i].HTTPRequestID)
	}
	return ids
}

// logLineWith is the request log line that names id.
func logLineWith(d *testDemo, id string) string {
	for _, l := range strings.Split(d.logs.String(), "\n") {
		if strings.Contains(l, "msg=http ") && strings.Contains(l, "request_id="+id+" ") {
			return l
		}
	}
	return ""
}

// Every request has an id: in its answer, its log line and its audit
// events. A trusted proxy's X-Request-Id is that id; anyone else's is not.
func TestRequestIDs(t *testing.T) {
	loopback, err := tapdesk.ParseTrustedProxies([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("a trusted proxy's id is the request's, in its events and log line", func(t *testing.T) {
		d := startTestDemoWith(t, func(o *demoOptions) { o.TrustedProxies = loopback })
		b := d.browser(t).signIn("/users", "agent")
		got := lookUp(t, b, "edge-7f9c2b1e:42")
		if got != "edge-7f9c2b1e:42" {
			t.Fatalf("answer names %q", got)
		}
		if ids := lookupEventIDs(t, d); len(ids) != 1 || ids[0] != got {
			t.Fatalf("the lookup's event carries %q, want %q", ids, got)
		}
		line := logLineWith(d, got)
		if !strings.Contains(line, "route=/users/:user") || !strings.Contains(line, "status=200") || !strings.Contains(line, "bytes=") ||
			!strings.Contains(line, "client=127.0.0.1") || strings.Contains(line, "nina.newhire") {
			t.Fatalf("log line %q", line)
		}

		// Hostile ids are not taken (a new id stands in) and never logged.
		for _, hostile := range []string{strings.Repeat("x", 10<<10), `a" evil=1`, "a b", "ü", "%0d%0aX: y"} {
			got := lookUp(t, b, hostile)
			if got == hostile || len(got) != 16 {
				t.Errorf("hostile id %.40q: answer names %.40q", hostile, got)
			}
			if strings.Contains(d.logs.String(), hostile) {
				t.Errorf("hostile id %.40q was logged", hostile)
			}
			if ids := lookupEventIDs(t, d); ids[len(ids)-1] != got {
				t.Errorf("hostile id %.40q: event carries %q, answer %q", hostile, ids[len(ids)-1], got)
			}
		}
		// A line break cannot be sent through net/http: write it by hand.
		// The server refuses the request or ignores the id; either way the
		// text after the break is neither the id nor a log line.
		conn, err := net.Dial("tcp", strings.TrimPrefix(d.baseURL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc\rforged=1\r\nConnection: close\r\n\r\n")
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if id := res.Header.Get(tapdesk.HeaderXRequestID); strings.Contains(id, "forged") || strings.Contains(d.logs.String(), "forged=1") {
			t.Fatalf("a broken-line id got through: answer %q", id)
		}
	})

	t.Run("anyone else's id is ignored", func(t *testing.T) {
		d := startTestDemo(t) // no proxy trusted
		b := d.browser(t).signIn("/users", "agent")
		got := lookUp(t, b, "chosen-by-client")
		if got == "chosen-by-client" || len(got) != 16 {
			t.Fatalf("answer names %q", got)
		}
		if ids := lookupEventIDs(t, d); len(ids) != 1 || ids[0] != got {
			t.Fatalf("the lookup's event carries %q, want %q", ids, got)
		}
		if logLineWith(d, got) == "" || strings.Contains(d.logs.String(), "chosen-by-client") {
			t.Fatalf("log:\n%s", d.logs.String())
		}
		// Each request gets its own.
		if again := lookUp(t, b, ""); again == got || len(again) != 16 {
			t.Fatalf("second id %q after %q", again, got)
		}
	})

	t.Run("link tokens and sign-in codes are never logged", func(t *testing.T) {
		d := startTestDemo(t)
		b := d.browser(t)
		const secret = "Zq8SecretToken0123456789abcdefXYZ"
		for _, p := range []string{"/approve/" + secret, "/dispute/" + secret, "/auth/callback?code=" + secret + "&state=" + secret,
			"/approve/" + secret + "/more", "/nowhere/" + secret} {
			b.get(p)
		}
		logs := d.logs.String()
		if strings.Contains(logs, secret) {
			t.Fatalf("a token reached the log:\n%s", logs)
		}
		for _, route := range []string{"route=/approve/:token", "route=/dispute/:token", "route=/auth/callback"} {
			if !strings.Contains(logs, route) {
				t.Errorf("no line with %s:\n%s", route, logs)
			}
		}
	})
}
