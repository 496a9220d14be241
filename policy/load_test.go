package policy

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func noEnv(string) (string, bool) { return "", false }

// TestReferenceExamples loads every example configuration of the reference
// documentation: each loads, or fails with the documented text.
func TestReferenceExamples(t *testing.T) {
	tests := []struct {
		file      string
		wantErrs  []string // each must appear in the error text
		providers []string // declaration order, when it loads
		warnCodes []string
	}{
		{file: "reference-minimal.hujson", providers: []string{"anthropic"}},
		{file: "reference-default.hujson", providers: []string{"openai", "anthropic"}},
		{file: "reference-complete.hujson", providers: []string{"openai", "anthropic", "gemini", "private"}, warnCodes: []string{CodeBadBaseURL}},
		{file: "reference-provider-openai.hujson", providers: []string{"openai"}},
		{file: "reference-provider-anthropic.hujson", providers: []string{"anthropic"}},
		{file: "reference-provider-bedrock.hujson", providers: []string{"bedrock"}},
		{file: "reference-provider-gemini.hujson", providers: []string{"gemini"}},
		{file: "reference-provider-vertex.hujson", providers: []string{"vertex"}},
		{file: "reference-provider-openrouter.hujson", providers: []string{"openrouter"}},
		{file: "reference-provider-private.hujson", providers: []string{"private"}, warnCodes: []string{CodeBadBaseURL}},
		{file: "reference-grants-default.hujson", wantErrs: []string{"no providers configured"}},
		{file: "reference-grants-allow-all.hujson", wantErrs: []string{"no providers configured"}},
		{file: "reference-grants-restrict-users.hujson", wantErrs: []string{"no providers configured"}},
		{file: "reference-hooks.hujson", wantErrs: []string{"no providers configured"}},
		{file: "reference-hook-grant-oso.hujson", wantErrs: []string{"no providers configured", `hook grant names undefined hook "oso"`}},
		{file: "reference-hook-grant-developer.hujson", wantErrs: []string{"no providers configured", `hook grant names undefined hook "my-webhook"`}},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		seen[tt.file] = true
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("..", "testdata", "configs", tt.file)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			c, err := Parse(tt.file, data, noEnv)
			if len(tt.wantErrs) > 0 {
				if err == nil {
					t.Fatalf("loaded; want errors %q", tt.wantErrs)
				}
				for _, want := range tt.wantErrs {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q lacks %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			var ids []string
			for _, p := range c.Providers {
				ids = append(ids, p.ID)
			}
			if !slices.Equal(ids, tt.providers) {
				t.Errorf("providers = %v, want %v (declaration order)", ids, tt.providers)
			}
			for _, code := range tt.warnCodes {
				if !c.Warnings.Has(code) {
					t.Errorf("warnings %v lack %s", c.Warnings, code)
				}
			}
		})
	}
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "configs", "reference-*.hujson"))
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			t.Errorf("%s has no case in this table", filepath.Base(f))
		}
	}
}

func TestDefaultConfig(t *testing.T) {
	c := Default()
	if got := []string{c.Providers[0].ID, c.Providers[1].ID}; !slices.Equal(got, []string{"openai", "anthropic"}) {
		t.Errorf("providers = %v", got)
	}
	if c.GrantsDefaulted {
		t.Error("the default file has its own temp_grants")
	}
	if len(c.TempGrants) != 4 || c.TempGrants[0].Grants[0].Role != RoleAdmin || c.TempGrants[1].Grants[0].Role != RoleUser {
		t.Errorf("temp_grants not as documented: %+v", c.TempGrants)
	}
	if h := c.Hook("oso"); h == nil || h.Timeout != DefaultHookTimeout || h.Authorization != AuthBearer {
		t.Errorf("hook oso = %+v, want defaults (5s, bearer)", h)
	}
	hg := c.TempGrants[3].Grants[0].Hook
	if hg == nil || hg.Hook != "oso" || !slices.Equal(hg.Fields, []string{"user_message", "tools", "request_body", "response_body"}) {
		t.Errorf("hook grant = %+v", hg)
	}
	if !strings.Contains(string(DefaultHuJSON), "// BE CAREFUL!") {
		t.Error("embedded default lost its comments")
	}
	anth := c.Provider("anthropic")
	if anth.Compatibility.Supports(FormatOpenAIChat) || !anth.Compatibility.Supports(FormatAnthropicMessages) {
		t.Errorf("anthropic compatibility = %v", anth.Compatibility)
	}
}

