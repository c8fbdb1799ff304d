package entra_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/entra"
	"github.com/tapdesk/tapdesk/entra/fakegraph"
)

const (
	blake       = "11111111-1111-4111-8111-000000000004"
	sam         = "11111111-1111-4111-8111-000000000002"
	ada         = "11111111-1111-4111-8111-000000000006"
	helpdesk    = "cfce758a-f8b3-4cb1-92b0-86ebb8808759"
	engineering = "80863129-3c50-48b9-a6cd-4036a9dc7e09"

	spGet       = "GET /v1.0/servicePrincipals(appId=*)"
	assignments = "GET /v1.0/servicePrincipals/*/appRoleAssignedTo"
)

// withSignInApp is a client that reads the sample sign-in app's roles.
func withSignInApp(cfg *entra.Config) { cfg.SignInClientID = fakegraph.SampleSignInClientID }

// TestTapdeskRoles: holders of the sign-in app's Tap.* roles, directly or
// through a group, are privileged targets, and the reason names the role.
func TestTapdeskRoles(t *testing.T) {
	e := setup(t)
	c := e.newClientWith(t, withSignInApp)
	for _, tc := range []struct {
		name, user string
		want       []string
	}{
		{"approver assigned directly", blake, []string{"Tap.Approver"}},
		{"agent through the IT Helpdesk group", sam, []string{"Tap.Requester"}},
		{"two roles", ada, []string{"Tap.Admin", "Tap.Auditor"}},
		{"no role", lukas, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := c.User(ctx(t), tc.user)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(u.TapdeskRoles, tc.want) {
				t.Fatalf("tapdesk roles %q, want %q", u.TapdeskRoles, tc.want)
			}
			if want := len(tc.want) > 0; u.Privileged() != want || (u.ApprovalsRequired() == 2) != want {
				t.Errorf("privileged %v approvals %d", u.Privileged(), u.ApprovalsRequired())
			}
			if len(tc.want) > 0 && u.PrivilegeReason() != "holds "+strings.Join(tc.want, ", ")+" in tapdesk" {
				t.Errorf("reason %q", u.PrivilegeReason())
			}
		})
	}

	t.Run("through a nested group", func(t *testing.T) {
		// Engineering inside IT Helpdesk: Marco holds Tap.Requester through
		// two groups. (Entra gives a group's role to direct members only;
		// tapdesk errs towards a second approver.)
		if err := e.fake.Tenant().AddGroupMember(helpdesk, engineering); err != nil {
			t.Fatal(err)
		}
		u, err := c.User(ctx(t), marco)
		if err != nil || !reflect.DeepEqual(u.TapdeskRoles, []string{"Tap.Requester"}) {
			t.Errorf("%v %v", u, err)
		}
	})

	t.Run("a role given since is seen at once", func(t *testing.T) {
		if err := e.fake.Tenant().AssignAppRole(fakegraph.SampleSignInClientID, nina, "Tap.Approver"); err != nil {
			t.Fatal(err)
		}
		u, err := c.User(ctx(t), nina)
		if err != nil || !reflect.DeepEqual(u.TapdeskRoles, []string{"Tap.Approver"}) {
			t.Errorf("%v %v", u, err)
		}
	})
}

