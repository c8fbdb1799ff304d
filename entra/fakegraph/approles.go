package fakegraph

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Service principals and app role assignments: who holds the app roles of
// an application (tapdesk's sign-in app defines Tap.Requester, Tap.Approver,
// Tap.Auditor and Tap.Admin). Graph serves them as
//
//	GET /servicePrincipals/{id}                 GET /servicePrincipals(appId='{appId}')
//	GET /servicePrincipals/{id}/appRoleAssignedTo   (also under the appId key)
//
// appRoleAssignedTo lists the assignments to users and groups, paged
// (@odata.nextLink), and filters only on resourceId (eq) and
// principalDisplayName (eq, startswith), as Graph documents.

// permReadApps are the application permissions that read service principals
// and their assignments; Application.Read.All is the least privileged.
var permReadApps = []string{"Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}

// DefaultAccessRoleID is the app role id of an assignment that grants no
// role, only access to the app.
const DefaultAccessRoleID = "00000000-0000-0000-0000-000000000000"

// SampleSignInClientID is the demo sign-in app's client id (appId): the
// demo identity provider issues tokens to it, and the sample tenant holds
// its service principal with the Tap.* app roles.
const SampleSignInClientID = "6a3f5b1e-2c4d-4e8f-9a0b-1c2d3e4f5a6b"

// ServicePrincipal is an application's instance in the tenant, with the app
// roles it defines and who holds them.
type ServicePrincipal struct {
	ID          string    `json:"id"`
	AppID       string    `json:"appId"`
	DisplayName string    `json:"displayName"`
	AppRoles    []AppRole `json:"appRoles"`
	// AppRoleAssignedTo are the app roles assigned to users and groups.
	AppRoleAssignedTo []AppRoleAssignment `json:"appRoleAssignedTo"`
}

// AppRole is one role an application defines.
type AppRole struct {
	ID                 string   `json:"id"`
	Value              string   `json:"value"`
	DisplayName        string   `json:"displayName"`
	Description        string   `json:"description,omitempty"`
	AllowedMemberTypes []string `json:"allowedMemberTypes,omitempty"` // default ["User"]
	IsEnabled          *bool    `json:"isEnabled,omitempty"`          // default true
}

// AppRoleAssignment gives a user or group one app role (or, with
// DefaultAccessRoleID, only access).
type AppRoleAssignment struct {
	ID              string    `json:"id,omitempty"` // generated when empty
	AppRoleID       string    `json:"appRoleId"`
	PrincipalID     string    `json:"principalId"`
	CreatedDateTime time.Time `json:"createdDateTime,omitzero"`
}

// validateApps checks the service principals against the tenant's users
// and groups. The caller holds the lock or owns the tenant.
func (t *Tenant) validateApps() error {
	for _, sp := range t.ServicePrincipals {
		if sp.ID == "" || sp.AppID == "" {
			return fmt.Errorf("fakegraph: service principal %q needs id and appId", sp.DisplayName)
		}
		for i := range sp.AppRoleAssignedTo {
			a := &sp.AppRoleAssignedTo[i]
			if typ, _ := t.principalLocked(a.PrincipalID); typ == "" {
				return fmt.Errorf("fakegraph: %s assigns a role to unknown principal %s", sp.DisplayName, a.PrincipalID)
			}
			if a.AppRoleID != DefaultAccessRoleID && sp.role(a.AppRoleID) == nil {
				return fmt.Errorf("fakegraph: %s assigns unknown app role %s", sp.DisplayName, a.AppRoleID)
			}
			if a.ID == "" {
				a.ID = assignmentID()
			}
			if a.CreatedDateTime.IsZero() {
				a.CreatedDateTime = time.Date(2023, 2, 6, 9, 30, 0, 0, time.UTC)
			}
		}
	}
	return nil
}

func (sp *ServicePrincipal) role(id string) *AppRole {
	for i := range sp.AppRoles {
		if strings.EqualFold(sp.AppRoles[i].ID, id) {
			return &sp.AppRoles[i]
		}
	}
	return nil
}

func (sp *ServicePrincipal) roleByValue(value string) *AppRole {
	for i := range sp.AppRoles {
		if sp.AppRoles[i].Value == value {
			return &sp.AppRoles[i]
		}
	}
	return nil
}

// principalLocked names the kind ("User" or "Group") and display name of
// a user or group id; the kind is "" when there is none.
func (t *Tenant) principalLocked(id string) (typ, name string) {
	for _, u := range t.Users {
		if strings.EqualFold(u.ID, id) {
			return "User", u.DisplayName
		}
	}
	for _, g := range t.Groups {
		if strings.EqualFold(g.ID, id) {
			return "Group", g.DisplayName
		}
	}
	return "", ""
}

// servicePrincipalLocked finds a service principal by object id, or by
// appId when byAppID.
func (t *Tenant) servicePrincipalLocked(key string, byAppID bool) *ServicePrincipal {
	for _, sp := range t.ServicePrincipals {
		if (!byAppID && strings.EqualFold(sp.ID, key)) || (byAppID && strings.EqualFold(sp.AppID, key)) {
			return sp
		}
	}
	return nil
}

// appRoleLocked finds the service principal of appID and its role with
// this value.
func (t *Tenant) appRoleLocked(appID, value string) (*ServicePrincipal, *AppRole, error) {
	sp := t.servicePrincipalLocked(appID, true)
	if sp == nil {
		return nil, nil, fmt.Errorf("fakegraph: no service principal for app %s", appID)
	}
	role := sp.roleByValue(value)
	if role == nil {
		return nil, nil, fmt.Errorf("fakegraph: app %s has no role %s", appID, value)
	}
	return sp, role, nil
}

// AssignAppRole gives a user or group the app role with this value
// ("Tap.Approver") of the application appID, as an administrator does under
// Enterprise applications > Users and groups.
func (t *Tenant) AssignAppRole(appID, principalID, value string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	sp, role, err := t.appRoleLocked(appID, value)
	if err != nil {
		return err
	}
	if typ, _ := t.principalLocked(principalID); typ == "" {
		return fmt.Errorf("fakegraph: no user or group %s", principalID)
	}
	sp.AppRoleAssignedTo = append(sp.AppRoleAssignedTo, AppRoleAssignment{ID: assignmentID(), AppRoleID: role.ID,
		PrincipalID: principalID, CreatedDateTime: time.Now().UTC()})
	return nil
}

// DefineAppRole adds an app role with this value to the application appID,
// as its developer does in the app registration, and returns its id.
func (t *Tenant) DefineAppRole(appID, value string) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	sp := t.servicePrincipalLocked(appID, true)
	if sp == nil {
		return "", fmt.Errorf("fakegraph: no service principal for app %s", appID)
	}
	if sp.roleByValue(value) != nil {
		return "", fmt.Errorf("fakegraph: app %s already defines %s", appID, value)
	}
	id := newGUID()
	sp.AppRoles = append(sp.AppRoles, AppRole{ID: id, Value: value, DisplayName: value, AllowedMemberTypes: []string{"User"}})
	return id, nil
}

