package fakegraph

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Application permissions that satisfy each kind of call (any one of them).
var (
	permReadUsers   = []string{"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
	permReadMethods = []string{"UserAuthenticationMethod.Read.All", "UserAuthenticationMethod.ReadWrite.All"}
	permReadTAP     = []string{"UserAuthenticationMethod.Read.All", "UserAuthenticationMethod.ReadWrite.All", "UserAuthMethod-TAP.Read.All", "UserAuthMethod-TAP.ReadWrite.All"}
	permWriteTAP    = []string{"UserAuthenticationMethod.ReadWrite.All", "UserAuthMethod-TAP.ReadWrite.All"}
	permReadPolicy  = []string{"Policy.Read.All", "Policy.ReadWrite.AuthenticationMethod"}
	permSendMail    = []string{"Mail.Send"}
	// Without one of these, memberOf lists groups and roles with id and
	// type only, as Graph does for an app holding just User.Read.All.
	permReadMemberDetails = []string{"Directory.Read.All", "Directory.ReadWrite.All", "GroupMember.Read.All", "Group.Read.All"}
	// Likewise a directory role's name needs one of these.
	permReadRoleDetails = []string{"Directory.Read.All", "Directory.ReadWrite.All", "RoleManagement.Read.Directory",
		"RoleManagement.Read.All", "RoleManagement.ReadWrite.Directory"}
)

const tapPolicyID = "TemporaryAccessPass"

func (s *Server) serveGraph(w http.ResponseWriter, r *http.Request, segs []string) {
	n := len(segs)
	at := func(i int, lit string) bool { return n > i && strings.EqualFold(segs[i], lit) }
	switch {
	case n == 1 && at(0, "users"):
		if s.allow(w, r, http.MethodGet) {
			s.listUsers(w, r)
		}
	case n == 2 && at(0, "users"):
		if s.allow(w, r, http.MethodGet) {
			s.getUser(w, r, segs[1])
		}
	case n == 3 && at(0, "users") && (at(2, "memberOf") || at(2, "transitiveMemberOf")):
		if s.allow(w, r, http.MethodGet) {
			s.memberOf(w, r, segs[1], at(2, "transitiveMemberOf"))
		}
	case n == 3 && at(0, "users") && at(2, "manager"):
		if s.allow(w, r, http.MethodGet) {
			s.getManager(w, r, segs[1])
		}
	case n == 3 && at(0, "users") && at(2, "sendMail"):
		if s.allow(w, r, http.MethodPost) {
			s.sendMail(w, r, segs[1])
		}
	case n == 4 && at(0, "users") && at(2, "authentication") && at(3, "methods"):
		if s.allow(w, r, http.MethodGet) {
			s.listMethods(w, r, segs[1])
		}
	case n == 5 && at(0, "users") && at(2, "authentication") && at(3, "methods"):
		if s.allow(w, r, http.MethodGet) {
			s.getMethod(w, r, segs[1], segs[4])
		}
	case n == 4 && at(0, "users") && at(2, "authentication") && at(3, "temporaryAccessPassMethods"):
		if r.Method == http.MethodPost {
			s.createTAP(w, r, segs[1])
		} else if s.allow(w, r, http.MethodGet) {
			s.listTAPs(w, r, segs[1])
		}
	case n == 5 && at(0, "users") && at(2, "authentication") && at(3, "temporaryAccessPassMethods"):
		if r.Method == http.MethodDelete {
			s.deleteTAP(w, r, segs[1], segs[4])
		} else if s.allow(w, r, http.MethodGet) {
			s.getTAP(w, r, segs[1], segs[4])
		}
	case n == 4 && at(0, "policies") && at(1, "authenticationMethodsPolicy") && at(2, "authenticationMethodConfigurations"):
		if s.allow(w, r, http.MethodGet) {
			s.getPolicy(w, r, segs[3])
		}
	case n >= 1 && at(0, "auditLogs"):
		s.serveAuditLogs(w, r, segs)
	case n >= 1 && isServicePrincipals(segs[0]):
		s.serveServicePrincipals(w, r, segs)
	default:
		seg := ""
		if n > 0 {
			seg = segs[n-1]
		}
		s.graphError(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", seg))
	}
}

// allow answers 405 unless the request uses method.
func (s *Server) allow(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method {
		return true
	}
	s.graphError(w, r, http.StatusMethodNotAllowed, "Request_BadRequest", "Specified HTTP method is not allowed for the request uri.")
	return false
}

// permitted answers 403 unless the app holds one of perms. Directory
// endpoints and the authentication-method endpoints use different codes.
func (s *Server) permitted(w http.ResponseWriter, r *http.Request, code string, perms []string) bool {
	s.tenant.mu.Lock()
	ok := s.tenant.hasPermissionLocked(perms...)
	s.tenant.mu.Unlock()
	if !ok {
		s.graphError(w, r, http.StatusForbidden, code, msgForbidden)
	}
	return ok
}

func baseURL(r *http.Request) string {
	if r.TLS != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

func odataContext(r *http.Request, rest string) string {
	return baseURL(r) + "/v1.0/$metadata#" + rest
}

// fmtTime is Graph's DateTimeOffset format: UTC, seven fractional digits.
func fmtTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.0000000Z") }

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// ---- users ----

// userProperties lists what the fake serves, in Graph's casing; default
// marks what Graph returns without $select.
var userProperties = []struct {
	name    string
	dflt    bool
	valueOf func(u *User) any
}{
	{"id", true, func(u *User) any { return u.ID }},
	{"businessPhones", true, func(u *User) any { return []string{} }},
	{"displayName", true, func(u *User) any { return nullable(u.DisplayName) }},
	{"givenName", true, func(u *User) any { return nullable(u.GivenName) }},
	{"jobTitle", true, func(u *User) any { return nullable(u.JobTitle) }},
	{"mail", true, func(u *User) any { return nullable(u.Mail) }},
	{"otherMails", false, func(u *User) any { return orEmpty(u.OtherMails) }},
	{"mobilePhone", true, func(u *User) any { return nullable(u.MobilePhone) }},
	{"officeLocation", true, func(u *User) any { return nullable(u.OfficeLocation) }},
	{"preferredLanguage", true, func(u *User) any { return nil }},
	{"surname", true, func(u *User) any { return nullable(u.Surname) }},
	{"userPrincipalName", true, func(u *User) any { return u.UserPrincipalName }},
	{"accountEnabled", false, func(u *User) any { return u.AccountEnabled }},
	{"department", false, func(u *User) any { return nullable(u.Department) }},
	{"userType", false, func(u *User) any { return u.UserType }},
	// Graph reports cloud-only users as null, not false.
	{"onPremisesSyncEnabled", false, func(u *User) any {
		if u.OnPremisesSyncEnabled {
			return true
		}
		return nil
	}},
	{"createdDateTime", false, func(u *User) any {
		if u.CreatedDateTime.IsZero() {
			return nil
		}
		return u.CreatedDateTime.UTC().Format(time.RFC3339)
	}},
}

// parseSelect validates $select against the user properties; nil means default.
func parseSelect(q url.Values, known func(string) (string, bool), typ string) ([]string, error) {
	raw := q.Get("$select")
	if raw == "" {
		return nil, nil
	}
	var out []string
	for _, p := range strings.Split(raw, ",") {
		p = strings.TrimSpace(p)
		name, ok := known(p)
		if !ok {
			return nil, fmt.Errorf("Could not find a property named '%s' on type 'microsoft.graph.%s'.", p, typ)
		}
		out = append(out, name)
	}
	return out, nil
}

func knownUserProperty(p string) (string, bool) {
	for _, up := range userProperties {
		if strings.EqualFold(up.name, p) {
			return up.name, true
		}
	}
	return "", false
}

func userJSON(u *User, sel []string) map[string]any {
	m := map[string]any{}
	for _, up := range userProperties {
		if (sel == nil && up.dflt) || slices.Contains(sel, up.name) {
			m[up.name] = up.valueOf(u)
		}
	}
	return m
}

func selectContext(sel []string) string {
	if sel == nil {
		return ""
	}
	return "(" + strings.Join(sel, ",") + ")"
}

// lookupUser resolves the {id} segment or answers 404 as Graph does. The
// caller must hold the tenant lock.
func (s *Server) lookupUserLocked(w http.ResponseWriter, r *http.Request, idOrUPN string) *User {
	u := s.tenant.userLocked(idOrUPN)
	if u == nil {
		s.graphError(w, r, http.StatusNotFound, "Request_ResourceNotFound", msgUserNotFound(idOrUPN))
	}
	return u
}

// userSelect checks that a user may be read and parses $select for typ,
// answering the refusal itself when not (ok false).
func (s *Server) userSelect(w http.ResponseWriter, r *http.Request, typ string) (sel []string, ok bool) {
	if !s.permitted(w, r, "Authorization_RequestDenied", permReadUsers) {
		return nil, false
	}
	sel, err := parseSelect(r.URL.Query(), knownUserProperty, typ)
	if err != nil {
		s.graphError(w, r, http.StatusBadRequest, "Request_BadRequest", err.Error())
		return nil, false
	}
	return sel, true
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, id string) {
	sel, ok := s.userSelect(w, r, "user")
	if !ok {
		return
	}
	s.tenant.mu.Lock()
	defer s.tenant.mu.Unlock()
	u := s.lookupUserLocked(w, r, id)
	if u == nil {
		return
	}
	body := userJSON(u, sel)
	body["@odata.context"] = odataContext(r, "users"+selectContext(sel)+"/$entity")
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	if !s.permitted(w, r, "Authorization_RequestDenied", permReadUsers) {
		return
	}
	q := r.URL.Query()
	sel, err := parseSelect(q, knownUserProperty, "user")
	if err != nil {
		s.graphError(w, r, http.StatusBadRequest, "Request_BadRequest", err.Error())
		return
	}
	var f filterExpr
	if raw := q.Get("$filter"); raw != "" {
		if f, err = parseFilter(raw); err != nil {
			var uq unsupportedQuery
			if errors.As(err, &uq) {
				s.graphError(w, r, http.StatusBadRequest, "Request_UnsupportedQuery", err.Error())
			} else {
				s.graphError(w, r, http.StatusBadRequest, "BadRequest", err.Error())
			}
			return
		}
	}
	top, skip, ok := s.paging(w, r, 100)
	if !ok {
		return
	}

	s.tenant.mu.Lock()
	var matched []*User
	for _, u := range s.tenant.Users {
		if f == nil || f.match(u) {
			matched = append(matched, u)
		}
	}
	slices.SortFunc(matched, func(a, b *User) int {
		return strings.Compare(strings.ToLower(a.DisplayName), strings.ToLower(b.DisplayName))
	})
	var page []map[string]any
	for _, u := range window(matched, skip, top) {
		page = append(page, userJSON(u, sel))
	}
	s.tenant.mu.Unlock()

	body := map[string]any{
		"@odata.context": odataContext(r, "users"+selectContext(sel)),
		"value":          orEmpty(page),
	}
	if skip+top < len(matched) {
		body["@odata.nextLink"] = nextLink(r, skip+top)
	}
	writeJSON(w, http.StatusOK, body)
}

// paging reads $top (1-999) and the $skiptoken of an earlier nextLink.
func (s *Server) paging(w http.ResponseWriter, r *http.Request, dflt int) (top, skip int, ok bool) {
	q := r.URL.Query()
	top = dflt
	if raw := q.Get("$top"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > 999 {
			s.graphError(w, r, http.StatusBadRequest, "Request_BadRequest",
				fmt.Sprintf("Invalid page size specified: '%s'. Must be between 1 and 999 inclusive.", raw))
			return 0, 0, false
		}
		top = n
	}
	if tok := q.Get("$skiptoken"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		n, err2 := strconv.Atoi(strings.TrimPrefix(string(b), "skip:"))
		if err != nil || err2 != nil || n < 0 {
			s.graphError(w, r, http.StatusBadRequest, "Request_BadRequest", "Invalid skip token.")
			return 0, 0, false
		}
		skip = n
	}
	return top, skip, true
}

func nextLink(r *http.Request, skip int) string {
	q := r.URL.Query()
	q.Set("$skiptoken", base64.RawURLEncoding.EncodeToString([]byte("skip:"+strconv.Itoa(skip))))
	return baseURL(r) + r.URL.Path + "?" + q.Encode()
}

func window[T any](all []T, skip, top int) []T {
	if skip >= len(all) {
		return nil
	}
	return all[skip:min(skip+top, len(all))]
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (s *Server) memberOf(w http.ResponseWriter, r *http.Request, id string, transitive bool) {
	if !s.permitted(w, r, "Authorization_RequestDenied", permReadUsers) {
		return
	}
	top, skip, ok := s.paging(w, r, 100)
	if !ok {
		return
	}
	s.tenant.mu.Lock()
	u := s.lookupUserLocked(w, r, id)
	if u == nil {
		s.tenant.mu.Unlock()
		return
	}
	details := s.tenant.hasPermissionLocked(permReadMemberDetails...)
	roleDetails := s.tenant.hasPermissionLocked(permReadRoleDetails...)
	var objs []map[string]any
	for _, gid := range s.tenant.groupsOfLocked(u.ID, transitive) {
		o := map[string]any{"@odata.type": "#microsoft.graph.group", "id": gid}
		if details {
			for _, g := range s.tenant.Groups {
				if g.ID == gid {
					o["displayName"] = g.DisplayName
					o["securityEnabled"] = true
					o["mailEnabled"] = false
				}
			}
		}
		objs = append(objs, o)
	}
	for _, role := range s.tenant.rolesOfLocked(u.ID) {
		o := map[string]any{"@odata.type": "#microsoft.graph.directoryRole", "id": role.ID}
		if roleDetails {
			o["displayName"] = role.DisplayName
			o["roleTemplateId"] = role.RoleTemplateID
		}
		objs = append(objs, o)
	}
	s.tenant.mu.Unlock()

	body := map[string]any{
		"@odata.context": odataContext(r, "directoryObjects"),
		"value":          orEmpty(window(objs, skip, top)),
	}
	if skip+top < len(objs) {
		body["@odata.nextLink"] = nextLink(r, skip+top)
	}
	writeJSON(w, http.StatusOK, body)
}

// ---- authentication methods ----

func methodJSON(m *Method) map[string]any {
	o := map[string]any{}
	for k, v := range m.Props {
		o[k] = v
	}
	o["@odata.type"] = m.ODataType()
	o["id"] = m.ID
	if m.CreatedDateTime != nil {
		o["createdDateTime"] = fmtTime(*m.CreatedDateTime)
	}
	return o
}

// tapJSON renders a pass; pass is non-empty only in the create response.
func (s *Server) tapJSONLocked(u *User, pass string) map[string]any {
	t := u.TAP
	usable, reason := usability(t, s.tenant.Policy, s.tenant.inScopeLocked(u), s.now())
	return map[string]any{
		"@odata.type":           "#microsoft.graph.temporaryAccessPassAuthenticationMethod",
		"id":                    t.ID,
		"temporaryAccessPass":   nullable(pass),
		"createdDateTime":       fmtTime(t.CreatedDateTime),
		"startDateTime":         fmtTime(t.StartDateTime),
		"lifetimeInMinutes":     t.LifetimeInMinutes,
		"isUsableOnce":          t.IsUsableOnce,
		"isUsable":              usable,
		"methodUsabilityReason": reason,
	}
}

// usability is Entra's verdict on a pass at now.
func usability(t *TAP, p Policy, inScope bool, now time.Time) (bool, string) {
	switch {
	case !p.Enabled() || !inScope:
		return false, "DisabledByPolicy"
	case t.IsUsableOnce && t.Used:
		return false, "OneTimeUsed"
	case now.Before(t.StartDateTime):
		return false, "NotYetValid"
	case !now.Before(t.ExpiresAt()):
		return false, "Expired"
	}
	return true, "EnabledByPolicy"
}

func (s *Server) listMethods(w http.ResponseWriter, r *http.Request, id string) {
	if !s.permitted(w, r, "accessDenied", permReadMethods) {
		return
	}
	s.tenant.mu.Lock()
	u := s.lookupUserLocked(w, r, id)
	if u == nil {
		s.tenant.mu.Unlock()
		return
	}
	value := []map[string]any{}
	for _, m := range u.Methods {
		value = append(value, methodJSON(m))
	}
	if u.TAP != nil {
		value = append(value, s.tapJSONLocked(u, ""))
	}
	s.tenant.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.context": odataContext(r, "users('"+id+"')/authentication/methods"),
		"value":          value,
	})
}

func (s *Server) getMethod(w http.ResponseWriter, r *http.Request, id, methodID string) {
	if !s.permitted(w, r, "accessDenied", permReadMethods) {
		return
	}
	s.tenant.mu.Lock()
	defer s.tenant.mu.Unlock()
	u := s.lookupUserLocked(w, r, id)
	if u == nil {
		return
	}
	var body map[string]any
	if u.TAP != nil && strings.EqualFold(u.TAP.ID, methodID) {
		body = s.tapJSONLocked(u, "")
	}
	for _, m := range u.Methods {
		if strings.EqualFold(m.ID, methodID) {
			body = methodJSON(m)
		}
	}
	if body == nil {
		s.methodNotFound(w, r, methodID)
		return
	}
	body["@odata.context"] = odataContext(r, "users('"+id+"')/authentication/methods/$entity")
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) methodNotFound(w http.ResponseWriter, r *http.Request, methodID string) {
	s.graphError(w, r, http.StatusNotFound, "itemNotFound",
		fmt.Sprintf("The authentication method '%s' was not found for this user.", methodID))
}

func (s *Server) listTAPs(w http.ResponseWriter, r *http.Request, id string) {
	if !s.permitted(w, r, "accessDenied", permReadTAP) {
		return
	}
	s.tenant.mu.Lock()
	u := s.lookupUserLocked(w, r, id)
	if u == nil {
		s.tenant.mu.Unlock()
		return
	}
	value := []map[string]any{}
	if u.TAP != nil {
		value = append(value, s.tapJSONLocked(u, ""))
	}
	s.tenant.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.context": odataContext(r, "users('"+id+"')/authentication/temporaryAccessPassMethods"),
		"value":          value,
	})
}

