package slogjson

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// requestLine is the request log line as handlers.requestLog makes it.
func requestLine(t time.Time, user string) slog.Record {
	r := slog.NewRecord(t, slog.LevelInfo, "http", 0)
	r.AddAttrs(slog.String("method", "GET"), slog.String("route", "/requests/:id"),
		slog.Int("status", 200), slog.Int64("duration_ms", 3), slog.Int64("bytes", 2478),
		slog.String("request_id", "FI0cQVsU2YpfcnnQ"), slog.String("client", "203.0.113.7"), slog.String("user", user))
	return r
}

// both writes r through this package's handler and slog's, and returns
// the two outputs.
func both(t testing.TB, r slog.Record, opts *slog.HandlerOptions) (ours, slogs string) {
	var a, b bytes.Buffer
	ctx := context.Background()
	if err := NewHandler(&a, opts).Handle(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := slog.NewJSONHandler(&b, opts).Handle(ctx, r); err != nil {
		t.Fatal(err)
	}
	return a.String(), b.String()
}

// sameBytesCases are records whose lines must come out as slog writes
// them, plain or not.
func sameBytesCases() map[string]slog.Record {
	when := time.Date(2026, 11, 30, 7, 1, 47, 123456789, time.UTC)
	return map[string]slog.Record{
		"the request line": requestLine(when, "agent@contoso.example"),
		"a whole second":   requestLine(time.Date(2026, 11, 30, 7, 1, 47, 0, time.UTC), "agent@contoso.example"),
		"another zone":     requestLine(when.In(time.FixedZone("x", 5*3600+1800)), "a"),
		"monotonic clock":  requestLine(time.Now(), "a"),
		"no attributes":    slog.NewRecord(when, slog.LevelWarn, "stopping", 0),
		"a custom level":   slog.NewRecord(when, slog.LevelInfo+2, "m", 0),
		// Each of these goes to slog's handler; the bytes must be the same.
		"a quote":              requestLine(when, `a"b`),
		"a backslash":          requestLine(when, `a\b`),
		"a newline":            requestLine(when, "a\nb"),
		"a control character":  requestLine(when, "a\x01b"),
		"delete":               requestLine(when, "a\x7fb"),
		"non-ASCII":            requestLine(when, "zoë@contoso.example"),
		"a line separator":     requestLine(when, "a\u2028b"),
		"invalid UTF-8":        requestLine(when, "a\xffb"),
		"HTML characters":      requestLine(when, "<a&b>"),
		"no time":              requestLine(time.Time{}, "a"),
		"a year past 9999":     requestLine(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), "a"),
		"a message to escape":  slog.NewRecord(when, slog.LevelInfo, "say \"hi\"\n", 0),
		"an empty key":         withAttrs(when, slog.String("", "v")),
		"an empty attribute":   withAttrs(when, slog.Attr{}, slog.Int("n", 1)),
		"an error":             withAttrs(when, slog.Any("err", errors.New("boom"))),
		"a float":              withAttrs(when, slog.Float64("f", 1.5)),
		"a group":              withAttrs(when, slog.Group("g", slog.Int("n", 1))),
		"an inline group":      withAttrs(when, slog.Group("", slog.Int("n", 1))),
		"a time attribute":     withAttrs(when, slog.Time("at", when)),
		"every plain kind":     withAttrs(when, slog.Bool("b", true), slog.Uint64("u", 1<<63), slog.Int64("i", -5), slog.Duration("d", 1500*time.Millisecond)),
		"a duplicate key":      withAttrs(when, slog.Int("n", 1), slog.Int("n", 2)),
		"a key to escape":      withAttrs(when, slog.Int("a\"b", 1)),
		"an empty string":      withAttrs(when, slog.String("s", "")),
		"a long value":         withAttrs(when, slog.String("s", strings.Repeat("x", 40<<10))),
		"many attributes":      withAttrs(when, slog.Int("a", 1), slog.Int("b", 2), slog.Int("c", 3), slog.Int("d", 4), slog.Int("e", 5), slog.Int("f", 6), slog.Int("g", 7)),
		"a zero-value integer": withAttrs(when, slog.Int("", 0)),
	}
}

