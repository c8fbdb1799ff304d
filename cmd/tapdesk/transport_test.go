package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/entra/fakegraph"
)

// hostileBodySize is what filled the temp folder before bodies were bounded.
const hostileBodySize = 40 << 20

// repeatReader yields n copies of b, without holding them in memory.
type repeatReader struct {
	b byte
	n int64
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), r.n)]
	for i := range p {
		p[i] = r.b
	}
	r.n -= int64(len(p))
	return len(p), nil
}

// multipartBody is a multipart form whose one file part holds size bytes,
// and its content type.
func multipartBody(size int64) (io.Reader, int64, string) {
	const boundary = "tapdesk-hostile-boundary"
	head := "--" + boundary + "\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\nforged\r\n" +
		"--" + boundary + "\r\nContent-Disposition: form-data; name=\"upload\"; filename=\"fill.bin\"\r\n" +
		"Content-Type: application/octet-stream\r\n\r\n"
	tail := "\r\n--" + boundary + "--\r\n"
	body := io.MultiReader(strings.NewReader(head), &repeatReader{b: 'x', n: size}, strings.NewReader(tail))
	return body, int64(len(head)) + size + int64(len(tail)), "multipart/form-data; boundary=" + boundary
}

// tempUse lists what is in dir and how many bytes it holds.
func tempUse(t *testing.T, dir string) (names []string, size int64) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		names = append(names, strings.TrimPrefix(path, dir+"/"))
		if info, err := d.Info(); err == nil && !d.IsDir() {
			size += info.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names, size
}

