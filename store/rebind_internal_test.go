package store

import "testing"

// rebind is the one place ? becomes $n: a ? inside a literal, a quoted
// identifier, a comment or a dollar-quoted body stays as it is.
func TestRebind(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`SELECT a FROM t WHERE b = ? AND c IN (?, ?)`, `SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)`},
		{`SELECT 'why?', "col?", ?`, `SELECT 'why?', "col?", $1`},
		{`SELECT 'it''s ?', ?`, `SELECT 'it''s ?', $1`},
		{`SELECT E'it\'s ?', ?`, `SELECT E'it\'s ?', $1`},
		{`SELECT e'\\', ?`, `SELECT e'\\', $1`},
		{`SELECT 'back\', ?`, `SELECT 'back\', $1`}, // a plain literal has no escapes
		{"SELECT ? -- why?\n, ?", "SELECT $1 -- why?\n, $2"},
		{`SELECT /* why? /* nested? */ still? */ ?`, `SELECT /* why? /* nested? */ still? */ $1`},
		{`DO $$ BEGIN PERFORM 1 WHERE 'a' = '?'; END $$`, `DO $$ BEGIN PERFORM 1 WHERE 'a' = '?'; END $$`},
		{`SELECT $fn$ ? $fn$, ?`, `SELECT $fn$ ? $fn$, $1`},
		{`SELECT ? WHERE x = $1`, `SELECT $1 WHERE x = $1`},
		{`SELECT 'unterminated ?`, `SELECT 'unterminated ?`},
	} {
		if got := rebind(c.in); got != c.want {
			t.Errorf("rebind(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}
