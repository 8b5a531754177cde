package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

func init() {
	version, commit, date = buildInfo(version, commit, date, debug.ReadBuildInfo)
}

// buildInfo fills what -ldflags left empty from the build information the
// Go toolchain records: `go install ...@v1.2.3` records the module version,
// `go build` in a git checkout the commit, its time and whether the tree
// was modified. Nothing is ever left empty: "devel" and "unknown" remain.
func buildInfo(version, commit, date string, read func() (*debug.BuildInfo, bool)) (string, string, string) {
	if bi, ok := read(); ok {
		if version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
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
		if commit == "" && rev != "" {
			commit = rev[:min(len(rev), 12)]
			if modified {
				commit += "-dirty"
			}
		}
		if date == "" && at != "" {
			date = at
		}
	}
	if version == "" {
		version = "devel"
	}
	if commit == "" {
		commit = "unknown"
	}
	if date == "" {
		date = "unknown"
	}
	return version, commit, date
}

// versionLine is what --version prints.
func versionLine() string {
	return fmt.Sprintf("sipphone %s (commit %s, built %s, %s, %s/%s)", version, commit, date,
		strings.TrimPrefix(runtime.Version(), "go"), runtime.GOOS, runtime.GOARCH)
}
