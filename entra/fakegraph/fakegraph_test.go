package fakegraph_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk/entra/fakegraph"
)

// These tests talk raw HTTP to the fake, so they pin Graph's wire format
// independently of the SDK. The adapter's contract tests in package entra
// run the real SDK against it.

const (
	alex   = "11111111-1111-4111-8111-000000000001"
	nina   = "b7c6e6e6-7862-4d25-aed1-f2739805e22a"
	riley  = "9fba8f2f-4ae6-4874-a78a-e9729d1952c1"
	jordan = "f46f0ba0-dca8-4f6e-b471-0407b7c7e2dd"
	lukas  = "e800a64f-291f-4bee-bafe-95f6cffd9b5f"
	grace  = "35458ec8-420c-47ac-ac09-5f0c17b53717"
)

type fake struct {
	t     *testing.T
	srv   *fakegraph.Server
	token string
}

// clock is a settable clock for tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }

func startFake(t *testing.T, opts ...fakegraph.Option) *fake {
	t.Helper()
	srv, err := fakegraph.NewServer(fakegraph.SampleTenant(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return &fake{t: t, srv: srv, token: srv.IssueToken()}
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (f *fake) do(method, path string, body any) response {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, f.srv.URL()+path, rd)
	if f.token != "" {
		req.Header.Set("Authorization", "Bearer "+f.token)
	}
	req.Header.Set("Content-Type", "application/json")
	return f.send(req)
}

func (f *fake) send(req *http.Request) response {
	f.t.Helper()
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			f.t.Fatalf("%s %s: body is not JSON: %s", req.Method, req.URL, raw)
		}
	}
	if resp.Header.Get("request-id") == "" {
		f.t.Errorf("%s %s: no request-id header", req.Method, req.URL)
	}
	return r
}

func (r response) errorCode() (code, msg string) {
	e, _ := r.body["error"].(map[string]any)
	code, _ = e["code"].(string)
	msg, _ = e["message"].(string)
	return code, msg
}

func wantError(t *testing.T, r response, status int, code, msg string) {
	t.Helper()
	gotCode, gotMsg := r.errorCode()
	if r.status != status || gotCode != code || (msg != "" && gotMsg != msg) {
		t.Fatalf("got %d %s %q, want %d %s %q (%s)", r.status, gotCode, gotMsg, status, code, msg, r.raw)
	}
	inner, _ := r.body["error"].(map[string]any)["innerError"].(map[string]any)
	if inner["request-id"] != r.header.Get("request-id") || inner["date"] == nil {
		t.Errorf("innerError = %v, want date and request-id %s", inner, r.header.Get("request-id"))
	}
}

func TestSampleTenant(t *testing.T) {
	tn := fakegraph.SampleTenant()
	if tn.ID != fakegraph.SampleTenantID || fakegraph.SampleTenantID != "5f1d3c2a-7b4e-4c1a-9e8f-0a1b2c3d4e5f" || tn.Domain != "contoso.example" ||
		tn.ClientID != fakegraph.SampleClientID || tn.ClientSecret != fakegraph.SampleClientSecret {
		t.Fatalf("tenant %s %s %s", tn.ID, tn.Domain, tn.ClientID)
	}
	if len(tn.Users) < 15 {
		t.Errorf("%d users, want at least 15", len(tn.Users))
	}
	personas := map[string]string{
		"11111111-1111-4111-8111-000000000001": "alex.agent@contoso.example",
		"11111111-1111-4111-8111-000000000002": "sam.second@contoso.example",
		"11111111-1111-4111-8111-000000000003": "avery.approver@contoso.example",
		"11111111-1111-4111-8111-000000000004": "blake.backup@contoso.example",
		"11111111-1111-4111-8111-000000000005": "audrey.auditor@contoso.example",
		"11111111-1111-4111-8111-000000000006": "ada.admin@contoso.example",
	}
	for id, upn := range personas {
		u, ok := tn.LookupUser(id)
		if !ok || u.UserPrincipalName != upn {
			t.Errorf("persona %s: got %q", id, u.UserPrincipalName)
		}
	}
	var guests, disabled, withTAP []string
	for _, u := range tn.Users {
		if u.UserType == "Guest" {
			guests = append(guests, u.ID)
		}
		if !u.AccountEnabled {
			disabled = append(disabled, u.ID)
		}
		if u.TAP != nil {
			withTAP = append(withTAP, u.ID)
		}
	}
	if len(guests) != 1 || guests[0] != jordan || len(disabled) != 1 || len(withTAP) != 1 || withTAP[0] != nina {
		t.Errorf("guests %v disabled %v withTAP %v", guests, disabled, withTAP)
	}
	if len(tn.DirectoryRoles) != 1 || tn.DirectoryRoles[0].Members[0] != grace {
		t.Errorf("directory roles %+v", tn.DirectoryRoles)
	}
}

