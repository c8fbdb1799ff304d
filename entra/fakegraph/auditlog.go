package fakegraph

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// The directory audit log: GET /auditLogs/directoryAudits[/{id}], as Graph
// v1.0 documents it (List directoryAudits, the directoryAudit resource):
// newest first, paged with $top and @odata.nextLink, $filter on
// activityDisplayName (eq, startswith), activityDateTime (eq, ge, gt, le, lt), id,
// correlationId, loggedByService, category, initiatedBy/user/id and
// initiatedBy/app/appId (eq), joined with "and"; anything else is refused
// with 400. It needs AuditLog.Read.All.
//
// Every pass created through the fake is logged as Entra logs a pass an
// administrator registers: "Admin registered security info", status reason
// "Admin registered temporary access pass method for user", initiated by
// the calling app (the tenant's one client) or, for AdminCreateTAP, by the
// administrator.

// Names Entra writes for a pass registered by an administrator or an app
// (Microsoft's security operations guide for privileged accounts).
const (
	ActivityAdminRegisteredSecurityInfo = "Admin registered security info"
	ReasonAdminRegisteredTAP            = "Admin registered temporary access pass method for user"
)

// permReadAuditLog reads the directory audit log.
var permReadAuditLog = []string{"AuditLog.Read.All"}

// auditRetention is how long the fake keeps audit entries (Entra keeps
// them 7 or 30 days by licence); older ones are dropped as new ones come.
const auditRetention = 30 * 24 * time.Hour

// DirectoryAudit is one entry of the directory audit log, in Graph's shape.
type DirectoryAudit struct {
	ID                  string          `json:"id"`
	Category            string          `json:"category"`
	CorrelationID       string          `json:"correlationId"`
	Result              string          `json:"result"`
	ResultReason        string          `json:"resultReason"`
	ActivityDisplayName string          `json:"activityDisplayName"`
	ActivityDateTime    time.Time       `json:"activityDateTime"`
	LoggedByService     string          `json:"loggedByService"`
	OperationType       string          `json:"operationType"`
	InitiatedBy         AuditInitiator  `json:"initiatedBy"`
	TargetResources     []AuditTarget   `json:"targetResources"`
	AdditionalDetails   []AuditKeyValue `json:"additionalDetails"`
}

// AuditInitiator is who did it: a user or an app (auditActivityInitiator).
type AuditInitiator struct {
	App  *AuditApp  `json:"app"`
	User *AuditUser `json:"user"`
}

// AuditApp is an appIdentity.
type AuditApp struct {
	AppID                string `json:"appId"`
	DisplayName          string `json:"displayName"`
	ServicePrincipalID   string `json:"servicePrincipalId"`
	ServicePrincipalName string `json:"servicePrincipalName"`
}

// AuditUser is a userIdentity.
type AuditUser struct {
	ID                string `json:"id"`
	DisplayName       string `json:"displayName"`
	UserPrincipalName string `json:"userPrincipalName"`
	IPAddress         string `json:"ipAddress"`
}

// AuditTarget is a targetResource.
type AuditTarget struct {
	ID                string `json:"id"`
	DisplayName       string `json:"displayName"`
	Type              string `json:"type"`
	UserPrincipalName string `json:"userPrincipalName"`
}

// AuditKeyValue is one of additionalDetails.
type AuditKeyValue struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// passRegisteredLocked logs a pass registered for u by whoever by names.
func (t *Tenant) passRegisteredLocked(u *User, by AuditInitiator, at time.Time) {
	t.adminRegisteredLocked(u, by, ReasonAdminRegisteredTAP, at)
}

// adminRegisteredLocked logs a method registered for u by whoever by
// names; reason is the status reason naming the method.
func (t *Tenant) adminRegisteredLocked(u *User, by AuditInitiator, reason string, at time.Time) {
	t.DirectoryAudits = slices.DeleteFunc(t.DirectoryAudits, func(a *DirectoryAudit) bool {
		return a.ActivityDateTime.Before(at.Add(-auditRetention))
	})
	corr := newGUID()
	t.DirectoryAudits = append(t.DirectoryAudits, &DirectoryAudit{
		ID:                  "UserManagement_" + corr + "_" + randomHex(4),
		Category:            "UserManagement",
		CorrelationID:       corr,
		Result:              "success",
		ResultReason:        reason,
		ActivityDisplayName: ActivityAdminRegisteredSecurityInfo,
		ActivityDateTime:    at.UTC(),
		LoggedByService:     "Authentication Methods",
		OperationType:       "Add",
		InitiatedBy:         by,
		TargetResources: []AuditTarget{{ID: u.ID, DisplayName: u.DisplayName, Type: "User",
			UserPrincipalName: u.UserPrincipalName}},
		AdditionalDetails: []AuditKeyValue{},
	})
}

