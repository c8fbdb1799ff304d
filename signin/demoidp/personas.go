package demoidp

// TenantID is the tenant every demo persona belongs to (the tid claim). It is
// the tenant of the fake Graph in entra/fakegraph.
const TenantID = "5f1d3c2a-7b4e-4c1a-9e8f-0a1b2c3d4e5f"

// Persona is someone the picker lets you sign in as.
type Persona struct {
	Key         string   // short handle: form value, login_hint, data-testid "persona-<Key>"
	Name        string   // name claim
	UPN         string   // preferred_username claim
	Email       string   // email claim
	ObjectID    string   // oid and sub claims; matches the user in the fake Graph
	Roles       []string // roles claim (app roles), sent as is
	Description string   // one line on the picker saying what to try as this person
	Groups      []string // groups claim (group object ids); omitted when empty
	NoMFA       bool     // amr is ["pwd"] instead of ["pwd","mfa"]
	TenantID    string   // tid claim; empty: TenantID (a guest of another organisation sets its own)
}

// DefaultPersonas are the people of the demo tenant. Their object ids are
// those of the users in the fake Graph's sample tenant; keep the two in step.
func DefaultPersonas() []Persona {
	return []Persona{
		{
			Key: "agent", Name: "Alex Agent", UPN: "alex.agent@contoso.example", Email: "alex.agent@contoso.example",
			ObjectID: "11111111-1111-4111-8111-000000000001", Roles: []string{"Tap.Requester"},
			Description: "Helpdesk agent: looks up users, requests passes, reveals them once approved.",
		},
		{
			Key: "agent2", Name: "Sam Second", UPN: "sam.second@contoso.example", Email: "sam.second@contoso.example",
			ObjectID: "11111111-1111-4111-8111-000000000002", Roles: []string{"Tap.Requester"},
			Description: "Second helpdesk agent: cannot reveal a pass another agent requested.",
		},
		{
			Key: "approver", Name: "Avery Approver", UPN: "avery.approver@contoso.example", Email: "avery.approver@contoso.example",
			ObjectID: "11111111-1111-4111-8111-000000000003", Roles: []string{"Tap.Approver"},
			Description: "Approver: follows the emailed link, approves or denies with a reason.",
		},
		{
			Key: "approver2", Name: "Blake Backup", UPN: "blake.backup@contoso.example", Email: "blake.backup@contoso.example",
			ObjectID: "11111111-1111-4111-8111-000000000004", Roles: []string{"Tap.Approver"},
			Description: "Second approver: privileged targets need two different approvers.",
		},
		{
			Key: "approver3", Name: "Casey Checker", UPN: "casey.checker@contoso.example", Email: "casey.checker@contoso.example",
			ObjectID: "11111111-1111-4111-8111-000000000007", Roles: []string{"Tap.Approver"},
			Description: "Third approver: a pass for Avery or Blake (approvers themselves) needs two approvers other than them.",
		},
		{
			Key: "auditor", Name: "Audrey Auditor", UPN: "audrey.auditor@contoso.example", Email: "audrey.auditor@contoso.example",
			ObjectID: "11111111-1111-4111-8111-000000000005", Roles: []string{"Tap.Auditor"},
			Description: "Auditor: filters, exports and verifies the audit trail.",
		},
		{
			Key: "admin", Name: "Ada Admin", UPN: "ada.admin@contoso.example", Email: "ada.admin@contoso.example",
			ObjectID: "11111111-1111-4111-8111-000000000006", Roles: []string{"Tap.Admin", "Tap.Auditor"},
			Description: "Administrator, also an auditor: can revoke passes and read the audit trail.",
		},
	}
}
