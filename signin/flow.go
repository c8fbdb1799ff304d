package signin

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/tapdesk/tapdesk"
)

// Pending is a sign-in between the redirect to the provider and the callback.
// The handler keeps it in the server-side session (never in a cookie the
// browser can read or change) and hands it back to Finish. Plain fields, so
// it gob-encodes.
type Pending struct {
	State    string    // echoed by the provider; ties the callback to this browser
	Nonce    string    // echoed inside the ID token; ties the token to this attempt
	Verifier string    // PKCE code verifier; ties the code to this attempt
	Next     string    // local path to return to, already passed through SafeNext
	MaxAge   int       // seconds requested as max_age; 0 means none
	Created  time.Time // Finish refuses a Pending older than PendingLifetime
}

// BeginOptions ask for a fresh sign-in, as approvers need before deciding.
type BeginOptions struct {
	// MaxAge, when positive, is sent as max_age, and Finish refuses an ID
	// token whose auth_time is missing or older than this.
	MaxAge time.Duration
	// ForceLogin sends prompt=login so the provider asks for credentials even
	// when the person has a session there.
	ForceLogin bool
}

// Begin starts a sign-in: it returns the provider URL to redirect the browser
// to and the Pending to keep in the session until the callback. next is where
// to go afterwards; anything but a local path becomes "/".
func (a *Authenticator) Begin(ctx context.Context, next string, opts BeginOptions) (string, Pending, error) {
	rp, err := a.relyingParty(ctx)
	if err != nil {
		return "", Pending{}, err
	}
	p := Pending{
		State:    randomToken(),
		Nonce:    randomToken(),
		Verifier: oauth2.GenerateVerifier(),
		Next:     SafeNext(next),
		Created:  a.now(),
	}
	params := []oauth2.AuthCodeOption{
		oauth2.S256ChallengeOption(p.Verifier),
		oidc.Nonce(p.Nonce),
	}
	if opts.MaxAge > 0 {
		// Round up: max_age is whole seconds, and rounding down to 0 would
		// mean "authenticate again right now", which is stricter than asked.
		p.MaxAge = int((opts.MaxAge + time.Second - 1) / time.Second)
		params = append(params, oauth2.SetAuthURLParam("max_age", strconv.Itoa(p.MaxAge)))
	}
	if opts.ForceLogin {
		params = append(params, oauth2.SetAuthURLParam("prompt", "login"))
	}
	return rp.oauth.AuthCodeURL(p.State, params...), p, nil
}

// SignIn is a finished sign-in: the person, and the raw ID token they came
// with, which the handler keeps (sealed, server-side) only to name the
// session when asking the provider to end it (id_token_hint at sign-out).
type SignIn struct {
	tapdesk.Principal
	IDToken string
}

