package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
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
