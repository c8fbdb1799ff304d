package tapdesk

import (
	"slices"
	"time"
)

// Role is an application role a signed-in person holds.
type Role string

const (
	RoleRequester Role = "Tap.Requester"
	RoleApprover  Role = "Tap.Approver"
	RoleAuditor   Role = "Tap.Auditor"
	RoleAdmin     Role = "Tap.Admin"
)

// AllRoles lists the roles tapdesk knows, in display order.
var AllRoles = []Role{RoleRequester, RoleApprover, RoleAuditor, RoleAdmin}

// Principal is a signed-in person. Identity is TenantID + ObjectID; UPN and
// Name are for display only and never grant anything. (UPN and Email only
// narrow: they tell whether an approval link was mailed to this person,
// IsLinkRecipient.)
type Principal struct {
	TenantID string
	ObjectID string
	UPN      string
	Name     string
	Email    string
	Roles    []Role
	AuthTime time.Time // when the person last authenticated at the IdP
	MFA      bool      // amr claim contained "mfa"
}

// Key is the stable identity of the person.
func (p Principal) Key() string { return p.TenantID + "/" + p.ObjectID }

// Has reports whether the person holds the role.
func (p Principal) Has(r Role) bool { return slices.Contains(p.Roles, r) }

// IsZero reports whether nobody is signed in.
func (p Principal) IsZero() bool { return p.ObjectID == "" }

// Actor is who did something, as recorded in requests and audit events.
type Actor struct {
	TenantID string `json:"tid,omitempty"`
	ObjectID string `json:"oid,omitempty"`
	UPN      string `json:"upn,omitempty"`
	Name     string `json:"name,omitempty"`
}

// Actor returns the recordable part of the principal.
func (p Principal) Actor() Actor {
	return Actor{TenantID: p.TenantID, ObjectID: p.ObjectID, UPN: p.UPN, Name: p.Name}
}

// Same reports whether two actors are the same person (tid + oid).
func (a Actor) Same(b Actor) bool {
	return a.ObjectID != "" && a.ObjectID == b.ObjectID && a.TenantID == b.TenantID
}