// ReasonAdminRegisteredPhone is the status reason Entra writes when an
// administrator registers a phone method for a user.
const ReasonAdminRegisteredPhone = "Admin registered phone method for user"

// AdminRegisterPhone logs a phone method registered for the user by an
// administrator at at, as Entra does: the same activity as a pass, another
// status reason. Only the audit log changes (bulk onboarding, in tests).
func (t *Tenant) AdminRegisterPhone(userID, adminID string, at time.Time) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.userLocked(userID)
	admin := t.userLocked(adminID)
	if u == nil || admin == nil {
		return fmt.Errorf("fakegraph: no user %s or %s", userID, adminID)
	}
	t.adminRegisteredLocked(u, AuditInitiator{User: &AuditUser{ID: admin.ID, DisplayName: admin.DisplayName,
		UserPrincipalName: admin.UserPrincipalName, IPAddress: "203.0.113.24"}}, ReasonAdminRegisteredPhone, at)
	return nil
}

// appInitiatorLocked is the tenant's app (the fake's one client) as the
// audit log names it.
func (t *Tenant) appInitiatorLocked() AuditInitiator {
	return AuditInitiator{App: &AuditApp{AppID: t.ClientID, DisplayName: t.AppDisplayName,
		ServicePrincipalID: t.AppServicePrincipalID, ServicePrincipalName: t.AppDisplayName}}
}

// AdminCreateTAP creates a pass for the user as an administrator does in
// the Entra admin center (or a script signed in as them): it replaces any
// pass the user has, and the audit log names the administrator. It returns
// the pass's method id; the pass itself is thrown away.
func (t *Tenant) AdminCreateTAP(userID, adminID string, lifetimeMinutes int, at time.Time) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	u := t.userLocked(userID)
	admin := t.userLocked(adminID)
	if u == nil || admin == nil {
		return "", fmt.Errorf("fakegraph: no user %s or %s", userID, adminID)
	}
	if lifetimeMinutes == 0 {
		lifetimeMinutes = t.Policy.DefaultLifetimeInMinutes
	}
	u.TAPsCreated++
	u.TAP = &TAP{ID: newGUID(), CreatedDateTime: at.UTC(), StartDateTime: at.UTC(), LifetimeInMinutes: lifetimeMinutes,
		IsUsableOnce: t.Policy.IsUsableOnce, passHash: hashPass(generatePass(t.Policy.DefaultLength))}
	t.passRegisteredLocked(u, AuditInitiator{User: &AuditUser{ID: admin.ID, DisplayName: admin.DisplayName,
		UserPrincipalName: admin.UserPrincipalName, IPAddress: "203.0.113.24"}}, at)
	return u.TAP.ID, nil
}

// DirectoryAuditLog returns a copy of the audit log, oldest first.
func (t *Tenant) DirectoryAuditLog() []DirectoryAudit {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]DirectoryAudit, 0, len(t.DirectoryAudits))
	for _, a := range t.DirectoryAudits {
		out = append(out, *a)
	}
	return out
}

