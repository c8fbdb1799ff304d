package tapdesk_test

import (
	"testing"

	"github.com/tapdesk/tapdesk"
)

func TestIsLinkRecipient(t *testing.T) {
	avery := tapdesk.Principal{TenantID: "t", ObjectID: "a", UPN: "avery.approver@contoso.example", Email: "Avery@Mail.Contoso.Example"}
	noClaims := tapdesk.Principal{TenantID: "t", ObjectID: "n"}
	cases := []struct {
		name      string
		p         tapdesk.Principal
		recipient string
		want      bool
	}{
		{"UPN", avery, "avery.approver@contoso.example", true},
		{"UPN in another case", avery, "AVERY.APPROVER@contoso.example", true},
		{"email claim", avery, "avery@mail.contoso.example", true},
		{"surrounding space", avery, " avery@mail.contoso.example\n", true},
		{"another approver", avery, "blake.backup@contoso.example", false},
		{"a prefix is not the address", avery, "avery.approver@contoso.exampl", false},
		{"empty recipient", avery, "", false},
		{"empty claims match no empty recipient", noClaims, " ", false},
		{"empty claims", noClaims, "avery.approver@contoso.example", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := tapdesk.IsLinkRecipient(c.p, c.recipient); got != c.want {
				t.Errorf("IsLinkRecipient(%q) = %v, want %v", c.recipient, got, c.want)
			}
		})
	}
}