// UnassignAppRole removes every assignment of the role with this value to
// the principal.
func (t *Tenant) UnassignAppRole(appID, principalID, value string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	sp, role, err := t.appRoleLocked(appID, value)
	if err != nil {
		return err
	}
	n := len(sp.AppRoleAssignedTo)
	sp.AppRoleAssignedTo = slices.DeleteFunc(sp.AppRoleAssignedTo, func(a AppRoleAssignment) bool {
		return strings.EqualFold(a.PrincipalID, principalID) && strings.EqualFold(a.AppRoleID, role.ID)
	})
	if len(sp.AppRoleAssignedTo) == n {
		return fmt.Errorf("fakegraph: %s does not hold %s", principalID, value)
	}
	return nil
}

// AddGroupMember puts a user or group into a group.
func (t *Tenant) AddGroupMember(groupID, memberID string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if typ, _ := t.principalLocked(memberID); typ == "" {
		return fmt.Errorf("fakegraph: no user or group %s", memberID)
	}
	for _, g := range t.Groups {
		if strings.EqualFold(g.ID, groupID) {
			if !containsFold(g.Members, memberID) {
				g.Members = append(g.Members, memberID)
			}
			return nil
		}
	}
	return fmt.Errorf("fakegraph: no group %s", groupID)
}