func auditJSON(a *DirectoryAudit) map[string]any {
	by := map[string]any{"app": nil, "user": nil}
	if a.InitiatedBy.App != nil {
		app := a.InitiatedBy.App
		by["app"] = map[string]any{"appId": nullable(app.AppID), "displayName": nullable(app.DisplayName),
			"servicePrincipalId": nullable(app.ServicePrincipalID), "servicePrincipalName": nullable(app.ServicePrincipalName)}
	}
	if a.InitiatedBy.User != nil {
		u := a.InitiatedBy.User
		by["user"] = map[string]any{"id": nullable(u.ID), "displayName": nullable(u.DisplayName),
			"userPrincipalName": nullable(u.UserPrincipalName), "ipAddress": nullable(u.IPAddress),
			"userType": nil, "homeTenantId": nil, "homeTenantName": nil}
	}
	targets := []map[string]any{}
	for _, t := range a.TargetResources {
		targets = append(targets, map[string]any{"id": t.ID, "displayName": nullable(t.DisplayName), "type": t.Type,
			"userPrincipalName": nullable(t.UserPrincipalName), "groupType": nil, "modifiedProperties": []any{}})
	}
	details := []map[string]any{}
	for _, d := range a.AdditionalDetails {
		details = append(details, map[string]any{"key": d.Key, "value": d.Value})
	}
	return map[string]any{
		"id": a.ID, "category": a.Category, "correlationId": a.CorrelationID, "result": a.Result,
		"resultReason": a.ResultReason, "activityDisplayName": a.ActivityDisplayName,
		"activityDateTime": fmtTime(a.ActivityDateTime), "loggedByService": a.LoggedByService,
		"operationType": a.OperationType, "initiatedBy": by, "targetResources": targets, "additionalDetails": details,
	}
}