// TestHostileBodiesLeaveNoTrace sends what filled the disk without a
// sign-in: 40 MB multipart posts (file parts are spilled to temporary files
// by Go's multipart parser), with and without a declared length, to routes
// anyone can reach, and form bodies over the limit. Each is refused with a
// sentence before its body is read, and the server's temp folder (TMPDIR,
// which Go's multipart parser writes to) stays empty.
func TestHostileBodiesLeaveNoTrace(t *testing.T) {
	tmp := filepath.Join(t.TempDir(), "server-tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", tmp) // os.TempDir, where multipart spills file parts, reads it at each call
	d := startTestDemo(t)
	if names, _ := tempUse(t, tmp); len(names) > 0 {
		t.Fatalf("the temp folder is not empty before the attack: %v", names)
	}
	client := &http.Client{Timeout: 60 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	type attack struct {
		name, method, path string
		body               func() (io.Reader, int64, string) // length -1: chunked, no Content-Length
		want               int
		sentence           string
	}
	declared := func(size int64) func() (io.Reader, int64, string) {
		return func() (io.Reader, int64, string) { return multipartBody(size) }
	}
	chunked := func(size int64) func() (io.Reader, int64, string) {
		return func() (io.Reader, int64, string) { r, _, ct := multipartBody(size); return r, -1, ct }
	}
	form := func(size, declaredLen int64) func() (io.Reader, int64, string) {
		return func() (io.Reader, int64, string) {
			return io.MultiReader(strings.NewReader("_csrf=forged&justification="), &repeatReader{b: 'a', n: size}), declaredLen, tapdesk.FormContentType
		}
	}
	tooLarge := "larger than the 64 KB a tapdesk form can hold"
	notForm := "tapdesk takes forms sent as application/x-www-form-urlencoded only"
	attacks := []attack{
		{"40 MB multipart to the dashboard", "POST", "/", declared(hostileBodySize), 413, tooLarge},
		{"40 MB multipart to filing, chunked", "POST", "/requests", chunked(hostileBodySize), 415, notForm},
		{"40 MB multipart to a dispute link, chunked", "POST", "/dispute/abc", chunked(hostileBodySize), 415, notForm},
		{"small multipart with a file part to sign-out", "POST", "/auth/logout", declared(10 << 10), 415, notForm},
		{"small multipart to the demo token endpoint", "POST", "/demo/idp/token", declared(10 << 10), 415, notForm},
		{"multipart body on a GET", "GET", "/auth/login", declared(10 << 10), 415, notForm},
		{"40 MB form, declared", "POST", "/requests", form(hostileBodySize, -2), 413, tooLarge},
		{"40 MB form, chunked", "POST", "/", form(hostileBodySize, -1), 413, tooLarge},
		{"65 KB form, chunked", "POST", "/requests", form(tapdesk.MaxFormBytes+1, -1), 413, tooLarge},
	}
	for _, a := range attacks {
		t.Run(a.name, func(t *testing.T) {
			body, n, ct := a.body()
			if n == -2 { // a form of known length
				n = int64(len("_csrf=forged&justification=")) + hostileBodySize
			}
			req, _ := http.NewRequest(a.method, d.baseURL+a.path, body)
			req.ContentLength = n
			if n < 0 {
				req.ContentLength = -1
			}
			req.Header.Set("Content-Type", ct)
			start := time.Now()
			res, err := client.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v", a.method, a.path, err)
			}
			page, _ := io.ReadAll(res.Body)
			res.Body.Close()
			names, size := tempUse(t, tmp)
			t.Logf("%s %s (%s, length %d): %d in %v; temp folder: %d files, %d bytes", a.method, a.path, ct, n, res.StatusCode,
				time.Since(start).Round(time.Millisecond), len(names), size)
			if res.StatusCode != a.want {
				t.Errorf("status %d, want %d", res.StatusCode, a.want)
			}
			if !strings.Contains(string(page), a.sentence) {
				t.Errorf("the page does not say %q:\n%s", a.sentence, page)
			}
			if len(names) > 0 {
				t.Errorf("the temp folder holds %d bytes after the attack: %v", size, names)
			}
		})
	}

	// Ordinary forms still go through (the whole e2e suite posts them; this
	// is the same path with a charset parameter, as some clients send).
	t.Run("a form with a charset still reaches tapdesk", func(t *testing.T) {
		req, _ := http.NewRequest("POST", d.baseURL+"/auth/logout", strings.NewReader("_csrf=forged"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=UTF-8")
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden { // read, then refused for its forged CSRF token
			t.Errorf("status %d, want 403 from the CSRF check", res.StatusCode)
		}
	})
}

// TestTrickledRequestIsCutOff holds connections open the slow way: a form
// body sent one byte at a time, and headers sent one line at a time. Each is
// cut off by the read timeout (1 s here), long before the trickle ends.
func TestTrickledRequestIsCutOff(t *testing.T) {
	const readTimeout = time.Second
	d := startTestDemoWith(t, func(o *demoOptions) { o.ReadTimeout = readTimeout })
	addr := strings.TrimPrefix(d.baseURL, "http://")

	// trickle writes head at once, then one byte of rest every interval until
	// the server stops it; it returns what the server answered and when the
	// connection ended.
	trickle := func(t *testing.T, head, rest string) (answer string, after time.Duration, sent int) {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		start := time.Now()
		if _, err := io.WriteString(conn, head); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		wrote := make(chan int, 1)
		go func() {
			n := 0
			defer func() { wrote <- n }()
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for i := range len(rest) {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				if _, err := conn.Write([]byte{rest[i]}); err != nil {
					return
				}
				n++
			}
		}()
		// Bounded so a server that never cuts the trickle fails the test
		// rather than hangs it.
		conn.SetReadDeadline(time.Now().Add(30 * readTimeout))
		got, err := io.ReadAll(bufio.NewReader(conn))
		after = time.Since(start)
		close(stop)
		sent = <-wrote
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("the server still held the trickling connection after %v (%d bytes sent)", after, sent)
		}
		return string(got), after, sent
	}

	t.Run("a form body at 10 bytes a second", func(t *testing.T) {
		head := "POST /requests HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 600\r\n\r\n"
		answer, after, sent := trickle(t, head, strings.Repeat("a", 600))
		t.Logf("cut off after %v, %d of 600 body bytes sent; answer: %.40q", after.Round(time.Millisecond), sent, answer)
		if !strings.HasPrefix(answer, "HTTP/1.1 408 ") || !strings.Contains(answer, "took too long to arrive") {
			t.Errorf("answer to a trickled body:\n%s", answer)
		}
		if after > 10*readTimeout || sent >= 600 {
			t.Errorf("the trickle went on for %v (%d bytes), with a read timeout of %v", after, sent, readTimeout)
		}
	})
	t.Run("headers at 10 bytes a second", func(t *testing.T) {
		answer, after, sent := trickle(t, "GET / HTTP/1.1\r\n", "Host: "+addr+"\r\nX-Slow: "+strings.Repeat("s", 600)+"\r\n\r\n")
		t.Logf("cut off after %v, %d header bytes sent; answer: %.40q", after.Round(time.Millisecond), sent, answer)
		if after > 10*readTimeout || strings.HasPrefix(answer, "HTTP/1.1 200") || strings.HasPrefix(answer, "HTTP/1.1 303") {
			t.Errorf("the header trickle went on for %v (%d bytes) and got %.40q", after, sent, answer)
		}
	})
}

// TestPermissionsPolicyOnEveryResponse: pages, refusals and static files all
// deny the powerful browser features; only the clipboard write the reveal
// page's Copy button needs is allowed, to tapdesk itself.
func TestPermissionsPolicyOnEveryResponse(t *testing.T) {
	d := startTestDemo(t)
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, probe := range []struct{ method, path, ct, body string }{
		{"GET", "/healthz", "", ""}, {"GET", "/", "", ""}, {"GET", "/auth/login", "", ""},
		{"GET", "/static/favicon.svg", "", ""}, {"GET", "/no/such/page", "", ""},
		{"POST", "/requests", tapdesk.FormContentType, "_csrf=forged"},
		{"POST", "/requests", "multipart/form-data; boundary=x", "--x--"},
	} {
		req, _ := http.NewRequest(probe.method, d.baseURL+probe.path, strings.NewReader(probe.body))
		if probe.ct != "" {
			req.Header.Set("Content-Type", probe.ct)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		pp := res.Header.Get("Permissions-Policy")
		for _, want := range []string{"camera=()", "microphone=()", "geolocation=()", "payment=()", "usb=()", "clipboard-read=(self)", "clipboard-write=(self)"} {
			if !strings.Contains(pp, want) {
				t.Errorf("%s %s (%d): Permissions-Policy %q lacks %s", probe.method, probe.path, res.StatusCode, pp, want)
			}
		}
	}
}

// TestDemoRefusesAddressBeyondLoopback runs `tapdesk demo --addr 0.0.0.0:0`
// as the command itself: it must refuse with a sentence and exit code 2, not
// crash or start half-working.
func TestDemoRefusesAddressBeyondLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		t.Run(addr, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "demo", "--addr", addr)
			cmd.Env = append(os.Environ(), crashChildEnv+"=1")
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 {
				t.Fatalf("demo --addr %s: %v, want exit code 2\n%s", addr, err, out)
			}
			if !strings.Contains(string(out), "tapdesk demo listens on this machine's loopback only") ||
				!strings.Contains(string(out), "Use --addr 127.0.0.1:PORT") {
				t.Errorf("the refusal does not say why and what to do:\n%s", out)
			}
			if strings.Contains(string(out), "panic") || strings.Contains(string(out), "goroutine ") {
				t.Errorf("demo crashed:\n%s", out)
			}
		})
	}
	t.Run("loopback names still work", func(t *testing.T) {
		d := startTestDemoWith(t, func(o *demoOptions) { o.Addr = "localhost:0" })
		if !strings.HasPrefix(d.baseURL, "http://127.0.0.1:") && !strings.HasPrefix(d.baseURL, "http://[::1]:") {
			t.Errorf("base URL %s", d.baseURL)
		}
	})
}