func TestModelIndex(t *testing.T) {
	c, err := Parse("t.hujson", []byte(`{
		"providers": {
			"b": {"baseurl": "https://b.example", "apikey": "k", "models": ["m1", "m2"]},
			"a": {"baseurl": "https://a.example", "apikey": "k", "models": ["m2", "m3"],
			      "compatibility": {"openai_chat": false, "anthropic_messages": true}},
		}
	}`), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	ids := func(ps []*Provider) (out []string) {
		for _, p := range ps {
			out = append(out, p.ID)
		}
		return out
	}
	if got := ids(c.ProvidersFor("m2")); !slices.Equal(got, []string{"b", "a"}) {
		t.Errorf("m2 -> %v, want [b a] in declaration order", got)
	}
	if got := ids(c.ProvidersFor("nope")); got != nil {
		t.Errorf("unknown model -> %v", got)
	}
	if got := c.Provider("a").Compatibility.Enabled(); !slices.Equal(got, []string{FormatAnthropicMessages}) {
		t.Errorf("a formats = %v", got)
	}
	if got := c.Models(); !slices.Equal(got, []string{"m1", "m2", "m3"}) {
		t.Errorf("Models() = %v", got)
	}
}

func TestNoTempGrantsUsesDefaults(t *testing.T) {
	c, err := Parse("t.hujson", []byte(`{"providers": {"p": {"baseurl": "https://p.example", "apikey": "k", "models": ["m"]}}}`), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !c.GrantsDefaulted || len(c.TempGrants) != 3 {
		t.Fatalf("GrantsDefaulted=%v, %d sets; want the default's three sets with sources", c.GrantsDefaulted, len(c.TempGrants))
	}
	c, err = Parse("t.hujson", []byte(`{"temp_grants": [], "providers": {"p": {"baseurl": "https://p.example", "apikey": "k", "models": ["m"]}}}`), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.GrantsDefaulted || len(c.TempGrants) != 0 {
		t.Errorf("an empty temp_grants must stay empty (deny all), got %d sets", len(c.TempGrants))
	}
}

func TestMacros(t *testing.T) {
	env := map[string]string{"OPENAI_KEY": "sk-123", "HOST": "api.example.com", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	c, err := Parse("t.hujson", []byte(`{"providers": {"o": {
		"baseurl": "https://${HOST}/v1",
		"apikey": "${OPENAI_KEY}",
		"name": "literal $${NOT_A_MACRO} and ${EMPTY}end",
		"models": ["m"]}}}`), lookup)
	if err != nil {
		t.Fatal(err)
	}
	p := c.Provider("o")
	if p.BaseURL != "https://api.example.com/v1" || p.APIKey != "sk-123" || p.Name != "literal ${NOT_A_MACRO} and end" {
		t.Errorf("got baseurl=%q apikey=%q name=%q", p.BaseURL, p.APIKey, p.Name)
	}

	_, err = Parse("t.hujson", []byte(`{"providers": {"o": {
		"baseurl": "https://${MISSING_HOST}/", "apikey": "${MISSING_KEY}", "description": "${MISSING_KEY}",
		"models": ["m"]}}}`), lookup)
	if err == nil || !strings.Contains(err.Error(), "unsubstituted macros: [MISSING_HOST MISSING_KEY]") {
		t.Errorf("err = %v, want every missing name listed once", err)
	}
}

// TestValidation covers every validation rule, documented texts to the letter.
func TestValidation(t *testing.T) {
	const okProv = `"p": {"baseurl": "https://p.example", "apikey": "k", "models": ["m"]}`
	tests := []struct {
		name    string
		config  string
		wantErr string // substring; "" means it loads
		code    string
		line    int // expected line of the first error, when > 0
		warn    string
	}{
		{name: "no providers section", config: `{}`, wantErr: "no providers configured", code: CodeNoProviders},
		{name: "empty providers", config: `{"providers": {}}`, wantErr: "no providers configured", code: CodeNoProviders},
		{name: "no baseurl", config: `{"providers": {"openai": {"apikey": "k", "models": ["m"]}}}`,
			wantErr: "provider openai has no base URL configured", code: CodeNoBaseURL},
		{name: "no models", config: `{"providers": {"openai": {"baseurl": "https://x.example", "apikey": "k"}}}`,
			wantErr: "provider openai has no models configured", code: CodeNoModels},
		{name: "empty models", config: `{"providers": {"openai": {"baseurl": "https://x.example", "apikey": "k", "models": []}}}`,
			wantErr: "provider openai has no models configured", code: CodeNoModels},
		{name: "bad authorization", config: `{"providers": {"openai": {"baseurl": "https://x.example", "apikey": "k", "models": ["m"], "authorization": "basic"}}}`,
			wantErr: "provider openai has invalid authorization type: basic", code: CodeBadAuth},
		{name: "missing apikey is a warning", config: `{"providers": {"openai": {"baseurl": "https://x.example", "models": ["m"]}}}`,
			warn: CodeNoAPIKey},
		{name: "unknown top-level section is an error", config: `{"providers": {` + okProv + `}, "future_section": {"x": 1}}`,
			wantErr: `unknown top-level section "future_section" (known: providers, grants, temp_grants, hooks, database, exporters, pricing, flags, quotas, tracing, model_aliases, force_model, routing, tests, connectors)`, code: CodeUnknownSection},
		{name: "unknown provider field is a warning", config: `{"providers": {"p": {"baseurl": "https://p.example", "apikey": "k", "models": ["m"], "priority": 3}}}`,
			warn: CodeUnknownField},
		{name: "unknown compatibility flag", config: `{"providers": {"p": {"baseurl": "https://p.example", "apikey": "k", "models": ["m"], "compatibility": {"openai_chatt": true}}}}`,
			wantErr: `provider p has unknown compatibility flag "openai_chatt"`, code: CodeBadCompat},
		{name: "unknown role", config: "{\"providers\": {" + okProv + "},\n\"temp_grants\": [{\"src\": [\"*\"], \"grants\": [\n{\"role\": \"superuser\"}]}]}",
			wantErr: `temp_grants[0].grants[0]: unknown role "superuser"`, code: CodeBadRole, line: 3},
		{name: "provider grant without model", config: `{"providers": {` + okProv + `}, "temp_grants": [{"src": ["*"], "grants": [{"providers": [{"provider": "p"}]}]}]}`,
			wantErr: `temp_grants[0].grants[0]: provider grant needs both "provider" and "model"`, code: CodeBadGrant},
		{name: "provider grant without provider", config: `{"providers": {` + okProv + `}, "temp_grants": [{"src": ["*"], "grants": [{"providers": [{"model": "*"}]}]}]}`,
			wantErr: `provider grant needs both "provider" and "model"`, code: CodeBadGrant},
		{name: "empty grant", config: `{"providers": {` + okProv + `}, "temp_grants": [{"src": ["*"], "grants": [{}]}]}`,
			wantErr: `grant has none of "role", "providers", "hook", "mcp" or "quotas"`, code: CodeBadGrant},
		{name: "undefined hook", config: `{"providers": {` + okProv + `}, "temp_grants": [{"src": ["*"], "grants": [{"hook": {"hook": "nope", "match": {"events": ["tool_call_entire_request"]}}}]}]}`,
			wantErr: `hook grant names undefined hook "nope"`, code: CodeUndefinedHook},
		{name: "unknown event", config: `{"providers": {` + okProv + `}, "hooks": {"h": {"url": "https://h.example"}}, "temp_grants": [{"src": ["*"], "grants": [{"hook": {"hook": "h", "match": {"events": ["on_tuesday"]}}}]}]}`,
			wantErr: `unknown hook event "on_tuesday"`, code: CodeBadEvent},
		{name: "unknown field name", config: `{"providers": {` + okProv + `}, "hooks": {"h": {"url": "https://h.example"}}, "temp_grants": [{"src": ["*"], "grants": [{"hook": {"hook": "h", "fields": ["secrets"]}}]}]}`,
			wantErr: `unknown hook field "secrets"`, code: CodeBadField},
		{name: "bad duration", config: `{"providers": {` + okProv + `}, "hooks": {"h": {"url": "https://h.example", "timeout": "5 seconds"}}}`,
			wantErr: `hooks.h.timeout: invalid duration "5 seconds"`, code: CodeBadDuration},
		{name: "negative duration", config: `{"providers": {` + okProv + `}, "hooks": {"h": {"url": "https://h.example", "timeout": "-1s"}}}`,
			wantErr: `invalid duration "-1s"`, code: CodeBadDuration},
		{name: "hook without url", config: `{"providers": {` + okProv + `}, "hooks": {"h": {"apikey": "x"}}}`,
			wantErr: `hook h has no url configured`, code: CodeBadHook},
		{name: "hook with bad fail_policy", config: `{"providers": {` + okProv + `}, "hooks": {"h": {"url": "https://h.example", "fail_policy": "maybe"}}}`,
			wantErr: `hook h has invalid fail_policy "maybe"`, code: CodeBadFailPolicy},
		{name: "wrong type", config: `{"providers": {"p": {"baseurl": "https://p.example", "apikey": "k", "models": "m"}}}`,
			wantErr: `providers.p.models: want array, got string`, code: CodeType},
		{name: "duplicate key", config: "{\"providers\": {" + okProv + ",\n" + okProv + "}}",
			wantErr: `duplicate key providers.p`, code: CodeDuplicateKey, line: 2},
		{name: "malformed JSON", config: "{\n  \"providers\": {\n    \"p\": {\"baseurl\": \"x\" \"models\": []}\n  }\n}",
			wantErr: `malformed JSON`, code: CodeSyntax, line: 3},
		{name: "empty source", config: `{"providers": {` + okProv + `}, "temp_grants": [{"src": [""], "grants": [{"role": "user"}]}]}`,
			wantErr: `empty source`, code: CodeBadSource},
		{name: "comments and trailing commas", config: "// top\n{\"providers\": {/* p */ " + okProv + ",},}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("test.hujson", []byte(tt.config), noEnv)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if tt.warn != "" && !c.Warnings.Has(tt.warn) {
					t.Errorf("warnings %v lack %s", c.Warnings, tt.warn)
				}
				return
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err = %v, want Errors", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %q, want it to contain %q", err, tt.wantErr)
			}
			if !errs.Has(tt.code) {
				t.Errorf("codes of %v lack %s", errs, tt.code)
			}
			if tt.line > 0 {
				if errs[0].Pos.Line != tt.line || errs[0].Pos.File != "test.hujson" {
					t.Errorf("first error at %v, want line %d of test.hujson", errs[0].Pos, tt.line)
				}
			}
		})
	}
}

