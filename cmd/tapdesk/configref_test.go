package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestConfigurationReferenceIsCurrent renders docs/CONFIGURATION.md from
// the settings and compares it with the committed file: a setting added,
// renamed or re-described without regenerating fails here.
func TestConfigurationReferenceIsCurrent(t *testing.T) {
	want, err := configReference()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join("..", "..", configReferenceFile))
	if err != nil {
		t.Fatalf("%s: %v; run go generate ./cmd/tapdesk", configReferenceFile, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run go generate ./cmd/tapdesk\n%s", configReferenceFile, firstDifference(string(got), string(want)))
	}
}

// TestConfigurationReferenceNamesEverySetting guards the generator itself:
// every serve setting appears with its variable, its flag and, for a
// secret, its _FILE form, and every demo and audit flag is listed.
func TestConfigurationReferenceNamesEverySetting(t *testing.T) {
	ref, err := configReference()
	if err != nil {
		t.Fatal(err)
	}
	text := string(ref)
	for _, st := range serveSettings().list {
		row := "| `" + st.env + "`"
		if st.secret {
			row += " or `" + st.env + "_FILE`"
		}
		row += " | `--" + st.flag + "` |"
		if !strings.Contains(text, row) {
			t.Errorf("the reference has no row starting %q", row)
		}
		if st.group == "" {
			t.Errorf("--%s is declared before any s.section(...): give it a group", st.flag)
		}
	}
	for _, f := range []string{"-addr", "-trusted-proxies", "-head", "-format", "-before", "-events"} {
		if !strings.Contains(text, "\n  "+f+" ") && !strings.Contains(text, "\n  "+f+"\t") {
			t.Errorf("the reference does not list the command flag %s", f)
		}
	}
}

// TestConfigurationReferenceRefusesStrayDocs: an explanation for a setting
// that no longer exists stops generation instead of vanishing silently.
func TestConfigurationReferenceRefusesStrayDocs(t *testing.T) {
	s := serveSettings()
	for flagName := range serveSettingDocs() {
		if s.by[flagName] == nil {
			t.Errorf("serveSettingDocs explains --%s, which serve does not declare", flagName)
		}
	}
}

// firstDifference names the first line where the file and the rendering
// part, so the failure says what changed.
func firstDifference(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("first difference at line %d:\n  file:      %s\n  generated: %s", i+1, gl, wl)
		}
	}
	return "the files differ"
}

// TestConfigurationReferenceListsEveryCommand: each command the usage texts
// name (tapdesk help, tapdesk audit help, tapdesk db help) has its flags in
// the reference, serve's as the settings above, version having none.
func TestConfigurationReferenceListsEveryCommand(t *testing.T) {
	ref, err := configReference()
	if err != nil {
		t.Fatal(err)
	}
	var commands []string
	for _, text := range []string{usage, auditUsage, dbUsage} {
		for line := range strings.SplitSeq(text, "\n") {
			words := strings.Fields(line)
			if !strings.HasPrefix(line, "  tapdesk ") || len(words) < 2 {
				continue
			}
			name := "tapdesk " + words[1]
			if (words[1] == "audit" || words[1] == "db") && len(words) > 2 {
				if strings.Contains(words[2], "|") {
					continue // the top usage's summary; the group's own usage lists each
				}
				name += " " + words[2]
			}
			switch words[1] {
			case "serve", "version":
				continue
			}
			if !slices.Contains(commands, name) {
				commands = append(commands, name)
			}
		}
	}
	if len(commands) < 10 {
		t.Fatalf("found only %d commands in the usage texts (%v): the reading is wrong", len(commands), commands)
	}
	for _, c := range commands {
		_, section, ok := strings.Cut(string(ref), "\n### "+c+"\n")
		if !ok {
			t.Errorf("the reference has no section for %s", c)
			continue
		}
		// Its help went where run said (not to the process's own stderr).
		if !strings.HasPrefix(strings.TrimSpace(section), "```\n  -") {
			t.Errorf("the section for %s lists no flags: %.80q", c, section)
		}
	}
}
