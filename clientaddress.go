package tapdesk

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// The headers a reverse proxy names the client in. TAPDESK_CLIENT_IP_HEADER
// says which one the trusted proxies set; only that one is read, since a
// proxy that sets the other passes the client's own copy of it through.
const (
	HeaderXForwardedFor = "X-Forwarded-For"
	HeaderXRealIP       = "X-Real-IP"
)

// ForwardingHeaders are the headers that say a request came through a proxy.
var ForwardingHeaders = []string{HeaderXForwardedFor, HeaderXRealIP, "Forwarded"}

// ParseTrustedProxies reads TAPDESK_TRUSTED_PROXIES: the address ranges of
// the reverse proxies whose X-Forwarded-For and X-Real-IP are believed. A
// bare address is a range of one.
func ParseTrustedProxies(entries []string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	var bad []string
	for _, e := range entries {
		if !strings.Contains(e, "/") {
			if ip := net.ParseIP(e); ip != nil {
				bits := 128
				if ip.To4() != nil {
					ip, bits = ip.To4(), 32
				}
				out = append(out, &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)})
				continue
			}
		}
		_, n, err := net.ParseCIDR(e)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%q", e))
			continue
		}
		out = append(out, n)
	}
	if len(bad) > 0 {
		return nil, Titledf(EINVALID, "Address range not understood", "%s is not an address range like 10.0.0.0/8, 2001:db8::/32 or an address like 192.0.2.7 (separate entries with commas)", strings.Join(bad, ", "))
	}
	return out, nil
}

// ParseClientIPHeader reads TAPDESK_CLIENT_IP_HEADER (empty: X-Forwarded-For).
func ParseClientIPHeader(s string) (string, error) {
	switch s = strings.TrimSpace(s); {
	case s == "" || strings.EqualFold(s, HeaderXForwardedFor):
		return HeaderXForwardedFor, nil
	case strings.EqualFold(s, HeaderXRealIP):
		return HeaderXRealIP, nil
	}
	return "", Titledf(EINVALID, "Header not understood", "%q is not %s or %s: name the header your reverse proxies set to the client's address", s, HeaderXForwardedFor, HeaderXRealIP)
}

// ClientAddress is the address a request counts as coming from, for audit
// events and per-address limits. peer is the connection's own address; values
// are the request's values of header (X-Forwarded-For or X-Real-IP).
//
// From a peer that is not a trusted proxy the headers are ignored. Through
// X-Forwarded-For each proxy appends the address it was reached from, so the
// list is walked from the right past the trusted proxies: the first address
// that is not one is the client, and anything to its left is whatever the
// client sent. An entry that is not an address (a proxy writing garbage)
// stops the walk at the last hop believed. Addresses may carry a port, as
// some load balancers write them.
func ClientAddress(peer, header string, values []string, trusted []*net.IPNet) string {
	if len(trusted) == 0 {
		if host, ok := canonicalPeer(peer); ok {
			return host
		}
	}
	peerIP := parseHostIP(peer)
	if peerIP == nil {
		return peer
	}
	hop := peerIP
	if !Trusted(hop, trusted) {
		return hop.String()
	}
	if header == HeaderXRealIP {
		if len(values) == 0 {
			return hop.String()
		}
		// The proxy replaces a client's X-Real-IP; were both kept, its own is last.
		if ip := parseHostIP(values[len(values)-1]); ip != nil {
			return ip.String()
		}
		return hop.String()
	}
	entries := strings.Split(strings.Join(values, ","), ",")
	for i := len(entries) - 1; i >= 0; i-- {
		ip := parseHostIP(entries[i])
		if ip == nil {
			break
		}
		hop = ip
		if !Trusted(hop, trusted) {
			break
		}
	}
	return hop.String()
}

