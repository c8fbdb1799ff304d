package entra

import (
	"testing"
	"time"
)

func TestPathTemplate(t *testing.T) {
	for in, want := range map[string]string{
		"/v1.0/users/alex%40contoso.example/authentication/temporaryAccessPassMethods/abc": "/v1.0/users/{id}/authentication/temporaryAccessPassMethods/{id}",
		"/v1.0/users": "/v1.0/users",
		"/5f1d3c2a-7b4e-4c1a-9e8f-0a1b2c3d4e5f/oauth2/v2.0/token":                                           "/{id}/oauth2/v2.0/token",
		"/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/TemporaryAccessPass": "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/TemporaryAccessPass",
	} {
		if got := pathTemplate(in); got != want {
			t.Errorf("pathTemplate(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"0":                             0,
		"1.5":                           1500 * time.Millisecond,
		"30":                            30 * time.Second,
		"Tue, 01 Jan 2030 00:00:10 GMT": 10 * time.Second,
		"soon":                          0,
		"-3":                            0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestMasking(t *testing.T) {
	for in, want := range map[string]string{
		"+1 4255550101":    "+1 ••••••0101",
		"+44 20 7946 0958": "+44 •• •••• 0958",
		"0123":             "0123",
		"":                 "",
	} {
		if got := maskPhone(in); got != want {
			t.Errorf("maskPhone(%q) = %q, want %q", in, got, want)
		}
	}
	if got := maskEmail("jordan@partner.example"); got != "jo•••@partner.example" {
		t.Errorf("maskEmail = %q", got)
	}
}
