package signin

import (
	"testing"

	"github.com/tapdesk/tapdesk"
)

// TestEveryRefusedSignInNamesItsSituation: each reason a sign-in is refused
// for heads its error page with its own title, not the status's.
func TestEveryRefusedSignInNamesItsSituation(t *testing.T) {
	for _, reason := range []error{ErrProviderUnavailable, ErrAttemptExpired, ErrStateMismatch, ErrProviderRefused,
		ErrCodeRefused, ErrTokenInvalid, ErrNonceMismatch, ErrNoIdentity, ErrWrongTenant, ErrSignInTooOld} {
		if title := tapdesk.ErrorTitle(refuse(reason, "sentence", nil)); title == "" || title == "Please sign in" {
			t.Errorf("%v: title %q", reason, title)
		}
	}
}
