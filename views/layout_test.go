package views

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"github.com/tapdesk/tapdesk"
)

func renderPage(t *testing.T, p Page) *goquery.Document {
	t.Helper()
	var buf bytes.Buffer
	if err := ErrorPage(p, 404, "No such request.").Render(context.Background(), &buf); err != nil {
		t.Fatal(err)
	}
	doc, err := goquery.NewDocumentFromReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestLayoutLandmarks: every page starts with a skip link to the main
// content, and has a banner, the main navigation (signed in) and one main
// landmark; the flash is a status message; the roles are shown.
func TestLayoutLandmarks(t *testing.T) {
	signedIn := Page{Title: "Request", Flash: "Approved.", Demo: true,
		User: tapdesk.Principal{Name: "Alex Agent", UPN: "alex@contoso.example", ObjectID: "o1",
			Roles: []tapdesk.Role{tapdesk.RoleRequester, tapdesk.RoleAuditor}}}
	doc := renderPage(t, signedIn)

	first := doc.Find("body").Children().First()
	if !first.Is("a.skip-link") || first.AttrOr("href", "") != "#main" {
		t.Fatalf("the first element of the body is %s, not the skip link", goquery.NodeName(first))
	}
	if doc.Find("main#main").Length() != 1 || doc.Find("main").Length() != 1 {
		t.Error("no single <main id=main> for the skip link to reach")
	}
	// The banner landmark is a <header> outside main; everything but the
	// skip link sits in a landmark.
	if doc.Find("body > header").Length() != 1 {
		t.Error("no banner (<header> as a child of body)")
	}
	doc.Find("body").Children().Each(func(_ int, s *goquery.Selection) {
		if !s.Is("header, main, footer, a.skip-link, script") {
			t.Errorf("<%s class=%q> sits outside every landmark", goquery.NodeName(s), s.AttrOr("class", ""))
		}
	})
	nav := doc.Find("header nav")
	if nav.Length() != 1 || nav.AttrOr("aria-label", "") == "" {
		t.Error("no labelled main navigation in the banner")
	}
	if nav.Find(`a[href="/users"]`).Length() != 1 || nav.Find(`a[href="/audit"]`).Length() != 1 {
		t.Errorf("the navigation does not offer the person's pages: %s", nav.Text())
	}
	if got := doc.Find(`[data-testid="my-roles"] .role`).Map(func(_ int, s *goquery.Selection) string { return s.Text() }); strings.Join(got, ",") != "Requester,Auditor" {
		t.Errorf("roles shown %q", got)
	}
	if f := doc.Find(`main [data-testid="flash"]`); f.AttrOr("role", "") != "status" || f.Text() != "Approved." {
		t.Error("the flash is not a status message in main")
	}
	if doc.Find(`header [data-testid="demo-banner"]`).Length() != 1 {
		t.Error("the demo banner is not in the banner")
	}
	if doc.Find("[style]").Length() != 0 {
		t.Error("an inline style attribute (the CSP refuses it)")
	}

	t.Run("anonymous", func(t *testing.T) {
		doc := renderPage(t, Page{Title: "Signed out"})
		if doc.Find("nav").Length() != 0 || doc.Find("a.skip-link").Length() != 1 || doc.Find("main#main").Length() != 1 {
			t.Error("an anonymous page lacks the skip link or main, or shows the navigation")
		}
	})
}

// TestEveryStateHasItsLook: stateClass names a class for each request
// state, and app.css gives each its own colour and icon.
func TestEveryStateHasItsLook(t *testing.T) {
	css, err := os.ReadFile("../static/app.css")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]tapdesk.State{}
	for _, s := range tapdesk.AllStates {
		classes := strings.Fields(stateClass(s))
		if len(classes) != 2 || classes[0] != "state" {
			t.Fatalf("stateClass(%s) = %q", s, stateClass(s))
		}
		_, rule, ok := strings.Cut(string(css), "."+classes[1]+" {")
		rule, _, _ = strings.Cut(rule, "}")
		if !ok || !strings.Contains(rule, "--c: var(--s-"+string(s)+")") || !strings.Contains(rule, "--i: var(--i-") {
			t.Errorf("app.css has no colour and icon for .%s", classes[1])
			continue
		}
		_, icon, _ := strings.Cut(rule, "--i: ")
		icon, _, _ = strings.Cut(icon, ";")
		if other, dup := seen[icon]; dup {
			t.Errorf("%s and %s share the icon %s", s, other, icon)
		}
		seen[icon] = s
	}
}