// Finish completes a sign-in from the callback's query and the Pending that
// Begin returned. The handler must delete the Pending from the session
// whatever the outcome, so a callback cannot be replayed against it.
//
// Errors match one of the Err* reasons and carry a *tapdesk.Error whose
// message can be shown as is.
func (a *Authenticator) Finish(ctx context.Context, p Pending, query url.Values) (SignIn, error) {
	now := a.now()
	if p.State == "" || p.Nonce == "" || p.Verifier == "" || now.Sub(p.Created) > PendingLifetime {
		return SignIn{}, refuse(ErrAttemptExpired,
			"Your sign-in took too long or was not started from this browser. Sign in again.", nil)
	}
	// The provider's own error comes first: it is the accurate sentence when
	// someone cancels at the provider. Nothing from the query reaches the
	// message shown, since anyone can craft a callback URL.
	if code := query.Get("error"); code != "" {
		return SignIn{}, refuse(ErrProviderRefused, providerErrorMessage(code),
			fmt.Errorf("provider returned error %q: %q", code, query.Get("error_description")))
	}
	if !equal(query.Get("state"), p.State) {
		return SignIn{}, refuse(ErrStateMismatch,
			"This sign-in response does not belong to the sign-in started in this browser. Start again from tapdesk.", nil)
	}
	code := query.Get("code")
	if code == "" {
		return SignIn{}, refuse(ErrCodeRefused,
			"The identity provider sent no sign-in code. Sign in again.", errors.New("callback without code"))
	}

	rp, err := a.relyingParty(ctx)
	if err != nil {
		return SignIn{}, err
	}
	ctx = a.httpContext(ctx)
	token, err := rp.oauth.Exchange(ctx, code, oauth2.VerifierOption(p.Verifier))
	if err != nil {
		// A 4xx answer (invalid_grant above all) refuses this code; anything
		// else means the provider is not answering properly right now.
		if re, ok := errors.AsType[*oauth2.RetrieveError](err); ok && re.Response != nil && re.Response.StatusCode < 500 {
			return SignIn{}, refuse(ErrCodeRefused,
				"The identity provider refused to complete the sign-in; the code may have expired or been used already. Sign in again.", err)
		}
		return SignIn{}, fail(tapdesk.EUNAVAILABLE, ErrProviderUnavailable,
			"The sign-in service could not be reached to complete your sign-in. Try again in a minute.", err)
	}
	raw, _ := token.Extra("id_token").(string)
	if raw == "" {
		return SignIn{}, refuse(ErrTokenInvalid, tokenInvalidMessage, errors.New("token response without id_token"))
	}
	idToken, err := rp.verifier.Verify(ctx, raw)
	if err != nil {
		return SignIn{}, refuse(ErrTokenInvalid, tokenInvalidMessage, err)
	}
	// Verify leaves the nonce to us; without this check a token issued for
	// another attempt (or another person's, replayed) would pass.
	if !equal(idToken.Nonce, p.Nonce) {
		return SignIn{}, refuse(ErrNonceMismatch,
			"The identity provider's answer does not belong to this sign-in attempt, so you were not signed in. Sign in again.", nil)
	}

	var c claims
	if err := idToken.Claims(&c); err != nil {
		return SignIn{}, refuse(ErrTokenInvalid, tokenInvalidMessage, fmt.Errorf("decoding claims: %w", err))
	}
	pr := c.principal(a.cfg.GroupRoles)
	if pr.TenantID == "" || pr.ObjectID == "" {
		return SignIn{}, refuse(ErrNoIdentity,
			"Your sign-in did not say which organisation and account you are (tid and oid claims), so tapdesk cannot let you in. Tell your administrator to check the app registration.",
			fmt.Errorf("tid=%q oid=%q sub=%q", pr.TenantID, pr.ObjectID, idToken.Subject))
	}
	if !strings.EqualFold(pr.TenantID, a.cfg.TenantID) {
		return SignIn{}, refuse(ErrWrongTenant,
			"You signed in with an account of another organisation, so tapdesk cannot let you in. Sign in with your account of this organisation.",
			fmt.Errorf("tid=%q, the configured tenant is %q (oid=%q)", pr.TenantID, a.cfg.TenantID, pr.ObjectID))
	}
	if p.MaxAge > 0 {
		maxAge := time.Duration(p.MaxAge) * time.Second
		if pr.AuthTime.IsZero() || now.Sub(pr.AuthTime) > maxAge+authTimeSkew {
			return SignIn{}, refuse(ErrSignInTooOld,
				fmt.Sprintf("This needs a sign-in from the last %s, and yours is older. Sign in again.", tapdesk.HumanDuration(maxAge)),
				fmt.Errorf("auth_time %v, now %v, max_age %ds", pr.AuthTime, now, p.MaxAge))
		}
	}
	return SignIn{Principal: pr, IDToken: raw}, nil
}

const tokenInvalidMessage = "The identity provider's answer could not be verified, so you were not signed in. Sign in again; if it keeps happening, tell your administrator."

// oauthErrorCode matches the RFC 6749 error code syntax closely enough to
// decide whether the code is safe to echo to people.
var oauthErrorCode = regexp.MustCompile(`^[a-z_]{1,64}$`)

func providerErrorMessage(code string) string {
	switch code {
	case "access_denied":
		return "Sign-in was cancelled or refused at the identity provider. Sign in again; if you are refused, ask your administrator whether you are assigned to tapdesk."
	case "login_required", "interaction_required", "consent_required", "account_selection_required":
		return "The identity provider needs you to sign in interactively. Sign in again."
	case "temporarily_unavailable", "server_error":
		return "The identity provider could not sign you in just now. Try again in a minute."
	}
	if oauthErrorCode.MatchString(code) {
		return fmt.Sprintf("The identity provider refused the sign-in (%s). Sign in again; if it keeps happening, tell your administrator.", code)
	}
	return "The identity provider refused the sign-in. Sign in again; if it keeps happening, tell your administrator."
}

// equal compares secrets without leaking how much of them matched; an empty
// expected value never matches.
func equal(got, want string) bool {
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// randomToken returns 256 random bits, URL-safe.
func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails: crypto/rand crashes the program instead
	return base64.RawURLEncoding.EncodeToString(b)
}
