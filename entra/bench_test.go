package entra_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/entra"
	"github.com/tapdesk/tapdesk/entra/fakegraph"
)

// BenchmarkCreateTAP is an issue's create (the user's passes listed, then
// the create) against the fake Graph in this process: its allocations,
// the fake's included, are what to compare between builds
// (go test -run '^$' -bench CreateTAP -benchmem ./entra/).
func BenchmarkCreateTAP(b *testing.B) {
	fake, err := fakegraph.NewServer(fakegraph.SampleTenant())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(fake.Close)
	tn := fake.Tenant()
	c, err := entra.New(entra.Config{TenantID: tn.ID, ClientID: tn.ClientID, ClientSecret: tn.ClientSecret,
		GraphBaseURL: fake.URL(), AuthorityHost: fake.URL(), HTTPClient: fake.Client(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.CreateTAP(ctx, lukas, tapdesk.TAPSpec{LifetimeMinutes: 60}, nil); err != nil {
		b.Fatal(err) // also fetches the token, outside the loop
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.CreateTAP(ctx, lukas, tapdesk.TAPSpec{LifetimeMinutes: 60}, nil); err != nil {
			b.Fatal(err)
		}
	}
}