func (s *Server) getTAP(w http.ResponseWriter, r *http.Request, id, tapID string) {
	if !s.permitted(w, r, "accessDenied", permReadTAP) {
		return
	}
	s.tenant.mu.Lock()
	defer s.tenant.mu.Unlock()
	u := s.lookupUserLocked(w, r, id)
	if u == nil {
		return
	}
	if u.TAP == nil || !strings.EqualFold(u.TAP.ID, tapID) {
		s.methodNotFound(w, r, tapID)
		return
	}
	body := s.tapJSONLocked(u, "")
	body["@odata.context"] = odataContext(r, "users('"+id+"')/authentication/temporaryAccessPassMethods/$entity")
	writeJSON(w, http.StatusOK, body)
}

func (s *Server) deleteTAP(w http.ResponseWriter, r *http.Request, id, tapID string) {
	if !s.permitted(w, r, "accessDenied", permWriteTAP) {
		return
	}
	s.tenant.mu.Lock()
	defer s.tenant.mu.Unlock()
	u := s.lookupUserLocked(w, r, id)
	if u == nil {
		return
	}
	if u.TAP == nil || !strings.EqualFold(u.TAP.ID, tapID) {
		s.methodNotFound(w, r, tapID)
		return
	}
	u.TAP = nil
	w.WriteHeader(http.StatusNoContent)
}

