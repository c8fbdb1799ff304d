package fakegraph

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// AllUsers is the include-target id that puts every user of the tenant in
// the TAP policy's scope.
const AllUsers = "all_users"

// Well-known method ids: Graph gives every user's password and email method,
// and each phone slot, the same id in every tenant.
const (
	PasswordMethodID        = "28c10230-6103-485e-b985-444c60001490"
	EmailMethodID           = "3ddfcfc8-9383-446f-83cc-3ab9be4be18f"
	MobilePhoneMethodID     = "3179e48a-750b-4051-897c-87b9720928f7"
	AltMobilePhoneMethodID  = "b6332ec1-7057-4abe-9331-3d72feddfe41"
	OfficePhoneMethodID     = "e37fc753-ff3b-4958-9484-eaa9425c82bc"
	GlobalAdminRoleTemplate = "62e90394-69f5-4237-9190-012177145e10"
)

// DefaultPermissions are the application permissions a tenant grants when its
// JSON names none: exactly what tapdesk's README asks an administrator for.
var DefaultPermissions = []string{
	"User.Read.All",
	"UserAuthenticationMethod.ReadWrite.All",
	"Policy.Read.All",
	"RoleManagement.Read.Directory",
	"Application.Read.All",
	"Mail.Send",
	"AuditLog.Read.All",
}

// Tenant is the directory the fake serves: users with their methods and
// passes, groups, directory roles, the TAP policy and the app registration
// tapdesk signs in with.
//
// Set the exported fields before a Server serves the tenant; from then on
// change it only through its methods, which are safe for concurrent use.
type Tenant struct {
	ID           string `json:"id"`
	Domain       string `json:"domain"`
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
	// ClientCertificates are PEM certificates whose keys may sign client
	// assertions (certificate credentials).
	ClientCertificates []string `json:"clientCertificates,omitempty"`
	// Permissions are the application permissions granted to ClientID. A
	// call that needs one the app lacks gets 403. They are checked on every
	// call (Entra bakes them into the token, so a real change takes effect
	// only with the next token).
	Permissions    []string         `json:"permissions"`
	Users          []*User          `json:"users"`
	Groups         []*Group         `json:"groups"`
	DirectoryRoles []*DirectoryRole `json:"directoryRoles"`
	Policy         Policy           `json:"policy"`
	// ServicePrincipals are applications with app roles and who holds them
	// (the tapdesk sign-in app); see approles.go.
	ServicePrincipals []*ServicePrincipal `json:"servicePrincipals,omitempty"`
	// AppDisplayName and AppServicePrincipalID name ClientID's app as the
	// directory audit log does (defaults "tapdesk" and a fixed id).
	AppDisplayName        string `json:"appDisplayName,omitempty"`
	AppServicePrincipalID string `json:"appServicePrincipalId,omitempty"`
	// DirectoryAudits is the directory audit log (auditlog.go); in a tenant
	// file an entry may give "activityOffsetMinutes" (relative to load)
	// instead of "activityDateTime".
	DirectoryAudits []*DirectoryAudit `json:"directoryAudits,omitempty"`

	mu sync.Mutex
}

// User is an Entra user.
type User struct {
	ID                    string    `json:"id"`
	DisplayName           string    `json:"displayName"`
	GivenName             string    `json:"givenName,omitempty"`
	Surname               string    `json:"surname,omitempty"`
	UserPrincipalName     string    `json:"userPrincipalName"`
	Mail                  string    `json:"mail,omitempty"`
	JobTitle              string    `json:"jobTitle,omitempty"`
	Department            string    `json:"department,omitempty"`
	OfficeLocation        string    `json:"officeLocation,omitempty"`
	MobilePhone           string    `json:"mobilePhone,omitempty"`
	UserType              string    `json:"userType,omitempty"` // "Member" (default) or "Guest"
	AccountEnabled        bool      `json:"accountEnabled"`
	OnPremisesSyncEnabled bool      `json:"onPremisesSyncEnabled,omitempty"`
	CreatedDateTime       time.Time `json:"createdDateTime"`
	Methods               []*Method `json:"methods,omitempty"`
	// TAP is the user's Temporary Access Pass; Graph keeps at most one.
	TAP *TAP `json:"-"`
	// TAPsCreated counts the passes created for the user since the fake
	// started (replaced and deleted ones included): the fake's own record,
	// which tests read to see that a request caused at most one create,
	// however many instances served it. Graph keeps no such count.
	TAPsCreated int `json:"-"`
	// OtherMails are the user's additional addresses; tapdesk mails its
	// notices there when Mail is empty.
	OtherMails []string `json:"otherMails,omitempty"`
	// Manager is the object id of the user's manager (GET /users/{id}/manager).
	Manager string `json:"manager,omitempty"`
}

