package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/sluice-gateway/sluice/engine"
	"github.com/sluice-gateway/sluice/policy"
)

// preset is a provider `sluice init` knows: its base URL, authorization,
// compatibility flags and cost basis as the provider documents them, the
// environment variable its key conventionally lives in, and a few models
// to start with.
type preset struct {
	id, name, baseURL, auth, costBasis, keyEnv string
	compat                                     []string
	models                                     []string
}

var presets = []preset{
	{id: "openai", name: "OpenAI", baseURL: "https://api.openai.com", auth: policy.AuthBearer, costBasis: "openai",
		keyEnv: "OPENAI_API_KEY", compat: []string{"openai_chat", "openai_responses"},
		models: []string{"gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-4.1"}},
	{id: "anthropic", name: "Anthropic", baseURL: "https://api.anthropic.com", auth: policy.AuthXAPIKey, costBasis: "anthropic",
		keyEnv: "ANTHROPIC_API_KEY", compat: []string{"anthropic_messages"},
		models: []string{"claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-5"}},
	{id: "gemini", name: "Google Gemini", baseURL: "https://generativelanguage.googleapis.com", auth: policy.AuthXGoogAPIKey, costBasis: "google",
		keyEnv: "GEMINI_API_KEY", compat: []string{"gemini_generate_content"},
		models: []string{"gemini-2.5-pro", "gemini-2.5-flash"}},
	{id: "bedrock", name: "Amazon Bedrock", baseURL: "https://bedrock-runtime.us-east-1.amazonaws.com", auth: policy.AuthBearer, costBasis: "bedrock",
		keyEnv: "AWS_BEARER_TOKEN_BEDROCK", compat: []string{"bedrock_model_invoke", "bedrock_converse"},
		models: []string{"us.anthropic.claude-sonnet-4-5-20250929-v1:0"}},
	{id: "openrouter", name: "OpenRouter", baseURL: "https://openrouter.ai/api/", auth: policy.AuthBearer, costBasis: "openrouter",
		keyEnv: "OPENROUTER_API_KEY", compat: []string{"openai_chat"},
		models: []string{"openai/gpt-5", "anthropic/claude-sonnet-4.5"}},
	{id: "vercel", name: "Vercel AI Gateway", baseURL: "https://ai-gateway.vercel.sh", auth: policy.AuthBearer, costBasis: "vercel",
		keyEnv: "AI_GATEWAY_API_KEY", compat: []string{"openai_chat", "openai_responses"},
		models: []string{"openai/gpt-5", "anthropic/claude-sonnet-4.5"}},
}

func presetIDs() []string {
	ids := make([]string, len(presets))
	for i, p := range presets {
		ids[i] = p.id
	}
	return ids
}

const initUsage = `Usage:
  sluice init --provider openai,anthropic,... [--admin LOGIN] [--out FILE]
  sluice init [--interactive]

Writes a starter configuration: the providers named, their keys read from
environment macros (${OPENAI_API_KEY}), LOGIN as admin, everyone else a
user of every model. Without --out it is printed.

Run without flags at a terminal (or with --interactive), it asks instead:
which providers, the variable each key is read from, your own login as
admin, and the file to write; flags given beside --interactive are the
answers it proposes.

Flags:
`

