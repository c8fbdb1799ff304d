package views

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// readBack turns a spelling line ("K — capital Kilo") back into the
// character its words name, as someone taking the pass down by phone would.
func readBack(t *testing.T, line string) rune {
	t.Helper()
	_, words, ok := strings.Cut(line, " — ")
	if !ok {
		t.Fatalf("line %q has no words", line)
	}
	if sym, ok := strings.CutPrefix(words, "symbol "); ok {
		r, size := utf8.DecodeRuneInString(sym)
		if size != len(sym) {
			t.Fatalf("line %q names more than one symbol", line)
		}
		return r
	}
	upper := false
	switch {
	case strings.HasPrefix(words, "capital "):
		words, upper = strings.ToLower(strings.TrimPrefix(words, "capital ")), true
	case strings.HasPrefix(words, "lower-case "):
		words = strings.TrimPrefix(words, "lower-case ")
	}
	for r, w := range nato {
		if w == words {
			if upper {
				return r - 'a' + 'A'
			}
			if r >= 'a' && r <= 'z' && !strings.HasPrefix(line[strings.Index(line, " — ")+len(" — "):], "lower-case ") {
				t.Fatalf("line %q names a letter without its case", line)
			}
			return r
		}
	}
	t.Fatalf("line %q: %q is no word of the alphabet", line, words)
	return 0
}

// FuzzSpell: the spelling, read back word by word, is the pass; one line a
// character, each starting with the character itself.
func FuzzSpell(f *testing.F) {
	for _, s := range []string{"", "Ab3$kL9!", "aA0@#%&*+-=?_.:/", "K\u212a", "\u0130i", "é É ß", "\xff\x00", "日本", "<script>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pass string) {
		lines := spell(pass)
		runes := []rune(pass) // invalid bytes read as U+FFFD, as range does
		if len(lines) != len(runes) {
			t.Fatalf("%d lines for %d characters", len(lines), len(runes))
		}
		for i, line := range lines {
			if !strings.HasPrefix(line, string(runes[i])+" — ") {
				t.Fatalf("line %q does not start with %q", line, runes[i])
			}
			if got := readBack(t, line); got != runes[i] {
				t.Fatalf("%q in %q spelled %q, which reads back as %q", runes[i], pass, line, got)
			}
		}
	})
}