// Method is a registered authentication method other than a TAP.
type Method struct {
	ID string `json:"id"`
	// Kind is the @odata.type without "#microsoft.graph." and
	// "AuthenticationMethod" ("fido2", "phone", ...), or a full @odata.type
	// starting with "#" for types this package does not name.
	Kind            string         `json:"kind"`
	CreatedDateTime *time.Time     `json:"createdDateTime,omitempty"`
	Props           map[string]any `json:"props,omitempty"` // the type's own properties, served as they are
}

// ODataType is the method's @odata.type.
func (m *Method) ODataType() string { return odataType(m.Kind) }

func odataType(kind string) string {
	if strings.HasPrefix(kind, "#") {
		return kind
	}
	return "#microsoft.graph." + kind + "AuthenticationMethod"
}

// TAP is an issued Temporary Access Pass. The pass itself is kept only as a
// hash so tests can check a pass shown to someone without the fake holding it.
type TAP struct {
	ID                string
	CreatedDateTime   time.Time
	StartDateTime     time.Time
	LifetimeInMinutes int
	IsUsableOnce      bool
	// Used records a sign-in with the pass (see Tenant.UseTAP).
	Used bool

	passHash [32]byte
}

// ExpiresAt is when the pass stops working.
func (t *TAP) ExpiresAt() time.Time {
	return t.StartDateTime.Add(time.Duration(t.LifetimeInMinutes) * time.Minute)
}

// Group is a security group. Members are user or group ids; nested groups
// count for transitive membership, as the TAP policy's targets do in Entra.
type Group struct {
	ID          string   `json:"id"`
	DisplayName string   `json:"displayName"`
	Members     []string `json:"members"`
}

// DirectoryRole is an activated Entra role such as Global Administrator.
type DirectoryRole struct {
	ID             string   `json:"id"`
	DisplayName    string   `json:"displayName"`
	RoleTemplateID string   `json:"roleTemplateId"`
	Members        []string `json:"members"`
}

// Policy is the tenant's Temporary Access Pass authentication method
// configuration.
type Policy struct {
	State                    string `json:"state"` // "enabled" or "disabled"
	DefaultLifetimeInMinutes int    `json:"defaultLifetimeInMinutes"`
	DefaultLength            int    `json:"defaultLength"`
	MinimumLifetimeInMinutes int    `json:"minimumLifetimeInMinutes"`
	MaximumLifetimeInMinutes int    `json:"maximumLifetimeInMinutes"`
	IsUsableOnce             bool   `json:"isUsableOnce"` // true forces one-time passes
	// IncludeTargets and ExcludeTargets are group ids; AllUsers includes everyone.
	IncludeTargets []string `json:"includeTargets"`
	ExcludeTargets []string `json:"excludeTargets"`
}

// Enabled reports whether the policy is switched on.
func (p Policy) Enabled() bool { return p.State == "enabled" }

// DefaultPolicy is Entra's out-of-the-box TAP policy, switched on for all users.
func DefaultPolicy() Policy {
	return Policy{
		State:                    "enabled",
		DefaultLifetimeInMinutes: 60,
		DefaultLength:            8,
		MinimumLifetimeInMinutes: 60,
		MaximumLifetimeInMinutes: 480,
		IncludeTargets:           []string{AllUsers},
	}
}