func TestSameBytesAsSlog(t *testing.T) {
	when := time.Date(2026, 11, 30, 7, 1, 47, 123456789, time.UTC)
	for name, r := range sameBytesCases() {
		t.Run(name, func(t *testing.T) {
			if ours, slogs := both(t, r, nil); ours != slogs {
				t.Errorf("wrote\n%q\nslog writes\n%q", ours, slogs)
			}
		})
	}
	t.Run("options that change the line", func(t *testing.T) {
		rep := func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == "user" {
				a.Value = slog.StringValue("hidden")
			}
			return a
		}
		for _, opts := range []*slog.HandlerOptions{{ReplaceAttr: rep}, {AddSource: true}} {
			if ours, slogs := both(t, requestLine(when, "a"), opts); ours != slogs {
				t.Errorf("wrote\n%q\nslog writes\n%q", ours, slogs)
			}
		}
	})
}

// lineOf writes r as a Line through a handler of opts, if r's attributes
// are all strings and integers (ok is false otherwise).
func lineOf(t testing.TB, r slog.Record, opts *slog.HandlerOptions) (_ string, ok bool) {
	var buf bytes.Buffer
	l := NewHandler(&buf, opts).NewLine(r.Time, r.Level, r.Message)
	ok = true
	r.Attrs(func(a slog.Attr) bool {
		switch a.Value.Kind() {
		case slog.KindString:
			l.String(a.Key, a.Value.String())
		case slog.KindInt64:
			l.Int(a.Key, a.Value.Int64())
		default:
			ok = false
		}
		return ok
	})
	if !ok {
		return "", false
	}
	if err := l.Write(context.Background()); err != nil {
		t.Fatal(err)
	}
	return buf.String(), true
}

// TestLineSameBytesAsSlog writes each case that has only strings and
// integers as a Line: the bytes must be those slog writes for its record.
func TestLineSameBytesAsSlog(t *testing.T) {
	n := 0
	for name, r := range sameBytesCases() {
		t.Run(name, func(t *testing.T) {
			ours, ok := lineOf(t, r, nil)
			if !ok {
				return
			}
			n++
			if _, slogs := both(t, r, nil); ours != slogs {
				t.Errorf("wrote\n%q\nslog writes\n%q", ours, slogs)
			}
		})
	}
	if n < 20 {
		t.Errorf("only %d cases written as lines", n)
	}
	rep := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == "user" {
			a.Value = slog.StringValue("hidden")
		}
		return a
	}
	r := requestLine(time.Date(2026, 11, 30, 7, 1, 47, 123456789, time.UTC), "a")
	for _, opts := range []*slog.HandlerOptions{{ReplaceAttr: rep}, {AddSource: true}} {
		ours, _ := lineOf(t, r, opts)
		if _, slogs := both(t, r, opts); ours != slogs {
			t.Errorf("with options: wrote\n%q\nslog writes\n%q", ours, slogs)
		}
	}
}

func withAttrs(t time.Time, attrs ...slog.Attr) slog.Record {
	r := slog.NewRecord(t, slog.LevelInfo, "m", 0)
	r.AddAttrs(attrs...)
	return r
}

// FuzzMatchesSlog writes records of fuzzed strings and numbers both ways.
func FuzzMatchesSlog(f *testing.F) {
	f.Add("http", "route", "/requests/:id", "agent@contoso.example", int64(200), int64(1764486107123456789), int64(0))
	f.Add("a\"b", "k\n", "\u2028", "\xff", int64(-1), int64(0), int64(4))
	f.Fuzz(func(t *testing.T, msg, key, s1, s2 string, n, nanos int64, level int64) {
		r := slog.NewRecord(time.Unix(0, nanos).UTC(), slog.Level(level%16), msg, 0)
		r.AddAttrs(slog.String(key, s1), slog.Int64("n", n), slog.String("s", s2), slog.Bool(s2, n%2 == 0))
		ours, slogs := both(t, r, nil)
		if ours != slogs {
			t.Errorf("wrote\n%q\nslog writes\n%q", ours, slogs)
		}
		r = slog.NewRecord(r.Time, r.Level, msg, 0)
		r.AddAttrs(slog.String(key, s1), slog.Int64("n", n), slog.String(s2, s2))
		line, _ := lineOf(t, r, nil)
		if _, slogs := both(t, r, nil); line != slogs {
			t.Errorf("as a line wrote\n%q\nslog writes\n%q", line, slogs)
		}
	})
}

