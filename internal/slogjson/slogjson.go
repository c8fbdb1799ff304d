// Package slogjson is log/slog's JSON handler with a quicker way through
// for plain records: those whose attributes are strings, integers,
// booleans and durations of printable ASCII, with no groups, as the
// request log line (one per request) is. Such a record is written directly
// into a pooled buffer, as the very bytes slog.JSONHandler would write
// (FuzzMatchesSlog); any other record, and every record of a handler made
// by WithAttrs or WithGroup, goes to slog.JSONHandler itself.
//
// slog's handler takes about 0.8 µs for the request line (a walk over
// each attribute through its general value encoder and key escaping);
// this takes about 0.15 µs.
package slogjson

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// Handler is slog.NewJSONHandler(w, opts) with the quicker way through.
// Both ways write through one lock, so w sees one whole line per Write,
// one at a time, as with slog's handler.
type Handler struct {
	slog.Handler // slog's own JSON handler: every record not plain, and Enabled
	mu           *sync.Mutex
	w            io.Writer
	quick        bool // no option changes what a line holds
}

// NewHandler is slog.NewJSONHandler(w, opts) with the quicker way
// through. Options that change what a line holds (AddSource,
// ReplaceAttr) send every record to slog's handler.
func NewHandler(w io.Writer, opts *slog.HandlerOptions) *Handler {
	if opts == nil {
		opts = &slog.HandlerOptions{}
	}
	mu := &sync.Mutex{}
	return &Handler{Handler: slog.NewJSONHandler(&lockedWriter{mu: mu, w: w}, opts), mu: mu, w: w,
		quick: !opts.AddSource && opts.ReplaceAttr == nil}
}

// Handle writes a plain record itself and gives any other to slog's
// handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if !h.quick {
		return h.Handler.Handle(ctx, r)
	}
	bp := buffers.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxPooled {
			buffers.Put(bp)
		}
	}()
	line, ok := appendPlain((*bp)[:0], r)
	*bp = line
	if !ok {
		return h.Handler.Handle(ctx, r)
	}
	return h.write(line)
}

// write writes a whole line, under the lock slog's handler writes under.
func (h *Handler) write(line []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.w.Write(line)
	return err
}

// Line is a line built attribute by attribute and then written (Write),
// without a slog.Record: the request log line's way (one a request), for
// which making the record and walking its attributes cost as much as
// writing them. A line of plain attributes is written as the very bytes
// slog.JSONHandler writes for the record of the same attributes; any other
// line is made into that record and goes to slog's handler (or, begun
// for another handler, to that one). A Line is pooled: it must not be
// used after Write.
type Line struct {
	h     *Handler     // writes the line while it is plain
	to    slog.Handler // takes the line as a record when it is not
	t     time.Time
	level slog.Level
	msg   string
	attrs []slog.Attr // for slog's handler, if the line is not plain
	b     []byte      // the line as written so far, while plain
	plain bool
}

var lines = sync.Pool{New: func() any { return &Line{b: make([]byte, 0, 1024)} }}

// NewLine starts a line at t, of level and msg, as Handle would write a
// record of them. Give it its attributes (String, Int) and Write it.
func (h *Handler) NewLine(t time.Time, level slog.Level, msg string) *Line {
	l := newLine(h.Handler, t, level, msg)
	if h.quick {
		l.h = h
		l.b, l.plain = appendHead(l.b, t, level, msg)
	}
	return l
}

// lineStarter is a handler that starts lines itself: Handler, or one
// wrapping it. NewLine may return nil: the line then goes to the handler
// as a record.
type lineStarter interface {
	NewLine(t time.Time, level slog.Level, msg string) *Line
}

// Begin starts a line for h, at t, of level and msg: the quick way when
// h offers it (NewLine), else a line that goes to h as a record.
func Begin(h slog.Handler, t time.Time, level slog.Level, msg string) *Line {
	if s, ok := h.(lineStarter); ok {
		if l := s.NewLine(t, level, msg); l != nil {
			return l
		}
	}
	return newLine(h, t, level, msg)
}

