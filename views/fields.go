package views

import (
	"maps"
	"slices"
	"strconv"

	"github.com/a-h/templ"
)

// requestFieldOrder is the form's fields top to bottom, the order of the
// error summary.
func requestFieldOrder() []string {
	return []string{"ticket_ref", "justification", "verification", "verification_note", "lifetime", "usable_once", "start_at"}
}

func (f RequestForm) aria(name string) templ.Attributes { return invalidField(name, f.Errors[name]) }

// invalidField ties an input to its error sentence for screen readers:
// aria-invalid and aria-describedby naming the sentence's id (name-error).
func invalidField(name, msg string) templ.Attributes {
	if msg == "" {
		return nil
	}
	return templ.Attributes{"aria-invalid": "true", "aria-describedby": name + "-error"}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// shortID is the start of a long id, enough to tell requests apart in a
// list; the whole id is in the link and its title.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

// thousands writes n with comma separators (10,000).
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
