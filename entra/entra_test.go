package entra_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/entra"
	"github.com/tapdesk/tapdesk/entra/fakegraph"
	"github.com/tapdesk/tapdesk/mail"
)

// Contract tests: the real adapter (msgraph-sdk-go, azidentity, kiota
// middleware) against the fake over HTTPS. What passes here is what the
// portal gets from Graph.

const (
	alex   = "11111111-1111-4111-8111-000000000001"
	nina   = "b7c6e6e6-7862-4d25-aed1-f2739805e22a"
	riley  = "9fba8f2f-4ae6-4874-a78a-e9729d1952c1"
	jordan = "f46f0ba0-dca8-4f6e-b471-0407b7c7e2dd"
	lukas  = "e800a64f-291f-4bee-bafe-95f6cffd9b5f"
	marco  = "a15df35c-37b7-4543-9945-908e385ac609"
	sofia  = "d9a43a59-e054-41d9-b36e-c399c9981403"
	omar   = "34f0ca4e-203d-4a66-b9a5-6483cb442ff9"
	fatima = "3d65e018-88fa-491b-85a9-ddfe8d8b1285"
	dana   = "a9d30f50-6c2c-493e-b797-6e6a6fdd05e9"

	policyMessage = "Converged UserCredentialPolicy does not allow creating or updating this authentication method. AuthMethodType [TemporaryAccessPass]."
)

// logBuffer collects log output from any goroutine.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type env struct {
	fake   *fakegraph.Server
	client *entra.Client
	logs   *logBuffer
}

