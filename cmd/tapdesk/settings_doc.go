package main

import (
	"fmt"
	"strings"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/entra"
)

// serveSettingDocs are the longer explanations of some serve settings, by
// flag name: too long for --help, they go into docs/CONFIGURATION.md below
// their group's table. The generator refuses one that names no setting.
func serveSettingDocs() map[string]string {
	var clouds []string
	for _, name := range entra.CloudNames {
		ep, _ := entra.Cloud(name)
		clouds = append(clouds, fmt.Sprintf("- `%s`: Graph `%s`, token authority `%s`", name, ep.GraphBaseURL, ep.AuthorityHost))
	}
	return map[string]string{
		"base-url": "The public https URL people reach tapdesk at, exactly, without a trailing slash " +
			"(`https://tapdesk.example.com`). It starts every link in mail, the sign-in redirect URL " +
			"(`{base}/auth/callback` unless `TAPDESK_OIDC_REDIRECT_URL` says otherwise) and is the " +
			"`post_logout_redirect_uri` sign-out sends to Entra, so register it as a redirect URI of the " +
			"sign-in app too (see [ENTRA.md](ENTRA.md)). `serve` refuses anything but an https URL with a host.",

		"read-timeout": fmt.Sprintf("A request, headers and form, must arrive within this; the headers within %s at most. "+
			"A body trickled in slowly is cut off with 408.", tapdesk.ShortDuration(tapdesk.MaxReadHeaderTimeout)),

		"write-timeout": "A client that stops reading an answer is cut off after this long without progress. It counts " +
			"from each write, so pages that wait on Graph and long audit exports are never cut off for taking their time.",

		"trusted-proxies": "Comma-separated address ranges (`10.0.0.0/8`, `2001:db8::/32`, or one address) of the reverse " +
			"proxies in front of tapdesk. Only when the connection comes from one of them does the header " +
			"`TAPDESK_CLIENT_IP_HEADER` names give the client's address; otherwise the connection's own address is " +
			"recorded and limited, whatever headers it sends. Empty (the default): no proxy is trusted, not even " +
			"loopback or private ranges.\n\n" +
			"**Set it when tapdesk is behind a proxy**: left empty, every client shares the proxy's address and its " +
			"per-address limits, so one anonymous client can use up `sign-in.address` (30 a minute) for the whole " +
			"company. The first request that arrives with `X-Forwarded-For`, `X-Real-IP` or `Forwarded` from a peer " +
			"not listed logs a warning saying so, once. A malformed entry stops tapdesk with a sentence. " +
			"`tapdesk demo --trusted-proxies` takes the same.",

		"client-ip-header": "The header the trusted proxies name the client in: `X-Forwarded-For` (the default) or " +
			"`X-Real-IP`. Only that one is read, since a proxy that sets one passes the client's own copy of the " +
			"other through (nginx with `proxy_set_header X-Real-IP $remote_addr` does).\n\n" +
			"`X-Forwarded-For` is read from the right: the first address that is not a trusted proxy is the client, " +
			"and whatever the client put to its left is ignored; an address with a port (`203.0.113.7:51234`, as " +
			"some load balancers write) is understood; an entry that is not an address stops at the last proxy " +
			"believed. A trusted proxy that sends only the other header is logged once. " +
			"`tapdesk demo --client-ip-header` takes the same.",

		"rate-limits": "Changes some of the limits in [Rate limits](#rate-limits) and keeps the rest: " +
			"`ACTION.person=COUNT/WINDOW`, `ACTION.address=...`, or `ACTION=...` for both; the window is a duration " +
			"from `1s` to `24h` (`10m`, `1h`, or `m` for `1m`); `off` turns a limit off. " +
			"`tapdesk demo --rate-limits` takes the same.",

		"oidc-issuer": "For Entra: `https://login.microsoftonline.com/{tenant-id}/v2.0` with the tenant's id, the " +
			"same as `TAPDESK_GRAPH_TENANT_ID` (`serve` refuses an issuer naming another tenant). Not the " +
			"`common` or `organizations` endpoint: their discovery document's issuer does not match the tokens'.",

		"role-groups": "Optional `GROUPID=Tap.Approver,GROUPID=Tap.Requester,...`: the `groups` claim of the ID token " +
			"then gives these roles, for tenants that assign access by group rather than by app role. App roles " +
			"(the `roles` claim) need no mapping. Members of these groups, like holders of the sign-in app's " +
			"roles, are privileged targets: a pass for them needs two approvers.",

		"privileged-groups": "Optional group object ids; their members, like holders of directory roles, need two approvers.",

		"graph-client-secret": "Either a client secret or `TAPDESK_GRAPH_CERTIFICATE` must be set; with both, the " +
			"certificate is used. A certificate is the better choice: see [ENTRA.md](ENTRA.md).",

		"graph-cloud": "Sets both the Graph root and the token authority:\n\n" + strings.Join(clouds, "\n") +
			"\n\nGCC (Microsoft 365 Government Community Cloud) uses `global`; GCC High is `usgov`.",

		"graph-base-url": "Overrides the cloud's Graph root (a proxy, the fake Graph): an https URL naming the host " +
			"alone, like `https://graph.microsoft.com` (no `/v1.0`: tapdesk adds the version and paths, and refuses " +
			"to start on a path, query or fragment). `TAPDESK_AUTHORITY_HOST` takes the same shape.",

		"mail-transport": "`smtp` sends through the relay of the `TAPDESK_SMTP_*` settings. `graph` sends through " +
			"Graph's `sendMail` as `TAPDESK_MAIL_FROM`, a mailbox of the tenant; the Graph app then needs `Mail.Send`, " +
			"best narrowed to that mailbox with an Exchange application access policy (see [ENTRA.md](ENTRA.md)).",

		"smtp-tls": "`none` is allowed only for a relay on loopback.",

		"approver-max-age": "An approver whose sign-in is older is sent through the identity provider again " +
			"(`max_age`, `prompt=login`) before deciding. An administrator switching heightened-threat mode off " +
			"needs the same fresh sign-in (and MFA, per `TAPDESK_APPROVER_MFA`).",

		"threat-mode": "While it is set the portal cannot switch the mode off. The start records the mode as on, " +
			"so after the setting is removed (on every instance) the mode stays on until an administrator switches it off " +
			"at `/admin/threat-mode`, with a fresh sign-in; that raises the `threat_mode_off` alert.",

		"approver-mfa": "Read from the ID token's `amr` claim; a token without `amr` counts as no MFA. " +
			"Conditional Access on the sign-in app is the real enforcement (see [ENTRA.md](ENTRA.md)).",

		"reveal-max-age": "An older sign-in is sent through the identity provider again (`max_age`, `prompt=login`) " +
			"and back to the request, where the agent presses **Issue and reveal** again; nothing is issued meanwhile.",

		"working-hours": "Days (`Mon-Fri`, `Mon,Wed,Sat`; default Mon-Fri), a 24-hour time range and an IANA time zone " +
			"(default UTC). A request filed outside them is named as a risk on its approval page; nothing is refused.",

		"session-key": "Seals session data at rest (AES-GCM), bound to each session's token. Changing it ends every " +
			"session: everyone signs in again (see [RUNBOOK.md](RUNBOOK.md)).",

		"audit-key": "Keys the HMAC chain of the audit trail; it is never stored in the database. `serve` refuses the " +
			"public demo key, and refuses to start when the newest audit event does not check out with the " +
			"configured keys (the key changed without a rotation). Rotation: [RUNBOOK.md](RUNBOOK.md).",

		"audit-old-keys": "Keys the audit key had before rotations. Events signed with them still verify; " +
			"no new event is signed with them.",
	}
}

// rateActionCounts says what each limited action counts, for the rate
// limit table of docs/CONFIGURATION.md.
func rateActionCounts() map[tapdesk.RateAction]string {
	return map[tapdesk.RateAction]string{
		tapdesk.RateSignIn:   "starting a sign-in, `GET /auth/login`",
		tapdesk.RateCallback: "coming back from the identity provider, `GET /auth/callback`",
		tapdesk.RateSearch:   "directory searches, `GET /users?q=`",
		tapdesk.RateUserCard: "user cards read from Graph, `GET /users/{user}`, `GET /requests/new?user=`",
		tapdesk.RateFile:     "filing a request (mails every approver), `POST /requests`",
		tapdesk.RateLink:     "following approval and dispute links, `/approve/{token}`, `/dispute/{token}`",
		tapdesk.RateReveal:   "issuing and revealing a pass, `POST /requests/{id}/reveal`",
		tapdesk.RateExport:   "audit exports, `GET /audit/export`",
		tapdesk.RateVerify:   "audit chain checks, `GET /audit/verify`",
		tapdesk.RateReport:   "reports and their CSVs, `GET /reports`, `GET /reports/{chart}.csv`",
	}
}
