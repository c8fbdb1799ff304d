package entra_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tapdesk/tapdesk/entra"
	"github.com/tapdesk/tapdesk/entra/fakegraph"
)

// Concurrent page views each call Graph. Over HTTP/1.1 (a proxy that does
// not speak h2) every call in flight holds its own connection; the
// transport must keep them all idle afterwards, or the next burst opens
// and TLS-handshakes them again (net/http keeps 2 per host by default).
func TestNewTransportKeepsAConnectionPerConcurrentCall(t *testing.T) {
	const inFlight = 50
	var opened atomic.Int64
	var mu sync.Mutex
	var arrived int
	var all chan struct{}
	// Every request of a round waits for the whole round, so each round
	// has exactly inFlight requests in flight at once, on as many
	// connections.
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrived++
		if arrived == inFlight {
			close(all)
		}
		wait := all
		mu.Unlock()
		<-wait
		io.WriteString(w, "{}")
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			opened.Add(1)
		}
	}
	srv.StartTLS() // HTTP/1.1 only
	defer srv.Close()
	tlsConfig := srv.Client().Transport.(*http.Transport).TLSClientConfig
	client := &http.Client{Transport: entra.NewTransport(tlsConfig)}

	round := func() {
		mu.Lock()
		arrived, all = 0, make(chan struct{})
		mu.Unlock()
		var wg sync.WaitGroup
		for range inFlight {
			wg.Go(func() {
				resp, err := client.Get(srv.URL + "/v1.0/users")
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.ProtoMajor != 1 {
					t.Errorf("spoke %s to an HTTP/1.1 server", resp.Proto)
				}
			})
		}
		wg.Wait()
	}
	round()
	if got := opened.Load(); got != inFlight {
		t.Fatalf("the first round opened %d connections, want %d (one per call in flight)", got, inFlight)
	}
	round()
	round()
	if got := opened.Load() - inFlight; got != 0 {
		t.Errorf("two more rounds of %d calls at once opened %d new connections, want 0: the idle ones were closed instead of kept", inFlight, got)
	}
}

// Graph, and the fake, offer HTTP/2: the client's calls, however many at
// once, share one connection and one TLS handshake.
func TestGraphCallsShareOneConnection(t *testing.T) {
	fake, err := fakegraph.NewServer(fakegraph.SampleTenant())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	e := &env{fake: fake, logs: &logBuffer{}}
	client := e.newClientWith(t, func(cfg *entra.Config) {
		cfg.HTTPClient = &http.Client{Transport: entra.NewTransport(fake.ClientTLSConfig())}
	})
	// The token request and the first call open the connection.
	if _, err := client.User(ctx(t), nina); err != nil {
		t.Fatal(err)
	}
	if got := fake.Connections(); got != 1 {
		t.Fatalf("the first call opened %d connections, want 1", got)
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if _, err := client.User(ctx(t), nina); err != nil {
				t.Error(err)
			}
			if _, err := client.SearchUsers(ctx(t), "a", 5); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := fake.Connections(); got != 1 {
		t.Errorf("100 calls, 50 at once, opened %d connections in all, want the one: they did not share it over HTTP/2", got)
	}
}

// A client that speaks HTTP/1.1 only still reaches the fake.
func TestFakeGraphAnswersHTTP1Clients(t *testing.T) {
	for _, opts := range [][]fakegraph.Option{nil, {fakegraph.WithHTTP1Only()}} {
		fake, err := fakegraph.NewServer(fakegraph.SampleTenant(), opts...)
		if err != nil {
			t.Fatal(err)
		}
		h1 := &http.Client{Transport: &http.Transport{TLSClientConfig: fake.ClientTLSConfig()}}
		resp, err := h1.Get(fake.URL() + "/v1.0/users")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.ProtoMajor != 1 || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("HTTP/1.1 client without a token: %s %d, want HTTP/1.1 401", resp.Proto, resp.StatusCode)
		}
		h2 := &http.Client{Transport: entra.NewTransport(fake.ClientTLSConfig())}
		resp, err = h2.Get(fake.URL() + "/v1.0/users")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if want := map[bool]int{true: 1, false: 2}[opts != nil]; resp.ProtoMajor != want {
			t.Errorf("options %v: the transport spoke %s, want HTTP/%d", opts, resp.Proto, want)
		}
		fake.Close()
	}
}
