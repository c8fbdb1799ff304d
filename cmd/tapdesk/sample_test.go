package main

import "github.com/tapdesk/tapdesk/entra/fakegraph"

func sampleTenantUser(upn string) (string, bool) {
	u, ok := fakegraph.SampleTenant().LookupUser(upn)
	return u.ID, ok
}