// createRequest is the body of POST temporaryAccessPassMethods; every field
// is optional.
type createRequest struct {
	StartDateTime     *string `json:"startDateTime"`
	LifetimeInMinutes *int    `json:"lifetimeInMinutes"`
	IsUsableOnce      *bool   `json:"isUsableOnce"`
}

func (s *Server) createTAP(w http.ResponseWriter, r *http.Request, id string) {
	if !s.permitted(w, r, "accessDenied", permWriteTAP) {
		return
	}
	var req createRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		s.graphError(w, r, http.StatusBadRequest, "BadRequest",
			"Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
		return
	}
	now := s.now().UTC()
	start := now
	if req.StartDateTime != nil {
		t, err := time.Parse(time.RFC3339Nano, *req.StartDateTime)
		if err != nil {
			s.graphError(w, r, http.StatusBadRequest, "BadRequest",
				fmt.Sprintf("Cannot convert the literal '%s' to the expected type 'Edm.DateTimeOffset'.", *req.StartDateTime))
			return
		}
		start = t.UTC()
	}

	s.tenant.mu.Lock()
	defer s.tenant.mu.Unlock()
	u := s.lookupUserLocked(w, r, id)
	if u == nil {
		return
	}
	p := s.tenant.Policy
	// The order of these checks is Entra's: who the user is, then the
	// policy's scope, then the requested properties.
	switch {
	case strings.EqualFold(u.UserType, "Guest"):
		s.graphError(w, r, http.StatusBadRequest, "badRequest", msgGuest)
		return
	case !p.Enabled() || !s.tenant.inScopeLocked(u):
		s.graphError(w, r, http.StatusBadRequest, "badRequest", msgPolicyDisallows)
		return
	}
	lifetime := p.DefaultLifetimeInMinutes
	if req.LifetimeInMinutes != nil {
		lifetime = *req.LifetimeInMinutes
		if lifetime < p.MinimumLifetimeInMinutes || lifetime > p.MaximumLifetimeInMinutes {
			s.graphError(w, r, http.StatusBadRequest, "badRequest", msgLifetime(p))
			return
		}
	}
	once := p.IsUsableOnce
	if req.IsUsableOnce != nil {
		once = *req.IsUsableOnce
		if !once && p.IsUsableOnce {
			s.graphError(w, r, http.StatusBadRequest, "badRequest",
				"Invalid IsUsableOnce specified. The Temporary Access Pass policy allows only one-time use passes.")
			return
		}
	}

	pass := generatePass(p.DefaultLength)
	// One pass per user: a new one silently replaces the old.
	u.TAPsCreated++
	u.TAP = &TAP{
		ID:                newGUID(),
		CreatedDateTime:   now,
		StartDateTime:     start,
		LifetimeInMinutes: lifetime,
		IsUsableOnce:      once,
		passHash:          hashPass(pass),
	}
	// Entra logs the registration, naming the app that called.
	s.tenant.passRegisteredLocked(u, s.tenant.appInitiatorLocked(), now)
	body := s.tapJSONLocked(u, pass)
	body["@odata.context"] = odataContext(r, "users('"+id+"')/authentication/temporaryAccessPassMethods/$entity")
	writeJSON(w, http.StatusCreated, body)
}

