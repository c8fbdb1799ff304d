package entra

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/tapdesk/tapdesk"
)

// tapConfigurationID is the TAP policy's id among the tenant's
// authentication method configurations.
const tapConfigurationID = "TemporaryAccessPass"

// Methods lists the user's registered authentication methods, the current
// TAP included. Types the SDK does not know are kept under their raw
// @odata.type.
func (c *Client) Methods(ctx context.Context, userID string) ([]tapdesk.AuthMethod, error) {
	ctx = withExchange(ctx)
	if err := requireID("user", userID); err != nil {
		return nil, err
	}
	resp, err := c.graph.Users().ByUserId(userID).Authentication().Methods().Get(ctx, nil)
	if err != nil {
		return nil, graphError(ctx, "list methods", err)
	}
	if resp == nil {
		return nil, emptyAnswer(ctx, "list methods")
	}
	out := make([]tapdesk.AuthMethod, 0, len(resp.GetValue()))
	for _, m := range resp.GetValue() {
		out = append(out, authMethod(m))
	}
	return out, nil
}

// TAPPolicy reads the tenant's Temporary Access Pass policy.
func (c *Client) TAPPolicy(ctx context.Context) (*tapdesk.TAPPolicy, error) {
	ctx = withExchange(ctx)
	cfg, err := c.graph.Policies().AuthenticationMethodsPolicy().AuthenticationMethodConfigurations().
		ByAuthenticationMethodConfigurationId(tapConfigurationID).Get(ctx, nil)
	if err != nil {
		return nil, graphError(ctx, "get TAP policy", err)
	}
	if cfg == nil {
		return nil, emptyAnswer(ctx, "get TAP policy")
	}
	tap, ok := cfg.(models.TemporaryAccessPassAuthenticationMethodConfigurationable)
	if !ok {
		return nil, fmt.Errorf("entra: TAP policy came back as %q", deref(cfg.GetOdataType()))
	}
	p := &tapdesk.TAPPolicy{
		Enabled:         tap.GetState() != nil && *tap.GetState() == models.ENABLED_AUTHENTICATIONMETHODSTATE,
		DefaultLifetime: int(deref(tap.GetDefaultLifetimeInMinutes())),
		MinLifetime:     int(deref(tap.GetMinimumLifetimeInMinutes())),
		MaxLifetime:     int(deref(tap.GetMaximumLifetimeInMinutes())),
		DefaultLength:   int(deref(tap.GetDefaultLength())),
		UsableOnce:      deref(tap.GetIsUsableOnce()),
	}
	for _, t := range tap.GetIncludeTargets() {
		p.IncludeGroups = append(p.IncludeGroups, deref(t.GetId()))
	}
	for _, t := range tap.GetExcludeTargets() {
		p.ExcludeGroups = append(p.ExcludeGroups, deref(t.GetId()))
	}
	return p, nil
}

// CreateTAP asks Graph for a pass. Graph replaces any pass the user has. The
// returned IssuedTAP is the only copy of the pass; nothing here logs it.
//
// An error of kind GraphUnavailable (a timeout, a dropped connection) leaves
// the outcome unknown: Graph may have created the pass. Methods shows it.
func (c *Client) CreateTAP(ctx context.Context, userID string, spec tapdesk.TAPSpec) (*tapdesk.IssuedTAP, error) {
	ctx = withExchange(ctx)
	if err := requireID("user", userID); err != nil {
		return nil, err
	}
	body := models.NewTemporaryAccessPassAuthenticationMethod()
	if spec.LifetimeMinutes > 0 {
		lt := int32(spec.LifetimeMinutes)
		body.SetLifetimeInMinutes(&lt)
	}
	// Always explicit: a multi-use pass the policy forbids must fail, not
	// quietly become one-time.
	once := spec.UsableOnce
	body.SetIsUsableOnce(&once)
	if spec.StartAt != nil {
		start := spec.StartAt.UTC()
		body.SetStartDateTime(&start)
	}
	tap, err := c.graph.Users().ByUserId(userID).Authentication().TemporaryAccessPassMethods().Post(ctx, body, nil)
	if err != nil {
		return nil, graphError(ctx, "create TAP", err)
	}
	if tap == nil {
		return nil, emptyAnswer(ctx, "create TAP")
	}
	pass := deref(tap.GetTemporaryAccessPass())
	if pass == "" {
		return nil, errors.New("entra: Graph created a Temporary Access Pass but returned no pass; revoke method " +
			deref(tap.GetId()) + " and issue again")
	}
	return &tapdesk.IssuedTAP{TAPInfo: tapInfo(tap), Pass: pass}, nil
}

// DeleteTAP deletes the user's pass by method id. A pass that is already
// gone (replaced, or deleted elsewhere) is a GraphNotFound error whose Code
// is not Request_ResourceNotFound (that one means the user is gone).
func (c *Client) DeleteTAP(ctx context.Context, userID, methodID string) error {
	ctx = withExchange(ctx)
	if err := requireID("user", userID); err != nil {
		return err
	}
	if err := requireID("pass method id", methodID); err != nil {
		return err
	}
	err := c.graph.Users().ByUserId(userID).Authentication().TemporaryAccessPassMethods().
		ByTemporaryAccessPassAuthenticationMethodId(methodID).Delete(ctx, nil)
	return graphError(ctx, "delete TAP", err)
}