// canonicalPeer is the address of peer, a connection's "host:port" as Go
// writes it, when it is already written the way the slow path below
// writes it (net.IP's String): then it is returned as it is, a substring,
// where parsing it into a net.IP and writing it out again costs two
// allocations on every request's log line. Anything else (a zone, an
// IPv4-mapped address, a form Go would write differently) is not
// canonical and takes the slow path.
func canonicalPeer(peer string) (string, bool) {
	ap, err := netip.ParseAddrPort(peer)
	if err != nil {
		return "", false
	}
	a := ap.Addr()
	if a.Zone() != "" || a.Is4In6() {
		return "", false
	}
	host := peer[:strings.LastIndexByte(peer, ':')]
	if a.Is6() {
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	}
	var buf [len("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255")]byte
	if string(a.AppendTo(buf[:0])) != host {
		return "", false
	}
	return host, true
}

// Trusted reports whether ip is in one of the ranges.
func Trusted(ip net.IP, ranges []*net.IPNet) bool {
	for _, n := range ranges {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// parseHostIP reads an address, bare or bracketed, with or without a port.
func parseHostIP(s string) net.IP {
	s = strings.TrimSpace(s)
	if ip := net.ParseIP(s); ip != nil {
		return ip
	}
	if host, _, err := net.SplitHostPort(s); err == nil {
		return net.ParseIP(host)
	}
	return net.ParseIP(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
}

// UntrustedForwardingWarning is logged once per peer when a forwarding header arrives
// from a peer that is not a trusted proxy: if tapdesk is behind that peer,
// every client shares its address, and its per-address limits.
func UntrustedForwardingWarning(header, peer string) string {
	return fmt.Sprintf("%s arrived from %s, which is not in TAPDESK_TRUSTED_PROXIES; "+
		"if it is your reverse proxy, every client behind it shares its address and rate limits (one client can use up sign-in.address for everyone): add it to TAPDESK_TRUSTED_PROXIES", header, peer)
}

// UntrustedForwardingPeers is how many peers not trusted get their own
// UntrustedForwardingWarning: enough that an internet scanner sending
// forwarding headers cannot use up the warning a proxy left out of
// TAPDESK_TRUSTED_PROXIES would give, few enough that a flood of scanners
// cannot fill the log.
const UntrustedForwardingPeers = 16

// UntrustedForwardingMoreWarning is logged once, when a forwarding header
// arrives from one more peer not trusted than UntrustedForwardingPeers.
func UntrustedForwardingMoreWarning(peer string) string {
	return fmt.Sprintf("forwarding headers keep arriving from peers not in TAPDESK_TRUSTED_PROXIES (%s and more, past the first %d named above); "+
		"no more are named until tapdesk restarts", peer, UntrustedForwardingPeers)
}

// MissingClientHeaderWarning is logged once when a trusted proxy sends the
// other forwarding header but not the one TAPDESK_CLIENT_IP_HEADER names.
func MissingClientHeaderWarning(got, want, peer string) string {
	return fmt.Sprintf("trusted proxy %s sent %s but not %s, which TAPDESK_CLIENT_IP_HEADER names; "+
		"every client behind it shares its address and rate limits: if the proxy sets %s, set TAPDESK_CLIENT_IP_HEADER=%s", peer, got, want, got, got)
}

// ReadyDetailsAllowed says whether a /readyz caller may read why each
// dependency is failing (and the ok notes): only someone on this machine,
// not through a proxy. The reasons name the Entra app and tenant (AADSTS
// texts), the mail relay's host and port and the schema version, which are
// a map for an attacker; probes and dashboards need only each dependency's
// name and ok or failing, and the log has the reasons. The direct peer
// (remoteAddr, never a header) must be loopback, and no forwarding header
// may be present: a reverse proxy on the same machine connects from
// loopback on behalf of anyone, and says so in these headers.
func ReadyDetailsAllowed(remoteAddr string, header http.Header) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return false
	}
	for _, h := range ForwardingHeaders {
		if _, ok := header[http.CanonicalHeaderKey(h)]; ok {
			return false
		}
	}
	return true
}