func TestAllErrorsAtOnce(t *testing.T) {
	_, err := Parse("x.hujson", []byte(`{
		"providers": {
			"a": {"models": ["m"], "apikey": "k"},
			"b": {"baseurl": "https://b.example", "apikey": "k", "authorization": "basic"},
		}
	}`), noEnv)
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatal(err)
	}
	want := []string{
		"x.hujson:3:9: provider a has no base URL configured",
		"x.hujson:4:9: provider b has invalid authorization type: basic",
		"x.hujson:4:9: provider b has no models configured",
	}
	var got []string
	for _, d := range errs {
		got = append(got, d.String())
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestHookDefaultsAndExtensions(t *testing.T) {
	c, err := Parse("t.hujson", []byte(`{
		"providers": {"p": {"baseurl": "https://p.example", "apikey": "k", "models": ["m"]}},
		"hooks": {
			"plain": {"url": "https://h.example/a"},
			"none": {"url": "https://h.example/b", "timeout": "0"},
			"ext": {"url": "http://127.0.0.1:9/c", "timeout": "1m30s", "authorization": "x-api-key",
			        "fail_policy": "fail_closed", "disabled": true, "preference": 10},
		},
		"temp_grants": [{"src": ["*"], "grants": [{"hook": {"hook": "ext", "condition": "request.model == 'm'"}}]}],
	}`), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if h := c.Hook("plain"); h.Timeout != 5*time.Second || h.FailPolicy != FailOpen || h.Disabled {
		t.Errorf("plain = %+v", h)
	}
	if h := c.Hook("none"); h.Timeout != 0 {
		t.Errorf(`timeout "0" = %v, want no timeout`, h.Timeout)
	}
	h := c.Hook("ext")
	if h.Timeout != 90*time.Second || h.Authorization != AuthXAPIKey || h.FailPolicy != FailClosed || !h.Disabled || h.Preference != 10 {
		t.Errorf("ext = %+v", h)
	}
	hg := c.TempGrants[0].Grants[0].Hook
	if !slices.Equal(hg.Match.Events, []string{EventToolCallEntireRequest}) {
		t.Errorf("events without match = %v, want the documented event", hg.Match.Events)
	}
	if hg.Condition != "request.model == 'm'" || hg.ConditionPos.Line != 9 {
		t.Errorf("condition %q at %v", hg.Condition, hg.ConditionPos)
	}
}

func TestDatabaseExportersPricing(t *testing.T) {
	c, err := Parse("t.hujson", []byte(`{
		"providers": {"p": {"baseurl": "https://p.example", "apikey": "k", "models": ["m"]}},
		"database": {"save_raws": true, "keep_encrypted_blobs": true, "retention": "720h"},
		"exporters": {"s3": {"bucket_name": "b", "region": "us-west-2", "prefix": "prod", "access_key_id": "id",
		              "access_secret": "s", "every": 3600, "limit": 1000}},
		"pricing": {"m": {"input": 1.5, "output": "2.25", "context_window": 32000}},
	}`), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Database.SaveRaws || !c.Database.KeepEncryptedBlobs || c.Database.Retention != 720*time.Hour || c.Database.OnLogFailure != LogFailureRefuse {
		t.Errorf("database = %+v; want on_log_failure defaulting to refuse", c.Database)
	}
	if s := c.Exporters.S3; s == nil || s.BucketName != "b" || s.Every != 3600 || s.Limit != 1000 || s.AccessSecret != "s" {
		t.Errorf("s3 = %+v", c.Exporters.S3)
	}
	if p, ok := c.PriceFor("m"); !ok || p.Input != 1.5 || p.Output != 2.25 || p.ContextWindow != 32000 {
		t.Errorf("price m = %+v %v", p, ok)
	}
}

func TestDatabaseOnLogFailure(t *testing.T) {
	tests := []struct {
		name, value, want, wantErr string
	}{
		{name: "refuse", value: `"refuse"`, want: LogFailureRefuse},
		{name: "serve", value: `"serve"`, want: LogFailureServe},
		{name: "null_is_default", value: `null`, want: LogFailureRefuse},
		{name: "unknown", value: `"ignore"`, wantErr: `database.on_log_failure: invalid value "ignore" (want "refuse" or "serve")`},
		{name: "empty", value: `""`, wantErr: `database.on_log_failure: invalid value ""`},
		{name: "case_matters", value: `"Serve"`, wantErr: `invalid value "Serve"`},
		{name: "not_a_string", value: `true`, wantErr: "string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("t.hujson", []byte(`{
				"providers": {"p": {"baseurl": "https://p.example", "apikey": "k", "models": ["m"]}},
				"database": {"on_log_failure": `+tt.value+`},
			}`), noEnv)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Database.OnLogFailure != tt.want {
				t.Errorf("on_log_failure = %q, want %q", c.Database.OnLogFailure, tt.want)
			}
		})
	}
}

func TestPriceFor(t *testing.T) {
	c := Default()
	tests := []struct {
		model string
		input float64
		ok    bool
	}{
		{"gpt-5", 1.25, true},
		{"claude-sonnet-4-5-20250929", 3, true},
		{"us.anthropic.claude-sonnet-4-5-20250929-v1:0", 3, true},
		{"us.anthropic.claude-opus-4-6-v1", 5, true},
		{"claude-haiku-4-5@20251001", 1, true},
		{"google/gemini-2.5-pro-preview", 1.25, true},
		{"gemini-2.0-flash-exp", 0.10, true},
		{"qwen3-coder-30b", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			p, ok := c.PriceFor(tt.model)
			if ok != tt.ok || p.Input != tt.input {
				t.Errorf("PriceFor(%q) = %+v, %v; want input %v, %v", tt.model, p, ok, tt.input, tt.ok)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "absent.hujson"))
	if !errors.Is(err, ErrNoConfig) {
		t.Errorf("err = %v, want ErrNoConfig", err)
	}
}
