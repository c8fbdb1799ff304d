package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/internal/slogjson"
)

// countingWriter counts the writes it gets, as the file under serve's log
// would see them as system calls.
type countingWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	return w.buf.Write(p)
}

func (w *countingWriter) state() (string, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String(), w.writes
}

// TestLogBufferBatchesInfoLinesInOrder: request lines logged together reach
// the file in one write, in order, without anyone flushing; a warning goes
// out at once with the lines before it; what is left is written on Close.
func TestLogBufferBatchesInfoLinesInOrder(t *testing.T) {
	out := &countingWriter{}
	b := newLogBuffer(out)
	log := newLogger(b, tapdesk.LogFormatJSON, slog.LevelInfo)
	for i := range 100 {
		log.Info("http", "n", i)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		text, writes := out.state()
		if strings.Count(text, "\n") == 100 {
			// One write, or a few if the machine is slow enough to let
			// the flush delay pass while the lines are logged.
			if writes > 10 {
				t.Fatalf("100 lines logged together took %d writes, want them batched", writes)
			}
			for i := range 100 {
				if !strings.Contains(strings.Split(text, "\n")[i], fmt.Sprintf(`"n":%d}`, i)) {
					t.Fatalf("line %d out of order: %s", i, strings.Split(text, "\n")[i])
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the batched lines were never written: %q", text)
		}
		time.Sleep(5 * time.Millisecond)
	}

	log.Info("before the warning")
	log.Warn("database slow")
	text, _ := out.state()
	if !strings.Contains(text, "before the warning") || !strings.Contains(text, "database slow") {
		t.Fatalf("a warning waited for the batch: %q", text)
	}
	log.With("component", "sweep").Error("sweep failed")
	if text, _ := out.state(); !strings.Contains(text, "sweep failed") {
		t.Fatalf("an error from a derived logger waited for the batch: %q", text)
	}

	log.Info("last words")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if text, _ := out.state(); !strings.HasSuffix(strings.TrimSpace(text), `"msg":"last words"}`) {
		t.Fatalf("Close did not write what was waiting: %q", text)
	}
}

// TestBufferedLogOnlyForFiles: a writer that is not a file (tests read it
// right after a request) gets every line as it is logged.
func TestBufferedLogOnlyForFiles(t *testing.T) {
	var plain bytes.Buffer
	if w, _ := bufferedLog(&plain); w != &plain {
		t.Fatalf("a plain writer was wrapped in %T", w)
	}
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, done := bufferedLog(f)
	if _, ok := w.(*logBuffer); !ok {
		t.Fatalf("a file was not buffered: %T", w)
	}
	newLogger(w, tapdesk.LogFormatText, slog.LevelInfo).Info("tapdesk serving")
	done()
	got, err := os.ReadFile(f.Name())
	if err != nil || !strings.Contains(string(got), "tapdesk serving") {
		t.Fatalf("the line was not written when serve returned: %q %v", got, err)
	}
}

// TestLineThroughTheBuffer: the request line's way (a slogjson.Line) goes
// into the buffer in turn with records, and is not taken for a level that
// must be written at once.
func TestLineThroughTheBuffer(t *testing.T) {
	out := &countingWriter{}
	b := newLogBuffer(out)
	log := newLogger(b, tapdesk.LogFormatJSON, slog.LevelInfo)
	ll, ok := log.Handler().(interface {
		NewLine(time.Time, slog.Level, string) *slogjson.Line
	})
	if !ok {
		t.Fatalf("serve's JSON log over a buffer takes no lines: %T", log.Handler())
	}
	if l := ll.NewLine(time.Now(), slog.LevelWarn, "slow"); l != nil {
		t.Fatal("a warning was taken as a line, which the buffer would not write at once")
	}
	log.Info("first")
	if err := ll.NewLine(time.Now(), slog.LevelInfo, "http").String("route", "/").Int("status", 200).Write(context.Background()); err != nil {
		t.Fatal(err)
	}
	log.Info("last")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	text, _ := out.state()
	lines := strings.Split(strings.TrimSpace(text), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], `"msg":"first"`) || !strings.HasSuffix(lines[1], `"level":"INFO","msg":"http","route":"/","status":200}`) || !strings.Contains(lines[2], `"msg":"last"`) {
		t.Fatalf("lines out of turn or not whole:\n%s", text)
	}
	if text := newLogger(b, tapdesk.LogFormatText, slog.LevelInfo).Handler(); text != nil {
		if ll, ok := text.(interface {
			NewLine(time.Time, slog.Level, string) *slogjson.Line
		}); ok && ll.NewLine(time.Now(), slog.LevelInfo, "http") != nil {
			t.Fatal("the text log took a JSON line")
		}
	}
}
