package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/tapdesk/tapdesk/internal/slogjson"
)

// logBuffer batches the log lines written to a file (serve's stderr) into
// one write every logFlushDelay, instead of one write system call per line.
// Under load the request log is a line per request, and that write (made
// under the handler's lock, so requests queue behind it) costs about as
// much as answering a small request. Lines keep their order; a line waits at most logFlushDelay;
// a warning or error is written at once (flushingHandler), with the lines
// before it; and the buffer is written out when serve returns. What a
// SIGKILL or a crash loses is the last logFlushDelay of info lines.
type logBuffer struct {
	out io.Writer

	wmu sync.Mutex // held while writing to out, so batches keep their order

	mu        sync.Mutex // guards buf, spare and scheduled
	buf       []byte
	spare     []byte // the buffer last written out, for buf to take next (nil while one is being written)
	scheduled bool   // a flush is due within logFlushDelay
	timer     *time.Timer
}

const (
	// logFlushDelay is how long a line may wait for others to join it.
	logFlushDelay = 20 * time.Millisecond
	// logBufferMax is written at once when the lines waiting reach it.
	logBufferMax = 64 << 10
)

func newLogBuffer(out io.Writer) *logBuffer {
	b := &logBuffer{out: out, buf: make([]byte, 0, logBufferMax)}
	b.timer = time.AfterFunc(time.Hour, func() { _ = b.Flush() })
	b.timer.Stop()
	return b
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	b.buf = append(b.buf, p...)
	full := len(b.buf) >= logBufferMax
	if !full && !b.scheduled {
		b.scheduled = true
		b.timer.Reset(logFlushDelay)
	}
	b.mu.Unlock()
	if full {
		if err := b.Flush(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush writes the lines waiting, if any.
func (b *logBuffer) Flush() error {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	b.mu.Lock()
	out := b.buf
	if len(out) == 0 {
		b.mu.Unlock()
		return nil
	}
	// Two buffers take turns: lines gather in one while the other is
	// written, so a flush (every few milliseconds under load) allocates
	// nothing.
	b.buf, b.spare = b.spare[:0], nil
	if b.buf == nil {
		b.buf = make([]byte, 0, logBufferMax)
	}
	b.scheduled = false
	b.mu.Unlock()
	_, err := b.out.Write(out)
	if cap(out) <= 2*logBufferMax { // one a long line grew is let go
		b.mu.Lock()
		b.spare = out[:0]
		b.mu.Unlock()
	}
	return err
}

// Close writes what is waiting and stops the timer.
func (b *logBuffer) Close() error {
	b.timer.Stop()
	return b.Flush()
}

// bufferedLog returns a writer for serve's log: a logBuffer when stderr is
// a file (a terminal, a pipe to journald or a container runtime), else
// stderr itself (tests that read the log at once), and what to call when
// serve returns.
func bufferedLog(stderr io.Writer) (io.Writer, func()) {
	if _, ok := stderr.(*os.File); !ok {
		return stderr, func() {}
	}
	b := newLogBuffer(stderr)
	return b, func() { _ = b.Close() }
}

// flushingHandler writes a warning or an error out at once (with the
// lines before it), when the handler's writer is a logBuffer.
type flushingHandler struct {
	slog.Handler
	buf *logBuffer
}

func (h flushingHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		if ferr := h.buf.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

// NewLine is the inner handler's line (internal/slogjson), for a level
// written without a flush; nil otherwise (the line is then written as a
// record, through Handle).
func (h flushingHandler) NewLine(t time.Time, level slog.Level, msg string) *slogjson.Line {
	if j, ok := h.Handler.(*slogjson.Handler); ok && level < slog.LevelWarn {
		return j.NewLine(t, level, msg)
	}
	return nil
}

func (h flushingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return flushingHandler{h.Handler.WithAttrs(attrs), h.buf}
}

func (h flushingHandler) WithGroup(name string) slog.Handler {
	return flushingHandler{h.Handler.WithGroup(name), h.buf}
}
