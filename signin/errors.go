package signin

import (
	"errors"

	"github.com/tapdesk/tapdesk"
)

// Why a sign-in was refused. Every error Begin, Finish and Discover return
// matches exactly one of these with errors.Is, so the handler can name the
// reason in the audit trail without reading error text. The same error also
// holds a *tapdesk.Error (errors.As) with the sentence to show, and the
// technical cause for the log (its Error string).
var (
	ErrProviderUnavailable = errors.New("signin: identity provider unreachable")
	ErrAttemptExpired      = errors.New("signin: no sign-in in progress, or it expired")
	ErrStateMismatch       = errors.New("signin: state does not match")
	ErrProviderRefused     = errors.New("signin: identity provider returned an error")
	ErrCodeRefused         = errors.New("signin: authorization code refused")
	ErrTokenInvalid        = errors.New("signin: ID token invalid")
	ErrNonceMismatch       = errors.New("signin: nonce does not match")
	ErrNoIdentity          = errors.New("signin: ID token lacks tid or oid")
	ErrWrongTenant         = errors.New("signin: ID token from another tenant")
	ErrSignInTooOld        = errors.New("signin: authentication older than max_age")
)

// failure joins the three faces of a refused sign-in: the domain error for
// people, the reason for the program and the cause for the log.
type failure struct {
	domain *tapdesk.Error
	reason error
	cause  error // may be nil
}

func fail(code string, reason error, msg string, cause error) error {
	return &failure{domain: tapdesk.Titledf(code, titles[reason], "%s", msg), reason: reason, cause: cause}
}

// titles name each reason's situation for the error page.
var titles = map[error]string{
	ErrProviderUnavailable: "Sign-in service unreachable",
	ErrAttemptExpired:      "Sign-in timed out",
	ErrStateMismatch:       "Sign-in not recognised",
	ErrProviderRefused:     "Sign-in refused",
	ErrCodeRefused:         "Sign-in refused",
	ErrTokenInvalid:        "Sign-in not trusted",
	ErrNonceMismatch:       "Sign-in not recognised",
	ErrNoIdentity:          "Sign-in incomplete",
	ErrWrongTenant:         "Wrong organisation",
	ErrSignInTooOld:        "Sign in again",
}

func refuse(reason error, msg string, cause error) error {
	return fail(tapdesk.EUNAUTHORIZED, reason, msg, cause)
}

// Error is the log line: reason and technical cause, never shown to people.
func (f *failure) Error() string {
	if f.cause == nil {
		return f.reason.Error()
	}
	return f.reason.Error() + ": " + f.cause.Error()
}

func (f *failure) Unwrap() []error {
	if f.cause == nil {
		return []error{f.domain, f.reason}
	}
	return []error{f.domain, f.reason, f.cause}
}
