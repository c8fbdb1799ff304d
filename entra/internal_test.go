package entra

import (
	"fmt"
	"strings"
	"testing"
	"time"

	khttp "github.com/microsoft/kiota-http-go"
	msgraphsdk "github.com/microsoftgraph/msgraph-sdk-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
)

func TestPathTemplate(t *testing.T) {
	for in, want := range map[string]string{
		"/v1.0/users/alex%40contoso.example/authentication/temporaryAccessPassMethods/abc": "/v1.0/users/{id}/authentication/temporaryAccessPassMethods/{id}",
		"/v1.0/users": "/v1.0/users",
		"/5f1d3c2a-7b4e-4c1a-9e8f-0a1b2c3d4e5f/oauth2/v2.0/token":                                           "/{id}/oauth2/v2.0/token",
		"/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/TemporaryAccessPass": "/v1.0/policies/authenticationMethodsPolicy/authenticationMethodConfigurations/TemporaryAccessPass",
		"/v1.0/users/alex@contoso.example/manager":                                                          "/v1.0/users/{id}/manager",
		"/v1.0/users/5F1D3C2A-7B4E-4C1A-9E8F-0A1B2C3D4E5F/transitiveMemberOf":                               "/v1.0/users/{id}/transitiveMemberOf",
		"/v1.0/users('alex%40contoso.example')":                                                             "/v1.0/users({id})",
		"/v1.0/users%28%27alex%40contoso.example%27%29":                                                     "/v1.0/users({id})",
		"/v1.0/users('o''brien@contoso.example')":                                                           "/v1.0/users({id})",
		"/v1.0/servicePrincipals(appId='5f1d3c2a-7b4e-4c1a-9e8f-0a1b2c3d4e5f')":                             "/v1.0/servicePrincipals(appId={id})",
		"/v1.0/servicePrincipals(alex@contoso.example='x')":                                                 "/v1.0/servicePrincipals({id})",
		"/v1.0/servicePrincipals/5f1d3c2a-7b4e-4c1a-9e8f-0a1b2c3d4e5f/appRoleAssignedTo":                    "/v1.0/servicePrincipals/{id}/appRoleAssignedTo",
		"/v1.0/users?$filter=startswith(displayName,'Nina')":                                                "/v1.0/users",
		"/v1.0/users/$count":                            "/v1.0/users/$count",
		"/v1.0/alex@contoso.example('x')":               "/v1.0/{id}",
		"/v1.0/users/%zz":                               "/v1.0/users/{id}",
		"/v1.0/users/nina.k%40contoso.example/sendMail": "/v1.0/users/{id}/sendMail",
	} {
		if got := pathTemplate(in); got != want {
			t.Errorf("pathTemplate(%s) = %s, want %s", in, got, want)
		}
	}
}

// FuzzPathTemplate holds the template to its promise whatever the path: it
// keeps none of an id, a UPN or a mail address.
func FuzzPathTemplate(f *testing.F) {
	for _, s := range []string{"/v1.0/users/alex@contoso.example", "/v1.0/users('x')", "/v1.0/servicePrincipals(appId='x')",
		"/5f1d3c2a-7b4e-4c1a-9e8f-0a1b2c3d4e5f/oauth2/v2.0/token", "/v1.0/users%28%27a%40b%27%29/manager"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		got := pathTemplate(path)
		for _, seg := range strings.Split(got, "/") {
			name, key, _ := strings.Cut(seg, "(")
			if seg != "" && seg != "{id}" && !pathSegments[name] {
				t.Fatalf("pathTemplate(%q) = %q keeps segment %q", path, got, seg)
			}
			if key != "" && key != "{id})" && !(strings.HasSuffix(key, "={id})") && keySegmentNames[strings.TrimSuffix(key, "={id})")]) {
				t.Fatalf("pathTemplate(%q) = %q keeps key %q", path, got, key)
			}
		}
	})
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"0":                               0,
		"1.5":                             1500 * time.Millisecond,
		"30":                              30 * time.Second,
		"Tue, 01 Jan 2030 00:00:10 GMT":   10 * time.Second,
		"Tuesday, 01-Jan-30 00:00:03 GMT": 3 * time.Second, // RFC 850
		"Tue Jan  1 00:00:04 2030":        4 * time.Second, // asctime
		"Mon, 31 Dec 2029 23:59:00 GMT":   0,               // past
		"0.001":                           time.Millisecond,
		"1e9":                             24 * time.Hour, // capped
		"+Inf":                            24 * time.Hour,
		"soon":                            0,
		"-3":                              0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
	for _, bad := range []string{"soon", "-3", "NaN", ""} {
		if _, ok := readRetryAfter(bad, now); ok {
			t.Errorf("readRetryAfter(%q) accepted", bad)
		}
	}
}

func TestRetriable(t *testing.T) {
	for _, tc := range []struct {
		method string
		status int
		want   bool
	}{
		{"GET", 429, true}, {"POST", 429, true}, {"DELETE", 429, true},
		{"GET", 503, true}, {"GET", 504, true},
		// Graph may have done a POST it answered 503 or 504: a repeated
		// create would issue a second pass.
		{"POST", 503, false}, {"POST", 504, false}, {"DELETE", 503, false},
		{"GET", 500, false}, {"GET", 502, false}, {"GET", 404, false},
	} {
		if got := retriable(tc.method, tc.status); got != tc.want {
			t.Errorf("retriable(%s, %d) = %v", tc.method, tc.status, got)
		}
	}
	// Without Retry-After: 1 s, 2 s, 4 s plus up to a quarter of jitter.
	for attempt, base := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		d, ok := retryDelay("", attempt, time.Now())
		if !ok || d < base || d > base+base/4 {
			t.Errorf("backoff %d: %v", attempt, d)
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

// The SDK's retry handler must be gone (retryTransport replaces it), its
// compression handler too (a new gzip compressor per POST for bodies of a
// hundred bytes), and the rest in one fixed order whatever order kiota's
// map gave them.
func TestOrderMiddleware(t *testing.T) {
	opts := msgraphsdk.GetDefaultClientOptions()
	var first []string
	for i := range 5 {
		var names []string
		for _, m := range orderMiddleware(msgraphcore.GetDefaultMiddlewaresWithOptions(&opts)) {
			switch m.(type) {
			case *khttp.RetryHandler:
				t.Fatal("kiota's RetryHandler is still in the pipeline")
			case *khttp.CompressionHandler:
				t.Fatal("kiota's CompressionHandler is still in the pipeline")
			}
			names = append(names, fmt.Sprintf("%T", m))
		}
		if i == 0 {
			first = names
			if len(names) == 0 {
				t.Fatal("no middleware left")
			}
		} else if fmt.Sprint(names) != fmt.Sprint(first) {
			t.Fatalf("order differs between clients: %v vs %v", names, first)
		}
	}
}
