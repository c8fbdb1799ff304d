package metrics

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRunbookNamesEveryMetric: every metric tapdesk exports has a row in
// the runbook's "Metrics and their alarms", which says what it tells and
// when to alarm; a metric added without one fails here.
func TestRunbookNamesEveryMetric(t *testing.T) {
	doc, err := os.ReadFile("../docs/RUNBOOK.md")
	if err != nil {
		t.Fatal(err)
	}
	section := markdownSection(t, string(doc), "## Metrics and their alarms")
	// The table's rows, where a metric is described: the alert rules below
	// it are examples and do not count.
	var rows []string
	for line := range strings.SplitSeq(section, "\n") {
		if strings.HasPrefix(line, "| `") {
			rows = append(rows, line)
		}
	}
	described := func(name string) bool {
		return slices.ContainsFunc(rows, func(row string) bool {
			return strings.Contains(row, "`"+name+"`") || strings.Contains(row, "`"+name+"{")
		})
	}

	names := exportedNames(t)
	for _, name := range names {
		if !described(name) {
			t.Errorf("docs/RUNBOOK.md: no row in %q for %s: say what it tells and when to alarm", "Metrics and their alarms", name)
		}
	}

	// The names above are read from the source, so they hold the metrics
	// only some installations register (SIEM sinks); a registry with
	// everything registered checks that the reading missed none.
	m := New(Build{Version: "test"})
	m.RequestsByState([]string{"pending"}, func(context.Context) (map[string]int, error) { return nil, nil })
	m.OutboxDepth(func(context.Context) (int, error) { return 0, nil })
	m.NewSIEM([]string{"webhook"}, func(context.Context, string) (SIEMLag, error) { return SIEMLag{}, nil }, time.Now)
	m.HTTPBegin()
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	gathered := 0
	for _, f := range families {
		name := f.GetName()
		if !strings.HasPrefix(name, "tapdesk_") {
			continue // Go's and the process's own collectors
		}
		gathered++
		if !slices.Contains(names, name) {
			t.Errorf("%s is registered but not found by reading the source: the test's reading is out of date", name)
		}
	}
	if gathered < 10 {
		t.Fatalf("only %d tapdesk families gathered: the registry check above checks nothing", gathered)
	}
}

// exportedNames are the metric names in the package's Name and NewDesc
// literals.
func exportedNames(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?:Name:\s*|NewDesc\()"(tapdesk_[a-z_]+)"`)
	var names []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			if !slices.Contains(names, m[1]) {
				names = append(names, m[1])
			}
		}
	}
	return names
}

// markdownSection is the text under heading, up to the next heading of the
// same level.
func markdownSection(t *testing.T, doc, heading string) string {
	t.Helper()
	_, rest, ok := strings.Cut(doc, "\n"+heading+"\n")
	if !ok {
		t.Fatalf("no %q heading", heading)
	}
	if i := strings.Index(rest, "\n## "); i >= 0 {
		rest = rest[:i]
	}
	return rest
}
