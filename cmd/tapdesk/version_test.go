package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionOutput(t *testing.T) {
	out, _, err := runCLI(t, nil, "version")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "tapdesk ") || !strings.HasPrefix(lines[1], "commit  ") ||
		!strings.HasPrefix(lines[2], "built   ") || !strings.HasPrefix(lines[3], "go      go1.") {
		t.Fatalf("version output %q", out)
	}
}

func TestDescribeBuild(t *testing.T) {
	vcs := &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "4f1c2e0d9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e"},
		{Key: "vcs.time", Value: "2026-11-27T09:15:00Z"},
		{Key: "vcs.modified", Value: "true"},
	}}
	for _, tc := range []struct {
		name              string
		ver, commit, date string
		bi                *debug.BuildInfo
		want              buildInfo
	}{
		{"release build: the stamped values win", "v1.4.0", "abc123", "2026-11-28T20:00:00Z", vcs,
			buildInfo{"v1.4.0", "abc123", "2026-11-28T20:00:00Z", "go1.99.1"}},
		{"plain go build in a checkout: what the toolchain recorded", "", "", "", vcs,
			buildInfo{"devel", "4f1c2e0d9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e+dirty", "2026-11-27T09:15:00Z", "go1.99.1"}},
		{"go install of a tagged module", "", "", "", &debug.BuildInfo{GoVersion: "go1.99.1", Main: debug.Module{Version: "v1.3.2"}},
			buildInfo{"v1.3.2", "unknown", "unknown", "go1.99.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := describeBuild(tc.ver, tc.commit, tc.date, tc.bi); got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}
