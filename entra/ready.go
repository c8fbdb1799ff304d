package entra

import (
	"context"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// CheckToken tells whether tapdesk can get a Graph token: the credential
// (secret or certificate) is accepted and the authority answers. It calls
// no Graph endpoint. A token still valid in the credential's cache counts:
// Graph calls would use that one too. The error is a *tapdesk.GraphError
// carrying the authority's error code, never the secret.
func (c *Client) CheckToken(ctx context.Context) error {
	_, err := c.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{c.scope}})
	return graphError(ctx, "get a Graph token", err)
}
