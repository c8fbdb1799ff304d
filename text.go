package tapdesk

import "strings"

// hiddenControls are the characters refused in free text people type
// (ticket, justification, verification note, denial reason) and removed from
// directory names in mail: invisible characters that reorder the text around
// them (Trojan Source, CVE-2021-42574) or hide inside a word so that two
// strings that look alike differ. Approvers decide on what they read, so what
// they read must be what was typed.
//
// Zero-width joiner and non-joiner are on the list although Persian and
// Indic writing use them: these fields are short helpdesk notes, and an
// invisible character in a ticket reference is how one ticket passes for
// another.
var hiddenControls = []struct {
	lo, hi rune
	what   string
	bidi   bool // changes the direction of the text around it
}{
	{0x061C, 0x061C, "a text-direction mark", true},     // ARABIC LETTER MARK
	{0x180E, 0x180E, "an invisible separator", false},   // MONGOLIAN VOWEL SEPARATOR
	{0x200B, 0x200D, "a zero-width character", false},   // ZERO WIDTH SPACE, NON-JOINER, JOINER
	{0x200E, 0x200F, "a text-direction mark", true},     // LEFT-TO-RIGHT MARK, RIGHT-TO-LEFT MARK
	{0x202A, 0x202E, "a text-direction override", true}, // LRE, RLE, PDF, LRO, RLO
	{0x2060, 0x2064, "an invisible character", false},   // WORD JOINER, invisible operators
	{0x2066, 0x2069, "a text-direction isolate", true},  // LRI, RLI, FSI, PDI
	{0x206A, 0x206F, "a deprecated formatting character", false},
	{0xFEFF, 0xFEFF, "a zero-width character", false},       // ZERO WIDTH NO-BREAK SPACE (byte-order mark)
	{0xE0000, 0xE007F, "an invisible tag character", false}, // tags: hidden ASCII
}

// HiddenControl returns the first bidirectional-override or invisible
// character of s (see hiddenControls) and what kind it is.
func HiddenControl(s string) (r rune, what string, found bool) {
	for _, r := range s {
		if what := hiddenKind(r); what != "" {
			return r, what, true
		}
	}
	return 0, "", false
}

func hiddenKind(r rune) string {
	for _, h := range hiddenControls {
		if h.lo <= r && r <= h.hi {
			return h.what
		}
	}
	return ""
}

func isBidiControl(r rune) bool {
	for _, h := range hiddenControls {
		if h.lo <= r && r <= h.hi {
			return h.bidi
		}
	}
	return false
}

// CheckVisibleText refuses free text holding a hidden control. label names
// the field in the sentence ("The justification").
func CheckVisibleText(label, s string) error {
	r, what, found := HiddenControl(s)
	if !found {
		return nil
	}
	return Titledf(EINVALID, "Hidden character", "%s contains %s (U+%04X): it is invisible but can hide or reorder the text around it. Type it again without that character (pasting from chat or documents often brings it along).", label, what, r)
}

// StripBidiControls removes the text-direction controls (marks,
// embeddings, overrides, isolates) from s. Directory names are not ours to
// refuse, so plain text shows them without these; the zero-width joiners
// that Persian and Indic names need stay.
func StripBidiControls(s string) string {
	return strings.Map(func(r rune) rune {
		if isBidiControl(r) {
			return -1
		}
		return r
	}, s)
}

// IsolateName returns a directory name for plain text: text-direction
// controls removed (so none can escape the isolate), then wrapped in FIRST
// STRONG ISOLATE ... POP DIRECTIONAL ISOLATE so a right-to-left name cannot
// reorder the sentence around it (the plain-text counterpart of HTML's
// <bdi>). Clients without isolate support ignore both characters, which are
// invisible.
func IsolateName(s string) string {
	return "\u2068" + StripBidiControls(s) + "\u2069"
}