// TestServeChecksServiceRootShapes: a Graph base URL or authority host with
// a version, path or query is refused at start with what to change, rather
// than failing every Graph call later with a message about credentials.
func TestServeChecksServiceRootShapes(t *testing.T) {
	for _, c := range []struct{ setting, value, want string }{
		{"TAPDESK_GRAPH_BASE_URL", "https://graph.microsoft.com/v1.0", "must be the Graph host without a version, like https://graph.microsoft.com; leave off /v1.0"},
		{"TAPDESK_GRAPH_BASE_URL", "https://graph.microsoft.us/beta/", "leave off /beta"},
		{"TAPDESK_GRAPH_BASE_URL", "https://proxy.contoso.example/graph", "must be the Graph host alone, like https://graph.microsoft.com; leave off /graph"},
		{"TAPDESK_GRAPH_BASE_URL", "https://graph.microsoft.com?api-version=1", "without a user name, query or fragment"},
		{"TAPDESK_GRAPH_BASE_URL", "graph.microsoft.com", "is not an https URL like https://graph.microsoft.com"},
		{"TAPDESK_AUTHORITY_HOST", "https://login.microsoftonline.com/5f1d3c2a-7b4e-4c1a-9e8f-0a1b2c3d4e5f", "must be the token authority host alone, like https://login.microsoftonline.com"},
	} {
		t.Run(c.value, func(t *testing.T) {
			env := validServeEnv(t)
			env[c.setting] = c.value
			// A serve that accepts the setting runs until this ends.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := run(ctx, []string{"serve"}, envFrom(env), io.Discard, io.Discard)
			if err == nil {
				t.Fatalf("serve started with %s=%s", c.setting, c.value)
			}
			if !strings.Contains(err.Error(), c.setting+": ") || !strings.Contains(err.Error(), c.want) {
				t.Errorf("refusal lacks %q:\n%v", c.want, err)
			}
		})
	}
	t.Run("a host with a trailing slash starts", func(t *testing.T) {
		env := validServeEnv(t)
		env["TAPDESK_GRAPH_BASE_URL"] = "https://graph.microsoft.com/"
		env["TAPDESK_AUTHORITY_HOST"] = "https://login.microsoftonline.com"
		startServe(t, env)
	})
	t.Run("timeouts must be durations", func(t *testing.T) {
		env := validServeEnv(t)
		env["TAPDESK_READ_TIMEOUT"] = "0"
		env["TAPDESK_WRITE_TIMEOUT"] = "soon"
		err := run(context.Background(), []string{"serve"}, envFrom(env), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "TAPDESK_READ_TIMEOUT: must be longer than 0") ||
			!strings.Contains(err.Error(), fmt.Sprintf("TAPDESK_WRITE_TIMEOUT: %q is not a duration", "soon")) {
			t.Errorf("refusal: %v", err)
		}
	})
}