// assignmentID looks like Graph's: 43 base64url characters.
func assignmentID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// ---- HTTP ----

// appIDKey matches the alternate key segment servicePrincipals(appId='...').
var appIDKey = regexp.MustCompile(`^(?i:servicePrincipals)\(appId='((?:[^']|'')*)'\)$`)

// isServicePrincipals reports whether a path starts at /servicePrincipals.
func isServicePrincipals(seg string) bool {
	return strings.EqualFold(seg, "servicePrincipals") || appIDKey.MatchString(seg)
}

// serveServicePrincipals answers /servicePrincipals/... (segs[0] is either
// "servicePrincipals" or the appId key form).
func (s *Server) serveServicePrincipals(w http.ResponseWriter, r *http.Request, segs []string) {
	if !s.allow(w, r, http.MethodGet) {
		return
	}
	if !s.permitted(w, r, "Authorization_RequestDenied", permReadApps) {
		return
	}
	// Normalise to (key, byAppID, rest).
	var key string
	var byAppID bool
	var rest []string
	if m := appIDKey.FindStringSubmatch(segs[0]); m != nil {
		key, byAppID, rest = strings.ReplaceAll(m[1], "''", "'"), true, segs[1:]
	} else if len(segs) >= 2 {
		key, rest = segs[1], segs[2:]
	} else {
		// The collection itself: tapdesk addresses its app by key instead.
		s.graphError(w, r, http.StatusBadRequest, "Request_BadRequest", "Listing service principals is not served by this fake; address one by id or appId.")
		return
	}
	s.tenant.mu.Lock()
	defer s.tenant.mu.Unlock()
	sp := s.tenant.servicePrincipalLocked(key, byAppID)
	if sp == nil {
		s.graphError(w, r, http.StatusNotFound, "Request_ResourceNotFound", msgUserNotFound(key))
		return
	}
	switch {
	case len(rest) == 0:
		s.getServicePrincipalLocked(w, r, sp)
	case len(rest) == 1 && strings.EqualFold(rest[0], "appRoleAssignedTo"):
		s.appRoleAssignedToLocked(w, r, sp)
	default:
		s.graphError(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", rest[0]))
	}
}

var servicePrincipalProperties = []string{"id", "appId", "displayName", "appRoles", "accountEnabled", "servicePrincipalType", "appRoleAssignmentRequired"}

func (s *Server) getServicePrincipalLocked(w http.ResponseWriter, r *http.Request, sp *ServicePrincipal) {
	sel, err := parseSelect(r.URL.Query(), func(p string) (string, bool) {
		i := slices.IndexFunc(servicePrincipalProperties, func(k string) bool { return strings.EqualFold(k, p) })
		if i < 0 {
			return "", false
		}
		return servicePrincipalProperties[i], true
	}, "servicePrincipal")
	if err != nil {
		s.graphError(w, r, http.StatusBadRequest, "Request_BadRequest", err.Error())
		return
	}
	roles := []map[string]any{}
	for _, ar := range sp.AppRoles {
		types := ar.AllowedMemberTypes
		if len(types) == 0 {
			types = []string{"User"}
		}
		roles = append(roles, map[string]any{
			"allowedMemberTypes": types, "description": nullable(ar.Description), "displayName": ar.DisplayName,
			"id": ar.ID, "isEnabled": ar.IsEnabled == nil || *ar.IsEnabled, "origin": "Application", "value": ar.Value,
		})
	}
	all := map[string]any{"id": sp.ID, "appId": sp.AppID, "displayName": sp.DisplayName, "appRoles": roles,
		"accountEnabled": true, "servicePrincipalType": "Application", "appRoleAssignmentRequired": true}
	body := map[string]any{}
	for _, p := range servicePrincipalProperties {
		if sel == nil || slices.Contains(sel, p) {
			body[p] = all[p]
		}
	}
	body["@odata.context"] = odataContext(r, "servicePrincipals"+selectContext(sel)+"/$entity")
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) appRoleAssignedToLocked(w http.ResponseWriter, r *http.Request, sp *ServicePrincipal) {
	match, err := assignmentFilter(r.URL.Query().Get("$filter"))
	if err != nil {
		s.graphError(w, r, http.StatusBadRequest, "Request_BadRequest", err.Error())
		return
	}
	sel, err := parseSelect(r.URL.Query(), func(p string) (string, bool) {
		i := slices.IndexFunc(assignmentProperties, func(k string) bool { return strings.EqualFold(k, p) })
		if i < 0 {
			return "", false
		}
		return assignmentProperties[i], true
	}, "appRoleAssignment")
	if err != nil {
		s.graphError(w, r, http.StatusBadRequest, "Request_BadRequest", err.Error())
		return
	}
	top, skip, ok := s.paging(w, r, 100)
	if !ok {
		return
	}
	var all []map[string]any
	for _, a := range sp.AppRoleAssignedTo {
		typ, name := s.tenant.principalLocked(a.PrincipalID)
		o := map[string]any{
			"id": a.ID, "deletedDateTime": nil, "appRoleId": a.AppRoleID,
			"createdDateTime": fmtTime(a.CreatedDateTime), "principalDisplayName": name,
			"principalId": a.PrincipalID, "principalType": typ,
			"resourceDisplayName": sp.DisplayName, "resourceId": sp.ID,
		}
		if !match(o) {
			continue
		}
		if sel != nil {
			// Graph always sends the key.
			for _, k := range assignmentProperties {
				if k != "id" && !slices.Contains(sel, k) {
					delete(o, k)
				}
			}
		}
		all = append(all, o)
	}
	body := map[string]any{
		"@odata.context": odataContext(r, "servicePrincipals('"+sp.ID+"')/appRoleAssignedTo"+selectContext(sel)),
		"value":          orEmpty(window(all, skip, top)),
	}
	if skip+top < len(all) {
		body["@odata.nextLink"] = nextLink(r, skip+top)
	}
	writeJSON(w, http.StatusOK, body)
}

var (
	filterResourceID = regexp.MustCompile(`^(?i)resourceId\s+eq\s+([0-9a-f-]{36})$`)
	filterNameEq     = regexp.MustCompile(`^(?i)principalDisplayName\s+eq\s+'((?:[^']|'')*)'$`)
	filterNameStarts = regexp.MustCompile(`^(?i)startswith\(\s*principalDisplayName\s*,\s*'((?:[^']|'')*)'\s*\)$`)
)

var assignmentProperties = []string{"id", "deletedDateTime", "appRoleId", "createdDateTime", "principalDisplayName",
	"principalId", "principalType", "resourceDisplayName", "resourceId"}

// assignmentFilter reads the $filter Graph allows on app role assignments:
// resourceId eq {guid}, principalDisplayName eq '...' or
// startswith(principalDisplayName,'...'). Graph refuses the rest, notably
// appRoleId and principalId, with "Invalid filter clause".
func assignmentFilter(raw string) (func(map[string]any) bool, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return func(map[string]any) bool { return true }, nil
	}
	if m := filterResourceID.FindStringSubmatch(raw); m != nil {
		return func(o map[string]any) bool { return strings.EqualFold(o["resourceId"].(string), m[1]) }, nil
	}
	if m := filterNameEq.FindStringSubmatch(raw); m != nil {
		v := strings.ReplaceAll(m[1], "''", "'")
		return func(o map[string]any) bool { return strings.EqualFold(o["principalDisplayName"].(string), v) }, nil
	}
	if m := filterNameStarts.FindStringSubmatch(raw); m != nil {
		v := strings.ToLower(strings.ReplaceAll(m[1], "''", "'"))
		return func(o map[string]any) bool {
			return strings.HasPrefix(strings.ToLower(o["principalDisplayName"].(string)), v)
		}, nil
	}
	prop, _, _ := strings.Cut(raw, " ")
	if strings.EqualFold(prop, "appRoleId") || strings.EqualFold(prop, "principalId") {
		return nil, errors.New("Invalid filter clause " + prop + ": System.Guid")
	}
	return nil, errors.New("Invalid filter clause")
}
