package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/store"
)

// Which address a request counts as coming from, behind proxies set up in
// the common ways, against clients forging the headers.
func TestClientIPBehindProxies(t *testing.T) {
	for _, c := range []struct {
		name, trusted, header, peer, xff, realIP, want string
	}{
		{"forged leftmost hop", "127.0.0.1", "", "127.0.0.1:5000", "6.6.6.6, 203.0.113.7", "", "203.0.113.7"},
		{"forged hop naming a trusted proxy", "127.0.0.1", "", "127.0.0.1:5000", "6.6.6.6, 127.0.0.1, 203.0.113.7", "", "203.0.113.7"},
		{"garbage left of the client", "127.0.0.1", "", "127.0.0.1:5000", "not-an-ip, 203.0.113.7", "", "203.0.113.7"},
		{"both headers, proxy sets X-Forwarded-For", "127.0.0.1", "", "127.0.0.1:5000", "203.0.113.7", "6.6.6.6", "203.0.113.7"},
		{"proxy sets only X-Real-IP, read as X-Forwarded-For: not believed", "127.0.0.1", "", "127.0.0.1:5000", "", "203.0.113.7", "127.0.0.1"},
		{"load balancer writing a port", "10.0.0.0/8", "", "10.0.0.5:5000", "203.0.113.7:51234", "", "203.0.113.7"},
		{"load balancer writing an IPv6 port", "10.0.0.0/8", "", "10.0.0.5:5000", "[2001:db8:aa::7]:51234", "", "2001:db8:aa::7"},
		// nginx with proxy_set_header X-Real-IP $remote_addr passes the client's X-Forwarded-For through.
		{"X-Real-IP proxy passing a forged X-Forwarded-For", "127.0.0.1", "X-Real-IP", "127.0.0.1:5000", "6.6.6.6", "203.0.113.7", "203.0.113.7"},
		{"X-Real-IP proxy passing a garbage X-Forwarded-For", "127.0.0.1", "X-Real-IP", "127.0.0.1:5000", "not-an-ip", "203.0.113.7", "203.0.113.7"},
		{"garbage X-Real-IP from the proxy", "127.0.0.1", "X-Real-IP", "127.0.0.1:5000", "", "not-an-ip", "127.0.0.1"},
		{"X-Real-IP from a peer not trusted", "10.0.0.0/8", "X-Real-IP", "192.0.2.9:5000", "", "203.0.113.7", "192.0.2.9"},
	} {
		t.Run(c.name, func(t *testing.T) {
			proxies, err := tapdesk.ParseTrustedProxies(strings.Fields(c.trusted))
			if err != nil {
				t.Fatal(err)
			}
			header, err := tapdesk.ParseClientIPHeader(c.header)
			if err != nil {
				t.Fatal(err)
			}
			r, _ := http.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = c.peer
			if c.xff != "" {
				r.Header.Set("X-Forwarded-For", c.xff)
			}
			if c.realIP != "" {
				r.Header.Set("X-Real-IP", c.realIP)
			}
			if got := clientIP(proxies, header)(r); got != c.want {
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}
}

// The attack through the real stack: behind an nginx that sets X-Real-IP
// and passes the client's X-Forwarded-For through, a client forging a new
// X-Forwarded-For on every try neither escapes sign-in.address nor writes
// a forged address into the audit trail.
func TestForgedForwardedForBehindRealIPProxy(t *testing.T) {
	proxies, err := tapdesk.ParseTrustedProxies([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	d := startTestDemoWith(t, func(o *demoOptions) { o.TrustedProxies, o.ClientIPHeader = proxies, tapdesk.HeaderXRealIP })
	ok, limited := signInStarts(t, d, 40, func(i int) http.Header {
		return http.Header{"X-Forwarded-For": {fmt.Sprintf("6.6.6.%d", i+1)}, "X-Real-Ip": {"203.0.113.7"}}
	})
	if ok != 30 || limited != 10 {
		t.Fatalf("%d sign-ins started and %d refused, want 30 and 10", ok, limited)
	}
	evs, err := d.app.db.Events(context.Background(), store.EventFilter{Activity: string(tapdesk.ActRateLimited)})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].ActorIP != "203.0.113.7" || evs[0].Details["key"] != "203.0.113.7" {
		t.Fatalf("want one event for the client the proxy named, got %+v", evs)
	}
	t.Logf("forged XFF behind an X-Real-IP proxy: sent 40, started %d, 429 %d, events %d", ok, limited, len(evs))
}

// Left at its default (no proxy trusted) behind a proxy, every client
// shares the proxy's address: the first forwarded request says so in the
// log, once.
func TestUntrustedForwardingWarnsOnce(t *testing.T) {
	d := startTestDemo(t)
	anon := d.browser(t)
	for i := range 5 {
		rawGet(t, anon, "/", http.Header{"X-Forwarded-For": {fmt.Sprintf("203.0.113.%d", i+1)}})
	}
	want := "X-Forwarded-For arrived from 127.0.0.1, which is not in TAPDESK_TRUSTED_PROXIES"
	if n := strings.Count(d.logs.String(), want); n != 1 {
		t.Fatalf("warning logged %d times, want once:\n%s", n, d.logs)
	}
}

// The attack on the warning: an internet scanner sending X-Forwarded-For
// first does not use it up, so the reverse proxy left out of
// TAPDESK_TRUSTED_PROXIES, seen later, is still named; each peer once. A
// flood of scanners names the first few peers, then says once that more
// came. Peers are loopback addresses the test dials from.
func TestUntrustedForwardingWarnsOncePerPeer(t *testing.T) {
	d := startTestDemo(t)
	from := func(ip string) *browser {
		b := d.browser(t)
		dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		b.client.Transport = &http.Transport{DialContext: dialer.DialContext}
		return b
	}
	warning := func(peer string) string {
		return "X-Forwarded-For arrived from " + peer + ", which is not in TAPDESK_TRUSTED_PROXIES"
	}
	scanner, proxy := from("127.0.0.2"), from("127.0.0.3")
	for i := range 2 {
		rawGet(t, scanner, "/", http.Header{"X-Forwarded-For": {fmt.Sprintf("198.51.100.%d", i+1)}})
	}
	for i := range 2 {
		rawGet(t, proxy, "/", http.Header{"X-Forwarded-For": {fmt.Sprintf("203.0.113.%d", i+1)}})
	}
	for _, peer := range []string{"127.0.0.2", "127.0.0.3"} {
		if n := strings.Count(d.logs.String(), warning(peer)); n != 1 {
			t.Fatalf("warning for %s logged %d times, want once:\n%s", peer, n, d.logs)
		}
	}
	// A flood of scanners: 30 more peers.
	for i := range 30 {
		rawGet(t, from(fmt.Sprintf("127.0.1.%d", i+1)), "/", http.Header{"X-Forwarded-For": {"198.51.100.9"}})
	}
	named := strings.Count(d.logs.String(), "which is not in TAPDESK_TRUSTED_PROXIES")
	more := strings.Count(d.logs.String(), "forwarding headers keep arriving from peers not in TAPDESK_TRUSTED_PROXIES")
	if named != tapdesk.UntrustedForwardingPeers || more != 1 {
		t.Fatalf("%d peers named and %d lines saying more came, want %d and 1:\n%s", named, more, tapdesk.UntrustedForwardingPeers, d.logs)
	}
	t.Logf("forwarding headers from 32 peers not trusted: %d named, %d line saying more came", named, more)
}

// A trusted proxy that sets X-Real-IP while tapdesk reads X-Forwarded-For:
// said once in the log, with the setting that fixes it.
func TestMissingClientHeaderWarnsOnce(t *testing.T) {
	proxies, err := tapdesk.ParseTrustedProxies([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	d := startTestDemoWith(t, func(o *demoOptions) { o.TrustedProxies = proxies })
	anon := d.browser(t)
	for range 3 {
		rawGet(t, anon, "/", http.Header{"X-Real-Ip": {"203.0.113.7"}})
	}
	want := "set TAPDESK_CLIENT_IP_HEADER=X-Real-IP"
	if n := strings.Count(d.logs.String(), want); n != 1 {
		t.Fatalf("warning logged %d times, want once:\n%s", n, d.logs)
	}
}

// TAPDESK_CLIENT_IP_HEADER takes the two headers proxies set, nothing else.
func TestClientIPHeaderSetting(t *testing.T) {
	getenv := func(k string) string {
		if k == "TAPDESK_CLIENT_IP_HEADER" {
			return "Forwarded"
		}
		return ""
	}
	var out strings.Builder
	err := run(context.Background(), []string{"demo", "--addr", "127.0.0.1:0"}, getenv, &out, &out)
	if err == nil || !strings.Contains(err.Error(), `TAPDESK_CLIENT_IP_HEADER: "Forwarded" is not X-Forwarded-For or X-Real-IP`) {
		t.Fatalf("demo with TAPDESK_CLIENT_IP_HEADER=Forwarded: %v", err)
	}
}
