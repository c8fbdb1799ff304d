// Package freeport hands out loopback addresses for a process to listen on
// when the address must be known before that process starts: a child
// `tapdesk serve` in a test, whose address the fake identity provider
// already holds as the redirect URL, or the benchmark's servers.
//
// Listening on port 0 and closing again is not enough. The kernel hands
// out ports from one range both for that and for the local end of every
// outgoing connection, and on a machine running many tests at once an
// outgoing connection can take the port between the close and the
// child's listen: the child then stops with "address already in use" (CI
// saw exactly that). The ports here are chosen below that range, where no
// outgoing connection lands, checked free by listening on them, and never
// handed out twice by one process.
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// span is how many ports below the kernel's range are tried.
const span = 12000

var (
	mu     sync.Mutex
	handed = map[int]bool{}
)

// Addr returns "127.0.0.1:PORT" with a port nothing listens on now and
// that no outgoing connection will take.
func Addr() (string, error) {
	port, err := Port()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

// Port is Addr's port alone.
func Port() (int, error) {
	lo, hi := below(ephemeralStart())
	mu.Lock()
	defer mu.Unlock()
	n := hi - lo
	start := rand.IntN(n)
	for i := range n {
		port := lo + (start+i)%n
		if handed[port] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		ln.Close()
		handed[port] = true
		return port, nil
	}
	return 0, errors.New("freeport: no free loopback port below the kernel's ephemeral range")
}

// below is the range of ports handed out: the span under the first
// ephemeral port, never among the privileged ports.
func below(ephemeral int) (lo, hi int) {
	lo = max(ephemeral-span, 1024)
	if lo >= ephemeral { // a kernel handing out ephemeral ports from 1024 up
		return 1024, 1024 + span
	}
	return lo, ephemeral
}

// ephemeralStart is the first port the kernel hands out for port 0 and
// outgoing connections: Linux says so in /proc; elsewhere the IANA range's
// start, which is also Linux's default.
func ephemeralStart() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if lo, err := strconv.Atoi(f[0]); err == nil && lo > 0 {
				return lo
			}
		}
	}
	return 49152
}

// MustAddr is Addr for tests: it stops the test when no port is free.
func MustAddr(t interface {
	Helper()
	Fatal(...any)
}) string {
	t.Helper()
	addr, err := Addr()
	if err != nil {
		t.Fatal(fmt.Errorf("choosing a port to listen on: %w", err))
	}
	return addr
}
