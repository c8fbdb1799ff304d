package freeport

import (
	"net"
	"strconv"
	"testing"
)

// The ports lie below the range outgoing connections take their local
// ports from, are free to listen on, and are not handed out twice.
func TestPortsStayOutOfTheEphemeralRange(t *testing.T) {
	eph := ephemeralStart()
	seen := map[int]bool{}
	for range 200 {
		addr := MustAddr(t)
		host, p, err := net.SplitHostPort(addr)
		if err != nil || host != "127.0.0.1" {
			t.Fatalf("Addr() = %q", addr)
		}
		port, _ := strconv.Atoi(p)
		if eph > 1024+span && (port >= eph || port < eph-span) {
			t.Fatalf("port %d is not in the %d ports below the ephemeral range's start %d", port, span, eph)
		}
		if seen[port] {
			t.Fatalf("port %d handed out twice", port)
		}
		seen[port] = true
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("port handed out is not free: %v", err)
		}
		ln.Close()
	}
}

// A port something listens on is never handed out: with every port of
// the range taken but one, that one is handed out, and then none.
func TestPortsInUseAreSkipped(t *testing.T) {
	lo, hi := below(ephemeralStart())
	hi = min(hi, lo+200)
	var held []net.Listener
	defer func() {
		for _, ln := range held {
			ln.Close()
		}
	}()
	for port := lo; port < hi; port++ {
		if ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port)); err == nil {
			held = append(held, ln)
		}
	}
	if len(held) == 0 {
		t.Fatal("every port of the range is taken on this machine")
	}
	last := held[len(held)-1]
	held = held[:len(held)-1]
	free := last.Addr().(*net.TCPAddr).Port
	last.Close()

	// The range is narrowed to those ports: the rest count as handed out.
	mu.Lock()
	saved := handed
	handed = map[int]bool{}
	for port := hi; port < ephemeralStart(); port++ {
		handed[port] = true
	}
	mu.Unlock()
	defer func() { mu.Lock(); handed = saved; mu.Unlock() }()

	if port, err := Port(); err != nil || port != free {
		t.Fatalf("Port() = %d, %v; want %d, the one port not listened on", port, err, free)
	}
	if port, err := Port(); err == nil {
		t.Fatalf("Port() = %d with every port taken or handed out, want an error", port)
	}
}

func TestBelow(t *testing.T) {
	for _, c := range []struct{ eph, lo, hi int }{
		{32768, 32768 - span, 32768},
		{49152, 49152 - span, 49152},
		{5000, 1024, 5000},
		{1024, 1024, 1024 + span},
	} {
		if lo, hi := below(c.eph); lo != c.lo || hi != c.hi {
			t.Errorf("below(%d) = %d..%d, want %d..%d", c.eph, lo, hi, c.lo, c.hi)
		}
	}
}
