package entra

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/internal/background"
)

// userSelect names every property DirectoryUser needs: without $select Graph
// leaves out accountEnabled, department and userType.
var userSelect = []string{
	"id", "displayName", "userPrincipalName", "mail", "jobTitle", "department",
	"accountEnabled", "onPremisesSyncEnabled", "userType", "otherMails", "createdDateTime",
}

// defaultSearch is the page size when the caller gives none; maxSearch is
// Graph's largest page for /users.
const (
	defaultSearch = 25
	maxSearch     = 999
)

// SearchUsers finds users whose display name, UPN or mail starts with q
// (case-insensitive, Graph's simple-query startswith). A blank q finds nobody
// rather than listing the directory.
func (c *Client) SearchUsers(ctx context.Context, q string, limit int) ([]tapdesk.DirectoryUser, error) {
	ctx = withExchange(ctx)
	q = strings.TrimSpace(q)
	if q == "" {
		return nil, nil
	}
	switch {
	case limit <= 0:
		limit = defaultSearch
	case limit > maxSearch:
		limit = maxSearch
	}
	// OData string literals escape a quote by doubling it; the SDK
	// URL-encodes the rest.
	lit := strings.ReplaceAll(q, "'", "''")
	filter := fmt.Sprintf("startswith(displayName,'%[1]s') or startswith(userPrincipalName,'%[1]s') or startswith(mail,'%[1]s')", lit)
	top := int32(limit)
	resp, err := c.graph.Users().Get(ctx, &users.UsersRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UsersRequestBuilderGetQueryParameters{Filter: &filter, Select: userSelect, Top: &top},
	})
	if err != nil {
		return nil, graphError(ctx, "search users", err)
	}
	if resp == nil {
		return nil, emptyAnswer(ctx, "search users")
	}
	found := make([]tapdesk.DirectoryUser, 0, len(resp.GetValue()))
	for _, u := range resp.GetValue() {
		found = append(found, directoryUser(u))
	}
	return found, nil
}

// User looks up one user by object id or UPN, with the directory roles and
// tapdesk roles they hold, and works out whether the TAP policy covers them.
// If the policy cannot be read, InTAPScope stays nil (unknown) rather than
// failing the lookup: Graph still has the last word when the pass is
// created. If the memberships or the sign-in app's role assignments cannot
// be read the lookup fails: without them tapdesk cannot tell an
// administrator or an approver from anyone else, and their pass needs a
// second approver.
func (c *Client) User(ctx context.Context, idOrUPN string) (*tapdesk.DirectoryUser, error) {
	key, err := tapdesk.ParseUserKey(idOrUPN)
	if err != nil {
		// The handlers check first; this is the last defence against a
		// caller that did not ("..", "delta" would address another endpoint).
		return nil, err
	}
	idOrUPN = key.String()
	// Besides the user, a lookup reads the groups and roles they are in, the
	// sign-in app's role assignments and the TAP policy. None of these
	// needs another's answer (the memberships need only the user's object
	// id, which a lookup by id has from the start), so they are read at
	// once: the lookup waits for about one answer from Graph, not four in
	// turn. Every read is waited for before User returns, and their errors
	// are reported in the order the reads used to be made.
	var (
		assigned *background.Read[assignments]
		policy   = startRead(c, ctx, c.TAPPolicy)
		member   *background.Read[membership]
	)
	if c.roles.clientID != "" {
		assigned = startRead(c, ctx, c.appRoleAssignments)
	}
	if key.IsObjectID() {
		member = startRead(c, ctx, func(ctx context.Context) (membership, error) { return c.memberships(ctx, idOrUPN) })
	}
	defer func() {
		assigned.Stop(tapdesk.ErrReadAbandoned)
		policy.Stop(tapdesk.ErrReadAbandoned)
		member.Stop(tapdesk.ErrReadAbandoned)
	}()
	du, err := c.user(withExchange(ctx), idOrUPN)
	if err != nil {
		return nil, err
	}
	if member == nil {
		member = startRead(c, ctx, func(ctx context.Context) (membership, error) { return c.memberships(ctx, du.ID) })
	}
	m, err := member.Result()
	if err != nil {
		return nil, err
	}
	du.Roles = m.roles
	for _, g := range c.privilegedGroups {
		if m.groups[g] {
			du.PrivilegedGroups = append(du.PrivilegedGroups, g)
		}
	}
	if du.TapdeskRoles, err = c.tapdeskRoles(ctx, du.ID, m.groups, assigned); err != nil {
		return nil, err
	}
	du.InTAPScope, du.ScopePolicy = c.inTAPScope(ctx, m.groups, policy)
	return du, nil
}

// user reads the user idOrUPN (a checked key) without their memberships.
func (c *Client) user(ctx context.Context, idOrUPN string) (*tapdesk.DirectoryUser, error) {
	b := c.graph.Users().ByUserId(idOrUPN)
	cfg := &users.UserItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: userSelect},
	}
	if strings.HasPrefix(idOrUPN, "$") {
		// A UPN starting with '$' must be addressed as users('$x@y'), or Graph
		// takes it for a system query option. The raw URL carries $select.
		key := url.PathEscape(strings.ReplaceAll(idOrUPN, "'", "''"))
		b = b.WithUrl(c.endpoints.GraphBaseURL + "/v1.0/users('" + key + "')?%24select=" + strings.Join(userSelect, ","))
		cfg = nil
	}
	u, err := b.Get(ctx, cfg)
	if err != nil {
		return nil, graphError(ctx, "get user", err)
	}
	if u == nil {
		return nil, emptyAnswer(ctx, "get user")
	}
	du := directoryUser(u)
	return &du, nil
}