func (s *Server) serveAuditLogs(w http.ResponseWriter, r *http.Request, segs []string) {
	n := len(segs)
	if n < 2 || !strings.EqualFold(segs[1], "directoryAudits") || n > 3 {
		seg := segs[n-1]
		s.graphError(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", seg))
		return
	}
	if !s.allow(w, r, http.MethodGet) || !s.permitted(w, r, "Authorization_RequestDenied", permReadAuditLog) {
		return
	}
	if n == 3 {
		s.tenant.mu.Lock()
		var body map[string]any
		for _, a := range s.tenant.DirectoryAudits {
			if a.ID == segs[2] {
				body = auditJSON(a)
			}
		}
		s.tenant.mu.Unlock()
		if body == nil {
			s.graphError(w, r, http.StatusNotFound, "Request_ResourceNotFound", msgUserNotFound(segs[2]))
			return
		}
		body["@odata.context"] = odataContext(r, "auditLogs/directoryAudits/$entity")
		writeJSON(w, http.StatusOK, body)
		return
	}
	q := r.URL.Query()
	var match func(*DirectoryAudit) bool
	if raw := q.Get("$filter"); raw != "" {
		var err error
		if match, err = parseAuditFilter(raw); err != nil {
			s.graphError(w, r, http.StatusBadRequest, "BadRequest", err.Error())
			return
		}
	}
	asc := false
	switch ob := strings.Join(strings.Fields(q.Get("$orderby")), " "); ob {
	case "", "activityDateTime desc":
	case "activityDateTime", "activityDateTime asc":
		asc = true
	default:
		s.graphError(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("Invalid $orderby: '%s'. Only activityDateTime can be ordered by.", ob))
		return
	}
	top, skip, ok := s.paging(w, r, 1000)
	if !ok {
		return
	}
	s.tenant.mu.Lock()
	var matched []*DirectoryAudit
	for _, a := range s.tenant.DirectoryAudits {
		if match == nil || match(a) {
			matched = append(matched, a)
		}
	}
	slices.SortStableFunc(matched, func(a, b *DirectoryAudit) int {
		if asc {
			return a.ActivityDateTime.Compare(b.ActivityDateTime)
		}
		return b.ActivityDateTime.Compare(a.ActivityDateTime)
	})
	value := []map[string]any{}
	for _, a := range window(matched, skip, top) {
		value = append(value, auditJSON(a))
	}
	s.tenant.mu.Unlock()
	body := map[string]any{"@odata.context": odataContext(r, "auditLogs/directoryAudits"), "value": value}
	if skip+top < len(matched) {
		body["@odata.nextLink"] = nextLink(r, skip+top)
	}
	writeJSON(w, http.StatusOK, body)
}

// auditFilterProps are the properties directoryAudits filters on, and the
// operators each supports.
var auditFilterProps = map[string]struct {
	ops   []string
	value func(*DirectoryAudit) string
}{
	"activityDisplayName": {[]string{"eq", "startswith"}, func(a *DirectoryAudit) string { return a.ActivityDisplayName }},
	"activityDateTime":    {[]string{"eq", "ge", "gt", "le", "lt"}, nil},
	"id":                  {[]string{"eq"}, func(a *DirectoryAudit) string { return a.ID }},
	"correlationId":       {[]string{"eq"}, func(a *DirectoryAudit) string { return a.CorrelationID }},
	"loggedByService":     {[]string{"eq"}, func(a *DirectoryAudit) string { return a.LoggedByService }},
	"category":            {[]string{"eq"}, func(a *DirectoryAudit) string { return a.Category }},
	"initiatedBy/user/id": {[]string{"eq"}, func(a *DirectoryAudit) string {
		if a.InitiatedBy.User == nil {
			return ""
		}
		return a.InitiatedBy.User.ID
	}},
	"initiatedBy/app/appId": {[]string{"eq"}, func(a *DirectoryAudit) string {
		if a.InitiatedBy.App == nil {
			return ""
		}
		return a.InitiatedBy.App.AppID
	}},
}

// parseAuditFilter reads a directoryAudits $filter: terms joined by "and".
func parseAuditFilter(src string) (func(*DirectoryAudit) bool, error) {
	toks, err := lexFilter(src)
	if err != nil {
		return nil, err
	}
	p := &filterParser{toks: toks, src: src}
	var terms []func(*DirectoryAudit) bool
	for {
		t, err := p.auditTerm()
		if err != nil {
			return nil, err
		}
		terms = append(terms, t)
		if !p.keyword("and") {
			break
		}
	}
	if p.i < len(p.toks) {
		if t := p.peek(); t != nil && strings.EqualFold(t.text, "or") {
			return nil, fmt.Errorf("Invalid filter clause: 'or' is not supported in '%s'.", src)
		}
		return nil, p.syntaxError()
	}
	return func(a *DirectoryAudit) bool {
		for _, t := range terms {
			if !t(a) {
				return false
			}
		}
		return true
	}, nil
}

func (p *filterParser) auditProperty() (string, error) {
	t, err := p.expect("ident")
	if err != nil {
		return "", err
	}
	for name := range auditFilterProps {
		if strings.EqualFold(name, t.text) {
			return name, nil
		}
	}
	return "", fmt.Errorf("Invalid filter clause: the property '%s' of 'microsoft.graph.directoryAudit' cannot be filtered on.", t.text)
}

func (p *filterParser) auditTerm() (func(*DirectoryAudit) bool, error) {
	if p.keyword("startswith") {
		if _, err := p.expect("("); err != nil {
			return nil, err
		}
		prop, err := p.auditProperty()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(","); err != nil {
			return nil, err
		}
		lit, err := p.expect("string")
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(")"); err != nil {
			return nil, err
		}
		if !slices.Contains(auditFilterProps[prop].ops, "startswith") {
			return nil, fmt.Errorf("Invalid filter clause: startswith is not supported on '%s'.", prop)
		}
		get := auditFilterProps[prop].value
		return func(a *DirectoryAudit) bool {
			return strings.HasPrefix(strings.ToLower(get(a)), strings.ToLower(lit.text))
		}, nil
	}
	prop, err := p.auditProperty()
	if err != nil {
		return nil, err
	}
	opTok, err := p.expect("ident")
	if err != nil {
		return nil, err
	}
	op := strings.ToLower(opTok.text)
	if !slices.Contains(auditFilterProps[prop].ops, op) {
		return nil, fmt.Errorf("Invalid filter clause: the operator '%s' is not supported on '%s'.", opTok.text, prop)
	}
	val := p.peek()
	if val == nil {
		return nil, p.syntaxError()
	}
	p.i++
	if prop == "activityDateTime" {
		// An Edm.DateTimeOffset literal, unquoted.
		at, err := time.Parse(time.RFC3339Nano, val.text)
		if val.kind != "ident" || err != nil {
			return nil, fmt.Errorf("Invalid filter clause: '%s' is not a DateTimeOffset literal like 2026-11-20T08:00:00Z.", val.text)
		}
		return func(a *DirectoryAudit) bool {
			switch op {
			case "ge":
				return !a.ActivityDateTime.Before(at)
			case "gt":
				return a.ActivityDateTime.After(at)
			case "le":
				return !a.ActivityDateTime.After(at)
			case "lt":
				return a.ActivityDateTime.Before(at)
			}
			return a.ActivityDateTime.Equal(at)
		}, nil
	}
	if val.kind != "string" {
		return nil, p.syntaxError()
	}
	get := auditFilterProps[prop].value
	return func(a *DirectoryAudit) bool { return strings.EqualFold(get(a), val.text) }, nil
}
