package tapdesk

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"
	"time"
)

// Every Act constant declared in event.go is in Activities, once: the audit
// page's list cannot fall behind a new activity.
func TestActivitiesListsEveryConstant(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "event.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[Activity]int{}
	for _, a := range Activities() {
		listed[a]++
	}
	declared := 0
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if !strings.HasPrefix(n.Name, "Act") || len(vs.Values) <= i {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok {
					continue
				}
				declared++
				if a := Activity(strings.Trim(lit.Value, `"`)); listed[a] != 1 {
					t.Errorf("%s (%q) is listed %d times in Activities", n.Name, a, listed[a])
				}
			}
		}
	}
	if declared != len(Activities()) {
		t.Errorf("event.go declares %d activities, Activities lists %d", declared, len(Activities()))
	}
	if !KnownActivity("Approve request") || KnownActivity("approve request") || KnownActivity("") {
		t.Error("KnownActivity matches loosely")
	}
}

func TestParseAuditTime(t *testing.T) {
	for in, want := range map[string]string{
		"":                     "0001-01-01T00:00:00Z",
		"2026-11-23T14:30":     "2026-11-23T14:30:00Z",
		"2026-11-23T14:30:05":  "2026-11-23T14:30:05Z",
		"2026-11-23T14:30:05Z": "2026-11-23T14:30:05Z",
		"2026-11-23":           "2026-11-23T00:00:00Z",
	} {
		got, ok := ParseAuditTime(in)
		if !ok || got.UTC().Format(time.RFC3339) != want {
			t.Errorf("ParseAuditTime(%q) = %s, %v", in, got, ok)
		}
	}
	for _, in := range []string{"yesterday", "2026-13-01", "23.11.2026"} {
		if _, ok := ParseAuditTime(in); ok {
			t.Errorf("ParseAuditTime(%q) accepted", in)
		}
	}
}