// TestQuickWay checks the request line does not go through slog's
// handler (the point of the package), and that a handler made by With
// keeps its attributes (it goes through slog's).
func TestQuickWay(t *testing.T) {
	var buf bytes.Buffer
	h := NewHandler(&buf, nil)
	counted := &counting{Handler: h.Handler}
	h.Handler = counted
	ctx := context.Background()
	_ = h.Handle(ctx, requestLine(time.Now(), "agent@contoso.example"))
	if counted.n != 0 {
		t.Errorf("the request line went through slog's handler")
	}
	_ = h.Handle(ctx, requestLine(time.Now(), "zoë@contoso.example"))
	if counted.n != 1 {
		t.Errorf("a line with non-ASCII went through slog's handler %d times, want 1", counted.n)
	}
	requestAsLine(h, time.Now(), "agent@contoso.example")
	if counted.n != 1 {
		t.Errorf("the request line written as a Line went through slog's handler")
	}
	requestAsLine(h, time.Now(), "zoë@contoso.example")
	if counted.n != 2 {
		t.Errorf("a Line with non-ASCII went through slog's handler %d times, want 2", counted.n-1)
	}
	if got := strings.Count(buf.String(), "\n"); got != 4 {
		t.Errorf("%d lines written, want 4:\n%s", got, buf.String())
	}

	buf.Reset()
	slog.New(NewHandler(&buf, nil)).With("instance", "a").Info("hi")
	if !strings.Contains(buf.String(), `"instance":"a"`) {
		t.Errorf("With lost its attribute: %s", buf.String())
	}
	if h := NewHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}); h.Enabled(ctx, slog.LevelInfo) || !h.Enabled(ctx, slog.LevelWarn) {
		t.Errorf("the level option is not kept")
	}
}

// requestAsLine writes requestLine's line as a Line, as handlers.requestLog
// does.
func requestAsLine(h slog.Handler, t time.Time, user string) {
	_ = Begin(h, t, slog.LevelInfo, "http").String("method", "GET").String("route", "/requests/:id").
		Int("status", 200).Int("duration_ms", 3).Int("bytes", 2478).
		String("request_id", "FI0cQVsU2YpfcnnQ").String("client", "203.0.113.7").String("user", user).
		Write(context.Background())
}

// TestBeginForAnotherHandler: a line begun for a handler that starts no
// lines (slog's text handler) reaches it as the record of the same
// attributes.
func TestBeginForAnotherHandler(t *testing.T) {
	var a, b bytes.Buffer
	when := time.Date(2026, 11, 30, 7, 1, 47, 123456789, time.UTC)
	requestAsLine(slog.NewTextHandler(&a, nil), when, "agent@contoso.example")
	_ = slog.NewTextHandler(&b, nil).Handle(context.Background(), requestLine(when, "agent@contoso.example"))
	if a.String() != b.String() || a.Len() == 0 {
		t.Errorf("wrote\n%q\nthe record writes\n%q", a.String(), b.String())
	}
}

type counting struct {
	slog.Handler
	n int
}

func (c *counting) Handle(ctx context.Context, r slog.Record) error {
	c.n++
	return c.Handler.Handle(ctx, r)
}

// TestLinesWhole writes from many goroutines both ways at once: every
// line must come out whole (the race detector also watches the buffer).
func TestLinesWhole(t *testing.T) {
	var buf bytes.Buffer
	h := NewHandler(&buf, nil)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			user := "agent@contoso.example"
			if i%2 == 1 {
				user = "zoë@contoso.example" // slog's way
			}
			for j := range 200 {
				if j%2 == 0 {
					_ = h.Handle(context.Background(), requestLine(time.Now(), user))
				} else {
					requestAsLine(h, time.Now(), user)
				}
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 1600 {
		t.Fatalf("%d lines, want 1600", len(lines))
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, `{"time":`) || !strings.HasSuffix(l, `}`) {
			t.Fatalf("a line came out broken: %q", l)
		}
	}
}

func BenchmarkRequestLine(b *testing.B) {
	for _, way := range []struct {
		name string
		h    slog.Handler
	}{{"slog", slog.NewJSONHandler(discard{}, nil)}, {"slogjson", NewHandler(discard{}, nil)}} {
		b.Run(way.name, func(b *testing.B) {
			b.ReportAllocs()
			ctx := context.Background()
			for b.Loop() {
				_ = way.h.Handle(ctx, requestLine(time.Now(), "agent@contoso.example"))
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func BenchmarkRequestAsLine(b *testing.B) {
	b.ReportAllocs()
	h := NewHandler(discard{}, nil)
	for b.Loop() {
		requestAsLine(h, time.Now(), "agent@contoso.example")
	}
}

func BenchmarkRecordOnly(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = requestLine(time.Now(), "agent@contoso.example")
	}
}
