package fakegraph_test

import (
	"net/http"
	"testing"

	"github.com/tapdesk/tapdesk/entra/fakegraph"
)

const (
	priya = "239761e9-8c0d-478a-82fb-e0d667281ec3"
	omar  = "34f0ca4e-203d-4a66-b9a5-6483cb442ff9"
)

// GET /users/{id}/manager as Graph answers it: the manager as a directory
// object with its @odata.type, $select honoured, and 404
// Request_ResourceNotFound for a user without a manager.
func TestManager(t *testing.T) {
	f := startFake(t)
	t.Run("named", func(t *testing.T) {
		r := f.do(http.MethodGet, "/v1.0/users/"+nina+"/manager?$select=id,displayName,mail,otherMails", nil)
		if r.status != http.StatusOK || r.body["id"] != lukas || r.body["@odata.type"] != "#microsoft.graph.user" ||
			r.body["mail"] != "lukas.becker@contoso.example" {
			t.Fatalf("manager of nina: %d %s", r.status, r.raw)
		}
		if _, ok := r.body["otherMails"].([]any); !ok {
			t.Errorf("otherMails is not a list: %s", r.raw)
		}
		if _, ok := r.body["jobTitle"]; ok {
			t.Errorf("$select ignored: %s", r.raw)
		}
	})
	t.Run("none", func(t *testing.T) {
		r := f.do(http.MethodGet, "/v1.0/users/"+priya+"/manager", nil)
		wantError(t, r, http.StatusNotFound, "Request_ResourceNotFound",
			"Resource 'manager' does not exist or one of its queried reference-property objects are not present.")
	})
	t.Run("unknown user", func(t *testing.T) {
		r := f.do(http.MethodGet, "/v1.0/users/00000000-0000-4000-8000-000000000000/manager", nil)
		wantError(t, r, http.StatusNotFound, "Request_ResourceNotFound", "")
	})
	t.Run("needs User.Read.All", func(t *testing.T) {
		f.srv.Tenant().SetPermissions("UserAuthenticationMethod.ReadWrite.All")
		defer f.srv.Tenant().SetPermissions(fakegraph.DefaultPermissions...)
		r := f.do(http.MethodGet, "/v1.0/users/"+nina+"/manager", nil)
		wantError(t, r, http.StatusForbidden, "Authorization_RequestDenied", "")
	})
	t.Run("otherMails only when selected", func(t *testing.T) {
		r := f.do(http.MethodGet, "/v1.0/users/"+omar, nil)
		if _, ok := r.body["otherMails"]; ok || r.body["mail"] != nil {
			t.Fatalf("default user properties: %s", r.raw)
		}
		r = f.do(http.MethodGet, "/v1.0/users/"+omar+"?$select=mail,otherMails", nil)
		if m, _ := r.body["otherMails"].([]any); len(m) != 1 || m[0] != "omar.haddad@home.example" {
			t.Fatalf("otherMails of omar: %s", r.raw)
		}
	})
}
