package entra

import (
	"fmt"
	"strings"
)

// Endpoints are the two roots that differ between Microsoft's clouds: where
// Graph lives and where its tokens come from.
type Endpoints struct {
	GraphBaseURL  string
	AuthorityHost string
}

// clouds are the named presets, from Microsoft's "Microsoft Graph national
// cloud deployments" page: GCC (Microsoft 365 Government Community Cloud)
// uses the global endpoints; GCC High is usgov; DoD has its own Graph host
// but shares the US Government authority.
var clouds = map[string]Endpoints{
	"global":    {GraphBaseURL: DefaultGraphBaseURL, AuthorityHost: DefaultAuthorityHost},
	"usgov":     {GraphBaseURL: "https://graph.microsoft.us", AuthorityHost: "https://login.microsoftonline.us"},
	"usgov-dod": {GraphBaseURL: "https://dod-graph.microsoft.us", AuthorityHost: "https://login.microsoftonline.us"},
	"china":     {GraphBaseURL: "https://microsoftgraph.chinacloudapi.cn", AuthorityHost: "https://login.chinacloudapi.cn"},
}

// CloudNames lists the presets Cloud knows, in the order people meet them.
var CloudNames = []string{"global", "usgov", "usgov-dod", "china"}

// Cloud returns the endpoints of a named cloud; an empty name is global.
func Cloud(name string) (Endpoints, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if n == "" {
		n = "global"
	}
	if e, ok := clouds[n]; ok {
		return e, nil
	}
	return Endpoints{}, fmt.Errorf("entra: unknown cloud %q; use one of %s", name, strings.Join(CloudNames, ", "))
}
