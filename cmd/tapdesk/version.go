package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Set by the release build (scripts/build, deploy/Dockerfile) with
// -ldflags "-X main.buildVersion=... -X main.buildCommit=... -X main.buildDate=...".
// A plain go build leaves them empty and buildInfo falls back to what the Go
// toolchain records from version control.
var (
	buildVersion string
	buildCommit  string
	buildDate    string
)

// buildInfo says which tapdesk this is.
type buildInfo struct {
	Version   string // a tag from git describe, or "devel"
	Commit    string // full commit hash, "+dirty" when built from changed files; "unknown" without vcs data
	Date      string // UTC build date (release build) or commit date (plain build)
	GoVersion string
}

func currentBuild() buildInfo {
	bi, _ := debug.ReadBuildInfo()
	return describeBuild(buildVersion, buildCommit, buildDate, bi)
}

// describeBuild prefers the stamped values and fills what is missing from
// the toolchain's own build information.
func describeBuild(ver, commit, date string, bi *debug.BuildInfo) buildInfo {
	b := buildInfo{Version: ver, Commit: commit, Date: date, GoVersion: runtime.Version()}
	if bi != nil {
		b.GoVersion = bi.GoVersion
		if b.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			b.Version = bi.Main.Version
		}
		var rev, at string
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if b.Commit == "" && rev != "" {
			b.Commit = rev
			if modified {
				b.Commit += "+dirty"
			}
		}
		if b.Date == "" {
			b.Date = at
		}
	}
	if b.Version == "" {
		b.Version = "devel"
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	if b.Date == "" {
		b.Date = "unknown"
	}
	return b
}

// String is what tapdesk version prints, one line per fact so scripts can
// pick one out with grep or awk.
func (b buildInfo) String() string {
	return fmt.Sprintf("tapdesk %s\ncommit  %s\nbuilt   %s\ngo      %s\n", b.Version, b.Commit, b.Date, b.GoVersion)
}

func version() string { return currentBuild().Version }