func TestExactlyOneUserOutOfScope(t *testing.T) {
	f := startFake(t)
	var out []string
	for _, u := range f.srv.Tenant().Users {
		r := f.do("POST", "/v1.0/users/"+u.ID+"/authentication/temporaryAccessPassMethods", map[string]any{})
		if _, msg := r.errorCode(); strings.HasPrefix(msg, "Converged UserCredentialPolicy") {
			out = append(out, u.ID)
		}
	}
	if len(out) != 1 || out[0] != riley {
		t.Errorf("out of scope: %v, want only Riley", out)
	}
}

func TestTokenEndpoint(t *testing.T) {
	f := startFake(t)
	f.token = ""
	tn := f.srv.Tenant()

	r := f.do("GET", "/"+tn.ID+"/v2.0/.well-known/openid-configuration", nil)
	if r.status != 200 || r.body["token_endpoint"] != f.srv.URL()+"/"+tn.ID+"/oauth2/v2.0/token" ||
		r.body["issuer"] != f.srv.URL()+"/"+tn.ID+"/v2.0" {
		t.Fatalf("discovery: %d %s", r.status, r.raw)
	}

	token := func(secret, scope string) response {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {tn.ClientID},
			"client_secret": {secret}, "scope": {scope}}
		req, _ := http.NewRequest("POST", f.srv.URL()+"/"+tn.ID+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return f.send(req)
	}
	ok := token(tn.ClientSecret, "https://graph.microsoft.com/.default")
	if ok.status != 200 || ok.body["token_type"] != "Bearer" || ok.body["access_token"] == "" {
		t.Fatalf("token: %d %s", ok.status, ok.raw)
	}
	if bad := token("wrong", "https://graph.microsoft.com/.default"); bad.status != 401 || bad.body["error"] != "invalid_client" {
		t.Errorf("wrong secret: %d %s", bad.status, bad.raw)
	}
	if bad := token(tn.ClientSecret, "User.Read.All"); bad.status != 400 || bad.body["error"] != "invalid_scope" {
		t.Errorf("bad scope: %d %s", bad.status, bad.raw)
	}

	wantError(t, f.do("GET", "/v1.0/users/"+alex, nil), 401, "InvalidAuthenticationToken", "Access token is empty.")
	f.token = ok.body["access_token"].(string)
	if r := f.do("GET", "/v1.0/users/"+alex, nil); r.status != 200 {
		t.Errorf("with issued token: %d %s", r.status, r.raw)
	}
	f.srv.RevokeTokens()
	wantError(t, f.do("GET", "/v1.0/users/"+alex, nil), 401, "InvalidAuthenticationToken", "")
}

