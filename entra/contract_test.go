package entra_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/entra"
	"github.com/tapdesk/tapdesk/entra/fakegraph"
	"github.com/tapdesk/tapdesk/mail"
)

// The Graph contract: one row per line of GRAPH.md's tables, run through
// the real adapter. TestContractFake runs every row against the fake;
// TestContractLive runs the same rows against a real tenant when the
// TAPDESK_LIVE_* variables are set (see the README). Rows that cannot be
// produced safely on a real tenant say why in fakeOnly.

// contractEnv is what a row may use.
type contractEnv struct {
	client *entra.Client
	// member is a member in the TAP policy's scope. Rows create, read and
	// delete a pass for them: on a live tenant, a test account.
	member string
	// guest and outOfScope are optional ("" skips their rows).
	guest, outOfScope string
	// mailFrom and mailTo are optional; both set runs the sendMail row.
	mailFrom, mailTo string
	// badSecret builds a client whose secret is wrong.
	badSecret func(t *testing.T) *entra.Client
	// withSignInApp builds a client that reads who holds the sign-in app's
	// Tap.* roles; nil skips the app role rows (live: no
	// TAPDESK_LIVE_SIGNIN_CLIENT_ID).
	withSignInApp func(t *testing.T) *entra.Client
	// fake is nil on a live tenant.
	fake *fakegraph.Server
}

type contractCase struct {
	name     string
	fakeOnly string // why the row does not run on a live tenant; "" runs everywhere
	run      func(t *testing.T, e *contractEnv)
}