// TestSlowRevealOutlivesWriteTimeout: the write timeout cuts off clients
// that stop reading, not pages that waited on Graph. A reveal whose create
// takes longer than the write timeout (1 s here) still shows its pass: a
// pass issued, recorded as revealed and then lost on the way out would
// leave the agent with nothing to read to the caller.
func TestSlowRevealOutlivesWriteTimeout(t *testing.T) {
	const writeTimeout = time.Second
	d := startTestDemoWith(t, func(o *demoOptions) { o.WriteTimeout = writeTimeout; o.SweepInterval = time.Hour })
	agent, approver := d.browser(t), d.browser(t)
	agent.signIn("/", "agent")
	approver.signIn("/", "approver")
	path, _ := approvedFor(t, agent, approver, "nina.newhire@contoso.example")
	d.fake.SetFault(createTAP, fakegraph.Fault{Delay: 3 * writeTimeout, Times: 1})
	start := time.Now()
	agent.get(path).submit(`form[action$="/reveal"]`, nil).status(http.StatusOK)
	took := time.Since(start)
	if pass, ok := shownPass(agent.doc().Find(`[data-testid="pass"]`)); !ok || pass == "" {
		t.Fatalf("the slow reveal shows no pass:\n%s", agent.body)
	}
	if took < writeTimeout {
		t.Fatalf("the reveal took %v, not longer than the write timeout %v: the test proves nothing", took, writeTimeout)
	}
	t.Logf("reveal answered after %v with a write timeout of %v", took.Round(time.Millisecond), writeTimeout)
}

