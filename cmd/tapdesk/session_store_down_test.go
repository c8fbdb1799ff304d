package main

import (
	"bytes"
	"log"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/tapdesk/tapdesk"
)

// The session store breaks under a running portal (its table is dropped,
// as when a database is swapped or half restored): a request with a
// session cookie gets a titled 503 page that says what to do and nothing
// of the database's error, and the error goes to the app's slog log with
// the request's id, not to the standard logger (scs's default: a bare
// text/plain 500 and a log line without request id).
func TestSessionStoreDownAnswersTitled503(t *testing.T) {
	var std bytes.Buffer
	log.SetOutput(&std)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })

	d := startTestDemo(t)
	if _, err := d.app.db.SQL().Exec(`DROP TABLE sessions`); err != nil {
		t.Fatal(err)
	}
	// Someone with a session cookie (one the store never saw, so no cache
	// of the last read row answers for the store).
	agent := d.browser(t)
	u, _ := url.Parse(d.baseURL)
	agent.client.Jar.SetCookies(u, []*http.Cookie{{Name: "tapdesk_session", Value: "YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXo", Path: "/"}})

	for _, path := range []string{"/", "/requests/new"} {
		agent.get(path).status(http.StatusServiceUnavailable).titleIs("Database unavailable")
		if ct := agent.last.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("%s: content type %q", path, ct)
		}
		if !strings.Contains(agent.body, tapdesk.SessionStoreUnavailable().Message) || strings.Contains(agent.body, "sessions") ||
			strings.Contains(agent.body, "SQL") {
			t.Errorf("%s: the page does not say what to do, or tells the database's error:\n%s", path, agent.body)
		}
		id := agent.last.Header.Get(tapdesk.HeaderXRequestID)
		var line string
		for _, l := range strings.Split(d.logs.String(), "\n") {
			if strings.Contains(l, "session store failed") && strings.Contains(l, "request_id="+id) {
				line = l
			}
		}
		if id == "" || !strings.Contains(line, "level=ERROR") || !strings.Contains(line, "sessions") {
			t.Errorf("%s: no slog error line with request id %q naming the store's error:\n%s", path, id, d.logs.String())
		}
	}
	if std.Len() > 0 {
		t.Errorf("the standard logger was used:\n%s", std.String())
	}
}