// newLine is a pooled line going to h as a record.
func newLine(h slog.Handler, t time.Time, level slog.Level, msg string) *Line {
	l := lines.Get().(*Line)
	l.h, l.to, l.t, l.level, l.msg, l.attrs, l.b, l.plain = nil, h, t, level, msg, l.attrs[:0], l.b[:0], false
	return l
}

// String adds a string attribute.
func (l *Line) String(key, value string) *Line {
	l.attrs = append(l.attrs, slog.String(key, value))
	if l.plain {
		l.b, l.plain = appendKey(l.b, key)
		if l.plain {
			l.b, l.plain = appendString(l.b, value)
		}
	}
	return l
}

// Int adds an integer attribute.
func (l *Line) Int(key string, value int64) *Line {
	l.attrs = append(l.attrs, slog.Int64(key, value))
	if l.plain {
		l.b, l.plain = appendKey(l.b, key)
		l.b = strconv.AppendInt(l.b, value, 10)
	}
	return l
}

// Write writes the line and lets it go.
func (l *Line) Write(ctx context.Context) error {
	defer func() {
		if cap(l.b) <= maxPooled && cap(l.attrs) <= 64 {
			l.h, l.to = nil, nil
			lines.Put(l)
		}
	}()
	if !l.plain {
		r := slog.NewRecord(l.t, l.level, l.msg, 0)
		r.AddAttrs(l.attrs...)
		return l.to.Handle(ctx, r)
	}
	l.b = append(l.b, "}\n"...)
	return l.h.write(l.b)
}

// appendHead appends the time, level and message of a line, if they are
// plain.
func appendHead(b []byte, t time.Time, level slog.Level, msg string) (_ []byte, ok bool) {
	// slog leaves the time out when it is zero, and notes an error for a
	// year RFC 3339 cannot write: both are left to it.
	if t.IsZero() {
		return b, false
	}
	t = t.Round(0)
	if y := t.Year(); y < 0 || y >= 10000 {
		return b, false
	}
	b = append(b, `{"time":"`...)
	b = t.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":`...)
	if b, ok = appendString(b, level.String()); !ok {
		return b, false
	}
	b = append(b, `,"msg":`...)
	return appendString(b, msg)
}

// appendKey appends an attribute's key and its colon, after a comma, if
// the key is plain.
func appendKey(b []byte, key string) (_ []byte, ok bool) {
	b = append(b, ',')
	if b, ok = appendString(b, key); !ok {
		return b, false
	}
	return append(b, ':'), true
}

// appendPlain appends r as slog.JSONHandler (without options) writes it,
// if r is plain; ok is false, and what was appended is to be dropped, if
// it is not.
func appendPlain(b []byte, r slog.Record) (_ []byte, ok bool) {
	if b, ok = appendHead(b, r.Time, r.Level, r.Message); !ok {
		return b, false
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Equal(slog.Attr{}) {
			return true // slog leaves an empty attribute out
		}
		if b, ok = appendKey(b, a.Key); !ok {
			return false
		}
		switch v := a.Value; v.Kind() {
		case slog.KindString:
			b, ok = appendString(b, v.String())
		case slog.KindInt64:
			b = strconv.AppendInt(b, v.Int64(), 10)
		case slog.KindUint64:
			b = strconv.AppendUint(b, v.Uint64(), 10)
		case slog.KindBool:
			b = strconv.AppendBool(b, v.Bool())
		case slog.KindDuration:
			b = strconv.AppendInt(b, int64(v.Duration()), 10)
		default:
			ok = false
		}
		return ok
	})
	if !ok {
		return b, false
	}
	return append(b, "}\n"...), true
}

// appendString appends s quoted, if it is plain: printable ASCII with no
// quote or backslash, which slog writes as it is. Anything else (escapes,
// other characters, invalid UTF-8) is left to slog.
func appendString(b []byte, s string) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		if !plain[s[i]] {
			return b, false
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"'), true
}

// plain holds true for the bytes slog writes as they are: printable
// ASCII but the quote and the backslash.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x7f; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// maxPooled is the largest buffer kept for the next line: one a long
// line grew is let go.
const maxPooled = 16 << 10

var buffers = sync.Pool{New: func() any {
	b := make([]byte, 0, 1024)
	return &b
}}

// lockedWriter is w behind the handler's lock, for slog's handler: its
// writes and the quick way's take turns.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