// startRead starts read in the background (background.Start), with
// answers of its own for its errors (withExchange).
func startRead[T any](c *Client, ctx context.Context, read func(context.Context) (T, error)) *background.Read[T] {
	return background.Start(ctx, c.logger, func(ctx context.Context) (T, error) { return read(withExchange(ctx)) })
}

func directoryUser(u models.Userable) tapdesk.DirectoryUser {
	return tapdesk.DirectoryUser{
		ID:             deref(u.GetId()),
		DisplayName:    deref(u.GetDisplayName()),
		UPN:            deref(u.GetUserPrincipalName()),
		Mail:           deref(u.GetMail()),
		OtherMails:     otherMails(u),
		JobTitle:       deref(u.GetJobTitle()),
		Department:     deref(u.GetDepartment()),
		UserType:       deref(u.GetUserType()),
		AccountEnabled: deref(u.GetAccountEnabled()),
		OnPremisesSync: deref(u.GetOnPremisesSyncEnabled()),
		CreatedAt:      createdAt(u),
	}
}

// createdAt is the account's creation time in UTC; zero when Graph gives
// none (null for accounts created before 2018).
func createdAt(u models.Userable) time.Time {
	if t := u.GetCreatedDateTime(); t != nil {
		return t.UTC()
	}
	return time.Time{}
}

// inTAPScope applies the policy's targets to the user: included through
// all_users or an included group, and in no excluded group. A disabled
// policy covers nobody. It returns the policy it applied too (nil, nil
// when it could not be read).
//
// Membership is transitive. Should Entra evaluate only direct membership,
// this errs towards "in scope", and the create call then fails with the
// policy message; erring the other way would block a legitimate request.
func (c *Client) inTAPScope(ctx context.Context, groups map[string]bool, read *background.Read[*tapdesk.TAPPolicy]) (*bool, *tapdesk.TAPPolicy) {
	policy, err := read.Result()
	if err != nil {
		c.logger.WarnContext(ctx, "entra: cannot read the TAP policy; scope unknown", "err", err)
		return nil, nil
	}
	in := false
	if !policy.Enabled {
		return &in, policy
	}
	for _, g := range policy.IncludeGroups {
		if strings.EqualFold(g, allUsers) || groups[strings.ToLower(g)] {
			in = true
		}
	}
	for _, g := range policy.ExcludeGroups {
		if groups[strings.ToLower(g)] {
			in = false
		}
	}
	return &in, policy
}

// allUsers is the include target that means everyone.
const allUsers = "all_users"

// maxMembershipPages bounds the walk through a user's groups (999 a page).
const maxMembershipPages = 20

// membership is what transitiveMemberOf says about a user.
type membership struct {
	groups map[string]bool // lower-cased group ids
	roles  []string        // directory role names (or ids when unreadable)
}

// directoryRoleType is the @odata.type of an activated directory role.
const directoryRoleType = "#microsoft.graph.directoryRole"

// memberships reads the groups and directory roles the user belongs to,
// directly or through nested (role-assignable) groups.
//
// transitiveMemberOf needs only User.Read.All: Graph then still lists every
// group and role, with its id and @odata.type. A role's displayName comes
// only with RoleManagement.Read.Directory (or Directory.Read.All); without
// it the role is named by id, and the user still counts as privileged.
func (c *Client) memberships(ctx context.Context, userID string) (membership, error) {
	top := int32(999)
	b := c.graph.Users().ByUserId(userID).TransitiveMemberOf()
	resp, err := b.Get(ctx, &users.ItemTransitiveMemberOfRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.ItemTransitiveMemberOfRequestBuilderGetQueryParameters{Select: []string{"id", "displayName"}, Top: &top},
	})
	m := membership{groups: map[string]bool{}}
	for page := 0; ; page++ {
		if err != nil {
			return membership{}, graphError(ctx, "list memberships", err)
		}
		if resp == nil {
			return membership{}, emptyAnswer(ctx, "list memberships")
		}
		for _, o := range resp.GetValue() {
			id := deref(o.GetId())
			if !strings.EqualFold(deref(o.GetOdataType()), directoryRoleType) {
				m.groups[strings.ToLower(id)] = true
				continue
			}
			name := ""
			if r, ok := o.(models.DirectoryRoleable); ok {
				name = deref(r.GetDisplayName())
			}
			if name == "" {
				name = "directory role " + id
			}
			m.roles = append(m.roles, name)
		}
		next := deref(resp.GetOdataNextLink())
		if next == "" {
			slices.Sort(m.roles)
			m.roles = slices.Compact(m.roles)
			return m, nil
		}
		if page+1 >= maxMembershipPages {
			return membership{}, fmt.Errorf("entra: user %s is in more than %d pages of groups", userID, maxMembershipPages)
		}
		resp, err = b.WithUrl(next).Get(ctx, nil)
	}
}

// requireUserID refuses a user id that is neither an object id nor a UPN:
// ids come from Graph, but one that is not a user key would address another
// endpoint under /users/. It returns the key as checked (trimmed, an object
// id lower-cased), which is what Graph must be sent.
func requireUserID(id string) (string, error) {
	key, err := tapdesk.ParseUserKey(id)
	if err != nil {
		return "", fmt.Errorf("entra: %q is not a user id or UPN: %w", id, err)
	}
	return key.String(), nil
}

// requireID refuses an empty id: the SDK would silently build /users//...
// and call a different endpoint.
func requireID(what, id string) error {
	if strings.TrimSpace(id) == "" {
		return tapdesk.Titledf(tapdesk.EINVALID, "Which user?", "No %s was given.", what)
	}
	return nil
}
