package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/term"
)

// initAnswers is what `sluice init` asks for, from flags or prompts.
type initAnswers struct {
	providers []preset // keyEnv as the operator chose it
	admin     string
	out       string
}

// stdinIsTerminal reports whether a person is typing at sluice's stdin,
// so that `sluice init` without flags asks instead of failing.
// (/dev/null is a character device too: ask the terminal driver.)
func stdinIsTerminal() bool {
	return term.IsTerminal(int(os.Stdin.Fd()))
}

// envNameRE is what a shell accepts as a variable name.
var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// prompter asks questions on w and reads the answers, a line each, from r.
type prompter struct {
	in  *bufio.Reader
	out io.Writer
}

// ask prints question (with its default in brackets) and returns the
// answer, or def for an empty one. check returns why an answer is not
// usable; the question is then asked again. The end of the input before
// an answer is an error.
func (p *prompter) ask(question, def string, check func(string) string) (string, error) {
	for {
		if def != "" {
			fmt.Fprintf(p.out, "%s [%s]: ", question, def)
		} else {
			fmt.Fprintf(p.out, "%s: ", question)
		}
		line, err := p.in.ReadString('\n')
		if err != nil && (line == "" || !errors.Is(err, io.EOF)) {
			fmt.Fprintln(p.out)
			return "", fmt.Errorf("no answer to %q: %w", question, err)
		}
		answer := strings.TrimSpace(line)
		if answer == "" {
			answer = def
		}
		msg := ""
		if check != nil {
			msg = check(answer)
		}
		if msg == "" {
			return answer, nil
		}
		fmt.Fprintln(p.out, "  "+msg)
		if err != nil {
			return "", fmt.Errorf("no usable answer to %q", question)
		}
	}
}

// promptInit asks for the providers (by name or number), the variable
// each key is read from, the operator's own login (the admin) and the
// file to write; flags given with --interactive are the defaults.
func promptInit(r io.Reader, w io.Writer, defaults initAnswers) (initAnswers, error) {
	p := &prompter{in: bufio.NewReader(r), out: w}
	fmt.Fprintln(w, "sluice init: a starter configuration. Providers sluice knows:")
	for i, pr := range presets {
		fmt.Fprintf(w, "  %d. %-10s %s\n", i+1, pr.id, pr.name)
	}
	var ids []string
	for _, pr := range defaults.providers {
		ids = append(ids, pr.id)
	}
	var chosen []preset
	_, err := p.ask("Providers (names or numbers, comma-separated)", strings.Join(ids, ","), func(s string) string {
		var names []string
		for _, f := range strings.Split(s, ",") {
			f = strings.TrimSpace(f)
			if n, err := strconv.Atoi(f); err == nil && n >= 1 && n <= len(presets) {
				f = presets[n-1].id
			}
			names = append(names, f)
		}
		var err error
		if chosen, err = choosePresets(strings.Join(names, ",")); err != nil {
			return err.Error()
		}
		return ""
	})
	if err != nil {
		return initAnswers{}, err
	}
	for i := range chosen {
		env, err := p.ask(fmt.Sprintf("Environment variable holding the %s key", chosen[i].name), chosen[i].keyEnv, func(s string) string {
			if !envNameRE.MatchString(s) {
				return fmt.Sprintf("%q is not a variable name (letters, digits and _, not starting with a digit)", s)
			}
			return ""
		})
		if err != nil {
			return initAnswers{}, err
		}
		chosen[i].keyEnv = env
	}
	admin, err := p.ask("Your own login, made admin (e.g. you@example.com; empty for no admin)", defaults.admin, func(s string) string {
		if !utf8.ValidString(s) || strings.ContainsAny(s, " \t\"") {
			return "a login has no spaces or quotes"
		}
		return ""
	})
	if err != nil {
		return initAnswers{}, err
	}
	out, err := p.ask("Write the configuration to (- to print it)", orDefault(defaults.out, "sluice.hujson"), func(s string) string {
		if s == "-" {
			return ""
		}
		if _, err := os.Stat(s); err == nil {
			return s + " exists; not overwriting it: name another file"
		}
		return ""
	})
	if err != nil {
		return initAnswers{}, err
	}
	if out == "-" {
		out = ""
	}
	return initAnswers{providers: chosen, admin: admin, out: out}, nil
}