var contract = []contractCase{
	// ---- TAP endpoints ----
	{name: "create, list, get, delete", run: func(t *testing.T, e *contractEnv) {
		c := ctx(t)
		policy, err := e.client.TAPPolicy(c)
		if err != nil {
			t.Fatal(err)
		}
		tap, err := e.client.CreateTAP(c, e.member, tapdesk.TAPSpec{LifetimeMinutes: policy.MinLifetime, UsableOnce: true}, nil)
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		defer e.client.DeleteTAP(context.Background(), e.member, tap.MethodID) // on failure below
		if tap.Pass == "" || tap.MethodID == "" || tap.LifetimeMinutes != policy.MinLifetime || !tap.UsableOnce || !tap.Usable ||
			tap.UsabilityReason != "EnabledByPolicy" || tap.CreatedAt.IsZero() {
			t.Errorf("create answered %+v", tap.TAPInfo)
		}
		if e.fake != nil && !e.fake.Tenant().CheckPass(e.member, tap.Pass) {
			t.Error("the pass returned is not the one the fake issued")
		}
		taps, err := e.client.TAPs(c, e.member)
		if err != nil || len(taps) != 1 || taps[0].MethodID != tap.MethodID {
			t.Fatalf("list: %+v %v (one pass per user)", taps, err)
		}
		got, err := e.client.TAP(c, e.member, tap.MethodID)
		if err != nil || got.MethodID != tap.MethodID || got.LifetimeMinutes != tap.LifetimeMinutes || !got.StartAt.Equal(tap.StartAt) {
			t.Fatalf("get: %+v %v", got, err)
		}
		if err := e.client.DeleteTAP(c, e.member, tap.MethodID); err != nil {
			t.Fatalf("delete: %v", err)
		}
		_, err = e.client.TAP(c, e.member, tap.MethodID)
		if ge := wantGraphError(t, err, tapdesk.GraphNotFound); ge.Code == "Request_ResourceNotFound" {
			t.Errorf("a deleted pass must read as a missing pass, not a missing user: %+v", ge)
		}
	}},
	{name: "a second create replaces the first", run: func(t *testing.T, e *contractEnv) {
		c := ctx(t)
		first, err := e.client.CreateTAP(c, e.member, tapdesk.TAPSpec{UsableOnce: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		second, err := e.client.CreateTAP(c, e.member, tapdesk.TAPSpec{UsableOnce: true}, nil)
		if err != nil {
			e.client.DeleteTAP(context.Background(), e.member, first.MethodID)
			t.Fatal(err)
		}
		defer e.client.DeleteTAP(context.Background(), e.member, second.MethodID)
		taps, err := e.client.TAPs(c, e.member)
		if err != nil || len(taps) != 1 || taps[0].MethodID != second.MethodID || second.MethodID == first.MethodID {
			t.Errorf("after two creates: %+v %v", taps, err)
		}
	}},
	// ---- directory audit log ----
	{name: "pass registrations in the directory audit log", run: func(t *testing.T, e *contractEnv) {
		c := ctx(t)
		tap, err := e.client.CreateTAP(c, e.member, tapdesk.TAPSpec{UsableOnce: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer e.client.DeleteTAP(context.Background(), e.member, tap.MethodID)
		regs, err := e.client.PassRegistrations(c, time.Now().Add(-time.Hour), time.Now().Add(time.Minute), 0)
		if err != nil {
			t.Fatalf("read the directory audit log (AuditLog.Read.All): %v", err)
		}
		mine := false
		for i, r := range regs {
			if r.AuditID == "" || r.At.IsZero() || (r.TargetID == "" && r.TargetUPN == "") || r.ByID == "" && r.ByUPN == "" {
				t.Errorf("registration %d lacks a field: %+v", i, r)
			}
			if i > 0 && r.At.Before(regs[i-1].At) {
				t.Errorf("registrations out of order at %d", i)
			}
			if (strings.EqualFold(r.TargetID, e.member) || strings.EqualFold(r.TargetUPN, e.member)) && r.ByTapdeskApp(e.client.AppID()) {
				mine = true
			}
		}
		// Entra's log lags by minutes: only the fake must show the create already.
		if e.fake != nil && !mine {
			t.Errorf("the create is not in the log as made by this app (%s): %+v", e.client.AppID(), regs)
		}
	}},
	{name: "policy", run: func(t *testing.T, e *contractEnv) {
		p, err := e.client.TAPPolicy(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if p.MinLifetime < 10 || p.MaxLifetime > 43200 || p.DefaultLifetime < p.MinLifetime || p.DefaultLifetime > p.MaxLifetime ||
			p.DefaultLength < 8 || p.DefaultLength > 48 || len(p.IncludeGroups) == 0 {
			t.Errorf("policy out of Graph's documented ranges: %+v", p)
		}
	}},
	// ---- users and methods ----
	{name: "user lookup with $select", run: func(t *testing.T, e *contractEnv) {
		u, err := e.client.User(ctx(t), e.member)
		if err != nil {
			t.Fatal(err)
		}
		// accountEnabled and userType come only with $select.
		if u.ID == "" || u.DisplayName == "" || u.UPN == "" || u.UserType != "Member" || !u.AccountEnabled {
			t.Errorf("%+v", u)
		}
		if u.InTAPScope == nil || !*u.InTAPScope {
			t.Errorf("the test user must be in the TAP policy's scope: %v", u.InTAPScope)
		}
		byUPN, err := e.client.User(ctx(t), u.UPN)
		if err != nil || byUPN.ID != u.ID {
			t.Errorf("by UPN: %+v %v", byUPN, err)
		}
	}},
	{name: "directory roles", fakeOnly: "needs a user holding a directory role", run: func(t *testing.T, e *contractEnv) {
		u, err := e.client.User(ctx(t), "grace.global@contoso.example")
		if err != nil || !slices.Equal(u.Roles, []string{"Global Administrator"}) {
			t.Errorf("%+v %v", u, err)
		}
	}},
	{name: "tapdesk roles from the sign-in app's assignments", run: func(t *testing.T, e *contractEnv) {
		if e.withSignInApp == nil {
			t.Skip("TAPDESK_LIVE_SIGNIN_CLIENT_ID is not set")
		}
		c := e.withSignInApp(t)
		u, err := c.User(ctx(t), e.member)
		if err != nil {
			t.Fatalf("reading the sign-in app's role assignments (Application.Read.All): %v", err)
		}
		for _, r := range u.TapdeskRoles {
			if !strings.HasPrefix(r, "Tap.") && !strings.HasPrefix(r, "app role ") {
				t.Errorf("not a tapdesk role: %q", r)
			}
		}
		if e.fake != nil {
			u, err := c.User(ctx(t), "blake.backup@contoso.example")
			if err != nil || !slices.Equal(u.TapdeskRoles, []string{"Tap.Approver"}) || u.ApprovalsRequired() != 2 {
				t.Errorf("Blake Backup: %+v %v", u, err)
			}
		}
	}},
	{name: "tapdesk roles unreadable", fakeOnly: "would revoke the app's consent", run: func(t *testing.T, e *contractEnv) {
		e.fake.Tenant().RevokePermission("Application.Read.All")
		defer e.fake.Tenant().SetPermissions(fakegraph.DefaultPermissions...)
		_, err := e.withSignInApp(t).User(ctx(t), e.member)
		wantGraphError(t, err, tapdesk.GraphForbidden)
		if tapdesk.ErrorCode(err) != tapdesk.EUNAVAILABLE || !strings.Contains(tapdesk.ErrorMessage(err), "Application.Read.All") {
			t.Errorf("%s %q", tapdesk.ErrorCode(err), tapdesk.ErrorMessage(err))
		}
	}},
	{name: "methods, unknown type kept", run: func(t *testing.T, e *contractEnv) {
		user := e.member
		if e.fake != nil {
			user = sofia // holds a hardwareOath method the adapter does not name
		}
		ms, err := e.client.Methods(ctx(t), user)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			if m.ID == "" || m.Kind == "" || m.Label == "" || !strings.HasPrefix(m.ODataType, "#microsoft.graph.") {
				t.Errorf("method %+v", m)
			}
		}
		if e.fake != nil && !slices.ContainsFunc(ms, func(m tapdesk.AuthMethod) bool { return m.Kind == "#microsoft.graph.hardwareOathAuthenticationMethod" }) {
			t.Errorf("unknown type dropped: %+v", ms)
		}
	}},
	// ---- errors ----
	{name: "policy disabled", fakeOnly: "would turn off the tenant's TAP policy", run: func(t *testing.T, e *contractEnv) {
		tn := e.fake.Tenant()
		sample := tn.CurrentPolicy()
		p := sample
		p.State = "disabled"
		tn.SetPolicy(p)
		defer tn.SetPolicy(sample)
		_, err := e.client.CreateTAP(ctx(t), e.member, tapdesk.TAPSpec{}, nil)
		ge := wantGraphError(t, err, tapdesk.GraphPolicyDisallows)
		if ge.Status != 400 || ge.Code != "badRequest" || ge.Message != policyMessage || ge.RequestID == "" {
			t.Errorf("%+v", ge)
		}
	}},
	{name: "user outside the policy's scope", run: func(t *testing.T, e *contractEnv) {
		if e.outOfScope == "" {
			t.Skip("TAPDESK_LIVE_OUT_OF_SCOPE_USER is not set")
		}
		_, err := e.client.CreateTAP(ctx(t), e.outOfScope, tapdesk.TAPSpec{}, nil)
		if ge := wantGraphError(t, err, tapdesk.GraphPolicyDisallows); ge.Status != 400 {
			t.Errorf("%+v", ge)
		}
	}},
	{name: "lifetime out of bounds", run: func(t *testing.T, e *contractEnv) {
		p, err := e.client.TAPPolicy(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.client.CreateTAP(ctx(t), e.member, tapdesk.TAPSpec{LifetimeMinutes: p.MaxLifetime + 1, UsableOnce: true}, nil)
		ge := wantGraphError(t, err, tapdesk.GraphLifetimeOutOfRange)
		if !strings.HasPrefix(ge.Message, "Invalid LifetimeInMinutes specified.") || !strings.Contains(tapdesk.ErrorMessage(err), "Choose a lifetime") {
			t.Errorf("%q", ge.Message)
		}
	}},
	{name: "multi-use refused by a one-time policy", fakeOnly: "would change the tenant's TAP policy", run: func(t *testing.T, e *contractEnv) {
		tn := e.fake.Tenant()
		sample := tn.CurrentPolicy()
		p := sample
		p.IsUsableOnce = true
		tn.SetPolicy(p)
		defer tn.SetPolicy(sample)
		_, err := e.client.CreateTAP(ctx(t), e.member, tapdesk.TAPSpec{UsableOnce: false}, nil)
		wantGraphError(t, err, tapdesk.GraphBadRequest)
	}},
	{name: "external guest", run: func(t *testing.T, e *contractEnv) {
		if e.guest == "" {
			t.Skip("TAPDESK_LIVE_GUEST_USER is not set")
		}
		_, err := e.client.CreateTAP(ctx(t), e.guest, tapdesk.TAPSpec{UsableOnce: true}, nil)
		wantGraphError(t, err, tapdesk.GraphGuestUser)
	}},
	{name: "unknown user", run: func(t *testing.T, e *contractEnv) {
		id := uuid.NewString()
		_, err := e.client.User(ctx(t), id)
		ge := wantGraphError(t, err, tapdesk.GraphNotFound)
		if ge.Status != 404 || ge.Code != "Request_ResourceNotFound" || !strings.Contains(ge.Message, id) {
			t.Errorf("%+v", ge)
		}
		if tapdesk.ErrorCode(err) != tapdesk.ENOTFOUND {
			t.Errorf("domain code %s", tapdesk.ErrorCode(err))
		}
		_, err = e.client.CreateTAP(ctx(t), id, tapdesk.TAPSpec{}, nil)
		wantGraphError(t, err, tapdesk.GraphNotFound)
	}},
	{name: "missing permission", fakeOnly: "would revoke the app's consent", run: func(t *testing.T, e *contractEnv) {
		tn := e.fake.Tenant()
		tn.SetPermissions("User.Read.All", "Policy.Read.All", "UserAuthenticationMethod.Read.All")
		defer tn.SetPermissions(fakegraph.DefaultPermissions...)
		_, err := e.client.CreateTAP(ctx(t), e.member, tapdesk.TAPSpec{}, nil)
		ge := wantGraphError(t, err, tapdesk.GraphForbidden)
		if ge.Status != 403 || ge.Message != "Insufficient privileges to complete the operation." {
			t.Errorf("%+v", ge)
		}
	}},
	{name: "bad credentials", run: func(t *testing.T, e *contractEnv) {
		_, err := e.badSecret(t).TAPPolicy(ctx(t))
		if ge := wantGraphError(t, err, tapdesk.GraphUnauthorized); ge.Status != 401 || ge.Code != "invalid_client" {
			t.Errorf("%+v", ge)
		}
	}},
	{name: "throttled", fakeOnly: "Graph cannot be made to throttle on demand", run: func(t *testing.T, e *contractEnv) {
		e.fake.SetFault(createPath, fakegraph.Fault{Status: 429, RetryAfter: "0.25", Times: 1})
		defer e.fake.ClearFaults()
		before := e.fake.CountRequests(createPath)
		tap, err := e.client.CreateTAP(ctx(t), e.member, tapdesk.TAPSpec{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer e.client.DeleteTAP(context.Background(), e.member, tap.MethodID)
		if n := e.fake.CountRequests(createPath) - before; n != 2 {
			t.Errorf("%d attempts, want 2", n)
		}
	}},
	// ---- mail ----
	{name: "sendMail", run: func(t *testing.T, e *contractEnv) {
		if e.mailFrom == "" || e.mailTo == "" {
			t.Skip("TAPDESK_LIVE_MAIL_FROM and TAPDESK_LIVE_MAIL_TO are not set")
		}
		s, err := e.client.MailSender(e.mailFrom)
		if err != nil {
			t.Fatal(err)
		}
		err = s.Send(ctx(t), mail.Message{To: []string{e.mailTo}, Subject: "tapdesk contract test",
			Text: "tapdesk's Graph contract test sent this at " + time.Now().UTC().Format(time.RFC3339) + ". Nothing to do."})
		if err != nil {
			t.Fatal(err)
		}
		if e.fake != nil {
			if got := e.fake.SentMail(); len(got) == 0 || got[len(got)-1].Subject != "tapdesk contract test" {
				t.Errorf("fake mailbox: %+v", got)
			}
		}
	}},
}

func TestContractFake(t *testing.T) {
	e := setup(t)
	env := &contractEnv{client: e.client, member: lukas, guest: jordan, outOfScope: riley,
		mailFrom: "tapdesk@contoso.example", mailTo: "avery.approver@contoso.example",
		badSecret:     func(t *testing.T) *entra.Client { return e.newClient(t, "not-the-secret") },
		withSignInApp: func(t *testing.T) *entra.Client { return e.newClientWith(t, withSignInApp) },
		fake:          e.fake}
	if err := e.fake.Tenant().AddUser(fakegraph.User{DisplayName: "tapdesk", UserPrincipalName: "tapdesk@contoso.example", AccountEnabled: true}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range contract {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, env) })
	}
}

// liveVars are the settings of the live run; the first five are required.
var liveVars = []string{
	"TAPDESK_LIVE_TENANT_ID", "TAPDESK_LIVE_CLIENT_ID", "TAPDESK_LIVE_CLIENT_SECRET or TAPDESK_LIVE_CERTIFICATE_FILE",
	"TAPDESK_LIVE_TEST_USER",
}

// TestContractLive runs the contract against a real tenant. It creates and
// deletes passes for TAPDESK_LIVE_TEST_USER: use a test account.
func TestContractLive(t *testing.T) {
	get := func(k string) string { return strings.TrimSpace(os.Getenv(k)) }
	var missing []string
	for _, k := range liveVars {
		if k == liveVars[2] {
			if get("TAPDESK_LIVE_CLIENT_SECRET") == "" && get("TAPDESK_LIVE_CERTIFICATE_FILE") == "" {
				missing = append(missing, k)
			}
		} else if get(k) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		t.Skipf("NOT RUNNING the contract against a live tenant: %s not set (see the README, \"Contract tests against a real tenant\"). TestContractFake ran the same rows against the fake.",
			strings.Join(missing, ", "))
	}
	cfg := entra.Config{TenantID: get("TAPDESK_LIVE_TENANT_ID"), ClientID: get("TAPDESK_LIVE_CLIENT_ID"),
		ClientSecret: get("TAPDESK_LIVE_CLIENT_SECRET"), Cloud: get("TAPDESK_LIVE_CLOUD"),
		GraphBaseURL: get("TAPDESK_LIVE_GRAPH_BASE_URL"), AuthorityHost: get("TAPDESK_LIVE_AUTHORITY_HOST"),
		CertificatePassword: os.Getenv("TAPDESK_LIVE_CERTIFICATE_PASSWORD")}
	if f := get("TAPDESK_LIVE_CERTIFICATE_FILE"); f != "" {
		pem, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificate, cfg.ClientSecret = pem, ""
	}
	client, err := entra.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	env := &contractEnv{client: client, member: get("TAPDESK_LIVE_TEST_USER"),
		guest: get("TAPDESK_LIVE_GUEST_USER"), outOfScope: get("TAPDESK_LIVE_OUT_OF_SCOPE_USER"),
		mailFrom: get("TAPDESK_LIVE_MAIL_FROM"), mailTo: get("TAPDESK_LIVE_MAIL_TO"),
		badSecret: func(t *testing.T) *entra.Client {
			bad := cfg
			bad.Certificate, bad.ClientSecret = nil, "tapdesk-contract-wrong-secret"
			c, err := entra.New(bad)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}}
	if id := get("TAPDESK_LIVE_SIGNIN_CLIENT_ID"); id != "" {
		env.withSignInApp = func(t *testing.T) *entra.Client {
			with := cfg
			with.SignInClientID = id
			c, err := entra.New(with)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
	}
	t.Logf("running the Graph contract against tenant %s as app %s, test user %s", cfg.TenantID, cfg.ClientID, env.member)
	for _, tc := range contract {
		t.Run(tc.name, func(t *testing.T) {
			if tc.fakeOnly != "" {
				t.Skip("fake only: " + tc.fakeOnly)
			}
			tc.run(t, env)
		})
	}
}