// TestExportWriteTimeout: an auditor who reads a large export steadily
// (pausing far under the write timeout) gets all of it, though it takes
// more than twice the timeout; a client that opens the export and stops
// reading is cut off instead of holding the stream open.
func TestExportWriteTimeout(t *testing.T) {
	const events = 30_000
	db := filepath.Join(t.TempDir(), "tapdesk.db")
	if _, _, err := runCLI(t, nil, "migrate", "--db", db); err != nil {
		t.Fatal(err)
	}
	if _, errOut, err := runCLI(t, map[string]string{"TAPDESK_AUDIT_KEY": demoAuditKey}, "audit", "seed", "--db", db, "--events", fmt.Sprint(events)); err != nil {
		t.Fatalf("seed: %v\n%s", err, errOut)
	}
	// exportDemo runs tapdesk on the seeded database with writeTimeout, for
	// the subtest t, and signs an auditor in.
	exportDemo := func(t *testing.T, writeTimeout time.Duration) (*testDemo, *browser, string) {
		d := startTestDemoWith(t, func(o *demoOptions) { o.DBPath = db; o.WriteTimeout = writeTimeout; o.SweepInterval = time.Hour })
		auditor := d.browser(t)
		auditor.signIn("/audit", "auditor")
		return d, auditor, d.baseURL + "/audit/export?format=jsonl"
	}

	t.Run("a steady reader gets it all", func(t *testing.T) {
		// A reader that falls silent for longer than the write timeout is
		// cut off, and rightly: so the timeout here (5 s) leaves room for a
		// loaded machine to stall the reading for a few seconds, on top of
		// its pauses. With 1 s, a one-second stall anywhere in the export
		// cut it off.
		const writeTimeout = 5 * time.Second
		d, auditor, exportURL := exportDemo(t, writeTimeout)
		res, err := auditor.client.Get(exportURL)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		start := time.Now()
		lines, buf := 0, make([]byte, 256<<10)
		for {
			n, err := io.ReadFull(res.Body, buf)
			lines += strings.Count(string(buf[:n]), "\n")
			if err != nil {
				if err != io.EOF && err != io.ErrUnexpectedEOF {
					t.Logf("reading the export: %v", err)
				}
				break
			}
			// A slow link (2 MB/s), pausing far less than the timeout (the
			// kernel wakes a blocked write only once a share of its send
			// buffer, megabytes on loopback, has drained).
			time.Sleep(writeTimeout / 40)
		}
		took := time.Since(start)
		t.Logf("%d lines in %v", lines, took.Round(time.Millisecond))
		if lines < events {
			for _, l := range strings.Split(d.logs.String(), "\n") {
				if strings.Contains(l, "export") || strings.Contains(l, "ERROR") {
					t.Log(l)
				}
			}
			t.Errorf("the export stopped after %d lines of at least %d (%v)", lines, events, took)
		}
		if took < 2*writeTimeout {
			t.Errorf("the export took only %v: the test proves nothing", took)
		}
	})
	t.Run("a reader that stops is cut off", func(t *testing.T) {
		// A stall only lengthens the client's silence (5 times the
		// timeout): this direction needs no room.
		const writeTimeout = time.Second
		d, auditor, exportURL := exportDemo(t, writeTimeout)
		u, _ := url.Parse(exportURL)
		var cookies []string
		for _, c := range auditor.client.Jar.Cookies(u) {
			cookies = append(cookies, c.Name+"="+c.Value)
		}
		conn, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nCookie: %s\r\n\r\n", u.RequestURI(), u.Host, strings.Join(cookies, "; "))
		first := make([]byte, 4096)
		if _, err := io.ReadFull(conn, first); err != nil || !strings.HasPrefix(string(first), "HTTP/1.1 200") {
			t.Fatalf("export did not start: %v %.60q", err, first)
		}
		time.Sleep(5 * writeTimeout) // the client stops reading
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		rest, _ := io.ReadAll(conn)
		got := strings.Count(string(first)+string(rest), "\n")
		t.Logf("after a %v stall the client got %d lines of %d", 5*writeTimeout, got, events)
		if got >= events {
			t.Errorf("the stalled client still got the whole export (%d lines)", got)
		}
		if !strings.Contains(d.logs.String(), "audit export interrupted") {
			t.Error("the server did not cut the export off")
		}
	})
}
