package fakegraph_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk/entra/fakegraph"
)

// auditsPath is GET /auditLogs/directoryAudits with a $filter and more.
func auditsPath(filter string, extra ...string) string {
	q := url.Values{}
	if filter != "" {
		q.Set("$filter", filter)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return "/v1.0/auditLogs/directoryAudits?" + q.Encode()
}

const passRegistered = "activityDisplayName eq 'Admin registered security info'"

// The sample tenant's pass for Nina was made by Grace in the admin center,
// and its audit entry has Graph's shape; the other entry is not a pass and
// the filter leaves it out.
func TestDirectoryAuditsShapeAndFilter(t *testing.T) {
	f := startFake(t)
	all := f.do(http.MethodGet, auditsPath(""), nil)
	if all.status != http.StatusOK || len(all.body["value"].([]any)) != 2 {
		t.Fatalf("all entries: %d %s", all.status, all.raw)
	}
	if ctx, _ := all.body["@odata.context"].(string); !strings.HasSuffix(ctx, "/v1.0/$metadata#auditLogs/directoryAudits") {
		t.Errorf("@odata.context %q", ctx)
	}
	r := f.do(http.MethodGet, auditsPath(passRegistered), nil)
	vals := r.body["value"].([]any)
	if r.status != http.StatusOK || len(vals) != 1 {
		t.Fatalf("filtered: %d %s", r.status, r.raw)
	}
	e := vals[0].(map[string]any)
	for k, want := range map[string]string{"category": "UserManagement", "result": "success", "loggedByService": "Authentication Methods",
		"resultReason": fakegraph.ReasonAdminRegisteredTAP, "activityDisplayName": fakegraph.ActivityAdminRegisteredSecurityInfo, "operationType": "Add"} {
		if e[k] != want {
			t.Errorf("%s = %v, want %q", k, e[k], want)
		}
	}
	at, err := time.Parse(time.RFC3339Nano, e["activityDateTime"].(string))
	if err != nil || time.Since(at) < 29*time.Minute || time.Since(at) > 31*time.Minute {
		t.Errorf("activityDateTime %v (%v), want about 30 minutes ago", e["activityDateTime"], err)
	}
	by := e["initiatedBy"].(map[string]any)
	user, _ := by["user"].(map[string]any)
	if by["app"] != nil || user["id"] != grace || user["userPrincipalName"] != "grace.global@contoso.example" {
		t.Errorf("initiatedBy %v, want Grace", by)
	}
	target := e["targetResources"].([]any)[0].(map[string]any)
	if target["id"] != nina || target["type"] != "User" || target["userPrincipalName"] != "nina.newhire@contoso.example" {
		t.Errorf("targetResources %v, want Nina", target)
	}

	// Time: ge now leaves the sample out, le keeps it.
	now := time.Now().UTC().Format(time.RFC3339)
	if r := f.do(http.MethodGet, auditsPath(passRegistered+" and activityDateTime ge "+now), nil); len(r.body["value"].([]any)) != 0 {
		t.Errorf("ge now: %s", r.raw)
	}
	if r := f.do(http.MethodGet, auditsPath(passRegistered+" and activityDateTime le "+now), nil); len(r.body["value"].([]any)) != 1 {
		t.Errorf("le now: %s", r.raw)
	}
	// A half-open slice: lt now keeps it, gt now and lt an hour ago leave it out.
	hourAgo := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	if r := f.do(http.MethodGet, auditsPath(passRegistered+" and activityDateTime ge "+hourAgo+" and activityDateTime lt "+now), nil); len(r.body["value"].([]any)) != 1 {
		t.Errorf("ge an hour ago and lt now: %s", r.raw)
	}
	if r := f.do(http.MethodGet, auditsPath(passRegistered+" and activityDateTime gt "+now), nil); len(r.body["value"].([]any)) != 0 {
		t.Errorf("gt now: %s", r.raw)
	}
	if r := f.do(http.MethodGet, auditsPath(passRegistered+" and activityDateTime lt "+hourAgo), nil); len(r.body["value"].([]any)) != 0 {
		t.Errorf("lt an hour ago: %s", r.raw)
	}

	for _, bad := range []string{
		"resultReason eq 'Admin registered temporary access pass method for user'", // not filterable in Graph
		"activityDateTime ge 'yesterday'",
		passRegistered + " or activityDisplayName eq 'Add user'",
		"activityDisplayName gt 'A'",
		"activityDisplayName eq",
	} {
		r := f.do(http.MethodGet, auditsPath(bad), nil)
		if code, msg := r.errorCode(); r.status != http.StatusBadRequest || code != "BadRequest" || msg == "" {
			t.Errorf("%s: %d %s", bad, r.status, r.raw)
		}
	}
}

// A pass created through the fake is logged as made by the calling app;
// AdminCreateTAP logs the administrator. Paging follows @odata.nextLink.
func TestDirectoryAuditsLogCreatesAndPage(t *testing.T) {
	f := startFake(t)
	r := f.do(http.MethodPost, "/v1.0/users/"+lukas+"/authentication/temporaryAccessPassMethods", map[string]any{})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	for range 4 {
		if _, err := f.srv.Tenant().AdminCreateTAP(alex, grace, 60, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	var entries []map[string]any
	path := auditsPath(passRegistered, "$top", "2")
	for pages := 0; path != ""; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		r := f.do(http.MethodGet, path, nil)
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", path, r.status, r.raw)
		}
		for _, v := range r.body["value"].([]any) {
			entries = append(entries, v.(map[string]any))
		}
		next, _ := r.body["@odata.nextLink"].(string)
		path = strings.TrimPrefix(next, f.srv.URL())
	}
	if len(entries) != 6 {
		t.Fatalf("%d entries over the pages, want 6", len(entries))
	}
	// Newest first: the last is the sample's, the one before it the app's create.
	app, _ := entries[4]["initiatedBy"].(map[string]any)["app"].(map[string]any)
	target := entries[4]["targetResources"].([]any)[0].(map[string]any)
	if app["appId"] != fakegraph.SampleClientID || app["displayName"] != "tapdesk" || target["id"] != lukas {
		t.Errorf("the create's entry: %v", entries[4])
	}
	if user, _ := entries[0]["initiatedBy"].(map[string]any)["user"].(map[string]any); user["id"] != grace {
		t.Errorf("the newest entry: %v", entries[0])
	}
}

func TestDirectoryAuditsNeedAuditLogReadAll(t *testing.T) {
	f := startFake(t)
	f.srv.Tenant().RevokePermission("AuditLog.Read.All")
	wantError(t, f.do(http.MethodGet, auditsPath(passRegistered), nil), http.StatusForbidden, "Authorization_RequestDenied",
		"Insufficient privileges to complete the operation.")
}

// The sample tenant without the outside pass: Nina has no pass and the
// log no registration of one, while the rest of the tenant (and of the
// log) is the sample's.
func TestSampleTenantWithoutOutsidePass(t *testing.T) {
	full, bare := fakegraph.SampleTenant(), fakegraph.SampleTenant(fakegraph.WithoutOutsidePass)
	nina, _ := bare.LookupUser("nina.newhire@contoso.example")
	if full.CurrentTAP(nina.ID) == nil {
		t.Fatal("the full sample tenant has no pass for Nina")
	}
	if bare.CurrentTAP(nina.ID) != nil {
		t.Error("Nina still has a pass")
	}
	for _, a := range bare.DirectoryAudits {
		if a.ResultReason == fakegraph.ReasonAdminRegisteredTAP {
			t.Errorf("the log still registers a pass: %+v", a)
		}
	}
	if len(bare.DirectoryAudits) != len(full.DirectoryAudits)-1 || len(bare.Users) != len(full.Users) {
		t.Errorf("%d audit entries and %d users, want %d and %d", len(bare.DirectoryAudits), len(bare.Users), len(full.DirectoryAudits)-1, len(full.Users))
	}
}