//go:embed sample_tenant.json
var sampleTenantJSON []byte

// Sample tenant identity; the demo sign-in uses the same tenant and object ids.
const (
	SampleTenantID     = "5f1d3c2a-7b4e-4c1a-9e8f-0a1b2c3d4e5f"
	SampleClientID     = "0c8a5a53-4c2e-4f43-9d1c-7a0e5b1f2d3c"
	SampleClientSecret = "fake-graph-client-secret"
)

// SampleTenant returns a fresh copy of the built-in tenant (contoso.example),
// with its existing pass placed relative to the current time, changed by
// opts.
func SampleTenant(opts ...SampleOption) *Tenant { return SampleTenantAt(time.Now(), opts...) }

// SampleTenantAt is SampleTenant for a server running on a fixed clock.
func SampleTenantAt(now time.Time, opts ...SampleOption) *Tenant {
	t, err := LoadTenant(bytes.NewReader(sampleTenantJSON), now)
	if err != nil {
		panic("fakegraph: embedded sample tenant: " + err.Error())
	}
	for _, o := range opts {
		o(t)
	}
	return t
}

// SampleOption changes the sample tenant as it is loaded.
type SampleOption func(*Tenant)

// WithoutOutsidePass leaves out the pass an administrator made in the
// admin center (Nina's, by Grace Global): both the pass and the directory
// audit entry that registered it, as a tenant where it was never made.
// tapdesk then finds no pass made outside it and raises no alert, so the
// empty states of the alerts and the outside passes can be seen.
func WithoutOutsidePass(t *Tenant) {
	made := map[string]bool{}
	t.DirectoryAudits = slices.DeleteFunc(t.DirectoryAudits, func(a *DirectoryAudit) bool {
		if a.ActivityDisplayName != ActivityAdminRegisteredSecurityInfo || a.ResultReason != ReasonAdminRegisteredTAP {
			return false
		}
		for _, r := range a.TargetResources {
			made[strings.ToLower(r.ID)] = true
		}
		return true
	})
	for _, u := range t.Users {
		if made[strings.ToLower(u.ID)] {
			u.TAP = nil
		}
	}
}