// TestTapdeskRolesCalls: the app's role definitions are read once and
// cached; the assignments are read at every lookup, in one call.
func TestTapdeskRolesCalls(t *testing.T) {
	e := setup(t)
	c := e.newClientWith(t, withSignInApp)
	for range 3 {
		if _, err := c.User(ctx(t), blake); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.fake.CountRequests(spGet); n != 1 {
		t.Errorf("service principal read %d times for 3 lookups", n)
	}
	if n := e.fake.CountRequests(assignments); n != 3 {
		t.Errorf("assignments read %d times for 3 lookups", n)
	}

	// A role defined and assigned since the cache was filled is read at once.
	tn := e.fake.Tenant()
	if _, err := tn.DefineAppRole(fakegraph.SampleSignInClientID, "Tap.Operator"); err != nil {
		t.Fatal(err)
	}
	if err := tn.AssignAppRole(fakegraph.SampleSignInClientID, nina, "Tap.Operator"); err != nil {
		t.Fatal(err)
	}
	u, err := c.User(ctx(t), nina)
	if err != nil || !reflect.DeepEqual(u.TapdeskRoles, []string{"Tap.Operator"}) {
		t.Errorf("new role: %v %v", u, err)
	}
	if n := e.fake.CountRequests(spGet); n != 2 {
		t.Errorf("an unknown role id should read the definitions again: %d reads", n)
	}
}

// TestTapdeskRolesPaged: the holder on the second page of assignments
// counts.
func TestTapdeskRolesPaged(t *testing.T) {
	e := setup(t)
	tn := e.fake.Tenant()
	for range 1000 {
		if err := tn.AssignAppRole(fakegraph.SampleSignInClientID, lukas, "Tap.Auditor"); err != nil {
			t.Fatal(err)
		}
	}
	if err := tn.AssignAppRole(fakegraph.SampleSignInClientID, nina, "Tap.Approver"); err != nil {
		t.Fatal(err)
	}
	c := e.newClientWith(t, withSignInApp)
	u, err := c.User(ctx(t), nina)
	if err != nil || !reflect.DeepEqual(u.TapdeskRoles, []string{"Tap.Approver"}) {
		t.Fatalf("%v %v", u, err)
	}
	if n := e.fake.CountRequests(assignments); n != 2 {
		t.Errorf("want two pages, read %d", n)
	}
}

// TestRoleGroups: members of a group mapped in TAPDESK_ROLE_GROUPS hold
// that role, nested members too.
func TestRoleGroups(t *testing.T) {
	e := setup(t)
	c := e.newClientWith(t, func(cfg *entra.Config) {
		cfg.RoleGroups = map[string]tapdesk.Role{strings.ToUpper(engineering): tapdesk.RoleApprover}
	})
	u, err := c.User(ctx(t), marco)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(u.TapdeskRoles, []string{"Tap.Approver"}) || u.ApprovalsRequired() != 2 ||
		u.PrivilegeReason() != "holds Tap.Approver in tapdesk" {
		t.Errorf("roles %q reason %q", u.TapdeskRoles, u.PrivilegeReason())
	}
	if u, err = c.User(ctx(t), lukas); err != nil || u.Privileged() {
		t.Errorf("non-member: %v %v", u, err)
	}
	if n := e.fake.CountRequests(assignments) + e.fake.CountRequests(spGet); n != 0 {
		t.Errorf("without a sign-in client id, %d app role calls", n)
	}
}

// TestTapdeskRolesUnreadable: when the assignments cannot be read the lookup
// fails with a sentence, whoever the user is; it never falls back to one
// approver.
func TestTapdeskRolesUnreadable(t *testing.T) {
	e := setup(t)
	c := e.newClientWith(t, withSignInApp)
	if _, err := c.User(ctx(t), blake); err != nil { // caches the app's roles
		t.Fatal(err)
	}

	t.Run("permission missing", func(t *testing.T) {
		e.fake.Tenant().RevokePermission("Application.Read.All")
		defer e.fake.Tenant().SetPermissions(fakegraph.DefaultPermissions...)
		for _, user := range []string{blake, lukas} {
			u, err := c.User(ctx(t), user)
			if err == nil {
				t.Fatalf("%s: lookup succeeded without the assignments: %+v", user, u)
			}
			msg := tapdesk.ErrorMessage(err)
			if tapdesk.ErrorCode(err) != tapdesk.EUNAVAILABLE || !strings.Contains(msg, "stops rather than assume one") ||
				!strings.Contains(msg, "Application.Read.All") {
				t.Errorf("%s: %s %q", user, tapdesk.ErrorCode(err), msg)
			}
			var ge *tapdesk.GraphError
			if !errors.As(err, &ge) || ge.Kind != tapdesk.GraphForbidden || ge.Code != "Authorization_RequestDenied" {
				t.Errorf("Graph's refusal is not kept for the log: %v", err)
			}
		}
	})

	t.Run("Graph fails", func(t *testing.T) {
		e.fake.SetFault(assignments, fakegraph.Fault{Status: 500})
		defer e.fake.ClearFaults()
		_, err := c.User(ctx(t), blake)
		if err == nil || tapdesk.ErrorCode(err) != tapdesk.EUNAVAILABLE || !strings.Contains(tapdesk.ErrorMessage(err), "stops rather than assume one") {
			t.Errorf("%v", err)
		}
	})

	t.Run("the sign-in app is not in the tenant", func(t *testing.T) {
		other := e.newClientWith(t, func(cfg *entra.Config) { cfg.SignInClientID = "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9" })
		_, err := other.User(ctx(t), lukas)
		if err == nil || tapdesk.ErrorCode(err) != tapdesk.EUNAVAILABLE ||
			!strings.Contains(tapdesk.ErrorMessage(err), "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9") {
			t.Errorf("%v", err)
		}
	})
}