// ---- policy ----

func (s *Server) getPolicy(w http.ResponseWriter, r *http.Request, configID string) {
	if !s.permitted(w, r, "accessDenied", permReadPolicy) {
		return
	}
	if !strings.EqualFold(configID, tapPolicyID) {
		s.graphError(w, r, http.StatusNotFound, "itemNotFound",
			fmt.Sprintf("Authentication method configuration '%s' was not found.", configID))
		return
	}
	p := s.tenant.CurrentPolicy()
	include := []map[string]any{}
	for _, id := range p.IncludeTargets {
		include = append(include, map[string]any{"targetType": "group", "id": id, "isRegistrationRequired": false})
	}
	exclude := []map[string]any{}
	for _, id := range p.ExcludeTargets {
		exclude = append(exclude, map[string]any{"targetType": "group", "id": id})
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.context":               odataContext(r, "policies/authenticationMethodsPolicy/authenticationMethodConfigurations/$entity"),
		"@odata.type":                  "#microsoft.graph.temporaryAccessPassAuthenticationMethodConfiguration",
		"id":                           tapPolicyID,
		"state":                        p.State,
		"defaultLifetimeInMinutes":     p.DefaultLifetimeInMinutes,
		"defaultLength":                p.DefaultLength,
		"minimumLifetimeInMinutes":     p.MinimumLifetimeInMinutes,
		"maximumLifetimeInMinutes":     p.MaximumLifetimeInMinutes,
		"isUsableOnce":                 p.IsUsableOnce,
		"includeTargets@odata.context": odataContext(r, "policies/authenticationMethodsPolicy/authenticationMethodConfigurations('TemporaryAccessPass')/microsoft.graph.temporaryAccessPassAuthenticationMethodConfiguration/includeTargets"),
		"includeTargets":               include,
		"excludeTargets":               exclude,
	})
}

