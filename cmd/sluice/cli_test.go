package main

import (
	"runtime/debug"
	"strings"
	"testing"
)

// TestVersionString: `sluice version` names the build from its build
// info: a release's module version, or "(devel)" with the revision and a
// dirty mark for a checkout build.
func TestVersionString(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev},
			{Key: "vcs.time", Value: "2026-12-01T10:00:00Z"}, {Key: "vcs.modified", Value: modified}}
	}
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		ok   bool
		want string
	}{
		{name: "release", ok: true,
			bi:   &debug.BuildInfo{GoVersion: "go1.26.6", Main: debug.Module{Version: "v0.4.0"}},
			want: "sluice v0.4.0 (go1.26.6)"},
		{name: "clean checkout", ok: true,
			bi:   &debug.BuildInfo{GoVersion: "go1.26.6", Main: debug.Module{Version: "(devel)"}, Settings: vcs("0123456789abcdef0123", "false")},
			want: "sluice (devel) (revision 0123456789ab, 2026-12-01T10:00:00Z, go1.26.6)"},
		{name: "dirty checkout", ok: true,
			bi:   &debug.BuildInfo{GoVersion: "go1.26.6", Main: debug.Module{Version: "(devel)"}, Settings: vcs("0123456789abcdef0123", "true")},
			want: "sluice (devel) (revision 0123456789ab-dirty, 2026-12-01T10:00:00Z, go1.26.6)"},
		{name: "no build info", ok: false, want: "sluice (unknown build)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := versionString(tt.bi, tt.ok); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	code, stdout, _ := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(stdout, "sluice ") || strings.TrimSpace(stdout) == "sluice dev" {
		t.Errorf("sluice version: exit %d, %q", code, stdout)
	}
}

// TestCLIErrors: mistakes on the command line exit 2 and say what went
// wrong; -h on a subcommand shows that subcommand's own help and exits 0.
func TestCLIErrors(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr []string
		notStderr  []string
	}{
		{name: "typo in a command", args: []string{"serv"}, wantCode: 2,
			wantStderr: []string{`unknown command "serv"`, `Did you mean "sluice serve"?`}},
		{name: "typo in a subcommand", args: []string{"config", "valdate", "x"}, wantCode: 2,
			wantStderr: []string{`Did you mean "sluice config validate"?`}},
		{name: "typo in a policy subcommand", args: []string{"policy", "evl"}, wantCode: 2,
			wantStderr: []string{`Did you mean "sluice policy eval"?`}},
		{name: "nothing like a command", args: []string{"frobnicate"}, wantCode: 2,
			wantStderr: []string{`unknown command "frobnicate"`}, notStderr: []string{"Did you mean"}},
		{name: "serve with a stray argument", args: []string{"serve", "sluice.hujson"}, wantCode: 2,
			wantStderr: []string{`serve takes no arguments, got ["sluice.hujson"]`}},
		{name: "serve --tls alone", args: []string{"serve", "--tls"}, wantCode: 2,
			wantStderr: []string{"--tls needs --tailnet"}},
		{name: "policy eval -h", args: []string{"policy", "eval", "-h"}, wantCode: 0,
			wantStderr: []string{"sluice policy eval [--config FILE]", "-user", "-caps"},
			notStderr:  []string{"sluice policy export", "-out"}},
		{name: "policy test -h", args: []string{"policy", "test", "-h"}, wantCode: 0,
			wantStderr: []string{"sluice policy test [--config FILE]", "-coverage"}, notStderr: []string{"-user"}},
		{name: "config validate -h", args: []string{"config", "validate", "-h"}, wantCode: 0,
			wantStderr: []string{"sluice config validate FILE"}},
		{name: "init -h", args: []string{"init", "-h"}, wantCode: 0,
			wantStderr: []string{"sluice init [--interactive]", "-interactive"}},
		{name: "init with a stray argument", args: []string{"init", "--interactive", "openai"}, wantCode: 2,
			wantStderr: []string{`takes no arguments, got ["openai"]`}},
		{name: "logs --server without a value", args: []string{"logs", "--server"}, wantCode: 2,
			wantStderr: []string{"flag needs an argument: -server"}},
		{name: "logs -h", args: []string{"logs", "-h"}, wantCode: 0,
			wantStderr: []string{"--server URL", "-follow"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.wantCode, stderr)
			}
			for _, want := range tt.wantStderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			for _, not := range tt.notStderr {
				if strings.Contains(stderr, not) {
					t.Errorf("stderr has %q:\n%s", not, stderr)
				}
			}
		})
	}
}

func TestSuggest(t *testing.T) {
	known := []string{"serve", "config", "policy", "version", "help"}
	for name, want := range map[string]string{
		"serve": "serve", "serv": "serve", "sevre": "serve", "confg": "config", "vers": "version",
		"polcy": "policy", "x": "", "frobnicate": "", "init": "",
	} {
		if got := suggest(name, known); got != want {
			t.Errorf("suggest(%q) = %q, want %q", name, got, want)
		}
	}
}
