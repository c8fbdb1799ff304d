package views

import (
	"strings"

	"github.com/tapdesk/tapdesk"
)

// roleLabels are the person's roles as the header shows them, one pill
// each ("Requester", not "Tap.Requester").
func roleLabels(rs []tapdesk.Role) []string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = strings.TrimPrefix(string(r), "Tap.")
	}
	return s
}