// LoadTenantFile reads the tenant file at path (LoadTenant); its errors
// name the file.
func LoadTenantFile(path string, now time.Time) (*Tenant, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t, err := LoadTenant(f, now)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// LoadTenant reads a tenant from JSON in the format of sample_tenant.json.
// A user's "tap" gives start and creation as minutes relative to now
// ("startOffsetMinutes": -30), so a seeded pass is current whenever the
// tenant is loaded; "createdOffsetDays" (-3) likewise places the account's
// createdDateTime, so a new hire stays new.
func LoadTenant(r io.Reader, now time.Time) (*Tenant, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	t := &Tenant{}
	if err := json.Unmarshal(raw, t); err != nil {
		return nil, fmt.Errorf("fakegraph: tenant json: %w", err)
	}
	// Seeded passes are relative to now, which User cannot express, so read
	// them in a second pass over the same document.
	var seeds struct {
		Users []struct {
			ID                string `json:"id"`
			CreatedOffsetDays *int   `json:"createdOffsetDays"`
			TAP               *struct {
				ID                string `json:"id"`
				CreatedOffsetMin  int    `json:"createdOffsetMinutes"`
				StartOffsetMin    int    `json:"startOffsetMinutes"`
				LifetimeInMinutes int    `json:"lifetimeInMinutes"`
				IsUsableOnce      bool   `json:"isUsableOnce"`
				Used              bool   `json:"used"`
			} `json:"tap"`
		} `json:"users"`
		DirectoryAudits []struct {
			ActivityOffsetMin *int `json:"activityOffsetMinutes"`
		} `json:"directoryAudits"`
	}
	if err := json.Unmarshal(raw, &seeds); err != nil {
		return nil, fmt.Errorf("fakegraph: tenant json: %w", err)
	}
	for i, s := range seeds.Users {
		if s.CreatedOffsetDays != nil {
			t.Users[i].CreatedDateTime = now.AddDate(0, 0, *s.CreatedOffsetDays).UTC().Truncate(time.Second)
		}
		if s.TAP == nil {
			continue
		}
		tap := &TAP{
			ID:                s.TAP.ID,
			CreatedDateTime:   now.Add(time.Duration(s.TAP.CreatedOffsetMin) * time.Minute).UTC(),
			StartDateTime:     now.Add(time.Duration(s.TAP.StartOffsetMin) * time.Minute).UTC(),
			LifetimeInMinutes: s.TAP.LifetimeInMinutes,
			IsUsableOnce:      s.TAP.IsUsableOnce,
			Used:              s.TAP.Used,
		}
		t.Users[i].TAP = tap
	}
	for i, a := range seeds.DirectoryAudits {
		if a.ActivityOffsetMin != nil {
			t.DirectoryAudits[i].ActivityDateTime = now.Add(time.Duration(*a.ActivityOffsetMin) * time.Minute).UTC()
		}
	}
	if err := t.validate(); err != nil {
		return nil, err
	}
	return t, nil
}

// validate fills defaults and refuses a tenant Graph could not have.
func (t *Tenant) validate() error {
	if t.ID == "" || t.ClientID == "" || t.ClientSecret == "" {
		return errors.New("fakegraph: tenant needs id, clientId and clientSecret")
	}
	if t.Permissions == nil {
		t.Permissions = slices.Clone(DefaultPermissions)
	}
	if t.Policy.State == "" {
		t.Policy = DefaultPolicy()
	}
	if t.AppDisplayName == "" {
		t.AppDisplayName = "tapdesk"
	}
	if t.AppServicePrincipalID == "" {
		t.AppServicePrincipalID = "7d1c6f0e-3b2a-4c5d-8e9f-a0b1c2d3e4f5"
	}
	ids := map[string]bool{}
	upns := map[string]bool{}
	for _, u := range t.Users {
		if u.ID == "" || u.UserPrincipalName == "" {
			return fmt.Errorf("fakegraph: user %q needs id and userPrincipalName", u.DisplayName)
		}
		if ids[strings.ToLower(u.ID)] || upns[strings.ToLower(u.UserPrincipalName)] {
			return fmt.Errorf("fakegraph: user %s is listed twice", u.UserPrincipalName)
		}
		ids[strings.ToLower(u.ID)] = true
		upns[strings.ToLower(u.UserPrincipalName)] = true
		if u.UserType == "" {
			u.UserType = "Member"
		}
	}
	for _, u := range t.Users {
		if u.Manager != "" && !ids[strings.ToLower(u.Manager)] {
			return fmt.Errorf("fakegraph: user %s has unknown manager %s", u.UserPrincipalName, u.Manager)
		}
	}
	for _, g := range t.Groups {
		ids[strings.ToLower(g.ID)] = true
	}
	for _, g := range t.Groups {
		for _, m := range g.Members {
			if !ids[strings.ToLower(m)] {
				return fmt.Errorf("fakegraph: group %s has unknown member %s", g.DisplayName, m)
			}
		}
	}
	for _, r := range t.DirectoryRoles {
		for _, m := range r.Members {
			if !ids[strings.ToLower(m)] {
				return fmt.Errorf("fakegraph: role %s has unknown member %s", r.DisplayName, m)
			}
		}
	}
	return t.validateApps()
}

// userLocked finds a user by object id or UPN, both case-insensitive as in Graph.
func (t *Tenant) userLocked(idOrUPN string) *User {
	for _, u := range t.Users {
		if strings.EqualFold(u.ID, idOrUPN) || strings.EqualFold(u.UserPrincipalName, idOrUPN) {
			return u
		}
	}
	return nil
}

// groupsOfLocked returns the ids of the groups id belongs to, directly or
// (transitive) through nested groups.
func (t *Tenant) groupsOfLocked(id string, transitive bool) []string {
	var out []string
	seen := map[string]bool{}
	frontier := []string{id}
	for len(frontier) > 0 {
		member := frontier[0]
		frontier = frontier[1:]
		for _, g := range t.Groups {
			if seen[g.ID] || !containsFold(g.Members, member) {
				continue
			}
			seen[g.ID] = true
			out = append(out, g.ID)
			if transitive {
				frontier = append(frontier, g.ID)
			}
		}
	}
	return out
}

func (t *Tenant) rolesOfLocked(id string) []*DirectoryRole {
	var out []*DirectoryRole
	for _, r := range t.DirectoryRoles {
		if containsFold(r.Members, id) {
			out = append(out, r)
		}
	}
	return out
}

// inScopeLocked applies the policy's include and exclude targets to u.
func (t *Tenant) inScopeLocked(u *User) bool {
	groups := t.groupsOfLocked(u.ID, true)
	in := false
	for _, target := range t.Policy.IncludeTargets {
		if strings.EqualFold(target, AllUsers) || containsFold(groups, target) {
			in = true
			break
		}
	}
	for _, target := range t.Policy.ExcludeTargets {
		if containsFold(groups, target) {
			return false
		}
	}
	return in
}

func (t *Tenant) hasPermissionLocked(anyOf ...string) bool {
	for _, p := range anyOf {
		if containsFold(t.Permissions, p) {
			return true
		}
	}
	return false
}

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, s) })
}

