// Package entra implements tapdesk.Directory on Microsoft Graph with
// msgraph-sdk-go, authenticating as an app registration (client credentials)
// through azidentity.
//
// It is the only package that imports the Graph SDK: the SDK takes minutes to
// compile, and keeping it here keeps the rest of the tree fast. The fake in
// entra/fakegraph serves the same endpoints for tests and the demo.
//
// Every Graph refusal comes back as a *tapdesk.GraphError. The pass a create
// returns exists only in the returned IssuedTAP: nothing here logs bodies.
package entra

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	kiotaazure "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/metrics"
)

// Defaults: the global Azure cloud. National clouds set both URLs.
const (
	DefaultGraphBaseURL  = "https://graph.microsoft.com"
	DefaultAuthorityHost = "https://login.microsoftonline.com"
)

// defaultTimeout bounds one Graph call including the SDK's retries; the
// caller's context usually ends it sooner.
const defaultTimeout = 100 * time.Second

// Config is how tapdesk reaches its tenant.
type Config struct {
	TenantID     string
	ClientID     string
	ClientSecret string
	// Certificate is a PEM or PKCS#12 file's content holding the app's
	// certificate and private key; it is used instead of ClientSecret when
	// set. CertificatePassword opens an encrypted key or PFX.
	Certificate         []byte
	CertificatePassword string
	// Cloud names the Microsoft cloud ("global", "usgov", "usgov-dod",
	// "china"; empty is global); it supplies GraphBaseURL and AuthorityHost
	// where those are empty.
	Cloud string
	// GraphBaseURL is Graph's root without the version (default from Cloud:
	// https://graph.microsoft.com; https://graph.microsoft.us for US Gov).
	GraphBaseURL string
	// AuthorityHost is the Entra token authority (default from Cloud:
	// https://login.microsoftonline.com).
	AuthorityHost string
	// HTTPClient, when set, supplies the transport (and timeout) for both
	// token requests and Graph calls, e.g. one that trusts a test CA
	// (default: NewTransport(nil)). The SDK's middleware (redirects,
	// $-decoding, telemetry) is layered on top of it.
	HTTPClient *http.Client
	// Logger receives one line per HTTP call (default slog.Default()).
	Logger *slog.Logger
	// PrivilegedGroups are group object ids whose members count as
	// privileged targets (two approvers), as holders of directory roles do.
	PrivilegedGroups []string
	// SignInClientID is the sign-in app's client id (TAPDESK_OIDC_CLIENT_ID):
	// whoever holds one of its Tap.* app roles, directly or through a group,
	// is a privileged target. Empty: app roles are not read (serve always
	// sets it).
	SignInClientID string
	// RoleGroups are the groups mapped to tapdesk roles
	// (TAPDESK_ROLE_GROUPS); their members are privileged targets too.
	RoleGroups map[string]tapdesk.Role
	// MaxRetries, MaxRetryWait and MaxRetryTotal bound how tapdesk waits
	// out throttling (defaults DefaultMaxRetries, DefaultMaxRetryWait,
	// DefaultMaxRetryTotal); see retryTransport.
	MaxRetries    int
	MaxRetryWait  time.Duration
	MaxRetryTotal time.Duration
	// Metrics counts every HTTP exchange with Graph and the token
	// authority, and the waits for throttling (nil: not counted).
	Metrics *metrics.Metrics
}

// Client is a tapdesk.Directory backed by Microsoft Graph. It is safe for
// concurrent use.
type Client struct {
	graph     *msgraphsdk.GraphServiceClient
	logger    *slog.Logger
	endpoints Endpoints
	// privilegedGroups are lower-cased group ids (Config.PrivilegedGroups).
	privilegedGroups []string
	// roles reads who holds tapdesk roles (approles.go).
	roles *tapdeskRoleSource
	// cred and scope get Graph tokens; CheckToken asks for one directly.
	cred  azcore.TokenCredential
	scope string
	// appID is this app registration's client id: Entra's directory audit
	// log names it as the initiator of what tapdesk does (outside.go).
	appID string
}

// Endpoints are the Graph root and token authority this client uses.
func (c *Client) Endpoints() Endpoints { return c.endpoints }

var _ tapdesk.Directory = (*Client)(nil)

