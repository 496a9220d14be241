package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readmeOffline are the sluice commands the README test runs: those that
// need no network, no running gateway and no other program.
var readmeOffline = map[string]bool{"config": true, "policy": true, "init": true, "version": true}

// TestREADMECommands runs, in order and in one directory, every sluice
// command of the README's shell blocks that works offline, as a reader
// would type it, so the README cannot drift from the program. `mytests/`
// holds the reader's own Rego tests the Policy section speaks of.
func TestREADMECommands(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	cmds := readmeShellCommands(string(readme))
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.MkdirAll("mytests", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("mytests", "admin_test.rego"), []byte(`package mytests

import rego.v1

import data.sluice.authz

test_default_makes_everyone_admin if {
	authz.role == "admin" with input as {"user": {"login": "alice@example.com"}, "request": {"provider": "openai", "model": "gpt-5"}}
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, line := range cmds {
		args, out := shellWords(line)
		if len(args) < 2 || args[0] != "sluice" || !readmeOffline[args[1]] {
			continue
		}
		ran++
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), args[1:], &stdout, &stderr)
		if code != 0 {
			t.Errorf("README command %q: exit %d\n%s%s", line, code, stdout.String(), stderr.String())
			continue
		}
		if out != "" {
			if err := os.WriteFile(out, stdout.Bytes(), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	if ran < 4 {
		t.Errorf("ran %d README commands; the README's examples have moved (commands: %q)", ran, cmds)
	}
}

// readmeShellCommands returns the command lines of the markdown's sh
// code blocks, continuation lines joined and comments removed.
func readmeShellCommands(md string) []string {
	var cmds []string
	in, cur := false, ""
	sc := bufio.NewScanner(strings.NewReader(md))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "```") {
			in = !in && (line == "```sh" || line == "```bash")
			continue
		}
		if !in {
			continue
		}
		if i := strings.Index(line, " #"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if strings.HasSuffix(line, `\`) {
			cur += strings.TrimSuffix(line, `\`) + " "
			continue
		}
		if line = strings.TrimSpace(cur + line); line != "" {
			cmds = append(cmds, line)
		}
		cur = ""
	}
	return cmds
}

// shellWords splits a simple command line into words, honouring single
// and double quotes, and returns the file of a final "> FILE" apart.
func shellWords(line string) (words []string, out string) {
	var w strings.Builder
	quote, inWord := byte(0), false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			w.WriteByte(c)
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	if n := len(words); n >= 2 && words[n-2] == ">" {
		return words[:n-2], words[n-1]
	}
	return words, ""
}