// ---- mail ----

type sendMailRequest struct {
	Message struct {
		Subject string `json:"subject"`
		Body    struct {
			ContentType string `json:"contentType"`
			Content     string `json:"content"`
		} `json:"body"`
		ToRecipients []struct {
			EmailAddress struct {
				Address string `json:"address"`
			} `json:"emailAddress"`
		} `json:"toRecipients"`
	} `json:"message"`
	SaveToSentItems *bool `json:"saveToSentItems"`
}

func (s *Server) sendMail(w http.ResponseWriter, r *http.Request, id string) {
	if !s.permitted(w, r, "ErrorAccessDenied", permSendMail) {
		return
	}
	var req sendMailRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		s.graphError(w, r, http.StatusBadRequest, "ErrorInvalidRequest", "Cannot read the request body.")
		return
	}
	if len(req.Message.ToRecipients) == 0 {
		s.graphError(w, r, http.StatusBadRequest, "ErrorInvalidRecipients", "At least one recipient isn't valid.")
		return
	}
	s.tenant.mu.Lock()
	u := s.lookupUserLocked(w, r, id)
	s.tenant.mu.Unlock()
	if u == nil {
		return
	}
	m := SentMail{From: u.UserPrincipalName, Subject: req.Message.Subject, ContentType: strings.ToLower(req.Message.Body.ContentType),
		Body: req.Message.Body.Content, SaveToSentItems: req.SaveToSentItems == nil || *req.SaveToSentItems}
	for _, rcpt := range req.Message.ToRecipients {
		m.To = append(m.To, rcpt.EmailAddress.Address)
	}
	s.mu.Lock()
	s.mail = append(s.mail, m)
	s.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
}