func tapInfo(t models.TemporaryAccessPassAuthenticationMethodable) tapdesk.TAPInfo {
	info := tapdesk.TAPInfo{
		MethodID:        deref(t.GetId()),
		CreatedAt:       deref(t.GetCreatedDateTime()),
		StartAt:         deref(t.GetStartDateTime()),
		LifetimeMinutes: int(deref(t.GetLifetimeInMinutes())),
		UsableOnce:      deref(t.GetIsUsableOnce()),
		Usable:          deref(t.GetIsUsable()),
		UsabilityReason: deref(t.GetMethodUsabilityReason()),
	}
	if info.StartAt.IsZero() {
		info.StartAt = info.CreatedAt
	}
	return info
}

// knownKinds are the method types tapdesk names; others keep their raw
// @odata.type as Kind.
var knownKinds = map[string]string{
	"email":                   "Email",
	"fido2":                   "Passkey (FIDO2)",
	"microsoftAuthenticator":  "Microsoft Authenticator",
	"password":                "Password",
	"phone":                   "Phone",
	"platformCredential":      "Platform credential",
	"softwareOath":            "Authenticator app code (OATH)",
	"temporaryAccessPass":     "Temporary Access Pass",
	"windowsHelloForBusiness": "Windows Hello for Business",
}

// shortKind maps "#microsoft.graph.fido2AuthenticationMethod" to "fido2".
func shortKind(odataType string) (string, bool) {
	k := strings.TrimSuffix(strings.TrimPrefix(odataType, "#microsoft.graph."), "AuthenticationMethod")
	_, ok := knownKinds[k]
	return k, ok
}

// authMethod describes one method for people. It goes by @odata.type, not
// by Go type: several model interfaces have the same method set (Windows
// Hello and platform credentials do), so a type switch would mislabel.
func authMethod(m models.AuthenticationMethodable) tapdesk.AuthMethod {
	odataType := deref(m.GetOdataType())
	am := tapdesk.AuthMethod{ID: deref(m.GetId()), ODataType: odataType}
	kind, known := shortKind(odataType)
	if !known {
		am.Kind = odataType
		if am.Kind == "" {
			am.Kind = "unknown"
		}
		am.Label = "Other method (" + kind + ")"
		return am
	}
	am.Kind = kind
	am.Label = knownKinds[kind]
	switch kind {
	case "password":
		if p, ok := m.(models.PasswordAuthenticationMethodable); ok && p.GetCreatedDateTime() != nil {
			am.Detail = "set " + p.GetCreatedDateTime().UTC().Format("2006-01-02")
		}
	case "phone":
		if p, ok := m.(models.PhoneAuthenticationMethodable); ok {
			if t := p.GetPhoneType(); t != nil {
				am.Label += " (" + t.String() + ")"
			}
			am.Detail = maskPhone(deref(p.GetPhoneNumber()))
		}
	case "email":
		if e, ok := m.(models.EmailAuthenticationMethodable); ok {
			am.Detail = maskEmail(deref(e.GetEmailAddress()))
		}
	case "fido2":
		if f, ok := m.(models.Fido2AuthenticationMethodable); ok {
			am.Detail = joinDetail(deref(f.GetDisplayName()), deref(f.GetModel()))
		}
	case "microsoftAuthenticator":
		if a, ok := m.(models.MicrosoftAuthenticatorAuthenticationMethodable); ok {
			am.Detail = deref(a.GetDisplayName())
		}
	case "windowsHelloForBusiness":
		if w, ok := m.(models.WindowsHelloForBusinessAuthenticationMethodable); ok {
			am.Detail = deref(w.GetDisplayName())
		}
	case "platformCredential":
		if p, ok := m.(models.PlatformCredentialAuthenticationMethodable); ok {
			platform := ""
			if p.GetPlatform() != nil {
				platform = p.GetPlatform().String()
			}
			am.Detail = joinDetail(deref(p.GetDisplayName()), platform)
		}
	case "temporaryAccessPass":
		if t, ok := m.(models.TemporaryAccessPassAuthenticationMethodable); ok {
			info := tapInfo(t)
			am.TAP = &info
			am.Detail = tapDetail(info)
		}
	}
	return am
}

func tapDetail(t tapdesk.TAPInfo) string {
	const layout = "2006-01-02 15:04 UTC"
	switch t.UsabilityReason {
	case "EnabledByPolicy":
		return "usable until " + t.ExpiresAt().UTC().Format(layout)
	case "NotYetValid":
		return "valid from " + t.StartAt.UTC().Format(layout)
	case "Expired":
		return "expired " + t.ExpiresAt().UTC().Format(layout)
	case "OneTimeUsed":
		return "already used"
	case "DisabledByPolicy":
		return "blocked by the TAP policy"
	}
	return t.UsabilityReason
}

func joinDetail(a, b string) string {
	switch {
	case a == "" || a == b:
		return b
	case b == "":
		return a
	}
	return a + " · " + b
}

// maskPhone keeps the country code and the last four digits, enough for an
// agent to match a caller's "number ending in ..." and no more.
func maskPhone(n string) string {
	n = strings.TrimSpace(n)
	digits := 0
	for _, r := range n {
		if r >= '0' && r <= '9' {
			digits++
		}
	}
	country := ""
	rest := n
	if strings.HasPrefix(n, "+") {
		if cc, r, ok := strings.Cut(n, " "); ok {
			country, rest = cc+" ", r
			digits -= len(cc) - 1
		}
	}
	var b strings.Builder
	seen := 0
	for _, r := range rest {
		if r >= '0' && r <= '9' {
			seen++
			if seen <= digits-4 {
				b.WriteRune('•')
				continue
			}
		}
		b.WriteRune(r)
	}
	return country + b.String()
}

// maskEmail keeps the first two characters of the local part and the domain.
func maskEmail(addr string) string {
	local, domain, ok := strings.Cut(addr, "@")
	if !ok {
		return addr
	}
	keep := min(2, len(local))
	return local[:keep] + "•••@" + domain
}
