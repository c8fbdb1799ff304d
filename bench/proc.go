package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a server the benchmark started: tapdesk or the echo reference.
type child struct {
	name   string
	cmd    *exec.Cmd
	base   string
	stderr *bytes.Buffer
	done   chan error
}

// freeAddr is a loopback address with a port nobody holds right now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startChild runs bin with args (which must contain addr) and waits until
// readyPath answers 200.
func startChild(ctx context.Context, name, addr, readyPath, bin string, args ...string) (*child, error) {
	c := &child{name: name, base: "http://" + addr, stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	c.cmd = exec.Command(bin, args...)
	c.cmd.Stdout = nil
	c.cmd.Stderr = &lockedWriter{w: c.stderr}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := http.Get(c.base + readyPath)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return c, nil
			}
		}
		select {
		case err := <-c.done:
			return nil, fmt.Errorf("%s exited before it was ready (%v): %s", name, err, c.stderrText())
		case <-ctx.Done():
			c.stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.stop()
			return nil, fmt.Errorf("%s not ready after a minute: %s", name, c.stderrText())
		}
	}
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) stderrText() string {
	s := strings.TrimSpace(c.stderr.String())
	if len(s) > 2000 {
		s = "…" + s[len(s)-2000:]
	}
	return s
}

// stop asks the child to end (SIGTERM) and kills it after ten seconds.
func (c *child) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w.Len() > 1<<20 { // keep the last of a chatty child, not all of it
		l.w.Reset()
	}
	return l.w.Write(p)
}

// memory is a process's resident set (VmRSS) and its peak (VmHWM), in bytes.
type memory struct{ rss, hwm int64 }

func readMemory(pid int) (memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, err
	}
	defer f.Close()
	var m memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return memory{}, fmt.Errorf("/proc/%d/status %s: %w", pid, k, err)
		}
		if k == "VmRSS" {
			m.rss = kb << 10
		} else {
			m.hwm = kb << 10
		}
	}
	if m.rss == 0 {
		return m, errors.New("no VmRSS in /proc status")
	}
	return m, sc.Err()
}

// fileSize is 0 for a file that does not exist (a WAL after truncation on
// close, or before the first write).
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// sampler watches the server's memory and WAL file while load runs.
type sampler struct {
	mu      sync.Mutex
	maxRSS  int64
	maxWAL  int64
	samples int
	stop    chan struct{}
	stopped chan struct{}
}

func startSampler(pid int, walPath string, every time.Duration) *sampler {
	s := &sampler{stop: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(s.stopped)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			m, err := readMemory(pid)
			wal := fileSize(walPath)
			s.mu.Lock()
			if err == nil {
				s.maxRSS = max(s.maxRSS, m.rss)
			}
			s.maxWAL = max(s.maxWAL, wal)
			s.samples++
			s.mu.Unlock()
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *sampler) finish() (maxRSS, maxWAL int64, samples int) {
	close(s.stop)
	<-s.stopped
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxRSS, s.maxWAL, s.samples
}
