package entra

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

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
	userID, err := requireUserID(userID)
	if err != nil {
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
// A create is never repeated once Graph may have acted on it, since a
// second pass would silently replace the first. Throttling (429) is waited
// out; after anything that leaves the outcome open (a timeout, a dropped
// connection, a 5xx) CreateTAP lists the user's passes instead. If one was
// created since the attempt began, its text is lost for good, so CreateTAP
// deletes it and returns a GraphAnswerLost error: nothing was issued, and
// the agent may simply try again. If Graph itself answered (500, 503) and
// none was created, the error is GraphNothingCreated: nothing was issued
// either, and the agent may try again too. To tell that pass from one the user
// already had, CreateTAP goes by the user's passes as listed before the
// create: those the caller read (TAPs) while it did other work, if that
// read is fresh (tapdesk.PriorTAPs.FreshAt), or else read here first.
func (c *Client) CreateTAP(ctx context.Context, userID string, spec tapdesk.TAPSpec, read *tapdesk.PriorTAPs) (*tapdesk.IssuedTAP, error) {
	userID, err := requireUserID(userID)
	if err != nil {
		return nil, err
	}
	if !read.FreshAt(time.Now()) {
		again := tapdesk.ReadPriorTAPs(ctx, c, userID)
		read = &again
	}
	prior, err := read.TAPs, read.Err
	var ge *tapdesk.GraphError
	if errors.As(err, &ge) && ge.Kind == tapdesk.GraphNotFound {
		return nil, err // no such user: the create would say the same
	}
	if err != nil {
		// Not fatal: the check after a lost answer then goes by time alone.
		c.logger.WarnContext(ctx, "entra: cannot list the user's passes before a create", "err", err)
		prior = nil
	}
	ctx = withExchange(ctx)
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
	started := time.Now()
	tap, err := c.graph.Users().ByUserId(userID).Authentication().TemporaryAccessPassMethods().Post(ctx, body, nil)
	switch {
	case err != nil:
		failure := graphError(ctx, "create TAP", err)
		if !mayHaveCreated(ctx, err, failure) {
			return nil, failure
		}
		return nil, c.settleLostCreate(ctx, userID, prior, started, failure)
	case tap == nil:
		return nil, c.settleLostCreate(ctx, userID, prior, started, emptyAnswer(ctx, "create TAP"))
	}
	pass := deref(tap.GetTemporaryAccessPass())
	if pass == "" {
		// Created, but the pass is not in the answer: as good as lost.
		a := lastAnswer(ctx)
		failure := &tapdesk.GraphError{Kind: tapdesk.GraphUnavailable, Status: a.status, RequestID: a.requestID,
			Code: "no_pass_in_response", Message: "create TAP: Graph created a pass but sent no pass"}
		return nil, c.deleteOrphan(ctx, userID, tapInfo(tap), failure)
	}
	return &tapdesk.IssuedTAP{TAPInfo: tapInfo(tap), Pass: pass}, nil
}

// createClockSkew is how far Graph's clock may run behind tapdesk's when
// deciding that a pass was created by the attempt that lost its answer.
// Generous, because the pass listed before the create is excluded by id.
const createClockSkew = 5 * time.Minute

// settleTimeout bounds the clean-up after a lost create; it runs even when
// the caller's context has ended (that may be why the answer was lost).
const settleTimeout = 30 * time.Second

// mayHaveCreated reports whether a failed create may still have created a
// pass: Graph saw the request and did not refuse it outright.
func mayHaveCreated(ctx context.Context, raw, failure error) bool {
	if graphAttempts(ctx) == 0 {
		return false // no request reached Graph (e.g. the token request failed)
	}
	var op *net.OpError
	if errors.As(raw, &op) && op.Op == "dial" {
		return false // the connection never opened
	}
	var ge *tapdesk.GraphError
	if errors.As(failure, &ge) && ge.Status >= 400 && ge.Status < 500 && ge.Status != http.StatusRequestTimeout {
		return false // a refusal: Graph refuses before it creates
	}
	return true
}

// settleLostCreate finds out whether a create whose answer was lost made a
// pass, and deletes it if so. A pass is the create's if it was not among
// the prior ones and was created since the attempt began.
func (c *Client) settleLostCreate(ctx context.Context, userID string, prior []tapdesk.TAPInfo, started time.Time, failure error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	ctx = withExchange(ctx)
	taps, err := c.listTAPs(ctx, userID)
	if err != nil {
		c.logger.ErrorContext(ctx, "entra: a create's answer was lost and the user's passes cannot be listed; a pass may exist that nobody knows",
			"err", err, "create_err", failure)
		ge := lostCreateError(failure, tapdesk.GraphOutcomeUnknown)
		ge.Message += "; listing passes afterwards failed: " + oneLine(err.Error())
		return ge
	}
	for _, t := range taps {
		known := slices.ContainsFunc(prior, func(p tapdesk.TAPInfo) bool { return strings.EqualFold(p.MethodID, t.MethodID) })
		if !known && !t.CreatedAt.Before(started.Add(-createClockSkew)) {
			return c.deleteOrphan(ctx, userID, t, failure)
		}
	}
	// Nothing was created. If Graph itself answered (a 500 or 503, a success
	// without a body) it had finished with the request, so the look is final
	// and the agent may try again. After a timeout, a dropped connection or a
	// gateway's 502 or 504, Graph may still be at work behind it, and the
	// ordinary failure stands.
	var ge *tapdesk.GraphError
	if errors.As(failure, &ge) && graphFinished(ge.Status) {
		nothing := lostCreateError(failure, tapdesk.GraphNothingCreated)
		nothing.Message += "; no pass was created"
		return nothing
	}
	return failure
}

// graphFinished reports whether an answer with this status means Graph
// was done with the request: there was an answer, and not one a gateway
// gives while the service behind it may still be working on it.
func graphFinished(status int) bool {
	switch status {
	case 0, http.StatusRequestTimeout, http.StatusBadGateway, http.StatusGatewayTimeout:
		return false
	}
	return true
}

// deleteOrphan deletes a pass whose text tapdesk never got, so that no
// pass exists that nobody can hand over, and reports that nothing was
// issued.
func (c *Client) deleteOrphan(ctx context.Context, userID string, orphan tapdesk.TAPInfo, failure error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	ge := lostCreateError(failure, tapdesk.GraphAnswerLost)
	ge.OrphanMethodID = orphan.MethodID
	if err := c.DeleteTAP(ctx, userID, orphan.MethodID); err != nil && !passGone(err) {
		c.logger.ErrorContext(ctx, "entra: cannot delete a pass whose create answer was lost",
			"method_id", orphan.MethodID, "err", err)
		ge.Kind = tapdesk.GraphAnswerLostPassLeft
		ge.Message += "; deleting the orphan pass " + orphan.MethodID + " failed: " + oneLine(err.Error())
		return ge
	}
	c.logger.WarnContext(ctx, "entra: a create's answer was lost; deleted the pass it made", "method_id", orphan.MethodID)
	ge.Message += "; orphan pass " + orphan.MethodID + " deleted"
	return ge
}

// passGone reports whether a delete failed because the pass no longer
// exists (replaced or deleted meanwhile), which is what the delete wanted.
func passGone(err error) bool {
	var ge *tapdesk.GraphError
	return errors.As(err, &ge) && ge.Kind == tapdesk.GraphNotFound && ge.Code != "Request_ResourceNotFound"
}

// lostCreateError keeps what is known of the failed create (status, code,
// request id) under the new kind.
func lostCreateError(failure error, kind tapdesk.GraphErrorKind) *tapdesk.GraphError {
	ge := &tapdesk.GraphError{Kind: kind, Message: "create TAP: " + oneLine(failure.Error())}
	var orig *tapdesk.GraphError
	if errors.As(failure, &orig) {
		ge.Status, ge.Code, ge.RequestID, ge.RetryAfter = orig.Status, orig.Code, orig.RequestID, orig.RetryAfter
		ge.Message = orig.Message
	}
	return ge
}

// listTAPs lists the user's passes (Graph keeps at most one).
func (c *Client) listTAPs(ctx context.Context, userID string) ([]tapdesk.TAPInfo, error) {
	resp, err := c.graph.Users().ByUserId(userID).Authentication().TemporaryAccessPassMethods().Get(ctx, nil)
	if err != nil {
		return nil, graphError(ctx, "list TAPs", err)
	}
	if resp == nil {
		return nil, emptyAnswer(ctx, "list TAPs")
	}
	var out []tapdesk.TAPInfo
	for _, t := range resp.GetValue() {
		out = append(out, tapInfo(t))
	}
	return out, nil
}

// TAP reads one of the user's passes by method id (never with the pass
// itself: Graph returns it only from the create). A pass that is gone is a
// GraphNotFound error whose Code is not Request_ResourceNotFound.
func (c *Client) TAP(ctx context.Context, userID, methodID string) (*tapdesk.TAPInfo, error) {
	ctx = withExchange(ctx)
	userID, err := requireUserID(userID)
	if err != nil {
		return nil, err
	}
	if err := requireID("pass method id", methodID); err != nil {
		return nil, err
	}
	t, err := c.graph.Users().ByUserId(userID).Authentication().TemporaryAccessPassMethods().
		ByTemporaryAccessPassAuthenticationMethodId(methodID).Get(ctx, nil)
	if err != nil {
		return nil, graphError(ctx, "get TAP", err)
	}
	if t == nil {
		return nil, emptyAnswer(ctx, "get TAP")
	}
	info := tapInfo(t)
	return &info, nil
}

// TAPs lists the user's Temporary Access Passes (at most one), never with
// the pass itself.
func (c *Client) TAPs(ctx context.Context, userID string) ([]tapdesk.TAPInfo, error) {
	ctx = withExchange(ctx)
	userID, err := requireUserID(userID)
	if err != nil {
		return nil, err
	}
	return c.listTAPs(ctx, userID)
}

// DeleteTAP deletes the user's pass by method id. A pass that is already
// gone (replaced, or deleted elsewhere) is a GraphNotFound error whose Code
// is not Request_ResourceNotFound (that one means the user is gone).
func (c *Client) DeleteTAP(ctx context.Context, userID, methodID string) error {
	ctx = withExchange(ctx)
	userID, err := requireUserID(userID)
	if err != nil {
		return err
	}
	if err := requireID("pass method id", methodID); err != nil {
		return err
	}
	err = c.graph.Users().ByUserId(userID).Authentication().TemporaryAccessPassMethods().
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
	// Registration time closes the loop: a strong method newer than an
	// issued pass means the pass did its job and can go.
	if c, ok := m.(interface{ GetCreatedDateTime() *time.Time }); ok && c.GetCreatedDateTime() != nil {
		am.CreatedAt = c.GetCreatedDateTime().UTC()
	}
	switch kind {
	case "password":
		if !am.CreatedAt.IsZero() {
			am.Detail = "set " + am.CreatedAt.Format("2006-01-02")
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