// ---- Mutations and queries for tests and the demo ----

// CurrentPolicy returns the TAP policy.
func (t *Tenant) CurrentPolicy() Policy {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.Policy
	p.IncludeTargets = slices.Clone(p.IncludeTargets)
	p.ExcludeTargets = slices.Clone(p.ExcludeTargets)
	return p
}

// SetPolicy replaces the TAP policy.
func (t *Tenant) SetPolicy(p Policy) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p.IncludeTargets = slices.Clone(p.IncludeTargets)
	p.ExcludeTargets = slices.Clone(p.ExcludeTargets)
	t.Policy = p
}

// SetPermissions replaces the application permissions granted to the app.
func (t *Tenant) SetPermissions(perms ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.Permissions = slices.Clone(perms)
}

// RevokePermission removes one application permission.
func (t *Tenant) RevokePermission(perm string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.Permissions = slices.DeleteFunc(t.Permissions, func(p string) bool { return strings.EqualFold(p, perm) })
}

// LookupUser returns a copy of the user with this object id or UPN.
func (t *Tenant) LookupUser(idOrUPN string) (User, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.userLocked(idOrUPN)
	if u == nil {
		return User{}, false
	}
	return u.clone(), true
}

// AddUser adds a user.
func (t *Tenant) AddUser(u User) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if u.ID == "" {
		u.ID = newGUID()
	}
	if t.userLocked(u.ID) != nil || t.userLocked(u.UserPrincipalName) != nil {
		return fmt.Errorf("fakegraph: user %s exists", u.UserPrincipalName)
	}
	if u.UserType == "" {
		u.UserType = "Member"
	}
	c := u.clone()
	t.Users = append(t.Users, &c)
	return nil
}

// UpdateUser changes a user in place under the tenant's lock.
func (t *Tenant) UpdateUser(idOrUPN string, change func(u *User)) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.userLocked(idOrUPN)
	if u == nil {
		return fmt.Errorf("fakegraph: no user %s", idOrUPN)
	}
	change(u)
	return nil
}

// AddMethod registers a method of the given kind ("fido2",
// "microsoftAuthenticator", "windowsHelloForBusiness", "phone", "email",
// "password", "softwareOath", or a full "#microsoft.graph..." type) with
// plausible properties, as if the user had just set it up. It returns the
// method id.
func (t *Tenant) AddMethod(userID, kind string) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.userLocked(userID)
	if u == nil {
		return "", fmt.Errorf("fakegraph: no user %s", userID)
	}
	if kind == "temporaryAccessPass" {
		return "", errors.New("fakegraph: create a TAP through Graph")
	}
	m := newMethod(kind, time.Now().UTC())
	if slices.ContainsFunc(u.Methods, func(x *Method) bool { return x.ID == m.ID }) {
		return "", fmt.Errorf("fakegraph: %s already has a %s method", u.UserPrincipalName, kind)
	}
	u.Methods = append(u.Methods, m)
	return m.ID, nil
}

