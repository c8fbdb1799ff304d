package entra

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/entra/fakegraph"
)

type dumpRT struct{ next http.RoundTripper }

func (d dumpRT) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		b, _ := io.ReadAll(r.Body)
		fmt.Printf("DUMP %s %s len=%d cl=%d enc=%q first=%x\n", r.Method, r.URL.Path, len(b), r.ContentLength, r.Header.Get("Content-Encoding"), b[:min(4, len(b))])
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	return d.next.RoundTrip(r)
}

func TestDebugRetryBody(t *testing.T) {
	srv, _ := fakegraph.NewServer(fakegraph.SampleTenant())
	defer srv.Close()
	tn := srv.Tenant()
	hc := &http.Client{Transport: dumpRT{srv.Client().Transport}}
	c, err := New(Config{TenantID: tn.ID, ClientID: tn.ClientID, ClientSecret: tn.ClientSecret, GraphBaseURL: srv.URL(), AuthorityHost: srv.URL(), HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	srv.SetFault("POST /v1.0/users/*/authentication/temporaryAccessPassMethods", fakegraph.Fault{Status: 503, RetryAfter: "0", Times: 1})
	_, err = c.CreateTAP(context.Background(), "lukas.becker@contoso.example", tapdesk.TAPSpec{LifetimeMinutes: 90})
	fmt.Println("ERR", err)
}
