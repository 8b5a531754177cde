package main

import (
	"runtime/debug"
	"testing"
)

func TestBuildInfoFallback(t *testing.T) {
	info := func(v string, settings ...string) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) {
			bi := &debug.BuildInfo{Main: debug.Module{Version: v}}
			for i := 0; i+1 < len(settings); i += 2 {
				bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
			}
			return bi, true
		}
	}
	none := func() (*debug.BuildInfo, bool) { return nil, false }
	cases := []struct {
		name                string
		v, c, d             string
		read                func() (*debug.BuildInfo, bool)
		wantV, wantC, wantD string
	}{
		{"ldflags win", "v1.2.3", "abc", "2026-01-02T03:04:05Z", info("v9.9.9", "vcs.revision", "ffff"), "v1.2.3", "abc", "2026-01-02T03:04:05Z"},
		{"go install @version", "", "", "", info("v0.4.0"), "v0.4.0", "unknown", "unknown"},
		{"go build in a checkout", "", "", "", info("(devel)", "vcs.revision", "0123456789abcdef0123", "vcs.time", "2026-12-07T10:00:00Z", "vcs.modified", "true"),
			"devel", "0123456789ab-dirty", "2026-12-07T10:00:00Z"},
		{"no build info", "", "", "", none, "devel", "unknown", "unknown"},
	}
	for _, c := range cases {
		v, cm, d := buildInfo(c.v, c.c, c.d, c.read)
		if v != c.wantV || cm != c.wantC || d != c.wantD {
			t.Errorf("%s: got %q %q %q, want %q %q %q", c.name, v, cm, d, c.wantV, c.wantC, c.wantD)
		}
	}
}
