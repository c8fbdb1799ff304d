package entra

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipals"
	"github.com/microsoftgraph/msgraph-sdk-go/serviceprincipalswithappid"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/internal/background"
)

// Who holds a tapdesk role. Such a person is a privileged target: one
// approval for their pass would make a new agent or approver, who could
// then reveal or approve alone. A role comes from
//
//   - an app role of the sign-in app (TAPDESK_OIDC_CLIENT_ID) assigned to
//     the user, or to a group the user is in;
//   - membership of a group mapped to a role in TAPDESK_ROLE_GROUPS.
//
// The assignments are read from the sign-in app's side,
// GET /servicePrincipals/{id}/appRoleAssignedTo: one paged call lists every
// user and group holding one of its roles, so a lookup costs one call
// (plus the transitiveMemberOf call User makes anyway). The user's own
// /users/{id}/appRoleAssignments would miss roles held through groups and
// need one more call per group (/groups/{id}/appRoleAssignments), and it
// needs Directory.Read.All; appRoleAssignedTo needs only Application.Read.All
// (Microsoft's least privileged application permission for it). Graph
// filters these assignments only by resourceId and principalDisplayName, not
// by principal, so the list is read whole; it holds the people and groups
// given tapdesk roles, a short list.
//
// Entra gives a group's app role to its direct members only; tapdesk counts
// nested members too (the groups come from transitiveMemberOf), erring
// towards a second approver.

// signInAppTTL is how long the sign-in app's role definitions (id ->
// "Tap.Approver") are reused. They change rarely; an assignment naming a
// role id not in the cached list reads them again at once. Assignments
// themselves are read at every lookup.
const signInAppTTL = 10 * time.Minute

// defaultAccessRole is the app role id of an assignment that grants access
// to the app but no role.
const defaultAccessRole = "00000000-0000-0000-0000-000000000000"

// maxAssignmentPages bounds the walk through the sign-in app's assignments
// (999 a page).
const maxAssignmentPages = 20

// tapdeskRoleSource reads who holds tapdesk roles.
type tapdeskRoleSource struct {
	clientID   string            // the sign-in app's appId; empty: app roles are not read
	roleGroups map[string]string // lower-cased group id -> role ("Tap.Approver")

	mu  sync.Mutex
	app *signInApp // cached; nil until read
}

// signInApp is the sign-in app's service principal as tapdesk needs it.
type signInApp struct {
	id    string            // service principal object id
	roles map[string]string // lower-cased app role id -> value ("Tap.Approver")
	read  time.Time
}

func newTapdeskRoleSource(clientID string, roleGroups map[string]tapdesk.Role) *tapdeskRoleSource {
	s := &tapdeskRoleSource{clientID: strings.TrimSpace(clientID), roleGroups: map[string]string{}}
	for g, r := range roleGroups {
		if g = strings.ToLower(strings.TrimSpace(g)); g != "" {
			s.roleGroups[g] = string(r)
		}
	}
	return s
}

// tapdeskRoles returns the tapdesk roles userID holds, sorted, given the
// lower-cased ids of the groups the user is in (transitively) and the
// sign-in app's role assignments as being read (nil when no sign-in app is
// configured). If the assignments cannot be read, it fails: tapdesk then
// cannot tell whether one approval would make a new approver.
func (c *Client) tapdeskRoles(ctx context.Context, userID string, groups map[string]bool, read *background.Read[assignments]) ([]string, error) {
	src := c.roles
	var held []string
	for g, role := range src.roleGroups {
		if groups[g] {
			held = append(held, role)
		}
	}
	if read != nil {
		listed, err := read.Result()
		if err != nil {
			return nil, err
		}
		fromApp, err := c.appRolesHeld(ctx, listed, strings.ToLower(userID), groups)
		if err != nil {
			return nil, err
		}
		held = append(held, fromApp...)
	}
	slices.Sort(held)
	return slices.Compact(held), nil
}

// assignments is the sign-in app as read and every role assignment it
// has (appRoleAssignments).
type assignments struct {
	app *signInApp
	all []assignment
}

// assignment is one role assignment of the sign-in app, ids lower-cased.
type assignment struct {
	principal, principalType, role string
}

