package tapdesk

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// statusTitles are the titles error pages took from the HTTP status alone
// before errors named their situation. A situation a site knows must not
// fall back to one of them.
var statusTitles = map[string]bool{
	"That did not work": true, "Not found": true, "Not allowed": true, "Please sign in": true,
	"Already changed": true, "Try again shortly": true, "Too many at once": true, "Too large": true,
	"Not a form": true, "Too slow": true, "Something failed": true,
}

func checkTitle(t *testing.T, where, title string) {
	t.Helper()
	switch {
	case strings.TrimSpace(title) == "":
		t.Errorf("%s: empty title", where)
	case statusTitles[title]:
		t.Errorf("%s: title %q is a status title, not the situation", where, title)
	case len(title) > 40:
		t.Errorf("%s: title %q is a sentence, not a few words", where, title)
	}
}

// titleFuncs are the non-literal titles a site may pass: each is checked
// over every value it can take in TestTitleFunctionsNameEverySituation (or,
// for the sign-in reasons, in package signin's own test).
var titleFuncs = map[string]bool{
	"decidedTitle": true, "notIssuableTitle": true, "notRevocableTitle": true,
	"ge.Title": true, "titles[reason]": true,
}

// TestEveryErrorSiteHasATitle reads every Go file of the module (not tests)
// and checks each place that builds a domain error: no Errorf without a
// title, no &Error{} without a Title, and each Titledf (or store's
// conflict) names its situation in a few words that are not a status title.
func TestEveryErrorSiteHasATitle(t *testing.T) {
	consts := map[string]string{
		"DisputedTitle": DisputedTitle, "tapdesk.DisputedTitle": DisputedTitle,
		"ClaimTakenTitle": ClaimTakenTitle, "tapdesk.ClaimTakenTitle": ClaimTakenTitle,
	}
	fset := token.NewFileSet()
	sites := 0
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != "." && (strings.HasPrefix(n, ".") || n == "node_modules" || n == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CompositeLit:
				if name := exprString(n.Type); name == "Error" || name == "tapdesk.Error" {
					if !hasField(n, "Title") && path != "error.go" {
						t.Errorf("%s: an Error without a Title", fset.Position(n.Pos()))
					}
				}
			case *ast.CallExpr:
				at := fset.Position(n.Pos()).String()
				title := -1
				switch fn := exprString(n.Fun); {
				case fn == "Errorf" || fn == "tapdesk.Errorf":
					t.Errorf("%s: Errorf builds an error without a title; use Titledf", at)
				case fn == "Titledf" || fn == "tapdesk.Titledf":
					title = 1
				case fn == "conflict" && strings.HasPrefix(filepath.ToSlash(path), "store/"):
					title = 0
				}
				if title < 0 || len(n.Args) <= title {
					return true
				}
				sites++
				arg := n.Args[title]
				switch a := arg.(type) {
				case *ast.BasicLit:
					s, err := strconv.Unquote(a.Value)
					if err != nil {
						t.Errorf("%s: title %s is not a string", at, a.Value)
					}
					checkTitle(t, at, s)
				default:
					expr := exprString(arg)
					if call, ok := arg.(*ast.CallExpr); ok {
						expr = exprString(call.Fun)
					}
					if v, ok := consts[expr]; ok {
						checkTitle(t, at, v)
					} else if !titleFuncs[expr] && path != "error.go" && !(path == filepath.Join("store", "store.go") && expr == "title") {
						t.Errorf("%s: title %s is neither a string nor a title this test checks; add it here", at, expr)
					}
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if sites < 80 {
		t.Errorf("found %d error sites; the walk missed files", sites)
	}
}

func exprString(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return exprString(e.X) + "." + e.Sel.Name
	case *ast.IndexExpr:
		return exprString(e.X) + "[" + exprString(e.Index) + "]"
	case *ast.StarExpr:
		return exprString(e.X)
	}
	return ""
}

func hasField(lit *ast.CompositeLit, name string) bool {
	for _, el := range lit.Elts {
		if kv, ok := el.(*ast.KeyValueExpr); ok && exprString(kv.Key) == name {
			return true
		}
	}
	return false
}

// TestTitleFunctionsNameEverySituation: the titles chosen by state or by
// Graph's refusal are named for every value.
func TestTitleFunctionsNameEverySituation(t *testing.T) {
	for _, s := range AllStates {
		checkTitle(t, "decidedTitle("+string(s)+")", decidedTitle(s))
		checkTitle(t, "notIssuableTitle("+string(s)+")", notIssuableTitle(s))
		checkTitle(t, "notRevocableTitle("+string(s)+")", notRevocableTitle(s))
	}
	for _, k := range []GraphErrorKind{GraphPolicyDisallows, GraphLifetimeOutOfRange, GraphGuestUser, GraphNotFound,
		GraphForbidden, GraphUnauthorized, GraphThrottled, GraphUnavailable, GraphBadRequest, GraphUnknown,
		GraphAnswerLost, GraphAnswerLostPassLeft, GraphOutcomeUnknown, GraphNothingCreated} {
		checkTitle(t, "GraphError "+string(k), (&GraphError{Kind: k}).Title())
	}
}

// TestErrorTitlesSayTheSituation: what a person meets most often reads as
// what happened, not as an HTTP status.
func TestErrorTitlesSayTheSituation(t *testing.T) {
	now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	agent := Principal{ObjectID: "agent", Roles: []Role{RoleRequester}}
	approver := Principal{ObjectID: "approver", Roles: []Role{RoleApprover}}
	req := func(s State) *Request {
		return &Request{ID: "r1", State: s, Requester: Actor{ObjectID: "agent"}, TargetID: "target", ExpiresAt: now.Add(time.Hour)}
	}
	expired := req(StatePending)
	expired.ExpiresAt = now.Add(-time.Minute)
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"approving an approved request", CheckDecide(req(StateApproved), approver, now), "Already decided"},
		{"approving a denied request", CheckDecide(req(StateDenied), approver, now), "Already decided"},
		{"approving a cancelled request", CheckDecide(req(StateCancelled), approver, now), "Request withdrawn"},
		{"approving after the deadline", CheckDecide(expired, approver, now), "Request expired"},
		{"approving a disputed request", CheckDecide(req(StateDisputed), approver, now), DisputedTitle},
		{"deciding without the role", CheckDecide(req(StatePending), agent, now), "Not one of your tasks"},
		{"revealing a pending request", CheckReveal(req(StatePending), agent, now), "Not approved yet"},
		{"revealing twice", CheckReveal(req(StateIssued), agent, now), "Pass already shown"},
		{"a used approval link", ErrLinkUsed, "Link already used"},
		{"an expired approval link", ErrLinkExpired, "Link expired"},
		{"Graph throttling", &GraphError{Kind: GraphThrottled}, "Microsoft Graph is busy"},
		{"a form with fields to fix", (&ValidationError{fields: map[string]string{"ticket": "x"}}).Err(), "Check the form"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ErrorTitle(tc.err); got != tc.want {
				t.Errorf("title %q, want %q (error: %v)", got, tc.want, tc.err)
			}
		})
	}
	if got := ErrorTitle(Errorf(ECONFLICT, "untitled")); got != "" {
		t.Errorf("an untitled error's title is %q, want \"\" (the status fallback)", got)
	}
}
