package entra_test

import (
	"testing"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/entra/fakegraph"
)

// The adapter reads a user's manager and addresses through the SDK: the
// manager as Entra names them, nil for none (Graph's 404), an error when
// Graph refuses.
func TestManager(t *testing.T) {
	e := setup(t)
	const priya = "239761e9-8c0d-478a-82fb-e0d667281ec3"
	t.Run("named", func(t *testing.T) {
		m, err := e.client.Manager(ctx(t), nina)
		if err != nil || m == nil || m.ID != lukas || m.NoticeAddress() != "lukas.becker@contoso.example" {
			t.Fatalf("manager of nina: %+v, %v", m, err)
		}
	})
	t.Run("none", func(t *testing.T) {
		m, err := e.client.Manager(ctx(t), priya)
		if err != nil || m != nil {
			t.Fatalf("manager of priya: %+v, %v; want none", m, err)
		}
	})
	t.Run("otherMails", func(t *testing.T) {
		u, err := e.client.User(ctx(t), omar)
		if err != nil {
			t.Fatal(err)
		}
		if u.Mail != "" || u.NoticeAddress() != "omar.haddad@home.example" {
			t.Fatalf("omar: mail %q otherMails %v", u.Mail, u.OtherMails)
		}
		m, err := e.client.Manager(ctx(t), omar)
		if err != nil || m == nil || m.ID != fatima {
			t.Fatalf("manager of omar: %+v, %v", m, err)
		}
	})
	t.Run("refused", func(t *testing.T) {
		e.fake.Tenant().SetPermissions("UserAuthenticationMethod.ReadWrite.All")
		defer e.fake.Tenant().SetPermissions(fakegraph.DefaultPermissions...)
		_, err := e.client.Manager(ctx(t), nina)
		wantGraphError(t, err, tapdesk.GraphForbidden)
	})
}
