package main

import (
	"context"
	"crypto/ed25519"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/evidence"
	"github.com/tapdesk/tapdesk/store"
)

// checkpointHook is a webhook receiver that refuses its first call.
type checkpointHook struct {
	mu       sync.Mutex
	calls    int
	received []string // bodies it took (2xx)
}

func (h *checkpointHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	if h.calls == 1 || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "down for a moment", http.StatusServiceUnavailable)
		return
	}
	h.received = append(h.received, string(body))
}

func (h *checkpointHook) got() (calls int, received []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls, append([]string(nil), h.received...)
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(strings.TrimSpace(string(b)))
}

func demoPublicKeyFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "demo-public.pem")
	if err := os.WriteFile(path, []byte(evidence.PublicKeyPEM(demoSigningKey().Public().(ed25519.PublicKey))), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A signed checkpoint is published once per interval (on the app's clock,
// once however many sweeps run in it) and at shutdown, to the log, the
// append-only file and the webhook (which fails first and is retried);
// each is audited. verify --checkpoints then holds, and catches a forged
// checkpoint and events cut off the end.
func TestCheckpointsPublishedOnIntervalAndAtShutdown(t *testing.T) {
	clock := &testClock{now: time.Date(2026, 11, 29, 9, 10, 0, 0, time.UTC)}
	hook := &checkpointHook{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "checkpoints.jsonl")
	d, stop := startStoppableDemo(t, func(o *demoOptions) {
		o.Now = clock.Now
		o.SweepInterval = time.Hour // the test runs the sweeps
		o.Checkpoints = evidence.PublisherConfig{File: file, Webhook: srv.URL, WebhookBackoff: 10 * time.Millisecond}
	})
	ctx := context.Background()
	<-d.app.firstSweep
	if lines := readLines(t, file); len(lines) != 0 {
		t.Fatalf("a checkpoint was published at start, before its interval: %q", lines)
	}

	clock.advance(time.Hour)
	d.app.sweepOnce(ctx, nil)
	d.app.sweepOnce(ctx, nil) // the same interval: nothing more
	lines := readLines(t, file)
	if len(lines) != 1 {
		t.Fatalf("after an interval the file holds %d checkpoints, want 1: %q", len(lines), lines)
	}
	first, err := evidence.ParseCheckpoint([]byte(lines[0]))
	if err != nil {
		t.Fatal(err)
	}
	pub := demoSigningKey().Public().(ed25519.PublicKey)
	if err := first.Verify(pub); err != nil {
		t.Fatalf("the published checkpoint does not verify: %v", err)
	}
	if at, _ := first.At(); !at.Equal(clock.Now()) {
		t.Errorf("checkpoint time %s, want the app's clock %s", first.Time, clock.Now())
	}
	if mac, found, err := d.app.db.EventMAC(ctx, first.Seq); err != nil || !found || mac != first.MAC {
		t.Errorf("event %d carries %q (found %v, %v), the checkpoint %q", first.Seq, mac, found, err, first.MAC)
	}
	calls, received := hook.got()
	if calls != 2 || len(received) != 1 || received[0] != lines[0] {
		t.Errorf("webhook: %d calls, took %q; want a refused call, then the checkpoint", calls, received)
	}
	if !strings.Contains(d.logs.String(), "audit checkpoint published") {
		t.Error("the checkpoint was not logged")
	}
	evs, err := d.app.db.Events(ctx, store.EventFilter{Activity: string(tapdesk.ActCheckpointPublished)})
	if err != nil || len(evs) != 1 || evs[0].Details["seq"] != strconv.FormatInt(first.Seq, 10) {
		t.Errorf("audited publications: %+v %v", evs, err)
	}

	stop()
	lines = readLines(t, file)
	if len(lines) != 2 {
		t.Fatalf("after shutdown the file holds %d checkpoints, want 2", len(lines))
	}
	last, err := evidence.ParseCheckpoint([]byte(lines[1]))
	if err != nil || last.Verify(pub) != nil || last.Seq <= first.Seq {
		t.Fatalf("shutdown checkpoint %+v (%v), after %d", last, err, first.Seq)
	}
	if _, received := hook.got(); len(received) != 2 || received[1] != lines[1] {
		t.Errorf("the webhook did not get the shutdown checkpoint: %q", received)
	}

	env := map[string]string{"TAPDESK_AUDIT_KEY": demoAuditKey}
	key := demoPublicKeyFile(t)
	out, _, err := runCLI(t, env, "audit", "verify", "--db", d.dbPath, "--checkpoints", file, "--public-key", key)
	if err != nil || !strings.Contains(out, "The 2 signed checkpoints in "+file+" check out") {
		t.Fatalf("verify --checkpoints on an intact trail: %v\n%s", err, out)
	}

	t.Run("a forged checkpoint", func(t *testing.T) {
		forged := strings.Replace(lines[1], `"mac":"`+last.MAC[:4], `"mac":"`+"ffff", 1)
		if last.MAC[:4] == "ffff" {
			forged = strings.Replace(lines[1], `"mac":"`+last.MAC[:4], `"mac":"`+"eeee", 1)
		}
		bad := filepath.Join(t.TempDir(), "forged.jsonl")
		if err := os.WriteFile(bad, []byte(lines[0]+"\n"+forged+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		out, _, err := runCLI(t, env, "audit", "verify", "--db", d.dbPath, "--checkpoints", bad, "--public-key", key)
		if exitCode(err) != 1 || !strings.Contains(out, "checkpoint 2 in "+bad) || !strings.Contains(out, "forged or altered") {
			t.Fatalf("forged checkpoint: code %d\n%s", exitCode(err), out)
		}
	})
	t.Run("events cut off the end", func(t *testing.T) {
		raw := openRaw(t, d.dbPath)
		write(t, raw, `DELETE FROM audit_events WHERE seq >= ?`, last.Seq)
		// The database still records the checkpoints it published: verify
		// holds the trail to the last one.
		out, _, err := runCLI(t, env, "audit", "verify", "--db", d.dbPath)
		if exitCode(err) != 1 || !strings.Contains(out, "cut off the end") {
			t.Fatalf("verify against the database's own record of its checkpoints: code %d\n%s", exitCode(err), out)
		}
		// Someone who deletes that record too: only the checkpoints kept
		// outside the database show the cut.
		write(t, raw, `DELETE FROM published_checkpoints`)
		out, _, err = runCLI(t, env, "audit", "verify", "--db", d.dbPath)
		if err != nil {
			t.Fatalf("without the checkpoints the cut is not seen, and verify should pass: %v\n%s", err, out)
		}
		out, _, err = runCLI(t, env, "audit", "verify", "--db", d.dbPath, "--checkpoints", file, "--public-key", key)
		if exitCode(err) != 1 || !strings.Contains(out, "cut off the end") {
			t.Fatalf("cut tail: code %d\n%s", exitCode(err), out)
		}
	})
}

// A webhook that never answers does not hold shutdown beyond the grace:
// the checkpoint is still signed, recorded and written to the file.
func TestShutdownCheckpointWithinGrace(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	file := filepath.Join(t.TempDir(), "checkpoints.jsonl")
	_, stop := startStoppableDemo(t, func(o *demoOptions) {
		o.ShutdownGrace = 500 * time.Millisecond
		o.Checkpoints = evidence.PublisherConfig{File: file, Webhook: srv.URL}
	})
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(20 * time.Second): // the webhook's own retries would take over a minute
		t.Fatal("shutdown waited on a webhook that does not answer")
	}
	if lines := readLines(t, file); len(lines) != 1 {
		t.Fatalf("the shutdown checkpoint is not in the file: %q", lines)
	}
}