// microsoftAuthorities are the clouds MSAL's instance discovery knows; any
// other host (Azure Stack, a test stand-in) must skip discovery, or MSAL
// asks login.microsoftonline.com about it and fails offline. The list is
// MSAL's own trusted-host list (authority.TrustedHost, MSAL Go v1.10).
var microsoftAuthorities = map[string]bool{
	"login.microsoftonline.com":        true,
	"login.microsoftonline.us":         true,
	"login.chinacloudapi.cn":           true,
	"login.partner.microsoftonline.cn": true,
	"login.microsoftonline.de":         true,
	"login.windows.net":                true,
	"login.microsoft.com":              true,
	"sts.windows.net":                  true,
	"login.sovcloud-identity.fr":       true,
	"login.sovcloud-identity.de":       true,
	"login.sovcloud-identity.sg":       true,
	"login-us.microsoftonline.com":     true,
	"login.usgovcloudapi.net":          true,
}

// New builds a Graph client. It does not call Graph; the first call fetches
// a token.
func New(cfg Config) (*Client, error) {
	var missing []string
	for _, f := range []struct{ name, value string }{
		{"tenant id", cfg.TenantID}, {"client id", cfg.ClientID}, {"client secret or certificate", cfg.ClientSecret + string(cfg.Certificate)},
	} {
		if strings.TrimSpace(f.value) == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("entra: missing %s", strings.Join(missing, ", "))
	}
	preset, err := Cloud(cfg.Cloud)
	if err != nil {
		return nil, err
	}
	graphBase, graphURL, err := baseURL(cfg.GraphBaseURL, preset.GraphBaseURL, "Graph base URL")
	if err != nil {
		return nil, err
	}
	authority, authorityURL, err := baseURL(cfg.AuthorityHost, preset.AuthorityHost, "authority host")
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}

	// One transport at the bottom of both stacks, so token and Graph calls
	// share connections, trust and the per-call log line.
	var base http.RoundTripper = NewTransport(nil)
	timeout := defaultTimeout
	if cfg.HTTPClient != nil {
		if cfg.HTTPClient.Transport != nil {
			base = cfg.HTTPClient.Transport
		}
		if cfg.HTTPClient.Timeout > 0 {
			timeout = cfg.HTTPClient.Timeout
		}
	}
	logged := &loggingTransport{next: base, logger: logger, metrics: cfg.Metrics}

	clientOpts := azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: authority + "/"},
		Transport: &http.Client{Transport: logged, Timeout: timeout},
	}
	noDiscovery := !microsoftAuthorities[strings.ToLower(authorityURL.Hostname())]
	var cred azcore.TokenCredential
	if len(cfg.Certificate) > 0 {
		var pw []byte
		if cfg.CertificatePassword != "" {
			pw = []byte(cfg.CertificatePassword)
		}
		certs, key, perr := azidentity.ParseCertificates(cfg.Certificate, pw)
		if perr != nil {
			return nil, fmt.Errorf("entra: the Graph certificate does not load (PEM or PFX with its private key, right password?): %w", perr)
		}
		cred, err = azidentity.NewClientCertificateCredential(cfg.TenantID, cfg.ClientID, certs, key,
			&azidentity.ClientCertificateCredentialOptions{ClientOptions: clientOpts, DisableInstanceDiscovery: noDiscovery})
	} else {
		cred, err = azidentity.NewClientSecretCredential(cfg.TenantID, cfg.ClientID, cfg.ClientSecret,
			&azidentity.ClientSecretCredentialOptions{ClientOptions: clientOpts, DisableInstanceDiscovery: noDiscovery})
	}
	if err != nil {
		return nil, fmt.Errorf("entra: credential: %w", err)
	}
	// The provider attaches tokens only to the hosts listed, so the Graph
	// host of this cloud (or of the fake) must be named.
	auth, err := kiotaazure.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(
		cred, []string{graphBase + "/.default"}, []string{graphURL.Hostname()})
	if err != nil {
		return nil, fmt.Errorf("entra: auth provider: %w", err)
	}

	// Passing our own http.Client replaces the SDK's default one, so put the
	// SDK's middleware (redirects, $-decoding, telemetry) back on top of our
	// transport, with our own retries in place of the SDK's and without its
	// request compression (orderMiddleware).
	opts := msgraphsdk.GetDefaultClientOptions()
	middleware := orderMiddleware(msgraphcore.GetDefaultMiddlewaresWithOptions(&opts))
	retry := &retryTransport{next: logged,
		maxRetries: cmp.Or(cfg.MaxRetries, DefaultMaxRetries),
		maxWait:    cmp.Or(cfg.MaxRetryWait, DefaultMaxRetryWait),
		maxTotal:   cmp.Or(cfg.MaxRetryTotal, DefaultMaxRetryTotal), metrics: cfg.Metrics}
	if cfg.MaxRetries < 0 {
		retry.maxRetries = 0
	}
	httpClient := &http.Client{
		Transport: khttp.NewCustomTransportWithParentTransport(retry, middleware...),
		// The redirect middleware follows redirects; net/http must not.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       timeout,
	}
	adapter, err := msgraphsdk.NewGraphRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(
		auth, nil, nil, httpClient)
	if err != nil {
		return nil, fmt.Errorf("entra: request adapter: %w", err)
	}
	// Must precede NewGraphServiceClient, which copies the base URL.
	adapter.SetBaseUrl(graphBase + "/v1.0")
	return &Client{
		graph:            newGraphServiceClient(adapter),
		logger:           logger,
		endpoints:        Endpoints{GraphBaseURL: graphBase, AuthorityHost: authority},
		privilegedGroups: lowerAll(cfg.PrivilegedGroups),
		roles:            newTapdeskRoleSource(cfg.SignInClientID, cfg.RoleGroups),
		cred:             cred,
		scope:            graphBase + "/.default",
		appID:            strings.TrimSpace(cfg.ClientID),
	}, nil
}