// appRoleAssignments lists the sign-in app's role assignments that grant
// a role (not only access to the app).
func (c *Client) appRoleAssignments(ctx context.Context) (assignments, error) {
	app, err := c.signInApp(ctx, false)
	if err != nil {
		return assignments{}, err
	}
	listed := assignments{app: app}
	b := c.graph.ServicePrincipals().ByServicePrincipalId(app.id).AppRoleAssignedTo()
	top := int32(999)
	resp, err := b.Get(ctx, &serviceprincipals.ItemAppRoleAssignedToRequestBuilderGetRequestConfiguration{
		QueryParameters: &serviceprincipals.ItemAppRoleAssignedToRequestBuilderGetQueryParameters{
			Select: []string{"appRoleId", "principalId", "principalType"}, Top: &top},
	})
	for page := 0; ; page++ {
		if err != nil {
			return assignments{}, rolesUnreadable(c.roles.clientID, graphError(ctx, "list the sign-in app's role assignments", err))
		}
		if resp == nil {
			return assignments{}, rolesUnreadable(c.roles.clientID, emptyAnswer(ctx, "list the sign-in app's role assignments"))
		}
		for _, a := range resp.GetValue() {
			if a.GetPrincipalId() == nil || a.GetAppRoleId() == nil {
				continue
			}
			if role := strings.ToLower(a.GetAppRoleId().String()); role != defaultAccessRole {
				listed.all = append(listed.all, assignment{principal: strings.ToLower(a.GetPrincipalId().String()),
					principalType: deref(a.GetPrincipalType()), role: role})
			}
		}
		next := deref(resp.GetOdataNextLink())
		if next == "" {
			return listed, nil
		}
		if page+1 >= maxAssignmentPages {
			return assignments{}, rolesUnreadable(c.roles.clientID, fmt.Errorf("entra: the sign-in app has more than %d pages of role assignments", maxAssignmentPages))
		}
		resp, err = b.WithUrl(next).Get(ctx, nil)
	}
}

// appRolesHeld names the sign-in app's roles of listed assigned to userID
// (lower-cased) or to one of their groups.
func (c *Client) appRolesHeld(ctx context.Context, listed assignments, userID string, groups map[string]bool) ([]string, error) {
	var roleIDs []string
	for _, a := range listed.all {
		mine := false
		switch a.principalType {
		case "User":
			mine = a.principal == userID
		case "Group":
			mine = groups[a.principal]
		}
		if mine {
			roleIDs = append(roleIDs, a.role)
		}
	}
	app := listed.app
	// A role id the cached definitions lack is a role defined since: read
	// them again once.
	if slices.ContainsFunc(roleIDs, func(id string) bool { _, ok := app.roles[id]; return !ok }) {
		var err error
		if app, err = c.signInApp(withExchange(ctx), true); err != nil {
			return nil, err
		}
	}
	var held []string
	for _, id := range roleIDs {
		v, ok := app.roles[id]
		switch {
		case !ok:
			// Assigned but not defined (a removed role): count it, erring
			// towards a second approver, named by its id.
			held = append(held, "app role "+id)
		case strings.HasPrefix(v, "Tap."):
			held = append(held, v)
		}
	}
	return held, nil
}

// signInApp returns the sign-in app's service principal, from the cache
// unless it is stale or fresh is set.
func (c *Client) signInApp(ctx context.Context, fresh bool) (*signInApp, error) {
	src := c.roles
	src.mu.Lock()
	app := src.app
	src.mu.Unlock()
	if app != nil && !fresh && time.Since(app.read) < signInAppTTL {
		return app, nil
	}
	sp, err := c.graph.ServicePrincipalsWithAppId(&src.clientID).Get(ctx,
		&serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetRequestConfiguration{
			QueryParameters: &serviceprincipalswithappid.ServicePrincipalsWithAppIdRequestBuilderGetQueryParameters{
				Select: []string{"id", "appId", "appRoles"}},
		})
	if err != nil {
		return nil, rolesUnreadable(src.clientID, graphError(ctx, "get the sign-in app", err))
	}
	if sp == nil || deref(sp.GetId()) == "" {
		return nil, rolesUnreadable(src.clientID, emptyAnswer(ctx, "get the sign-in app"))
	}
	app = &signInApp{id: deref(sp.GetId()), roles: map[string]string{}, read: time.Now()}
	for _, r := range sp.GetAppRoles() {
		if r.GetId() != nil {
			app.roles[strings.ToLower(r.GetId().String())] = deref(r.GetValue())
		}
	}
	src.mu.Lock()
	src.app = app
	src.mu.Unlock()
	return app, nil
}

// rolesUnreadable says, for the person at the screen, that tapdesk stops
// because it cannot tell whether the target holds a tapdesk role. The Graph
// error stays in the chain for the log.
func rolesUnreadable(clientID string, err error) error {
	const stop = "tapdesk could not read who holds tapdesk roles in Entra (the role assignments of its sign-in app), so it cannot tell whether this user needs a second approver, and stops rather than assume one. "
	msg := stop + "Try again in a minute; tell your administrator if it keeps happening."
	var ge *tapdesk.GraphError
	if errors.As(err, &ge) {
		switch ge.Kind {
		case tapdesk.GraphForbidden:
			msg = stop + "An administrator must grant tapdesk's Graph app registration the Application.Read.All permission (see the README's permission list)."
		case tapdesk.GraphNotFound:
			msg = "The sign-in app (client id " + clientID + ", TAPDESK_OIDC_CLIENT_ID) has no service principal in this tenant, so tapdesk cannot tell who holds tapdesk roles and whether this user needs a second approver. An administrator must check the setting."
		case tapdesk.GraphThrottled, tapdesk.GraphUnavailable, tapdesk.GraphUnauthorized:
			msg = stop + ge.UserMessage()
		}
	}
	return fmt.Errorf("%w: %w", &tapdesk.Error{Code: tapdesk.EUNAVAILABLE, Title: "Role holders unreadable", Message: msg}, err)
}
