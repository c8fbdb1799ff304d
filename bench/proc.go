package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// startChild runs bin with args (which must contain addr) and waits until
// readyPath answers 200.
func startChild(ctx context.Context, name, addr, readyPath, bin string, args ...string) (*child, error) {
	return startChildEnv(ctx, name, addr, readyPath, nil, bin, args...)
}

// startChildEnv is startChild with the child's environment (nil: this
// process's). Its output goes to the same buffer, so errors can quote it.
func startChildEnv(ctx context.Context, name, addr, readyPath string, env []string, bin string, args ...string) (*child, error) {
	c := &child{name: name, base: "http://" + addr, stderr: &bytes.Buffer{}, done: make(chan error, 1)}
	c.cmd = exec.Command(bin, args...)
	c.cmd.Env = env
	out := &lockedWriter{w: c.stderr}
	c.cmd.Stdout, c.cmd.Stderr = out, out
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

// memory is a process's resident set (VmRSS), its peak (VmHWM), and the
// resident set split into anonymous memory (heap, stacks, the runtime's)
// and file-backed pages (mostly the binary's own), in bytes.
type memory struct{ rss, hwm, anon, file int64 }

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
		if !ok || (k != "VmRSS" && k != "VmHWM" && k != "RssAnon" && k != "RssFile") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return memory{}, fmt.Errorf("/proc/%d/status %s: %w", pid, k, err)
		}
		switch k {
		case "VmRSS":
			m.rss = kb << 10
		case "VmHWM":
			m.hwm = kb << 10
		case "RssAnon":
			m.anon = kb << 10
		case "RssFile":
			m.file = kb << 10
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
	once    sync.Once // finish stops it once; later calls read the same
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
	s.once.Do(func() { close(s.stop) })
	<-s.stopped
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxRSS, s.maxWAL, s.samples
}

// cpuTime is the processor time (user and system) pid has used so far,
// from /proc/PID/stat in clock ticks of 10 ms (USER_HZ is 100 on Linux).
func cpuTime(pid int) (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces and parentheses: fields start after the last ')'.
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0, errors.New("unreadable /proc stat")
	}
	f := strings.Fields(string(raw[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	// After the name: state(0) … utime(11) stime(12).
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(u+s) * 10 * time.Millisecond, nil
}

// edges is bench/edges running: the fake Graph, the identity provider and
// the SMTP capture in a process apart from tapdesk, and the environment
// serve needs to reach them.
type edges struct {
	cmd  *exec.Cmd
	done chan error
	env  map[string]string
	errs *bytes.Buffer
}

func startEdges(ctx context.Context, bin, tenant, base, dir string, graphDelay time.Duration) (*edges, error) {
	e := &edges{done: make(chan error, 1), errs: &bytes.Buffer{}}
	e.cmd = exec.Command(bin, "--tenant", tenant, "--base", base, "--dir", dir, "--graph-delay", graphDelay.String())
	e.cmd.Stderr = &lockedWriter{w: e.errs}
	out, err := e.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := e.cmd.Start(); err != nil {
		return nil, fmt.Errorf("edges: %w", err)
	}
	got := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadBytes('\n')
		if err == nil {
			err = json.Unmarshal(line, &e.env)
		}
		got <- err
		_, _ = io.Copy(io.Discard, out)
		e.done <- e.cmd.Wait()
	}()
	select {
	case err := <-got:
		if err != nil {
			e.stop()
			return nil, fmt.Errorf("edges did not start: %v: %s", err, e.errs.String())
		}
		return e, nil
	case <-ctx.Done():
		e.stop()
		return nil, ctx.Err()
	case <-time.After(60 * time.Second):
		e.stop()
		return nil, fmt.Errorf("edges did not start within a minute: %s", e.errs.String())
	}
}

func (e *edges) stop() {
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.done:
	case <-time.After(10 * time.Second):
		_ = e.cmd.Process.Kill()
	}
}

// installCold copies the binary from to to, as a package or an image
// layer installs one (plain writes), and drops its pages from the page
// cache, so the server starts as after a deployment or a reboot.
func installCold(from, to string) error {
	raw, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	if err := os.WriteFile(to, raw, 0o755); err != nil {
		return err
	}
	f, err := os.Open(to)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil { // dirty pages are not dropped
		return err
	}
	// posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) touches this file only.
	const fadvDontNeed = 4
	if _, _, errno := syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, fadvDontNeed, 0, 0); errno != 0 {
		return fmt.Errorf("fadvise %s: %w", to, errno)
	}
	return nil
}