// runInit writes a starter configuration from flags.
func runInit(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	providers := fs.String("provider", "", "comma-separated providers: "+strings.Join(presetIDs(), ", "))
	admin := fs.String("admin", "", "login of the administrator (your own tailnet login)")
	out := fs.String("out", "", "file to write; refused if it exists (default: print)")
	interactive := fs.Bool("interactive", false, "ask for the providers, key variables, admin and file on stdin (the default without flags when stdin is a terminal)")
	fs.Usage = func() {
		fmt.Fprint(stderr, initUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return flagExit(err)
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sluice init: takes no arguments, got %q\n", fs.Args())
		return 2
	}
	if !utf8.ValidString(*admin) {
		fmt.Fprintln(stderr, "sluice init: --admin is not valid UTF-8")
		return 2
	}
	var chosen []preset
	if *interactive || (len(args) == 0 && stdinIsTerminal()) {
		defaults := initAnswers{admin: *admin, out: *out}
		if *providers != "" {
			var err error
			if defaults.providers, err = choosePresets(*providers); err != nil {
				fmt.Fprintln(stderr, "sluice init:", err)
				return 2
			}
		}
		answers, err := promptInit(os.Stdin, stderr, defaults)
		if err != nil {
			fmt.Fprintln(stderr, "sluice init:", err)
			return 1
		}
		chosen, *admin, *out = answers.providers, answers.admin, answers.out
	} else {
		var err error
		if chosen, err = choosePresets(*providers); err != nil {
			fmt.Fprintln(stderr, "sluice init:", err)
			return 2
		}
	}
	text := starterConfig(chosen, *admin)
	if err := checkStarter(ctx, text); err != nil {
		fmt.Fprintln(stderr, "sluice init: the generated configuration does not load:", err)
		return 1
	}
	if *out == "" {
		stdout.Write(text)
	} else if err := writeNew(*out, text); err != nil {
		fmt.Fprintln(stderr, "sluice init:", err)
		return 1
	}
	var envs []string
	for _, p := range chosen {
		envs = append(envs, p.keyEnv)
	}
	fmt.Fprintf(stderr, "set %s in sluice's environment, then: sluice serve --config %s\n",
		strings.Join(envs, ", "), orDefault(*out, "FILE"))
	if *admin == "" {
		fmt.Fprintln(stderr, "note: no --admin given: nobody can read everyone's request log or /metrics")
	}
	return 0
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// choosePresets resolves a comma-separated list of provider names.
func choosePresets(list string) ([]preset, error) {
	if strings.TrimSpace(list) == "" {
		return nil, fmt.Errorf("name at least one --provider: %s", strings.Join(presetIDs(), ", "))
	}
	var chosen []preset
	for _, name := range strings.Split(list, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		i := slices.IndexFunc(presets, func(p preset) bool { return p.id == name })
		if i < 0 {
			msg := fmt.Sprintf("unknown provider %q (known: %s)", name, strings.Join(presetIDs(), ", "))
			if s := suggest(name, presetIDs()); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			return nil, errors.New(msg)
		}
		if !slices.ContainsFunc(chosen, func(p preset) bool { return p.id == name }) {
			chosen = append(chosen, presets[i])
		}
	}
	return chosen, nil
}

// starterConfig renders the configuration as commented HuJSON.
func starterConfig(chosen []preset, admin string) []byte {
	q := func(s string) string {
		b, _ := json.Marshal(s)
		return string(b)
	}
	var b bytes.Buffer
	b.WriteString("// sluice configuration, written by `sluice init`.\n// Check it with `sluice config validate FILE`.\n{\n")
	b.WriteString("\t\"temp_grants\": [\n")
	if admin != "" {
		fmt.Fprintf(&b, "\t\t// The administrator sees every user's request log and /metrics.\n")
		fmt.Fprintf(&b, "\t\t{\"src\": [%s], \"grants\": [{\"role\": \"admin\"}]},\n", q(admin))
	}
	b.WriteString("\t\t// Everyone else who reaches sluice is a user and sees only their own requests.\n")
	b.WriteString("\t\t{\"src\": [\"*\"], \"grants\": [{\"role\": \"user\"}]},\n")
	b.WriteString("\t\t// Every user may use every model; narrow \"src\", \"provider\" and \"model\" to restrict.\n")
	b.WriteString("\t\t{\"src\": [\"*\"], \"grants\": [{\"providers\": [{\"provider\": \"*\", \"model\": \"*\"}]}]},\n")
	b.WriteString("\t],\n")
	b.WriteString("\t// Keys come from the environment: ${NAME} is replaced by $NAME when sluice loads the file.\n")
	b.WriteString("\t\"providers\": {\n")
	for _, p := range chosen {
		fmt.Fprintf(&b, "\t\t%s: {\n", q(p.id))
		fmt.Fprintf(&b, "\t\t\t\"name\": %s,\n", q(p.name))
		fmt.Fprintf(&b, "\t\t\t\"baseurl\": %s,\n", q(p.baseURL))
		fmt.Fprintf(&b, "\t\t\t\"apikey\": %s,\n", q("${"+p.keyEnv+"}"))
		fmt.Fprintf(&b, "\t\t\t\"authorization\": %s,\n", q(p.auth))
		fmt.Fprintf(&b, "\t\t\t\"cost_basis\": %s,\n", q(p.costBasis))
		b.WriteString("\t\t\t\"models\": [")
		for i, m := range p.models {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(q(m))
		}
		b.WriteString("],\n\t\t\t\"compatibility\": {")
		// openai_chat is on unless turned off: say so for providers
		// that do not speak it.
		flags := p.compat
		if !slices.Contains(flags, "openai_chat") {
			b.WriteString("\"openai_chat\": false")
			if len(flags) > 0 {
				b.WriteString(", ")
			}
		}
		for i, f := range flags {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s: true", q(f))
		}
		b.WriteString("},\n\t\t},\n")
	}
	b.WriteString("\t},\n}\n")
	return b.Bytes()
}

// checkStarter loads text as serve would, with every environment macro
// standing for a key, and compiles its policy.
func checkStarter(ctx context.Context, text []byte) error {
	cfg, err := policy.Parse("sluice.hujson", text, func(string) (string, bool) { return "key", true })
	if err != nil {
		return err
	}
	_, err = engine.New(ctx, cfg)
	return err
}

// writeNew writes a file that must not exist yet, readable by its owner
// only (it names the environment the keys come from, and the operator may
// put a key in it).
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists; not overwriting it (remove it or choose another --out)", path)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