// orderMiddleware drops the SDK's retry handler (retryTransport does that
// job below all middleware) and its compression handler, and fixes the
// order of the rest.
//
// The compression handler gzips every request body with a new
// compressor: about 1 MB allocated and cleared per POST, most of the
// processor time of an issue's create, to shrink a body of a hundred
// bytes (a pass's lifetime; a mail of a few KB at most). Graph takes
// plain bodies as well as gzipped ones.
//
// kiota-http-go builds its default list from a map, so the order is random
// per client; a fixed order makes every client behave alike.
func orderMiddleware(ms []khttp.Middleware) []khttp.Middleware {
	ms = slices.DeleteFunc(ms, func(m khttp.Middleware) bool {
		switch m.(type) {
		case *khttp.RetryHandler, *khttp.CompressionHandler:
			return true
		}
		return false
	})
	slices.SortStableFunc(ms, func(a, b khttp.Middleware) int {
		return cmp.Compare(fmt.Sprintf("%T", a), fmt.Sprintf("%T", b))
	})
	return ms
}

// baseURL parses an https root URL, defaulting when empty, without a
// trailing slash.
func baseURL(raw, dflt, what string) (string, *url.URL, error) {
	if strings.TrimSpace(raw) == "" {
		raw = dflt
	}
	raw = strings.TrimRight(strings.TrimSpace(raw), "/")
	u, err := url.Parse(raw)
	if err != nil {
		return "", nil, fmt.Errorf("entra: %s %q: %w", what, raw, err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return "", nil, errors.New("entra: " + what + " must be an https URL, got " + raw)
	}
	return raw, u, nil
}

func lowerAll(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id = strings.ToLower(strings.TrimSpace(id)); id != "" {
			out = append(out, id)
		}
	}
	return out
}

// newGraphServiceClient is msgraphsdk.NewGraphServiceClient without its
// write to kiota's package variable store.BackingStoreFactoryInstance
// (EnableBackingStore sets it when given a factory): every model the SDK
// parses reads that variable, so a second client made while a first one
// parses (two demos in one test process, a client made per sweep) was a
// data race. The variable already holds the factory it would have set.
func newGraphServiceClient(adapter *msgraphsdk.GraphRequestAdapter) *msgraphsdk.GraphServiceClient {
	return &msgraphsdk.GraphServiceClient{GraphBaseServiceClient: *msgraphsdk.NewGraphBaseServiceClient(adapter, nil)}
}
