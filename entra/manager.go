package entra

import (
	"context"
	"errors"

	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"

	"github.com/tapdesk/tapdesk"
)

// managerSelect is what a notice to the manager needs: who, and where
// Entra says their mail goes.
var managerSelect = []string{"id", "displayName", "userPrincipalName", "mail", "otherMails"}

// Manager reads the user's manager (GET /users/{id}/manager, User.Read.All).
// Graph answers 404 Request_ResourceNotFound when no manager is set; tapdesk
// asks only about a user it has just read, so a 404 means "none" and comes
// back as nil without an error. A manager may be an organisational contact
// rather than a user; its mail is used the same way.
func (c *Client) Manager(ctx context.Context, userID string) (*tapdesk.DirectoryUser, error) {
	ctx = withExchange(ctx)
	userID, err := requireUserID(userID)
	if err != nil {
		return nil, err
	}
	o, err := c.graph.Users().ByUserId(userID).Manager().Get(ctx, &users.ItemManagerRequestBuilderGetRequestConfiguration{
		QueryParameters: &users.ItemManagerRequestBuilderGetQueryParameters{Select: managerSelect},
	})
	if err != nil {
		err = graphError(ctx, "get manager", err)
		var ge *tapdesk.GraphError
		if errors.As(err, &ge) && ge.Kind == tapdesk.GraphNotFound {
			return nil, nil
		}
		return nil, err
	}
	if o == nil {
		return nil, emptyAnswer(ctx, "get manager")
	}
	switch m := o.(type) {
	case models.Userable:
		du := directoryUser(m)
		return &du, nil
	case models.OrgContactable:
		return &tapdesk.DirectoryUser{ID: deref(m.GetId()), DisplayName: deref(m.GetDisplayName()), Mail: deref(m.GetMail())}, nil
	}
	return &tapdesk.DirectoryUser{ID: deref(o.GetId())}, nil
}

// otherMails is the user's otherMails without blanks; nil when none.
func otherMails(u models.Userable) []string {
	var out []string
	for _, a := range u.GetOtherMails() {
		if a != "" {
			out = append(out, a)
		}
	}
	return out
}