func TestGetUser(t *testing.T) {
	f := startFake(t)

	t.Run("default properties", func(t *testing.T) {
		r := f.do("GET", "/v1.0/users/"+alex, nil)
		if r.status != 200 || r.body["displayName"] != "Alex Agent" || r.body["id"] != alex {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		for _, absent := range []string{"accountEnabled", "department", "userType"} {
			if _, ok := r.body[absent]; ok {
				t.Errorf("%s present without $select", absent)
			}
		}
	})
	t.Run("select, with $ escaped", func(t *testing.T) {
		r := f.do("GET", "/v1.0/users/"+alex+"?%24select=id,accountEnabled,department,userType,onPremisesSyncEnabled", nil)
		if r.status != 200 || r.body["accountEnabled"] != true || r.body["department"] != "IT Helpdesk" || r.body["userType"] != "Member" {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		if v, ok := r.body["onPremisesSyncEnabled"]; !ok || v != nil {
			t.Errorf("onPremisesSyncEnabled = %v, want null for a cloud-only user", v)
		}
		if _, ok := r.body["displayName"]; ok {
			t.Error("displayName returned though not selected")
		}
	})
	t.Run("unknown select property", func(t *testing.T) {
		wantError(t, f.do("GET", "/v1.0/users/"+alex+"?$select=shoeSize", nil), 400, "Request_BadRequest",
			"Could not find a property named 'shoeSize' on type 'microsoft.graph.user'.")
	})
	t.Run("by UPN, key syntax and guest UPN", func(t *testing.T) {
		for _, p := range []string{
			"/v1.0/users/ALEX.agent@contoso.example",
			"/v1.0/users('alex.agent@contoso.example')",
		} {
			if r := f.do("GET", p, nil); r.status != 200 || r.body["id"] != alex {
				t.Errorf("%s: %d %s", p, r.status, r.raw)
			}
		}
		if r := f.do("GET", "/v1.0/users/jordan_partner.example%23EXT%23@contoso.example", nil); r.status != 200 || r.body["id"] != jordan {
			t.Errorf("guest UPN: %d %s", r.status, r.raw)
		}
	})
	t.Run("unknown user", func(t *testing.T) {
		wantError(t, f.do("GET", "/v1.0/users/nobody@contoso.example", nil), 404, "Request_ResourceNotFound",
			"Resource 'nobody@contoso.example' does not exist or one of its queried reference-property objects are not present.")
	})
}

func TestSearchUsers(t *testing.T) {
	f := startFake(t)
	q := url.Values{
		"$filter": {"startswith(displayName,'a') or startswith(userPrincipalName,'a') or startswith(mail,'a')"},
		"$select": {"id,displayName"},
		"$top":    {"3"},
	}
	r := f.do("GET", "/v1.0/users?"+q.Encode(), nil)
	vals, _ := r.body["value"].([]any)
	if r.status != 200 || len(vals) != 3 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	next, _ := r.body["@odata.nextLink"].(string)
	if next == "" {
		t.Fatal("no nextLink though more users match")
	}
	r2 := f.do("GET", strings.TrimPrefix(next, f.srv.URL()), nil)
	// Ada, Alex, Audrey | Avery
	if vals2, _ := r2.body["value"].([]any); len(vals2) != 1 || vals2[0].(map[string]any)["displayName"] != "Avery Approver" {
		t.Errorf("second page: %s", r2.raw)
	}
	wantError(t, f.do("GET", "/v1.0/users?$filter="+url.QueryEscape("startswith(displayName,'a"), nil), 400, "BadRequest", "")
	wantError(t, f.do("GET", "/v1.0/users?$filter="+url.QueryEscape("department ne 'x'"), nil), 400, "Request_UnsupportedQuery", "")
	r3 := f.do("GET", "/v1.0/users?$filter="+url.QueryEscape("startswith(displayName,'o''brien')"), nil)
	if vals3, _ := r3.body["value"].([]any); r3.status != 200 || len(vals3) != 0 {
		t.Errorf("quote escape: %d %s", r3.status, r3.raw)
	}
}

func TestMemberOf(t *testing.T) {
	f := startFake(t)
	r := f.do("GET", "/v1.0/users/"+riley+"/transitiveMemberOf", nil)
	vals, _ := r.body["value"].([]any)
	if r.status != 200 || len(vals) != 1 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if g := vals[0].(map[string]any); g["@odata.type"] != "#microsoft.graph.group" || g["displayName"] != nil {
		t.Errorf("with User.Read.All only, want id and type only: %v", g)
	}
	r = f.do("GET", "/v1.0/users/"+grace+"/memberOf?$select=id,displayName", nil)
	vals, _ = r.body["value"].([]any)
	if len(vals) != 1 || vals[0].(map[string]any)["@odata.type"] != "#microsoft.graph.directoryRole" ||
		vals[0].(map[string]any)["displayName"] != "Global Administrator" {
		t.Errorf("global admin memberOf: %s", r.raw)
	}
	// Without a role-reading permission Graph names neither the role nor its template.
	f.srv.Tenant().SetPermissions("User.Read.All")
	defer f.srv.Tenant().SetPermissions(fakegraph.DefaultPermissions...)
	r = f.do("GET", "/v1.0/users/"+grace+"/transitiveMemberOf", nil)
	vals, _ = r.body["value"].([]any)
	if len(vals) != 1 || vals[0].(map[string]any)["displayName"] != nil || vals[0].(map[string]any)["id"] == nil {
		t.Errorf("role without RoleManagement.Read.Directory: %s", r.raw)
	}
}

func TestTAPLifecycle(t *testing.T) {
	clk := &clock{now: time.Date(2030, 1, 2, 9, 0, 0, 0, time.UTC)}
	f := startFake(t, fakegraph.WithClock(clk.Now))
	base := "/v1.0/users/" + lukas + "/authentication/temporaryAccessPassMethods"

	first := f.do("POST", base, map[string]any{"lifetimeInMinutes": 120, "isUsableOnce": false})
	pass, _ := first.body["temporaryAccessPass"].(string)
	if first.status != 201 || len(pass) != 8 || first.body["isUsable"] != true || first.body["methodUsabilityReason"] != "EnabledByPolicy" {
		t.Fatalf("create: %d %s", first.status, first.raw)
	}
	if first.body["@odata.type"] != "#microsoft.graph.temporaryAccessPassAuthenticationMethod" {
		t.Errorf("@odata.type = %v", first.body["@odata.type"])
	}
	if !f.srv.Tenant().CheckPass(lukas, pass) {
		t.Error("CheckPass refuses the issued pass")
	}

	// A second create replaces the first: one pass per user.
	second := f.do("POST", base, map[string]any{})
	if second.status != 201 || second.body["id"] == first.body["id"] || second.body["lifetimeInMinutes"] != 60.0 {
		t.Fatalf("replace: %d %s", second.status, second.raw)
	}
	list := f.do("GET", base, nil)
	vals, _ := list.body["value"].([]any)
	if len(vals) != 1 || vals[0].(map[string]any)["id"] != second.body["id"] {
		t.Fatalf("list after replace: %s", list.raw)
	}
	if v, ok := vals[0].(map[string]any)["temporaryAccessPass"]; !ok || v != nil {
		t.Errorf("list shows temporaryAccessPass = %v, want null", v)
	}
	wantError(t, f.do("GET", base+"/"+first.body["id"].(string), nil), 404, "itemNotFound", "")

	id := second.body["id"].(string)
	methods := f.do("GET", "/v1.0/users/"+lukas+"/authentication/methods", nil)
	if !strings.Contains(methods.raw, id) || strings.Contains(methods.raw, pass) {
		t.Errorf("methods list: %s", methods.raw)
	}

	clk.Add(61 * time.Minute)
	if got := f.do("GET", base+"/"+id, nil); got.body["isUsable"] != false || got.body["methodUsabilityReason"] != "Expired" || got.body["temporaryAccessPass"] != nil {
		t.Errorf("after expiry: %s", got.raw)
	}

	if del := f.do("DELETE", base+"/"+id, nil); del.status != 204 {
		t.Fatalf("delete: %d %s", del.status, del.raw)
	}
	wantError(t, f.do("GET", base+"/"+id, nil), 404, "itemNotFound", "")
	wantError(t, f.do("DELETE", base+"/"+id, nil), 404, "itemNotFound", "")
}

func TestTAPUsability(t *testing.T) {
	clk := &clock{now: time.Date(2030, 1, 2, 9, 0, 0, 0, time.UTC)}
	f := startFake(t, fakegraph.WithClock(clk.Now))
	base := "/v1.0/users/" + lukas + "/authentication/temporaryAccessPassMethods"

	later := clk.Now().Add(2 * time.Hour).Format(time.RFC3339)
	r := f.do("POST", base, map[string]any{"startDateTime": later, "isUsableOnce": true})
	if r.body["methodUsabilityReason"] != "NotYetValid" || r.body["startDateTime"] != "2030-01-02T11:00:00.0000000Z" {
		t.Fatalf("future start: %s", r.raw)
	}
	clk.Add(2*time.Hour + time.Minute)
	f.srv.Tenant().UseTAP(lukas)
	if got := f.do("GET", base, nil); !strings.Contains(got.raw, `"OneTimeUsed"`) {
		t.Errorf("after one-time use: %s", got.raw)
	}
	p := f.srv.Tenant().CurrentPolicy()
	p.State = "disabled"
	f.srv.Tenant().SetPolicy(p)
	if got := f.do("GET", base, nil); !strings.Contains(got.raw, `"DisabledByPolicy"`) {
		t.Errorf("after policy disabled: %s", got.raw)
	}
}

func TestSeededTAP(t *testing.T) {
	f := startFake(t)
	r := f.do("GET", "/v1.0/users/"+nina+"/authentication/temporaryAccessPassMethods", nil)
	if !strings.Contains(r.raw, `"EnabledByPolicy"`) || !strings.Contains(r.raw, `"temporaryAccessPass":null`) {
		t.Errorf("seeded TAP: %s", r.raw)
	}
}

// The new hire stays new: her account's createdDateTime is placed relative
// to the load time, as Graph serves it when selected.
func TestSeededNewAccount(t *testing.T) {
	now := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	u, ok := fakegraph.SampleTenantAt(now).LookupUser(nina)
	if !ok || !u.CreatedDateTime.Equal(now.AddDate(0, 0, -3)) {
		t.Fatalf("nina created %v, want three days before %v", u.CreatedDateTime, now)
	}
	f := startFake(t)
	r := f.do("GET", "/v1.0/users/"+nina+"?$select=id,createdDateTime", nil)
	created, err := time.Parse(time.RFC3339, fmt.Sprint(r.body["createdDateTime"]))
	if r.status != 200 || err != nil || time.Since(created) > 4*24*time.Hour || time.Since(created) < 2*24*time.Hour {
		t.Errorf("nina's createdDateTime %v (%v), want about three days ago", r.body["createdDateTime"], err)
	}
}

func TestCreateRefusals(t *testing.T) {
	f := startFake(t)
	create := func(user string, body map[string]any) response {
		return f.do("POST", "/v1.0/users/"+user+"/authentication/temporaryAccessPassMethods", body)
	}
	const policyMsg = "Converged UserCredentialPolicy does not allow creating or updating this authentication method. AuthMethodType [TemporaryAccessPass]."

	t.Run("guest", func(t *testing.T) {
		wantError(t, create(jordan, nil), 400, "badRequest", "Temporary Access Pass cannot be added to an external guest user.")
	})
	t.Run("out of scope", func(t *testing.T) {
		wantError(t, create(riley, nil), 400, "badRequest", policyMsg)
	})
	t.Run("lifetime out of bounds", func(t *testing.T) {
		for _, lt := range []int{59, 481, 5} {
			wantError(t, create(lukas, map[string]any{"lifetimeInMinutes": lt}), 400, "badRequest",
				"Invalid LifetimeInMinutes specified. The valid range between 60 and 480.")
		}
	})
	t.Run("unknown user", func(t *testing.T) {
		wantError(t, create("00000000-0000-4000-8000-000000000000", nil), 404, "Request_ResourceNotFound", "")
	})
	t.Run("multi-use when policy forces one-time", func(t *testing.T) {
		p := f.srv.Tenant().CurrentPolicy()
		p.IsUsableOnce = true
		f.srv.Tenant().SetPolicy(p)
		defer f.srv.Tenant().SetPolicy(fakegraph.SampleTenant().Policy)
		r := create(lukas, map[string]any{"isUsableOnce": false})
		if code, _ := r.errorCode(); r.status != 400 || code != "badRequest" {
			t.Errorf("%d %s", r.status, r.raw)
		}
		if r := create(lukas, map[string]any{}); r.status != 201 || r.body["isUsableOnce"] != true {
			t.Errorf("default must follow the policy: %s", r.raw)
		}
	})
	t.Run("policy disabled", func(t *testing.T) {
		p := f.srv.Tenant().CurrentPolicy()
		p.State = "disabled"
		f.srv.Tenant().SetPolicy(p)
		defer f.srv.Tenant().SetPolicy(fakegraph.SampleTenant().Policy)
		wantError(t, create(lukas, nil), 400, "badRequest", policyMsg)
	})
	t.Run("missing permission", func(t *testing.T) {
		f.srv.Tenant().SetPermissions("User.Read.All", "UserAuthenticationMethod.Read.All")
		defer f.srv.Tenant().SetPermissions(fakegraph.DefaultPermissions...)
		wantError(t, create(lukas, nil), 403, "accessDenied", "Insufficient privileges to complete the operation.")
		if r := f.do("GET", "/v1.0/users/"+lukas+"/authentication/methods", nil); r.status != 200 {
			t.Errorf("read with read permission: %d", r.status)
		}
	})
}

func TestGzipBody(t *testing.T) {
	f := startFake(t)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(`{"lifetimeInMinutes":90}`))
	zw.Close()
	req, _ := http.NewRequest("POST", f.srv.URL()+"/v1.0/users/"+lukas+"/authentication/temporaryAccessPassMethods", &buf)
	req.Header.Set("Authorization", "Bearer "+f.token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	if r := f.send(req); r.status != 201 || r.body["lifetimeInMinutes"] != 90.0 {
		t.Errorf("%d %s", r.status, r.raw)
	}
}

func TestFaults(t *testing.T) {
	f := startFake(t)
	path := "/v1.0/users/" + alex

	f.srv.SetFault("GET /v1.0/users/*", fakegraph.Fault{Status: 429, RetryAfter: "2", Times: 1})
	r := f.do("GET", path, nil)
	wantError(t, r, 429, "TooManyRequests", "Please retry again later.")
	if r.header.Get("Retry-After") != "2" {
		t.Errorf("Retry-After = %q", r.header.Get("Retry-After"))
	}
	if r := f.do("GET", path, nil); r.status != 200 {
		t.Errorf("after Times ran out: %d", r.status)
	}

	f.srv.SetFault("/v1.0/users/*", fakegraph.Fault{Status: 503})
	wantError(t, f.do("GET", path, nil), 503, "serviceNotAvailable", "")
	f.srv.ClearFaults()

	f.srv.SetFault("/v1.0/**", fakegraph.Fault{Status: 504, Times: 1})
	wantError(t, f.do("GET", path+"/authentication/methods", nil), 504, "gatewayTimeout", "")

	// A client that gives up during a Delay gets no answer at all, never
	// an empty 200.
	f.srv.SetFault("GET /v1.0/users/*", fakegraph.Fault{Delay: 5 * time.Second, Times: 1})
	c, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	delayed, _ := http.NewRequestWithContext(c, "GET", f.srv.URL()+path, nil)
	delayed.Header.Set("Authorization", "Bearer "+f.token)
	if resp, err := f.srv.Client().Do(delayed); err == nil {
		resp.Body.Close()
		t.Fatalf("delayed request answered %d before the deadline", resp.StatusCode)
	}

	f.srv.SetFault("POST /v1.0/users/*/authentication/temporaryAccessPassMethods", fakegraph.Fault{DropAfterWrite: true, Times: 1})
	req, _ := http.NewRequest("POST", f.srv.URL()+"/v1.0/users/"+lukas+"/authentication/temporaryAccessPassMethods", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+f.token)
	if resp, err := f.srv.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("dropped response arrived: %d", resp.StatusCode)
	}
	if f.srv.Tenant().CurrentTAP(lukas) == nil {
		t.Error("DropAfterWrite did not create the pass")
	}
	if n := f.srv.CountRequests("POST /v1.0/users/*/authentication/temporaryAccessPassMethods"); n != 1 {
		t.Errorf("CountRequests = %d", n)
	}

	// HoldAfterWrite creates the pass at once and answers late; a caller
	// that dies meanwhile never hears of it.
	if err := f.srv.Tenant().UpdateUser(lukas, func(u *fakegraph.User) { u.TAP = nil }); err != nil {
		t.Fatal(err)
	}
	f.srv.SetFault("POST /v1.0/users/*/authentication/temporaryAccessPassMethods", fakegraph.Fault{HoldAfterWrite: 5 * time.Second, Times: 1})
	held, stop := context.WithCancel(context.Background())
	req, _ = http.NewRequestWithContext(held, "POST", f.srv.URL()+"/v1.0/users/"+lukas+"/authentication/temporaryAccessPassMethods", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+f.token)
	answered := make(chan error, 1)
	go func() {
		resp, err := f.srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		answered <- err
	}()
	deadline := time.Now().Add(3 * time.Second)
	for f.srv.Tenant().CurrentTAP(lukas) == nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if f.srv.Tenant().CurrentTAP(lukas) == nil {
		t.Error("HoldAfterWrite did not create the pass before answering")
	}
	stop()
	if err := <-answered; err == nil {
		t.Error("a caller that gave up during HoldAfterWrite got an answer")
	}
}

func TestAddMethod(t *testing.T) {
	f := startFake(t)
	id, err := f.srv.Tenant().AddMethod(lukas, "fido2")
	if err != nil {
		t.Fatal(err)
	}
	r := f.do("GET", "/v1.0/users/"+lukas+"/authentication/methods/"+id, nil)
	if r.status != 200 || r.body["@odata.type"] != "#microsoft.graph.fido2AuthenticationMethod" {
		t.Errorf("%d %s", r.status, r.raw)
	}
	if _, err := f.srv.Tenant().AddMethod(lukas, "password"); err == nil {
		t.Error("second password method accepted")
	}
}

func TestUnknownSegment(t *testing.T) {
	f := startFake(t)
	wantError(t, f.do("GET", "/v1.0/groups", nil), 400, "BadRequest", "Resource not found for the segment 'groups'.")
	wantError(t, f.do("PATCH", "/v1.0/users/"+alex, nil), 405, "Request_BadRequest", "")
}

// A Gate holds each request that reaches it, unhandled, until it is
// opened; a caller that gives up meanwhile gets no answer.
func TestFaultGate(t *testing.T) {
	f := startFake(t)
	const create = "POST /v1.0/users/*/authentication/temporaryAccessPassMethods"
	gate := fakegraph.NewGate()
	t.Cleanup(gate.Open)
	f.srv.SetFault(create, fakegraph.Fault{Gate: gate, Times: 2})
	post := func(ctx context.Context) (int, error) {
		req, _ := http.NewRequestWithContext(ctx, "POST", f.srv.URL()+"/v1.0/users/"+lukas+"/authentication/temporaryAccessPassMethods", strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer "+f.token)
		resp, err := f.srv.Client().Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	waitArrived := func(n int) {
		t.Helper()
		if !gate.Await(n, 30*time.Second) {
			t.Fatalf("%d requests reached the gate, want %d", gate.Arrived(), n)
		}
	}

	// A caller that gives up at the gate hears nothing, and nothing was made.
	gaveUp, stop := context.WithCancel(context.Background())
	answered := make(chan error, 1)
	go func() { _, err := post(gaveUp); answered <- err }()
	waitArrived(1)
	stop()
	if err := <-answered; err == nil {
		t.Error("a caller that gave up at the gate got an answer")
	}
	if f.srv.Tenant().CurrentTAP(lukas) != nil {
		t.Error("a request that gave up at the gate was handled")
	}

	// Held until Open, then handled.
	status := make(chan int, 1)
	go func() { s, _ := post(context.Background()); status <- s }()
	waitArrived(2)
	select {
	case s := <-status:
		t.Fatalf("the request passed the closed gate: %d", s)
	case <-time.After(100 * time.Millisecond):
	}
	if f.srv.Tenant().CurrentTAP(lukas) != nil {
		t.Error("the request held at the gate was handled before it opened")
	}
	gate.Open()
	if s := <-status; s != http.StatusCreated {
		t.Errorf("after Open the request answered %d", s)
	}
	if f.srv.Tenant().CurrentTAP(lukas) == nil {
		t.Error("after Open the request was not handled")
	}
}

func TestFaultRate(t *testing.T) {
	f := startFake(t)
	f.srv.SetFault("GET /v1.0/users/*", fakegraph.Fault{Status: 503, Rate: 0.5})
	var got []int
	for range 6 {
		got = append(got, f.do("GET", "/v1.0/users/"+alex, nil).status)
	}
	if fmt.Sprint(got) != "[200 503 200 503 200 503]" {
		t.Errorf("rate 0.5: %v", got)
	}
	f.srv.SetFault("GET /v1.0/users/*", fakegraph.Fault{Status: 429, Rate: 0.25, Times: 1})
	got = nil
	for range 8 {
		got = append(got, f.do("GET", "/v1.0/users/"+alex, nil).status)
	}
	if fmt.Sprint(got) != "[200 200 200 429 200 200 200 200]" {
		t.Errorf("rate 0.25, once: %v", got)
	}
}

// admin calls the control endpoints over the fake's own HTTPS listener.
func (f *fake) admin(method, path, body string) (int, string) {
	f.t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL()+path, strings.NewReader(body))
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

func TestAdminEndpoints(t *testing.T) {
	f := startFake(t)
	user := "/v1.0/users/" + alex

	t.Run("throttle through the endpoint", func(t *testing.T) {
		status, body := f.admin("POST", "/_fake/faults", `{"pattern":"GET /v1.0/users/*","status":429,"retryAfter":"1.5","times":1}`)
		if status != 201 || !strings.Contains(body, `"left": 1`) {
			t.Fatalf("%d %s", status, body)
		}
		r := f.do("GET", user, nil)
		wantError(t, r, 429, "TooManyRequests", "Please retry again later.")
		if r.header.Get("Retry-After") != "1.5" {
			t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
		}
		if r := f.do("GET", user, nil); r.status != 200 {
			t.Errorf("after the one fault: %d", r.status)
		}
	})
	t.Run("a list, then remove one and clear", func(t *testing.T) {
		status, body := f.admin("POST", "/_fake/faults", `[
			{"pattern":"GET /v1.0/users/*/authentication/methods","status":503,"rate":0.5},
			{"pattern":"POST /v1.0/users/*/authentication/temporaryAccessPassMethods","dropAfterWrite":true},
			{"pattern":"/v1.0/policies/**","delay":"50ms"}]`)
		if status != 201 {
			t.Fatalf("%d %s", status, body)
		}
		var listed []fakegraph.FaultSpec
		_, body = f.admin("GET", "/_fake/faults", "")
		if err := json.Unmarshal([]byte(body), &listed); err != nil || len(listed) != 4 || listed[3].Delay != "50ms" || listed[2].Left != -1 {
			t.Fatalf("%v %s", err, body)
		}
		start := time.Now()
		if r := f.do("GET", "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/TemporaryAccessPass", nil); r.status != 200 || time.Since(start) < 50*time.Millisecond {
			t.Errorf("delay: %d after %v", r.status, time.Since(start))
		}
		if status, _ := f.admin("DELETE", "/_fake/faults?pattern="+url.QueryEscape("/v1.0/policies/**"), ""); status != 200 || len(f.srv.Faults()) != 3 {
			t.Errorf("remove one: %d, %d left", status, len(f.srv.Faults()))
		}
		if status, _ := f.admin("DELETE", "/_fake/faults?pattern=nope", ""); status != 404 {
			t.Errorf("remove unknown: %d", status)
		}
		if status, body := f.admin("DELETE", "/_fake/faults", ""); status != 200 || strings.TrimSpace(body) != "[]" {
			t.Errorf("clear: %d %s", status, body)
		}
	})
	t.Run("bad specs are refused whole", func(t *testing.T) {
		for body, want := range map[string]string{
			`{"status":429}`: `"pattern" is empty`,
			`[{"pattern":"*","status":503},{"pattern":"*","status":999}]`: "fault 2",
			`{"pattern":"*","delay":"soon"}`:                              `"delay" "soon"`,
			`{"pattern":"*"}`:                                             "does nothing",
			`{"pattern":"*","status":503,"rate":2}`:                       `"rate"`,
			`not json`:                                                    "not a fault",
		} {
			status, got := f.admin("POST", "/_fake/faults", body)
			var e struct{ Error string }
			if json.Unmarshal([]byte(got), &e); status != 400 || !strings.Contains(e.Error, want) {
				t.Errorf("%s: %d %s", body, status, got)
			}
		}
		if n := len(f.srv.Faults()); n != 0 {
			t.Errorf("%d faults added by refused requests", n)
		}
	})
	t.Run("requests and mail", func(t *testing.T) {
		if status, _ := f.admin("DELETE", "/_fake/requests", ""); status != 204 {
			t.Fatal(status)
		}
		f.do("GET", user, nil)
		f.do("POST", "/v1.0/users/"+alex+"/sendMail", map[string]any{"message": map[string]any{"subject": "hi",
			"body":         map[string]any{"contentType": "Text", "content": "hello"},
			"toRecipients": []any{map[string]any{"emailAddress": map[string]any{"address": "avery.approver@contoso.example"}}}},
			"saveToSentItems": false})
		var reqs []fakegraph.RecordedRequest
		_, body := f.admin("GET", "/_fake/requests", "")
		if err := json.Unmarshal([]byte(body), &reqs); err != nil || len(reqs) != 2 || reqs[0].Path != user || reqs[0].Status != 200 {
			t.Errorf("requests (control calls are not recorded): %v %s", err, body)
		}
		var mail []fakegraph.SentMail
		_, body = f.admin("GET", "/_fake/mail", "")
		if err := json.Unmarshal([]byte(body), &mail); err != nil || len(mail) != 1 || mail[0].Subject != "hi" || mail[0].SaveToSentItems {
			t.Errorf("mail: %v %s", err, body)
		}
		f.admin("DELETE", "/_fake/mail", "")
		if len(f.srv.SentMail()) != 0 {
			t.Error("mail not cleared")
		}
	})
	t.Run("through the server's handler", func(t *testing.T) {
		h := f.srv.Handler()
		for _, tc := range []struct {
			method, path string
			status       int
		}{
			{"GET", "/_fake/faults", 200}, {"PUT", "/_fake/faults", 405}, {"GET", "/_fake/nothing", 404}, {"POST", "/_fake/mail", 405},
		} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
			if rec.Code != tc.status || rec.Header().Get("Content-Type") != "application/json" {
				t.Errorf("%s %s: %d %s", tc.method, tc.path, rec.Code, rec.Body)
			}
		}
	})
}

// The fake's certificate is made for each server, so trusting one fake's
// CA file does not trust every copy of httptest's published key.
func TestFreshCertificate(t *testing.T) {
	a, b := startFake(t), startFake(t)
	if bytes.Equal(a.srv.CertificatePEM(), b.srv.CertificatePEM()) {
		t.Error("two servers share a certificate")
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(a.srv.CertificatePEM()) {
		t.Fatal("CertificatePEM is not a PEM certificate")
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get(a.srv.URL() + "/_fake/faults")
	if err != nil {
		t.Fatalf("a client trusting only CertificatePEM: %v", err)
	}
	resp.Body.Close()
}
