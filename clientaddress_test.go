package tapdesk

import (
	"net/http"
	"testing"
)

func TestReadyDetailsAllowed(t *testing.T) {
	for _, c := range []struct {
		remote string
		header http.Header
		want   bool
	}{
		{"127.0.0.1:5555", nil, true},
		{"[::1]:5555", http.Header{}, true},
		{"127.0.0.1:5555", http.Header{"X-Forwarded-For": {"203.0.113.9"}}, false},
		{"127.0.0.1:5555", http.Header{"X-Real-Ip": {"203.0.113.9"}}, false},
		{"127.0.0.1:5555", http.Header{"Forwarded": {"for=203.0.113.9"}}, false},
		{"127.0.0.1:5555", http.Header{"X-Forwarded-For": {""}}, false},
		{"10.0.0.5:5555", nil, false},
		{"203.0.113.9:5555", nil, false},
		{"", nil, false},
		{"garbage", nil, false},
	} {
		if got := ReadyDetailsAllowed(c.remote, c.header); got != c.want {
			t.Errorf("ReadyDetailsAllowed(%q, %v) = %v, want %v", c.remote, c.header, got, c.want)
		}
	}
}
