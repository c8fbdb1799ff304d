package fakegraph_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk/entra/fakegraph"
)

const (
	signInSP = "4d7e2f1a-9b3c-4a5d-8e6f-0a1b2c3d4e6f"
	blake    = "11111111-1111-4111-8111-000000000004"
	helpdesk = "cfce758a-f8b3-4cb1-92b0-86ebb8808759"
)

// TestServicePrincipalByAppID pins GET /servicePrincipals(appId='...') and
// /servicePrincipals/{id}: the shape of appRoles, $select, and Graph's 404.
func TestServicePrincipalByAppID(t *testing.T) {
	f := startFake(t)
	r := f.do("GET", "/v1.0/servicePrincipals(appId='"+fakegraph.SampleSignInClientID+"')?$select=id,appId,appRoles", nil)
	if r.status != 200 || r.body["id"] != signInSP || r.body["appId"] != fakegraph.SampleSignInClientID {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if _, ok := r.body["displayName"]; ok {
		t.Errorf("$select=id,appId,appRoles returned displayName: %s", r.raw)
	}
	if !strings.HasSuffix(r.body["@odata.context"].(string), "/v1.0/$metadata#servicePrincipals(id,appId,appRoles)/$entity") {
		t.Errorf("@odata.context %v", r.body["@odata.context"])
	}
	values := map[string]bool{}
	for _, x := range r.body["appRoles"].([]any) {
		role := x.(map[string]any)
		if role["id"] == nil || role["isEnabled"] != true || role["origin"] != "Application" {
			t.Errorf("app role shape: %v", role)
		}
		values[role["value"].(string)] = true
	}
	for _, v := range []string{"Tap.Requester", "Tap.Approver", "Tap.Auditor", "Tap.Admin"} {
		if !values[v] {
			t.Errorf("the sign-in app lacks %s: %s", v, r.raw)
		}
	}

	// Percent-encoded key, as a client may send it, and the object id.
	r = f.do("GET", "/v1.0/servicePrincipals%28appId=%27"+fakegraph.SampleSignInClientID+"%27%29", nil)
	if r.status != 200 || r.body["id"] != signInSP || r.body["displayName"] != "tapdesk" {
		t.Errorf("escaped key: %d %s", r.status, r.raw)
	}
	if r = f.do("GET", "/v1.0/servicePrincipals/"+signInSP, nil); r.status != 200 || r.body["appId"] != fakegraph.SampleSignInClientID {
		t.Errorf("by id: %d %s", r.status, r.raw)
	}

	r = f.do("GET", "/v1.0/servicePrincipals(appId='00000000-1111-2222-3333-444444444444')", nil)
	wantError(t, r, 404, "Request_ResourceNotFound", "")
	r = f.do("GET", "/v1.0/servicePrincipals/"+signInSP+"?$select=id,bogus", nil)
	wantError(t, r, 400, "Request_BadRequest", "Could not find a property named 'bogus' on type 'microsoft.graph.servicePrincipal'.")
	r = f.do("POST", "/v1.0/servicePrincipals/"+signInSP, map[string]any{})
	wantError(t, r, 405, "Request_BadRequest", "")
}

// TestAppRoleAssignedTo pins the assignment list: principal types, paging
// with @odata.nextLink, the filters Graph allows and refuses.
func TestAppRoleAssignedTo(t *testing.T) {
	f := startFake(t)
	base := "/v1.0/servicePrincipals/" + signInSP + "/appRoleAssignedTo"

	var all []map[string]any
	path := base + "?$top=2"
	for pages := 0; path != ""; pages++ {
		if pages > 10 {
			t.Fatal("nextLink never ends")
		}
		r := f.do("GET", path, nil)
		if r.status != 200 {
			t.Fatalf("%s: %d %s", path, r.status, r.raw)
		}
		vals := r.body["value"].([]any)
		if len(vals) > 2 {
			t.Fatalf("$top=2 returned %d", len(vals))
		}
		for _, v := range vals {
			all = append(all, v.(map[string]any))
		}
		path = ""
		if next, _ := r.body["@odata.nextLink"].(string); next != "" {
			u, err := url.Parse(next)
			if err != nil || !strings.HasPrefix(next, f.srv.URL()) {
				t.Fatalf("nextLink %q", next)
			}
			path = u.RequestURI()
		}
	}
	if len(all) != 7 {
		t.Fatalf("want the sample tenant's 7 assignments, got %d: %v", len(all), all)
	}
	var blakeHolds, helpdeskHolds bool
	for _, a := range all {
		for _, k := range []string{"id", "appRoleId", "principalId", "principalType", "principalDisplayName", "resourceId", "resourceDisplayName", "createdDateTime"} {
			if a[k] == nil {
				t.Errorf("assignment lacks %s: %v", k, a)
			}
		}
		if a["resourceId"] != signInSP || len(a["id"].(string)) != 43 {
			t.Errorf("assignment %v", a)
		}
		blakeHolds = blakeHolds || (a["principalId"] == blake && a["principalType"] == "User" && a["principalDisplayName"] == "Blake Backup")
		helpdeskHolds = helpdeskHolds || (a["principalId"] == helpdesk && a["principalType"] == "Group" && a["principalDisplayName"] == "IT Helpdesk")
	}
	if !blakeHolds || !helpdeskHolds {
		t.Errorf("want Blake (a user) and IT Helpdesk (a group) among the holders: %v", all)
	}

	r := f.do("GET", base+"?$select=appRoleId,principalId,principalType", nil)
	if vals := r.body["value"].([]any); r.status != 200 || len(vals) != 7 || len(vals[0].(map[string]any)) != 4 {
		t.Errorf("$select: %d %s", r.status, r.raw)
	}
	wantError(t, f.do("GET", base+"?$select=principalId,secret", nil), 400, "Request_BadRequest",
		"Could not find a property named 'secret' on type 'microsoft.graph.appRoleAssignment'.")

	r = f.do("GET", base+"?$filter="+url.QueryEscape("resourceId eq "+signInSP), nil)
	if r.status != 200 || len(r.body["value"].([]any)) != 7 {
		t.Errorf("resourceId filter: %d %s", r.status, r.raw)
	}
	r = f.do("GET", base+"?$filter="+url.QueryEscape("startswith(principalDisplayName,'blake')"), nil)
	if r.status != 200 || len(r.body["value"].([]any)) != 1 {
		t.Errorf("principalDisplayName filter: %d %s", r.status, r.raw)
	}
	r = f.do("GET", base+"?$filter="+url.QueryEscape("appRoleId eq 8b2d4e61-5f3a-4c7b-a1e9-6d0c3b2a7f22"), nil)
	wantError(t, r, 400, "Request_BadRequest", "Invalid filter clause appRoleId: System.Guid")
	r = f.do("GET", base+"?$filter="+url.QueryEscape("principalId eq "+blake), nil)
	wantError(t, r, 400, "Request_BadRequest", "Invalid filter clause principalId: System.Guid")

	// Assignments change as an administrator changes them.
	tn := f.srv.Tenant()
	if err := tn.AssignAppRole(fakegraph.SampleSignInClientID, nina, "Tap.Approver"); err != nil {
		t.Fatal(err)
	}
	r = f.do("GET", base+"?$filter="+url.QueryEscape("principalDisplayName eq 'Nina Newhire'"), nil)
	if vals := r.body["value"].([]any); len(vals) != 1 || vals[0].(map[string]any)["appRoleId"] != "8b2d4e61-5f3a-4c7b-a1e9-6d0c3b2a7f22" {
		t.Errorf("assigned role: %s", r.raw)
	}
	if err := tn.UnassignAppRole(fakegraph.SampleSignInClientID, nina, "Tap.Approver"); err != nil {
		t.Fatal(err)
	}
	if err := tn.AssignAppRole(fakegraph.SampleSignInClientID, nina, "Tap.Root"); err == nil {
		t.Error("assigned a role the app does not define")
	}
}

// TestAppRolesNeedApplicationReadAll: without Application.Read.All (or a
// broader permission) Graph answers 403 Authorization_RequestDenied.
func TestAppRolesNeedApplicationReadAll(t *testing.T) {
	f := startFake(t)
	f.srv.Tenant().RevokePermission("Application.Read.All")
	defer f.srv.Tenant().SetPermissions(fakegraph.DefaultPermissions...)
	for _, p := range []string{
		"/v1.0/servicePrincipals(appId='" + fakegraph.SampleSignInClientID + "')",
		"/v1.0/servicePrincipals/" + signInSP + "/appRoleAssignedTo",
	} {
		wantError(t, f.do("GET", p, nil), 403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
	}
	f.srv.Tenant().SetPermissions("Directory.Read.All")
	if r := f.do("GET", "/v1.0/servicePrincipals/"+signInSP+"/appRoleAssignedTo", nil); r.status != 200 {
		t.Errorf("Directory.Read.All also reads assignments: %d %s", r.status, r.raw)
	}
}

// TestTenantRefusesUnknownAssignments: a tenant file cannot assign a role to
// nobody or a role the app does not define.
func TestTenantRefusesUnknownAssignments(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown principal": `{"id":"t","clientId":"c","clientSecret":"s","servicePrincipals":[{"id":"sp","appId":"a",
			"appRoles":[{"id":"r1","value":"Tap.Approver"}],"appRoleAssignedTo":[{"appRoleId":"r1","principalId":"nobody"}]}]}`,
		"unknown role": `{"id":"t","clientId":"c","clientSecret":"s","users":[{"id":"u","userPrincipalName":"u@x"}],"servicePrincipals":[{"id":"sp","appId":"a",
			"appRoles":[],"appRoleAssignedTo":[{"appRoleId":"r9","principalId":"u"}]}]}`,
	} {
		if _, err := fakegraph.LoadTenant(strings.NewReader(doc), time.Now()); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}
