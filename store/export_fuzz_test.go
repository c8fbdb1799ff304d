package store_test

import (
	"strings"
	"testing"

	"github.com/tapdesk/tapdesk/store"
)

// FuzzNeutraliseCell: no cell a spreadsheet would evaluate comes out;
// neutralising is idempotent, and it only ever prefixes an apostrophe.
func FuzzNeutraliseCell(f *testing.F) {
	for _, s := range []string{"", "=1+1", "+cmd", "-2", "@SUM(A1)", "\t=1", "\r=1", " =1", "\n\n+1", "＝1", "＋1", "－1", "＠1",
		"'=1", "plain", " ", "\n", " \n \t", "\xff=", "=HYPERLINK(\"http://x\")", "a=b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := store.NeutraliseCell(s)
		if out != s && out != "'"+s {
			t.Fatalf("%q became %q: more than a leading apostrophe", s, out)
		}
		// What a spreadsheet sees after trimming leading spaces and line feeds.
		seen := strings.TrimLeft(out, " \n")
		if seen != "" {
			switch seen[0] {
			case '=', '+', '-', '@', '\t', '\r':
				t.Fatalf("%q came out as %q, which a spreadsheet evaluates", s, out)
			}
			for _, p := range []string{"＝", "＋", "－", "＠"} {
				if strings.HasPrefix(seen, p) {
					t.Fatalf("%q came out as %q, starting with full-width %q", s, out, p)
				}
			}
		}
		if again := store.NeutraliseCell(out); again != out {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, out, again)
		}
	})
}
