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
var clouds = []struct {
	name string
	Endpoints
}{
	{"global", Endpoints{GraphBaseURL: DefaultGraphBaseURL, AuthorityHost: DefaultAuthorityHost}},
	{"usgov", Endpoints{GraphBaseURL: "https://graph.microsoft.us", AuthorityHost: "https://login.microsoftonline.us"}},
	{"usgov-dod", Endpoints{GraphBaseURL: "https://dod-graph.microsoft.us", AuthorityHost: "https://login.microsoftonline.us"}},
	{"china", Endpoints{GraphBaseURL: "https://microsoftgraph.chinacloudapi.cn", AuthorityHost: "https://login.chinacloudapi.cn"}},
}

// CloudNames lists the presets Cloud knows, in the order people meet them.
var CloudNames = func() []string {
	names := make([]string, len(clouds))
	for i, c := range clouds {
		names[i] = c.name
	}
	return names
}()

// Cloud returns the endpoints of a named cloud; an empty name is global.
func Cloud(name string) (Endpoints, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if n == "" {
		n = "global"
	}
	for _, c := range clouds {
		if c.name == n {
			return c.Endpoints, nil
		}
	}
	return Endpoints{}, fmt.Errorf("entra: unknown cloud %q; use one of %s", name, strings.Join(CloudNames, ", "))
}
