package tapdesk

import (
	"strings"
	"testing"
)

func TestCheckFormBody(t *testing.T) {
	for _, c := range []struct {
		name, method, contentType string
		length                    int64
		want                      string // error code, "" for accepted
	}{
		{"a form", "POST", "application/x-www-form-urlencoded", 120, ""},
		{"a form with a charset", "POST", "application/x-www-form-urlencoded; charset=UTF-8", 120, ""},
		{"a form in capitals", "POST", "Application/X-WWW-Form-Urlencoded", 120, ""},
		{"a chunked form", "POST", "application/x-www-form-urlencoded", -1, ""},
		{"a form at the limit", "POST", "application/x-www-form-urlencoded", MaxFormBytes, ""},
		{"a form over the limit", "POST", "application/x-www-form-urlencoded", MaxFormBytes + 1, ETOOLARGE},
		{"multipart over the limit", "POST", "multipart/form-data; boundary=x", 40 << 20, ETOOLARGE},
		{"multipart", "POST", "multipart/form-data; boundary=x", 300, EUNSUPPORTED},
		{"chunked multipart", "POST", "multipart/form-data; boundary=x", -1, EUNSUPPORTED},
		{"JSON", "POST", "application/json", 2, EUNSUPPORTED},
		{"no content type", "POST", "", 0, EUNSUPPORTED},
		{"a malformed content type", "POST", "application/x-www-form-urlencoded; =", 10, EUNSUPPORTED},
		{"a GET", "GET", "", 0, ""},
		{"a GET with a multipart body", "GET", "multipart/form-data; boundary=x", 300, EUNSUPPORTED},
		{"a GET with a chunked body", "GET", "text/plain", -1, EUNSUPPORTED},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := CheckFormBody(c.method, c.contentType, c.length)
			if got := ErrorCode(err); got != c.want {
				t.Fatalf("code %q, want %q (%v)", got, c.want, err)
			}
			if err != nil && !strings.HasSuffix(ErrorMessage(err), ".") {
				t.Errorf("not a sentence: %q", ErrorMessage(err))
			}
		})
	}
	msg := ErrorMessage(CheckFormBody("POST", "multipart/form-data; boundary="+strings.Repeat("b", 500), 10))
	if !strings.Contains(msg, `sent as "multipart/form-data"`) || len(msg) > 300 {
		t.Errorf("the refusal does not name the encoding in brief: %q", msg)
	}
}

func TestServiceRootProblem(t *testing.T) {
	const example = "https://graph.microsoft.com"
	for raw, want := range map[string]string{
		"":                                       "",
		"https://graph.microsoft.com":            "",
		"https://graph.microsoft.com/":           "",
		"https://127.0.0.1:8443":                 "",
		"https://graph.microsoft.com/v1.0":       "without a version, like https://graph.microsoft.com; leave off /v1.0",
		"https://graph.microsoft.com/V1.0/":      "leave off /V1.0",
		"https://graph.microsoft.com/beta":       "leave off /beta",
		"https://graph.microsoft.com/v1.0/users": "leave off /v1.0/users",
		"https://proxy.example/graph":            "must be the Graph host alone",
		"https://graph.microsoft.com?x=1":        "without a user name, query or fragment",
		"https://graph.microsoft.com#top":        "without a user name, query or fragment",
		"https://me@graph.microsoft.com":         "without a user name, query or fragment",
		"http://graph.microsoft.com":             "is not an https URL",
		"graph.microsoft.com":                    "is not an https URL",
		"https://":                               "is not an https URL",
		"https://graph.microsoft.com:bad":        "is not an https URL",
	} {
		got := ServiceRootProblem(raw, "Graph", example)
		if (want == "") != (got == "") || !strings.Contains(got, want) {
			t.Errorf("%q: %q, want %q", raw, got, want)
		}
	}
}

// FuzzAcceptsGzip checks that the quick reading of a header without
// weights (namesGzip) agrees with the full one (weighsGzip) on any header.
func FuzzAcceptsGzip(f *testing.F) {
	for _, seed := range []string{"gzip, deflate, br, zstd", "gzip, deflate, br", "br, zstd", "", " x-GZIP ", "gzip;q=0", "*", ",,", "identity, gzip\t"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, header string) {
		if got, want := acceptsGzip(header), weighsGzip(header); got != want {
			t.Errorf("acceptsGzip(%q) = %v, the full reading says %v", header, got, want)
		}
	})
}

func TestCompressPage(t *testing.T) {
	for _, tc := range []struct {
		accept string
		secret bool
		want   bool
	}{
		{"gzip, deflate, br, zstd", false, true}, // Chromium
		{"gzip, deflate, br, zstd", true, false}, // a pass, a link token, a real CSRF token: never
		{"", false, false},
		{"identity", false, false},
		{"br", false, false},
		{"GZIP", false, true},
		{"x-gzip", false, true},
		{"gzip;q=0", false, false},
		{"gzip; q=0.5", false, true},
		{"gzip;q=0, *", false, false}, // named beats the wildcard
		{"*", false, true},
		{"*;q=0", false, false},
		{"gzip;q=abc", false, false},
		{"gzip;q=2", false, false},
		{"deflate, gzip ;q=1.0", false, true},
		{"gzip, gzip;q=0", false, true}, // the highest weight given counts
		{"deflate, br", false, false},
		{" gzip ,br", false, true},
		{"\tGzip", false, true},
		{"gzipx, xgzip, gz ip", false, false},
		{",,gzip,", false, true},
	} {
		if got := CompressPage(tc.accept, "same-origin", tc.secret); got != tc.want {
			t.Errorf("CompressPage(%q, secret %v) = %v, want %v", tc.accept, tc.secret, got, tc.want)
		}
	}
	for site, want := range map[string]bool{"same-origin": true, "none": true, "same-site": false, "cross-site": false, "": false} {
		if got := CompressPage("gzip", site, false); got != want {
			t.Errorf("CompressPage for Sec-Fetch-Site %q = %v, want %v", site, got, want)
		}
	}
}