func setup(t *testing.T, opts ...fakegraph.Option) *env {
	t.Helper()
	fake, err := fakegraph.NewServer(fakegraph.SampleTenant(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	e := &env{fake: fake, logs: &logBuffer{}}
	e.client = e.newClient(t, fake.Tenant().ClientSecret)
	return e
}

func (e *env) newClient(t *testing.T, secret string) *entra.Client {
	t.Helper()
	return e.newClientWith(t, func(cfg *entra.Config) { cfg.ClientSecret = secret })
}

// newClientWith builds a client for the fake with change applied to its
// configuration.
func (e *env) newClientWith(t *testing.T, change func(*entra.Config)) *entra.Client {
	t.Helper()
	tn := e.fake.Tenant()
	cfg := entra.Config{
		TenantID:      tn.ID,
		ClientID:      tn.ClientID,
		ClientSecret:  tn.ClientSecret,
		GraphBaseURL:  e.fake.URL(),
		AuthorityHost: e.fake.URL(),
		HTTPClient:    e.fake.Client(),
		Logger:        slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	change(&cfg)
	c, err := entra.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// wantGraphError checks err is a *tapdesk.GraphError of kind, and that
// printing it does not panic.
func wantGraphError(t *testing.T, err error, kind tapdesk.GraphErrorKind) *tapdesk.GraphError {
	t.Helper()
	var ge *tapdesk.GraphError
	if !errors.As(err, &ge) {
		t.Fatalf("got %T %v, want *tapdesk.GraphError", err, err)
	}
	if ge.Kind != kind {
		t.Fatalf("kind %s, want %s (%d %s %q)", ge.Kind, kind, ge.Status, ge.Code, ge.Message)
	}
	_ = fmt.Sprint(err, ge.UserMessage(), tapdesk.ErrorMessage(err))
	return ge
}

func TestNewValidatesConfig(t *testing.T) {
	if _, err := entra.New(entra.Config{TenantID: "t"}); err == nil || !strings.Contains(err.Error(), "client id, client secret") {
		t.Errorf("missing fields: %v", err)
	}
	cfg := entra.Config{TenantID: "t", ClientID: "c", ClientSecret: "s", GraphBaseURL: "http://graph.example"}
	if _, err := entra.New(cfg); err == nil {
		t.Error("plain-http Graph URL accepted")
	}
	cfg.GraphBaseURL = ""
	if _, err := entra.New(cfg); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

func TestUser(t *testing.T) {
	e := setup(t)

	t.Run("by id", func(t *testing.T) {
		u, err := e.client.User(ctx(t), alex)
		if err != nil {
			t.Fatal(err)
		}
		want := tapdesk.DirectoryUser{ID: alex, DisplayName: "Alex Agent", UPN: "alex.agent@contoso.example",
			Mail: "alex.agent@contoso.example", JobTitle: "Service Desk Analyst", Department: "IT Helpdesk",
			UserType: "Member", AccountEnabled: true, CreatedAt: time.Date(2023, 2, 6, 9, 12, 44, 0, time.UTC)}
		got := *u
		got.InTAPScope, got.ScopePolicy = nil, nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v\nwant %+v", got, want)
		}
		if u.InTAPScope == nil || !*u.InTAPScope {
			t.Errorf("InTAPScope = %v, want true", u.InTAPScope)
		}
		// The policy the scope was judged against comes with the user, as
		// TAPPolicy reads it.
		if pol, err := e.client.TAPPolicy(ctx(t)); err != nil || !reflect.DeepEqual(u.ScopePolicy, pol) {
			t.Errorf("ScopePolicy = %+v, TAPPolicy = %+v (%v)", u.ScopePolicy, pol, err)
		}
	})
	t.Run("by UPN", func(t *testing.T) {
		u, err := e.client.User(ctx(t), "Alex.Agent@contoso.example")
		if err != nil || u.ID != alex {
			t.Fatalf("%+v %v", u, err)
		}
	})
	t.Run("guest UPN with #EXT#", func(t *testing.T) {
		u, err := e.client.User(ctx(t), "jordan_partner.example#EXT#@contoso.example")
		if err != nil || u.ID != jordan || !u.IsGuest() || u.Mail != "jordan@partner.example" {
			t.Fatalf("%+v %v", u, err)
		}
	})
	t.Run("UPN starting with $", func(t *testing.T) {
		err := e.fake.Tenant().AddUser(fakegraph.User{ID: "22222222-2222-4222-8222-000000000001",
			DisplayName: "Dollar Svc", UserPrincipalName: "$svc@contoso.example", AccountEnabled: true})
		if err != nil {
			t.Fatal(err)
		}
		u, err := e.client.User(ctx(t), "$svc@contoso.example")
		if err != nil || u.DisplayName != "Dollar Svc" || !u.AccountEnabled || u.UserType != "Member" {
			t.Fatalf("%+v %v", u, err)
		}
	})
	t.Run("disabled and synced", func(t *testing.T) {
		d, err := e.client.User(ctx(t), dana)
		if err != nil || d.AccountEnabled {
			t.Errorf("disabled: %+v %v", d, err)
		}
		m, err := e.client.User(ctx(t), marco)
		if err != nil || !m.OnPremisesSync {
			t.Errorf("synced: %+v %v", m, err)
		}
	})
	// The last defence: keys that would address another endpoint under
	// /users/ are refused before any call, even if a caller did not check.
	t.Run("not a user key", func(t *testing.T) {
		for _, key := range []string{" ", "..", "../me", "delta", "$count", "%2e%2e", "a/b", "me", "nina@contoso.example/../me"} {
			e.fake.ClearRequests()
			if _, err := e.client.User(ctx(t), key); tapdesk.ErrorCode(err) != tapdesk.EMALFORMED {
				t.Errorf("User(%q): got %v, want a malformed-key refusal", key, err)
			}
			if _, err := e.client.Methods(ctx(t), key); err == nil {
				t.Errorf("Methods(%q): no error", key)
			}
			if n := len(e.fake.Requests()); n != 0 {
				t.Errorf("%q: %d Graph calls, want none: %+v", key, n, e.fake.Requests())
			}
		}
	})
}

func TestDirectoryRoles(t *testing.T) {
	e := setup(t)
	t.Run("global administrator", func(t *testing.T) {
		u, err := e.client.User(ctx(t), "grace.global@contoso.example")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(u.Roles, []string{"Global Administrator"}) || !u.Privileged() || u.ApprovalsRequired() != 2 {
			t.Errorf("roles %q privileged %v approvals %d", u.Roles, u.Privileged(), u.ApprovalsRequired())
		}
		if u.InTAPScope == nil || !*u.InTAPScope {
			t.Errorf("scope %v", u.InTAPScope)
		}
	})
	t.Run("no role", func(t *testing.T) {
		u, err := e.client.User(ctx(t), lukas)
		if err != nil || len(u.Roles) != 0 || u.Privileged() || u.ApprovalsRequired() != 1 {
			t.Errorf("%+v %v", u, err)
		}
	})
	t.Run("groups are not roles", func(t *testing.T) {
		// Riley is in the excluded group only: that group must not be
		// mistaken for a role, and must still take her out of scope.
		u, err := e.client.User(ctx(t), riley)
		if err != nil || u.Privileged() || u.InTAPScope == nil || *u.InTAPScope {
			t.Errorf("%+v %v", u, err)
		}
	})
	t.Run("role name unreadable still counts", func(t *testing.T) {
		e.fake.Tenant().RevokePermission("RoleManagement.Read.Directory")
		defer e.fake.Tenant().SetPermissions(fakegraph.DefaultPermissions...)
		u, err := e.client.User(ctx(t), "grace.global@contoso.example")
		if err != nil {
			t.Fatal(err)
		}
		if len(u.Roles) != 1 || !strings.HasPrefix(u.Roles[0], "directory role ") || !u.Privileged() {
			t.Errorf("roles %q", u.Roles)
		}
	})
	t.Run("memberships unreadable fail the lookup", func(t *testing.T) {
		e.fake.SetFault("GET /v1.0/users/*/transitiveMemberOf", fakegraph.Fault{Status: 500})
		defer e.fake.ClearFaults()
		_, err := e.client.User(ctx(t), "grace.global@contoso.example")
		wantGraphError(t, err, tapdesk.GraphUnavailable)
	})
}

func TestCloudPresets(t *testing.T) {
	for name, want := range map[string]entra.Endpoints{
		"":          {GraphBaseURL: "https://graph.microsoft.com", AuthorityHost: "https://login.microsoftonline.com"},
		"global":    {GraphBaseURL: "https://graph.microsoft.com", AuthorityHost: "https://login.microsoftonline.com"},
		"USGov":     {GraphBaseURL: "https://graph.microsoft.us", AuthorityHost: "https://login.microsoftonline.us"},
		"usgov-dod": {GraphBaseURL: "https://dod-graph.microsoft.us", AuthorityHost: "https://login.microsoftonline.us"},
		"china":     {GraphBaseURL: "https://microsoftgraph.chinacloudapi.cn", AuthorityHost: "https://login.chinacloudapi.cn"},
	} {
		got, err := entra.Cloud(name)
		if err != nil || got != want {
			t.Errorf("Cloud(%q) = %+v, %v; want %+v", name, got, err, want)
		}
	}
	_, err := entra.Cloud("germany")
	if err == nil || !strings.Contains(err.Error(), `"germany"`) || !strings.Contains(err.Error(), "global, usgov, usgov-dod, china") {
		t.Errorf("unknown cloud: %v", err)
	}
	cfg := entra.Config{TenantID: "t", ClientID: "c", ClientSecret: "s", Cloud: "mars"}
	if _, err := entra.New(cfg); err == nil || !strings.Contains(err.Error(), "usgov-dod") {
		t.Errorf("New with an unknown cloud: %v", err)
	}
	// An explicit URL overrides the preset (a proxy, a fake); the other
	// root still comes from the preset.
	cfg.Cloud, cfg.GraphBaseURL = "usgov", "https://graph-proxy.example"
	c, err := entra.New(cfg)
	if err != nil {
		t.Fatalf("override: %v", err)
	}
	if got := c.Endpoints(); got != (entra.Endpoints{GraphBaseURL: "https://graph-proxy.example", AuthorityHost: "https://login.microsoftonline.us"}) {
		t.Errorf("endpoints %+v", got)
	}
}

func TestSearchUsers(t *testing.T) {
	e := setup(t)
	names := func(us []tapdesk.DirectoryUser) string {
		var n []string
		for _, u := range us {
			n = append(n, u.DisplayName)
		}
		return strings.Join(n, ", ")
	}
	for _, tc := range []struct {
		q     string
		limit int
		want  string
	}{
		{"a", 10, "Ada Admin, Alex Agent, Audrey Auditor, Avery Approver"},
		{"a", 2, "Ada Admin, Alex Agent"},
		{"ALEX.a", 0, "Alex Agent"},
		{"jordan", 10, "Jordan Partner"},      // by UPN and mail
		{"fatima.zahra@", 10, "Fatima Zahra"}, // '@' survives encoding
		{"o'brien", 10, ""},                   // quote escaped, not an injection
		{"a#b&c=d+e%f", 10, ""},
		{"  ", 10, ""},
	} {
		t.Run(tc.q, func(t *testing.T) {
			got, err := e.client.SearchUsers(ctx(t), tc.q, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if names(got) != tc.want {
				t.Errorf("got %q, want %q", names(got), tc.want)
			}
			for _, u := range got {
				if u.UserType == "" {
					t.Errorf("%s: userType not selected", u.UPN)
				}
			}
		})
	}
}

func TestMethods(t *testing.T) {
	e := setup(t)
	byKind := func(t *testing.T, user string) map[string]tapdesk.AuthMethod {
		t.Helper()
		ms, err := e.client.Methods(ctx(t), user)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]tapdesk.AuthMethod{}
		for _, m := range ms {
			out[m.Kind] = m
		}
		return out
	}

	t.Run("strong methods", func(t *testing.T) {
		ms := byKind(t, marco)
		fido, hello, pw := ms["fido2"], ms["windowsHelloForBusiness"], ms["password"]
		if !fido.Strong() || !hello.Strong() || pw.Strong() {
			t.Errorf("strength: %+v", ms)
		}
		if fido.Label != "Passkey (FIDO2)" || fido.Detail != "Work key · YubiKey 5C NFC" || fido.ODataType != "#microsoft.graph.fido2AuthenticationMethod" {
			t.Errorf("fido2: %+v", fido)
		}
		if hello.Detail != "CONTOSO-DEV-0077" || pw.ID != fakegraph.PasswordMethodID || pw.Detail != "set 2021-10-04" {
			t.Errorf("hello %+v password %+v", hello, pw)
		}
	})
	t.Run("unknown type kept by name", func(t *testing.T) {
		ms := byKind(t, sofia)
		raw := "#microsoft.graph.hardwareOathAuthenticationMethod"
		if m, ok := ms[raw]; !ok || m.ODataType != raw || m.Label != "Other method (hardwareOath)" || m.Strong() {
			t.Errorf("unknown type: %+v", ms)
		}
		// platformCredential shares Windows Hello's Go method set: must not be mistaken for it.
		if m := ms["platformCredential"]; m.Detail != "Sofia's MacBook Pro · macOS" {
			t.Errorf("platform credential: %+v", ms)
		}
	})
	t.Run("phones and email are masked", func(t *testing.T) {
		ms, err := e.client.Methods(ctx(t), omar)
		if err != nil {
			t.Fatal(err)
		}
		var details []string
		for _, m := range ms {
			if m.Kind == "phone" {
				details = append(details, m.Label+": "+m.Detail)
			}
		}
		if got := strings.Join(details, "; "); got != "Phone (mobile): +1 ••••••0188; Phone (office): +1 ••••••0100" {
			t.Errorf("phones: %s", got)
		}
		if m := byKind(t, fatima)["email"]; m.Detail != "fa•••@example.net" {
			t.Errorf("email: %+v", m)
		}
	})
	t.Run("existing TAP", func(t *testing.T) {
		m := byKind(t, nina)["temporaryAccessPass"]
		if m.TAP == nil || !m.TAP.Usable || m.TAP.UsabilityReason != "EnabledByPolicy" || m.TAP.LifetimeMinutes != 480 ||
			m.TAP.MethodID != m.ID || !strings.HasPrefix(m.Detail, "usable until ") {
			t.Errorf("TAP: %+v %+v", m, m.TAP)
		}
	})
	t.Run("unknown user", func(t *testing.T) {
		_, err := e.client.Methods(ctx(t), "00000000-0000-4000-8000-00000000dead")
		wantGraphError(t, err, tapdesk.GraphNotFound)
	})
}

func TestTAPPolicy(t *testing.T) {
	e := setup(t)
	p, err := e.client.TAPPolicy(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	want := "{Enabled:true DefaultLifetime:60 MinLifetime:60 MaxLifetime:480 DefaultLength:8 UsableOnce:false " +
		"IncludeGroups:[all_users] ExcludeGroups:[ed168dcb-948d-4685-afa9-b08fb992cc3d]}"
	if got := fmt.Sprintf("%+v", *p); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestScope(t *testing.T) {
	e := setup(t)
	scope := func(t *testing.T, id string) string {
		t.Helper()
		u, err := e.client.User(ctx(t), id)
		if err != nil {
			t.Fatal(err)
		}
		if u.InTAPScope == nil {
			return "unknown"
		}
		return fmt.Sprint(*u.InTAPScope)
	}
	tn := e.fake.Tenant()
	sample := tn.CurrentPolicy()

	if got := scope(t, riley); got != "false" {
		t.Errorf("Riley (excluded group): %s", got)
	}
	if got := scope(t, lukas); got != "true" {
		t.Errorf("Lukas (all users): %s", got)
	}

	t.Run("included group only", func(t *testing.T) {
		p := sample
		p.IncludeTargets = []string{"cfce758a-f8b3-4cb1-92b0-86ebb8808759"} // IT Helpdesk
		p.ExcludeTargets = nil
		tn.SetPolicy(p)
		defer tn.SetPolicy(sample)
		if a, l := scope(t, alex), scope(t, lukas); a != "true" || l != "false" {
			t.Errorf("Alex %s, Lukas %s", a, l)
		}
	})
	t.Run("disabled policy covers nobody", func(t *testing.T) {
		p := sample
		p.State = "disabled"
		tn.SetPolicy(p)
		defer tn.SetPolicy(sample)
		if got := scope(t, lukas); got != "false" {
			t.Errorf("Lukas: %s", got)
		}
	})
	t.Run("policy unreadable", func(t *testing.T) {
		tn.RevokePermission("Policy.Read.All")
		defer tn.SetPermissions(fakegraph.DefaultPermissions...)
		if got := scope(t, lukas); got != "unknown" {
			t.Errorf("Lukas: %s", got)
		}
	})
}

func TestCreateTAP(t *testing.T) {
	clk := time.Date(2030, 3, 4, 9, 0, 0, 0, time.UTC)
	e := setup(t, fakegraph.WithClock(func() time.Time { return clk }))

	first, err := e.client.CreateTAP(ctx(t), lukas, tapdesk.TAPSpec{LifetimeMinutes: 120}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Pass) != 8 || first.MethodID == "" || first.LifetimeMinutes != 120 || first.UsableOnce ||
		!first.Usable || first.UsabilityReason != "EnabledByPolicy" || !first.StartAt.Equal(clk) ||
		!first.ExpiresAt().Equal(clk.Add(2*time.Hour)) {
		t.Fatalf("first: %+v", first.TAPInfo)
	}
	if !e.fake.Tenant().CheckPass(lukas, first.Pass) {
		t.Error("the fake does not know the returned pass")
	}

	t.Run("replaces the existing pass", func(t *testing.T) {
		start := clk.Add(time.Hour)
		second, err := e.client.CreateTAP(ctx(t), lukas, tapdesk.TAPSpec{LifetimeMinutes: 60, UsableOnce: true, StartAt: &start}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if second.MethodID == first.MethodID || second.UsabilityReason != "NotYetValid" || !second.UsableOnce || !second.StartAt.Equal(start) {
			t.Fatalf("second: %+v", second.TAPInfo)
		}
		if cur := e.fake.Tenant().CurrentTAP(lukas); cur == nil || cur.ID != second.MethodID {
			t.Errorf("fake holds %+v", cur)
		}
		ms, err := e.client.Methods(ctx(t), lukas)
		if err != nil {
			t.Fatal(err)
		}
		var taps []string
		for _, m := range ms {
			if m.TAP != nil {
				taps = append(taps, m.ID)
			}
		}
		if len(taps) != 1 || taps[0] != second.MethodID {
			t.Errorf("methods list TAPs %v, want only %s", taps, second.MethodID)
		}
	})
	t.Run("policy default lifetime", func(t *testing.T) {
		tap, err := e.client.CreateTAP(ctx(t), alex, tapdesk.TAPSpec{}, nil)
		if err != nil || tap.LifetimeMinutes != 60 {
			t.Fatalf("%+v %v", tap, err)
		}
	})
}

func TestDeleteTAP(t *testing.T) {
	e := setup(t)
	tap, err := e.client.CreateTAP(ctx(t), lukas, tapdesk.TAPSpec{LifetimeMinutes: 60}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.client.DeleteTAP(ctx(t), lukas, tap.MethodID); err != nil {
		t.Fatal(err)
	}
	if e.fake.Tenant().CurrentTAP(lukas) != nil {
		t.Error("pass still there")
	}
	ge := wantGraphError(t, e.client.DeleteTAP(ctx(t), lukas, tap.MethodID), tapdesk.GraphNotFound)
	if ge.Code == "Request_ResourceNotFound" {
		t.Errorf("a missing pass must be told apart from a missing user: %+v", ge)
	}
	ge = wantGraphError(t, e.client.DeleteTAP(ctx(t), "gone@contoso.example", tap.MethodID), tapdesk.GraphNotFound)
	if ge.Code != "Request_ResourceNotFound" {
		t.Errorf("missing user: %+v", ge)
	}
}

func TestAuthenticationFailures(t *testing.T) {
	t.Run("revoked token", func(t *testing.T) {
		e := setup(t)
		if _, err := e.client.TAPPolicy(ctx(t)); err != nil {
			t.Fatal(err)
		}
		e.fake.RevokeTokens() // the credential keeps using its cached token
		_, err := e.client.TAPPolicy(ctx(t))
		ge := wantGraphError(t, err, tapdesk.GraphUnauthorized)
		if ge.Status != 401 || ge.Code != "InvalidAuthenticationToken" {
			t.Errorf("%+v", ge)
		}
	})
	t.Run("wrong client secret", func(t *testing.T) {
		e := setup(t)
		c := e.newClient(t, "not-the-secret")
		_, err := c.TAPPolicy(ctx(t))
		ge := wantGraphError(t, err, tapdesk.GraphUnauthorized)
		if ge.Status != 401 || ge.Code != "invalid_client" || !strings.HasPrefix(ge.Message, "AADSTS7000215: Invalid client secret") {
			t.Errorf("%+v", ge)
		}
		if strings.Contains(ge.Message, "not-the-secret") || strings.Contains(e.logs.String(), "not-the-secret") {
			t.Error("the client secret leaked into an error or log")
		}
	})
}

func TestThrottlingAndOutages(t *testing.T) {
	e := setup(t)
	const userPath = "GET /v1.0/users/*"

	t.Run("429 then success", func(t *testing.T) {
		e.fake.SetFault(userPath, fakegraph.Fault{Status: 429, RetryAfter: "0", Times: 2})
		defer e.fake.ClearFaults()
		before := e.fake.CountRequests(userPath)
		if _, err := e.client.User(ctx(t), alex); err != nil {
			t.Fatal(err)
		}
		if n := e.fake.CountRequests(userPath) - before; n != 3 {
			t.Errorf("%d attempts, want 3 (two throttled, one served)", n)
		}
		var attempts []string
		for _, r := range e.fake.Requests() {
			if r.Path == "/v1.0/users/"+alex {
				attempts = append(attempts, r.Attempt+":"+fmt.Sprint(r.Status))
			}
		}
		if got := strings.Join(attempts, " "); got != ":429 1:429 2:200" {
			t.Errorf("attempts %s", got)
		}
	})
	t.Run("429 until tapdesk gives up", func(t *testing.T) {
		e.fake.SetFault(userPath, fakegraph.Fault{Status: 429, RetryAfter: "0.05"})
		defer e.fake.ClearFaults()
		before := e.fake.CountRequests(userPath)
		_, err := e.client.User(ctx(t), alex)
		ge := wantGraphError(t, err, tapdesk.GraphThrottled)
		if ge.RetryAfter != 50*time.Millisecond || ge.Code != "TooManyRequests" {
			t.Errorf("%+v", ge)
		}
		if n := e.fake.CountRequests(userPath) - before; n != 4 {
			t.Errorf("%d attempts, want 4 (three retries)", n)
		}
	})
	// kiota's own retry handler truncated "0.4" to no wait at all and read
	// dates in one format only; these check the waits really happen.
	inTwoSeconds := func(layout string) func() string {
		return func() string { return time.Now().Add(2 * time.Second).UTC().Format(layout) }
	}
	for _, tc := range []struct {
		name       string
		retryAfter func() string
		min        time.Duration
	}{
		{"fractional seconds", func() string { return "0.4" }, 400 * time.Millisecond},
		// Dates have whole seconds: "in two seconds" waits between one and two.
		{"HTTP date", inTwoSeconds(http.TimeFormat), 900 * time.Millisecond},
		{"HTTP date, RFC 850 form", inTwoSeconds("Monday, 02-Jan-06 15:04:05 GMT"), 900 * time.Millisecond},
		{"HTTP date, asctime form", inTwoSeconds(time.ANSIC), 900 * time.Millisecond},
	} {
		t.Run("Retry-After "+tc.name, func(t *testing.T) {
			e.fake.SetFault(userPath, fakegraph.Fault{Status: 429, RetryAfter: tc.retryAfter(), Times: 1})
			defer e.fake.ClearFaults()
			start := time.Now()
			if _, err := e.client.User(ctx(t), alex); err != nil {
				t.Fatal(err)
			}
			if waited := time.Since(start); waited < tc.min {
				t.Errorf("waited %v, want at least %v", waited, tc.min)
			}
		})
	}
	t.Run("Retry-After longer than tapdesk waits", func(t *testing.T) {
		e.fake.SetFault(userPath, fakegraph.Fault{Status: 429, RetryAfter: "150"})
		defer e.fake.ClearFaults()
		before := e.fake.CountRequests(userPath)
		start := time.Now()
		_, err := e.client.User(ctx(t), alex)
		ge := wantGraphError(t, err, tapdesk.GraphThrottled)
		if time.Since(start) > 5*time.Second || e.fake.CountRequests(userPath)-before != 1 {
			t.Errorf("waited %v over %d attempts; want an answer at once", time.Since(start), e.fake.CountRequests(userPath)-before)
		}
		if ge.RetryAfter != 150*time.Second || !strings.Contains(ge.UserMessage(), "try again in 3 minutes") {
			t.Errorf("%+v: %s", ge, ge.UserMessage())
		}
	})
	t.Run("waits add up to the total cap", func(t *testing.T) {
		c := e.newClientWith(t, func(cfg *entra.Config) { cfg.MaxRetryTotal = 500 * time.Millisecond })
		e.fake.SetFault(userPath, fakegraph.Fault{Status: 429, RetryAfter: "0.3"})
		defer e.fake.ClearFaults()
		before := e.fake.CountRequests(userPath)
		_, err := c.User(ctx(t), alex)
		wantGraphError(t, err, tapdesk.GraphThrottled)
		if n := e.fake.CountRequests(userPath) - before; n != 2 {
			t.Errorf("%d attempts, want 2 (a second 0.3 s wait would pass the 0.5 s cap)", n)
		}
	})
	t.Run("no waiting past the caller's deadline", func(t *testing.T) {
		// Graph asks for 25 s (within the client's caps on one wait and on
		// all), the caller has 20: the answer comes at once, not at the
		// deadline. 10 s allows for a stalled machine; a client that waited
		// would answer at the deadline, and as unavailable.
		e.fake.SetFault(userPath, fakegraph.Fault{Status: 429, RetryAfter: "25"})
		defer e.fake.ClearFaults()
		c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		start := time.Now()
		_, err := e.client.User(c, alex)
		if ge := wantGraphError(t, err, tapdesk.GraphThrottled); ge.RetryAfter != 25*time.Second || time.Since(start) > 10*time.Second {
			t.Errorf("%+v after %v", ge, time.Since(start))
		}
	})
	t.Run("503 on a read is retried", func(t *testing.T) {
		e.fake.SetFault(userPath, fakegraph.Fault{Status: 503, RetryAfter: "0", Times: 1})
		defer e.fake.ClearFaults()
		if _, err := e.client.User(ctx(t), alex); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("503 throughout", func(t *testing.T) {
		e.fake.SetFault(userPath, fakegraph.Fault{Status: 503, RetryAfter: "0"})
		defer e.fake.ClearFaults()
		_, err := e.client.User(ctx(t), alex)
		if ge := wantGraphError(t, err, tapdesk.GraphUnavailable); ge.Status != 503 {
			t.Errorf("%+v", ge)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		e.fake.SetFault(userPath, fakegraph.Fault{Delay: 5 * time.Second})
		defer e.fake.ClearFaults()
		c, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := e.client.User(c, alex)
		wantGraphError(t, err, tapdesk.GraphUnavailable)
	})
}

const createPath = "POST /v1.0/users/*/authentication/temporaryAccessPassMethods"

// TestCreateNeverIssuesTwice: a create is repeated only when Graph surely
// did not act on it, and a pass made by a create whose answer was lost is
// deleted rather than left for nobody (or replaced by a second create).
func TestCreateNeverIssuesTwice(t *testing.T) {
	e := setup(t)
	listPath := "GET /v1.0/users/*/authentication/temporaryAccessPassMethods"
	counts := func() (creates, lists int) { return e.fake.CountRequests(createPath), e.fake.CountRequests(listPath) }

	t.Run("throttled create succeeds after waiting", func(t *testing.T) {
		// kiota orders its middleware at random per client, and one order
		// corrupted retried gzip bodies; eight clients make a lucky pass unlikely.
		for i := range 8 {
			c := e.newClient(t, e.fake.Tenant().ClientSecret)
			e.fake.SetFault(createPath, fakegraph.Fault{Status: 429, RetryAfter: "0.2", Times: 2})
			c0, _ := counts()
			start := time.Now()
			tap, err := c.CreateTAP(ctx(t), lukas, tapdesk.TAPSpec{LifetimeMinutes: 90}, nil)
			if err != nil || tap.LifetimeMinutes != 90 {
				t.Fatalf("client %d: %+v %v", i, tap, err)
			}
			if c1, _ := counts(); c1-c0 != 3 {
				t.Errorf("client %d: %d create attempts, want 3 (two throttled, one served)", i, c1-c0)
			}
			if time.Since(start) < 400*time.Millisecond {
				t.Errorf("client %d: did not wait out Retry-After (%v)", i, time.Since(start))
			}
			if !e.fake.Tenant().CheckPass(lukas, tap.Pass) {
				t.Errorf("client %d: the pass returned is not the user's pass", i)
			}
		}
		e.fake.ClearFaults()
	})

	// Graph's own 500 and 503 mean it is done with the request: when the
	// look afterwards finds no new pass, nothing was issued for certain. A
	// gateway's 504 leaves Graph possibly still at work behind it.
	for status, kind := range map[int]tapdesk.GraphErrorKind{500: tapdesk.GraphNothingCreated, 503: tapdesk.GraphNothingCreated, 504: tapdesk.GraphUnavailable} {
		t.Run(fmt.Sprintf("%d on create is not repeated", status), func(t *testing.T) {
			e.fake.SetFault(createPath, fakegraph.Fault{Status: status, RetryAfter: "0"})
			defer e.fake.ClearFaults()
			before := e.fake.Tenant().CurrentTAP(alex)
			c0, l0 := counts()
			_, err := e.client.CreateTAP(ctx(t), alex, tapdesk.TAPSpec{}, nil)
			ge := wantGraphError(t, err, kind)
			if ge.Status != status || ge.RequestID == "" {
				t.Errorf("%+v", ge)
			}
			if c1, l1 := counts(); c1-c0 != 1 || l1-l0 != 2 {
				t.Errorf("%d creates and %d lists; want one create, and a look at the user's passes before and after", c1-c0, l1-l0)
			}
			if after := e.fake.Tenant().CurrentTAP(alex); (before == nil) != (after == nil) {
				t.Errorf("passes changed: %v -> %v", before, after)
			}
			if !strings.Contains(tapdesk.ErrorMessage(err), "internal error") {
				t.Errorf("message: %s", tapdesk.ErrorMessage(err))
			}
			if got, want := ge.NothingIssuedTryAgain(), kind == tapdesk.GraphNothingCreated; got != want {
				t.Errorf("NothingIssuedTryAgain %v, want %v", got, want)
			}
			if want := kind == tapdesk.GraphNothingCreated; want != strings.Contains(tapdesk.ErrorMessage(err), "none was created") {
				t.Errorf("message: %s", tapdesk.ErrorMessage(err))
			}
		})
	}

	t.Run("dropped answer: the pass made is deleted, none made twice", func(t *testing.T) {
		e.fake.SetFault(createPath, fakegraph.Fault{DropAfterWrite: true, Times: 1})
		defer e.fake.ClearFaults()
		c0, l0 := counts()
		_, err := e.client.CreateTAP(ctx(t), nina, tapdesk.TAPSpec{}, nil)
		ge := wantGraphError(t, err, tapdesk.GraphAnswerLost)
		if c1, l1 := counts(); c1-c0 != 1 || l1-l0 != 2 {
			t.Errorf("%d creates and %d lists; want exactly one create", c1-c0, l1-l0)
		}
		if ge.OrphanMethodID == "" || e.fake.CountRequests("DELETE /v1.0/users/*/authentication/temporaryAccessPassMethods/"+ge.OrphanMethodID) != 1 {
			t.Errorf("orphan %q not deleted: %+v", ge.OrphanMethodID, ge)
		}
		if tap := e.fake.Tenant().CurrentTAP(nina); tap != nil {
			t.Errorf("a pass nobody knows is left: %+v", tap)
		}
		msg := tapdesk.ErrorMessage(err)
		for _, want := range []string{"answer was lost", "deleted", "nothing was issued", "Try again"} {
			if !strings.Contains(msg, want) {
				t.Errorf("message lacks %q: %s", want, msg)
			}
		}
		if tapdesk.ErrorCode(err) != tapdesk.EUNAVAILABLE {
			t.Errorf("code %s", tapdesk.ErrorCode(err))
		}
	})

	t.Run("dropped answer and the delete fails", func(t *testing.T) {
		e.fake.SetFault(createPath, fakegraph.Fault{DropAfterWrite: true, Times: 1})
		e.fake.SetFault("DELETE /v1.0/users/*/authentication/temporaryAccessPassMethods/*", fakegraph.Fault{Status: 500})
		defer e.fake.ClearFaults()
		_, err := e.client.CreateTAP(ctx(t), alex, tapdesk.TAPSpec{}, nil)
		ge := wantGraphError(t, err, tapdesk.GraphAnswerLostPassLeft)
		if tap := e.fake.Tenant().CurrentTAP(alex); tap == nil || tap.ID != ge.OrphanMethodID {
			t.Errorf("orphan %q, fake holds %+v", ge.OrphanMethodID, tap)
		}
	})

	t.Run("dropped answer and the passes cannot be listed", func(t *testing.T) {
		e.fake.SetFault(createPath, fakegraph.Fault{DropAfterWrite: true, Times: 1})
		e.fake.SetFault(listPath, fakegraph.Fault{Status: 503, RetryAfter: "0"})
		defer e.fake.ClearFaults()
		_, err := e.client.CreateTAP(ctx(t), alex, tapdesk.TAPSpec{}, nil)
		wantGraphError(t, err, tapdesk.GraphOutcomeUnknown)
		if n := e.fake.CountRequests(createPath); n == 0 {
			t.Fatal("no create")
		}
	})

	t.Run("created without the pass in the answer", func(t *testing.T) {
		tap, err := e.client.CreateTAP(ctx(t), fatima, tapdesk.TAPSpec{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		e.fake.SetFault(createPath, fakegraph.Fault{Status: 201, Times: 1, Body: `{"@odata.type":"#microsoft.graph.temporaryAccessPassAuthenticationMethod",` +
			`"id":"` + tap.MethodID + `","temporaryAccessPass":null,"lifetimeInMinutes":60,"isUsableOnce":true}`})
		defer e.fake.ClearFaults()
		_, err = e.client.CreateTAP(ctx(t), fatima, tapdesk.TAPSpec{}, nil)
		if ge := wantGraphError(t, err, tapdesk.GraphAnswerLost); ge.OrphanMethodID != tap.MethodID || ge.Code != "no_pass_in_response" {
			t.Errorf("%+v", ge)
		}
		if cur := e.fake.Tenant().CurrentTAP(fatima); cur != nil {
			t.Errorf("a pass nobody knows is left: %+v", cur)
		}
		// Gone already (deleted or replaced meanwhile) counts as deleted.
		e.fake.SetFault(createPath, fakegraph.Fault{Status: 201, Times: 1, Body: `{"@odata.type":"#microsoft.graph.temporaryAccessPassAuthenticationMethod",` +
			`"id":"00000000-0000-4000-8000-000000000001","temporaryAccessPass":null}`})
		_, err = e.client.CreateTAP(ctx(t), fatima, tapdesk.TAPSpec{}, nil)
		wantGraphError(t, err, tapdesk.GraphAnswerLost)
	})

	t.Run("timeout: nothing created, the usual failure", func(t *testing.T) {
		// Graph holds the create until the caller's deadline has passed,
		// and the deadline passes only once the create is at Graph: the
		// look before has all the time it needs, however slow the machine.
		// The gate is never opened; the held create ends when the caller
		// hangs up.
		gate := fakegraph.NewGate()
		e.fake.SetFault(createPath, fakegraph.Fault{Gate: gate, Times: 1})
		defer e.fake.ClearFaults()
		before := e.fake.Tenant().CurrentTAP(lukas)
		c := newHeldDeadline(30 * time.Second)
		go func() {
			gate.Await(1, 30*time.Second)
			c.expire()
		}()
		c0, l0 := counts()
		_, err := e.client.CreateTAP(c, lukas, tapdesk.TAPSpec{}, nil)
		wantGraphError(t, err, tapdesk.GraphUnavailable)
		// The looks before and after the create were answered before
		// CreateTAP returned. The fake records the held create only once
		// it has seen the caller hang up: wait for that, so it is counted
		// here and not in a later subtest.
		_, l1 := counts()
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if c1, _ := counts(); c1-c0 >= 1 {
				break
			}
		}
		if c1, _ := counts(); c1-c0 != 1 || l1-l0 != 2 {
			t.Errorf("%d creates and %d lists", c1-c0, l1-l0)
		}
		if after := e.fake.Tenant().CurrentTAP(lukas); before == nil || after == nil || after.ID != before.ID {
			t.Errorf("the existing pass changed: %v -> %v", before, after)
		}
	})

	t.Run("refusals are not followed by a look", func(t *testing.T) {
		_, l0 := counts()
		_, err := e.client.CreateTAP(ctx(t), jordan, tapdesk.TAPSpec{}, nil)
		wantGraphError(t, err, tapdesk.GraphGuestUser)
		if _, l1 := counts(); l1-l0 != 1 {
			t.Errorf("%d lists; want only the one before the create", l1-l0)
		}
	})
	t.Run("a pass made just before is not taken for the lost one", func(t *testing.T) {
		first, err := e.client.CreateTAP(ctx(t), marco, tapdesk.TAPSpec{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		e.fake.SetFault(createPath, fakegraph.Fault{Status: 502, Times: 1})
		defer e.fake.ClearFaults()
		_, err = e.client.CreateTAP(ctx(t), marco, tapdesk.TAPSpec{}, nil)
		wantGraphError(t, err, tapdesk.GraphUnavailable)
		if tap := e.fake.Tenant().CurrentTAP(marco); tap == nil || tap.ID != first.MethodID {
			t.Errorf("the pass issued a moment ago was touched: %+v", tap)
		}
	})

	t.Run("passes read beforehand: not read again, and the settle goes by them", func(t *testing.T) {
		first, err := e.client.CreateTAP(ctx(t), marco, tapdesk.TAPSpec{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		read := func() *tapdesk.PriorTAPs {
			at := time.Now()
			taps, err := e.client.TAPs(ctx(t), marco)
			if err != nil || len(taps) != 1 || taps[0].MethodID != first.MethodID {
				t.Fatalf("TAPs: %+v %v", taps, err)
			}
			return &tapdesk.PriorTAPs{TAPs: taps, ReadAt: at}
		}

		// Graph failed and made nothing: the pass made a moment ago is
		// in the read given, so it is not taken for the lost one (by time
		// alone it would be).
		e.fake.SetFault(createPath, fakegraph.Fault{Status: 502, Times: 1})
		c0, l0 := counts()
		_, err = e.client.CreateTAP(ctx(t), marco, tapdesk.TAPSpec{}, read())
		wantGraphError(t, err, tapdesk.GraphUnavailable)
		if c1, l1 := counts(); c1-c0 != 1 || l1-l0 != 2 {
			t.Errorf("%d creates and %d lists; want one create and only the look after it (besides the test's read)", c1-c0, l1-l0)
		}
		if tap := e.fake.Tenant().CurrentTAP(marco); tap == nil || tap.ID != first.MethodID {
			t.Errorf("the pass in the read given was touched: %+v", tap)
		}
		e.fake.ClearFaults()

		// The answer is lost after Graph made a pass: that one is deleted,
		// not the one read before.
		e.fake.SetFault(createPath, fakegraph.Fault{DropAfterWrite: true, Times: 1})
		defer e.fake.ClearFaults()
		given := read()
		c0, l0 = counts()
		_, err = e.client.CreateTAP(ctx(t), marco, tapdesk.TAPSpec{}, given)
		ge := wantGraphError(t, err, tapdesk.GraphAnswerLost)
		if c1, l1 := counts(); c1-c0 != 1 || l1-l0 != 1 {
			t.Errorf("%d creates and %d lists; want one create and only the look after it", c1-c0, l1-l0)
		}
		if ge.OrphanMethodID == "" || ge.OrphanMethodID == first.MethodID {
			t.Errorf("orphan %q; the pass listed before is %q", ge.OrphanMethodID, first.MethodID)
		}
		if tap := e.fake.Tenant().CurrentTAP(marco); tap != nil {
			t.Errorf("a pass nobody knows is left: %+v", tap)
		}

		// A read begun longer ago than PriorTAPsFresh, or without a time,
		// is read again just before the create.
		for name, at := range map[string]time.Time{"stale": time.Now().Add(-tapdesk.PriorTAPsFresh - time.Second), "untimed": {}} {
			_, l0 = counts()
			if _, err := e.client.CreateTAP(ctx(t), marco, tapdesk.TAPSpec{}, &tapdesk.PriorTAPs{ReadAt: at}); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if _, l1 := counts(); l1-l0 != 1 {
				t.Errorf("%s read: %d lists before the create, want 1", name, l1-l0)
			}
		}

		// A user the read before found missing gets no create.
		c0, _ = counts()
		notFound := &tapdesk.GraphError{Kind: tapdesk.GraphNotFound, Status: 404, Code: "Request_ResourceNotFound"}
		if _, err := e.client.CreateTAP(ctx(t), marco, tapdesk.TAPSpec{}, &tapdesk.PriorTAPs{Err: notFound, ReadAt: time.Now()}); !errors.Is(err, notFound) {
			t.Errorf("create after a read that found no user: %v", err)
		}
		if c1, _ := counts(); c1 != c0 {
			t.Errorf("%d creates after a read that found no user", c1-c0)
		}
	})

	t.Run("bad credentials: Graph never saw the create", func(t *testing.T) {
		c := e.newClient(t, "not-the-secret")
		c0, l0 := counts()
		_, err := c.CreateTAP(ctx(t), lukas, tapdesk.TAPSpec{}, nil)
		wantGraphError(t, err, tapdesk.GraphUnauthorized)
		if c1, l1 := counts(); c1 != c0 || l1 != l0 {
			t.Errorf("%d creates and %d lists reached Graph", c1-c0, l1-l0)
		}
	})
}

// ODataError.Error() dereferences the message; bodies without one must
// still come back as ordinary GraphErrors.
func TestErrorBodiesWithoutMessage(t *testing.T) {
	e := setup(t)
	const path = "GET /v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/TemporaryAccessPass"
	for _, tc := range []struct {
		name  string
		fault fakegraph.Fault
		kind  tapdesk.GraphErrorKind
		code  string
	}{
		{"code only", fakegraph.Fault{Status: 400, Body: `{"error":{"code":"badRequest"}}`}, tapdesk.GraphBadRequest, "badRequest"},
		{"null message", fakegraph.Fault{Status: 403, Body: `{"error":{"code":"accessDenied","message":null}}`}, tapdesk.GraphForbidden, "accessDenied"},
		{"empty object", fakegraph.Fault{Status: 500, Body: `{}`}, tapdesk.GraphUnavailable, ""},
		{"no body", fakegraph.Fault{Status: 502, EmptyBody: true}, tapdesk.GraphUnavailable, ""},
		{"not json", fakegraph.Fault{Status: 502, Body: `<html>Bad gateway</html>`}, tapdesk.GraphUnavailable, ""},
		{"teapot", fakegraph.Fault{Status: 418, Body: `{"error":{}}`}, tapdesk.GraphUnknown, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.fake.SetFault(path, tc.fault)
			defer e.fake.ClearFaults()
			_, err := e.client.TAPPolicy(ctx(t))
			ge := wantGraphError(t, err, tc.kind)
			if ge.Code != tc.code || ge.Status != tc.fault.Status || ge.RequestID == "" {
				t.Errorf("%+v", ge)
			}
		})
	}
}

// The SDK turns a success status without a body into (nil, nil).
func TestEmptySuccessBody(t *testing.T) {
	e := setup(t)
	if _, err := e.client.TAPPolicy(ctx(t)); err != nil { // fetch the token first
		t.Fatal(err)
	}
	e.fake.SetFault("/v1.0/**", fakegraph.Fault{Status: 200, EmptyBody: true})
	defer e.fake.ClearFaults()
	calls := map[string]func() error{
		"search":  func() error { _, err := e.client.SearchUsers(ctx(t), "a", 5); return err },
		"user":    func() error { _, err := e.client.User(ctx(t), alex); return err },
		"methods": func() error { _, err := e.client.Methods(ctx(t), alex); return err },
		"policy":  func() error { _, err := e.client.TAPPolicy(ctx(t)); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			ge := wantGraphError(t, call(), tapdesk.GraphUnavailable)
			if ge.Code != "empty_response" || ge.Status != 200 || ge.RequestID == "" {
				t.Errorf("%+v", ge)
			}
		})
	}
	// A create answered without a body may have created a pass; with the
	// list answering empty too, nobody can tell.
	t.Run("create", func(t *testing.T) {
		_, err := e.client.CreateTAP(ctx(t), lukas, tapdesk.TAPSpec{}, nil)
		ge := wantGraphError(t, err, tapdesk.GraphOutcomeUnknown)
		if ge.Code != "empty_response" || ge.Status != 200 || ge.RequestID == "" {
			t.Errorf("%+v", ge)
		}
	})
}

func TestPassNeverLogged(t *testing.T) {
	e := setup(t)
	tap, err := e.client.CreateTAP(ctx(t), lukas, tapdesk.TAPSpec{LifetimeMinutes: 60}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.Methods(ctx(t), lukas); err != nil {
		t.Fatal(err)
	}
	logs := e.logs.String()
	if strings.Contains(logs, tap.Pass) {
		t.Fatalf("the pass %q appears in the log:\n%s", tap.Pass, logs)
	}
	if strings.Contains(logs, e.fake.Tenant().ClientSecret) {
		t.Error("the client secret appears in the log")
	}
	// One line per call, with what an operator needs to find it at Microsoft.
	for _, want := range []string{
		"method=POST", "path=/v1.0/users/{id}/authentication/temporaryAccessPassMethods", "status=201",
		"request_id=", "duration=", "path=/{id}/oauth2/v2.0/token",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, lukas) {
		t.Error("log contains a user id; paths should be templated")
	}
}

func TestSendMail(t *testing.T) {
	e := setup(t)
	if err := e.fake.Tenant().AddUser(fakegraph.User{DisplayName: "tapdesk", UserPrincipalName: "tapdesk@contoso.example", AccountEnabled: true}); err != nil {
		t.Fatal(err)
	}
	const secretLink = "https://tapdesk.example/approve/link-token-that-must-not-leak"
	msg := mail.Message{To: []string{"Avery <avery.approver@contoso.example>", "blake.backup@contoso.example"},
		Subject: "Approval needed", Text: "Open " + secretLink}
	sender, err := e.client.MailSender("tapdesk <tapdesk@contoso.example>")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("sent", func(t *testing.T) {
		if err := sender.Send(ctx(t), msg); err != nil {
			t.Fatal(err)
		}
		sent := e.fake.SentMail()
		if len(sent) != 1 {
			t.Fatalf("fake got %d mails", len(sent))
		}
		m := sent[0]
		if m.From != "tapdesk@contoso.example" || strings.Join(m.To, ",") != "avery.approver@contoso.example,blake.backup@contoso.example" ||
			m.Subject != "Approval needed" || m.ContentType != "text" || m.Body != msg.Text || m.SaveToSentItems {
			t.Errorf("%+v", m)
		}
		html := msg
		html.HTML = "<p>Open <a href=\"" + secretLink + "\">the request</a></p>"
		if err := sender.Send(ctx(t), html); err != nil {
			t.Fatal(err)
		}
		if m := e.fake.SentMail()[1]; m.ContentType != "html" || m.Body != html.HTML {
			t.Errorf("%+v", m)
		}
	})
	for _, tc := range []struct {
		name      string
		arrange   func() func()
		from      string
		permanent bool
		says      string
	}{
		{"missing Mail.Send", func() func() {
			e.fake.Tenant().RevokePermission("Mail.Send")
			return func() { e.fake.Tenant().SetPermissions(fakegraph.DefaultPermissions...) }
		}, "tapdesk@contoso.example", false, "Mail.Send"},
		{"unknown sender mailbox", func() func() { return func() {} }, "nobody@contoso.example", false, "TAPDESK_MAIL_FROM"},
		{"message refused", func() func() {
			e.fake.SetFault("POST /v1.0/users/*/sendMail", fakegraph.Fault{Status: 400, Code: "ErrorInvalidRecipients", Message: "At least one recipient isn't valid."})
			return e.fake.ClearFaults
		}, "tapdesk@contoso.example", true, "rejected the message"},
		{"Graph down", func() func() {
			e.fake.SetFault("POST /v1.0/users/*/sendMail", fakegraph.Fault{Status: 503, RetryAfter: "0"})
			return e.fake.ClearFaults
		}, "tapdesk@contoso.example", false, "503"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer tc.arrange()()
			s, err := e.client.MailSender(tc.from)
			if err != nil {
				t.Fatal(err)
			}
			err = s.Send(ctx(t), msg)
			var ge *tapdesk.GraphError
			if err == nil || !errors.As(err, &ge) || errors.Is(err, mail.ErrPermanent) != tc.permanent || !strings.Contains(err.Error(), tc.says) {
				t.Errorf("permanent=%v, want %v: %v", errors.Is(err, mail.ErrPermanent), tc.permanent, err)
			}
		})
	}
	t.Run("nothing to send is permanent", func(t *testing.T) {
		if err := sender.Send(ctx(t), mail.Message{Subject: "x", Text: "y"}); !errors.Is(err, mail.ErrPermanent) {
			t.Errorf("no recipient: %v", err)
		}
		if err := sender.Send(ctx(t), mail.Message{To: []string{"not an address"}, Text: "y"}); !errors.Is(err, mail.ErrPermanent) {
			t.Errorf("bad recipient: %v", err)
		}
	})
	t.Run("sender must be a mailbox", func(t *testing.T) {
		if _, err := e.client.MailSender(" "); err == nil {
			t.Error("empty sender accepted")
		}
	})
	if strings.Contains(e.logs.String(), "link-token-that-must-not-leak") {
		t.Error("a mail body reached the log")
	}
}

// Members of a configured privileged group need two approvers, like
// holders of directory roles; others do not.
func TestPrivilegedGroups(t *testing.T) {
	e := setup(t)
	const security = "770ECD2D-5A76-4762-BA77-88F45967A42E" // IT Security, any case
	c := e.newClientWith(t, func(cfg *entra.Config) { cfg.PrivilegedGroups = []string{" " + security + " "} })
	u, err := c.User(ctx(t), "11111111-1111-4111-8111-000000000003") // in IT Security
	if err != nil {
		t.Fatal(err)
	}
	if !u.Privileged() || u.ApprovalsRequired() != 2 || !strings.Contains(u.PrivilegeReason(), "770ecd2d-5a76-4762-ba77-88f45967a42e") {
		t.Errorf("member of a privileged group: groups %q, reason %q", u.PrivilegedGroups, u.PrivilegeReason())
	}
	u, err = c.User(ctx(t), "11111111-1111-4111-8111-000000000001") // IT Helpdesk only
	if err != nil {
		t.Fatal(err)
	}
	if u.Privileged() {
		t.Errorf("non-member counted as privileged: %q", u.PrivilegeReason())
	}
}

// TestUserIDSentAsChecked: a user id with spaces around it or in upper case
// passes the check, and Graph must then be sent the checked (trimmed,
// lower-cased) id, not what the caller gave: else the call addresses
// "/users/%20ID%20" and finds no one.
func TestUserIDSentAsChecked(t *testing.T) {
	e := setup(t)
	given := "  " + strings.ToUpper(nina) + "\t"
	t.Run("methods", func(t *testing.T) {
		ms, err := e.client.Methods(ctx(t), given)
		if err != nil || len(ms) == 0 {
			t.Fatalf("methods of %q: %d, %v", given, len(ms), err)
		}
	})
	t.Run("passes", func(t *testing.T) {
		taps, err := e.client.TAPs(ctx(t), given)
		if err != nil || len(taps) != 1 {
			t.Fatalf("passes of %q: %d, %v", given, len(taps), err)
		}
	})
	t.Run("manager", func(t *testing.T) {
		if _, err := e.client.Manager(ctx(t), given); err != nil {
			t.Fatalf("manager of %q: %v", given, err)
		}
	})
}

// heldDeadline is a context whose deadline passes when the test says
// (expire), not when a clock gets there; it ends as a deadline does, with
// context.DeadlineExceeded. Its Deadline is far enough off that nothing
// judges it near.
type heldDeadline struct {
	deadline time.Time
	done     chan struct{}
	once     sync.Once
}

func newHeldDeadline(d time.Duration) *heldDeadline {
	return &heldDeadline{deadline: time.Now().Add(d), done: make(chan struct{})}
}

func (c *heldDeadline) expire()                     { c.once.Do(func() { close(c.done) }) }
func (c *heldDeadline) Deadline() (time.Time, bool) { return c.deadline, true }
func (c *heldDeadline) Done() <-chan struct{}       { return c.done }
func (c *heldDeadline) Value(any) any               { return nil }
func (c *heldDeadline) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}
