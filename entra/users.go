package entra

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/tapdesk/tapdesk"
)

// userSelect names every property DirectoryUser needs: without $select Graph
// leaves out accountEnabled, department and userType.
var userSelect = []string{
	"id", "displayName", "userPrincipalName", "mail", "jobTitle", "department",
	"accountEnabled", "onPremisesSyncEnabled", "userType",
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

// User looks up one user by object id or UPN and works out whether the TAP
// policy covers them. If the policy or the user's groups cannot be read,
// InTAPScope stays nil (unknown) rather than failing the lookup: Graph
// still has the last word when the pass is created.
func (c *Client) User(ctx context.Context, idOrUPN string) (*tapdesk.DirectoryUser, error) {
	ctx = withExchange(ctx)
	if err := requireID("user", idOrUPN); err != nil {
		return nil, err
	}
	b := c.graph.Users().ByUserId(idOrUPN)
	cfg := &users.UserItemRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: userSelect},
	}
	if strings.HasPrefix(idOrUPN, "$") {
		// A UPN starting with '$' must be addressed as users('$x@y'), or Graph
		// takes it for a system query option. The raw URL carries $select.
		key := url.PathEscape(strings.ReplaceAll(idOrUPN, "'", "''"))
		b = b.WithUrl(c.graphV1 + "/users('" + key + "')?%24select=" + strings.Join(userSelect, ","))
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
	du.InTAPScope = c.inTAPScope(ctx, du.ID)
	return &du, nil
}

func directoryUser(u models.Userable) tapdesk.DirectoryUser {
	return tapdesk.DirectoryUser{
		ID:             deref(u.GetId()),
		DisplayName:    deref(u.GetDisplayName()),
		UPN:            deref(u.GetUserPrincipalName()),
		Mail:           deref(u.GetMail()),
		JobTitle:       deref(u.GetJobTitle()),
		Department:     deref(u.GetDepartment()),
		UserType:       deref(u.GetUserType()),
		AccountEnabled: deref(u.GetAccountEnabled()),
		OnPremisesSync: deref(u.GetOnPremisesSyncEnabled()),
	}
}

// inTAPScope applies the policy's targets to the user: included through
// all_users or an included group, and in no excluded group. A disabled
// policy covers nobody.
//
// Membership is transitive. Should Entra evaluate only direct membership,
// this errs towards "in scope", and the create call then fails with the
// policy message; erring the other way would block a legitimate request.
func (c *Client) inTAPScope(ctx context.Context, userID string) *bool {
	policy, err := c.TAPPolicy(ctx)
	if err != nil {
		c.logger.WarnContext(ctx, "entra: cannot read the TAP policy; scope unknown", "err", err)
		return nil
	}
	in := false
	if !policy.Enabled {
		return &in
	}
	var groups map[string]bool
	needGroups := len(policy.ExcludeGroups) > 0
	for _, g := range policy.IncludeGroups {
		if strings.EqualFold(g, allUsers) {
			in = true
		} else {
			needGroups = true
		}
	}
	if needGroups {
		if groups, err = c.groupIDs(ctx, userID); err != nil {
			c.logger.WarnContext(ctx, "entra: cannot read group membership; TAP scope unknown", "err", err)
			return nil
		}
	}
	for _, g := range policy.IncludeGroups {
		if groups[strings.ToLower(g)] {
			in = true
		}
	}
	for _, g := range policy.ExcludeGroups {
		if groups[strings.ToLower(g)] {
			in = false
		}
	}
	return &in
}

// allUsers is the include target that means everyone.
const allUsers = "all_users"

// maxMembershipPages bounds the walk through a user's groups (999 a page).
const maxMembershipPages = 20

// groupIDs returns the lower-cased ids of every group the user belongs to,
// directly or through nested groups. transitiveMemberOf needs only
// User.Read.All: without group permissions Graph still returns the ids.
func (c *Client) groupIDs(ctx context.Context, userID string) (map[string]bool, error) {
	top := int32(999)
	b := c.graph.Users().ByUserId(userID).TransitiveMemberOf()
	resp, err := b.Get(ctx, &users.ItemTransitiveMemberOfRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.ItemTransitiveMemberOfRequestBuilderGetQueryParameters{Select: []string{"id"}, Top: &top},
	})
	ids := map[string]bool{}
	for page := 0; ; page++ {
		if err != nil {
			return nil, graphError(ctx, "list group memberships", err)
		}
		if resp == nil {
			return nil, emptyAnswer(ctx, "list group memberships")
		}
		for _, o := range resp.GetValue() {
			ids[strings.ToLower(deref(o.GetId()))] = true
		}
		next := deref(resp.GetOdataNextLink())
		if next == "" {
			return ids, nil
		}
		if page+1 >= maxMembershipPages {
			return nil, fmt.Errorf("entra: user %s is in more than %d pages of groups", userID, maxMembershipPages)
		}
		resp, err = b.WithUrl(next).Get(ctx, nil)
	}
}

// requireID refuses an empty id: the SDK would silently build /users//...
// and call a different endpoint.
func requireID(what, id string) error {
	if strings.TrimSpace(id) == "" {
		return tapdesk.Errorf(tapdesk.EINVALID, "No %s was given.", what)
	}
	return nil
}