// RemoveMethod deletes a registered method by id.
func (t *Tenant) RemoveMethod(userID, methodID string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.userLocked(userID)
	if u == nil {
		return fmt.Errorf("fakegraph: no user %s", userID)
	}
	n := len(u.Methods)
	u.Methods = slices.DeleteFunc(u.Methods, func(m *Method) bool { return m.ID == methodID })
	if len(u.Methods) == n {
		return fmt.Errorf("fakegraph: %s has no method %s", u.UserPrincipalName, methodID)
	}
	return nil
}

// CurrentTAP returns a copy of the user's pass, or nil when there is none.
func (t *Tenant) CurrentTAP(userID string) *TAP {
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.userLocked(userID)
	if u == nil || u.TAP == nil {
		return nil
	}
	c := *u.TAP
	return &c
}

// CheckPass reports whether pass is the user's current pass, so end-to-end
// tests can prove that what tapdesk showed is what Graph issued.
func (t *Tenant) CheckPass(userID, pass string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.userLocked(userID)
	return u != nil && u.TAP != nil && u.TAP.passHash == hashPass(pass)
}

// UseTAP records a sign-in with the user's pass; a one-time pass then
// reports OneTimeUsed.
func (t *Tenant) UseTAP(userID string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.userLocked(userID)
	if u == nil || u.TAP == nil {
		return fmt.Errorf("fakegraph: %s has no pass", userID)
	}
	u.TAP.Used = true
	return nil
}

func (u *User) clone() User {
	c := *u
	c.OtherMails = slices.Clone(u.OtherMails)
	c.Methods = make([]*Method, len(u.Methods))
	for i, m := range u.Methods {
		mc := *m
		mc.Props = make(map[string]any, len(m.Props))
		for k, v := range m.Props {
			mc.Props[k] = v
		}
		c.Methods[i] = &mc
	}
	if u.TAP != nil {
		tc := *u.TAP
		c.TAP = &tc
	}
	return c
}

// newMethod makes a method as a freshly registered one looks in Graph.
func newMethod(kind string, now time.Time) *Method {
	m := &Method{ID: newGUID(), Kind: kind, CreatedDateTime: &now, Props: map[string]any{}}
	switch kind {
	case "password":
		m.ID = PasswordMethodID
		m.Props["password"] = nil
	case "email":
		m.ID = EmailMethodID
		m.CreatedDateTime = nil
		m.Props["emailAddress"] = "recovery@example.net"
	case "phone":
		m.ID = MobilePhoneMethodID
		m.CreatedDateTime = nil
		m.Props["phoneNumber"] = "+1 2065550199"
		m.Props["phoneType"] = "mobile"
		m.Props["smsSignInState"] = "notAllowedByPolicy"
	case "fido2":
		m.Props["displayName"] = "Security key"
		m.Props["model"] = "YubiKey 5 NFC"
		m.Props["aaGuid"] = "cb69481e-8ff7-4039-93ec-0a2729a154a8"
		m.Props["attestationCertificates"] = []string{}
		m.Props["attestationLevel"] = "attested"
	case "microsoftAuthenticator":
		m.Props["displayName"] = "Pixel 8"
		m.Props["deviceTag"] = "SoftwareTokenActivated"
		m.Props["phoneAppVersion"] = "6.2406.4198"
	case "windowsHelloForBusiness":
		m.Props["displayName"] = "LAPTOP-" + strings.ToUpper(m.ID[:6])
		m.Props["keyStrength"] = "normal"
	case "softwareOath":
		m.Props["secretKey"] = nil
	}
	return m
}

// validateShared is validate for a tenant a server may already be using.
func (t *Tenant) validateShared() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.validate()
}
