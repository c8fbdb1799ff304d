package views

import "github.com/a-h/templ"

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
