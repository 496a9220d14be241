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

// okProvider is one valid provider, on the config's second line.
const okProvider = `"providers": {"p": {"baseurl": "https://p.example", "apikey": "k", "models": ["m"]}},`

// TestFailClosedSections covers every top-level section, and the settings
// below them, that could carry access, spending limits or a promise sluice
// cannot keep: each is refused with its position and text, loads with its
// warning, or loads as documented.
func TestFailClosedSections(t *testing.T) {
	tests := []struct {
		name string
		// config is the body of the root object after the provider line.
		config  string
		wantErr string // the first error, "file:line:col: message"; "" means it loads
		code    string
		warn    string // a warning that must be there, "file:line:col: message"
	}{
		{name: "quota capacity not an amount", config: `"quotas": {"daily:<user>": {"capacity": "10 dollars", "rate": "$5.00/day"}}`,
			wantErr: `t.hujson:3:41: quotas.daily:<user>.capacity: amount "10 dollars": want "$" followed by a decimal number such as "$10.00" (at most 9 decimals)`, code: CodeBadQuota},
		{name: "quota rate unit unknown", config: `"quotas": {"b": {"capacity": "$1", "rate": "$5.00/year"}}`,
			wantErr: `t.hujson:3:44: quotas.b.rate: rate "$5.00/year": unknown unit "year": want "<amount>/<unit>" such as "$5.00/day" (units: min, hour, day, week, month)`, code: CodeBadQuota},
		{name: "quota on_exceed unknown", config: `"quotas": {"b": {"capacity": "$1", "on_exceed": "warn"}}`,
			wantErr: `t.hujson:3:49: quotas.b.on_exceed: unknown action "warn" (want "reject")`, code: CodeBadQuota},
		{name: "quota unknown field", config: `"quotas": {"b": {"capacity": "$1", "max_request": "$0.10"}}`,
			wantErr: `t.hujson:3:36: quotas.b: unknown field "max_request" (known: capacity, rate, on_exceed, overdraft); sluice refuses a spend limit it cannot fully apply`, code: CodeBadQuota},
		{name: "quota overdraft undefined", config: `"quotas": {"a": {"capacity": "$1", "overdraft": "b"}}`,
			wantErr: `t.hujson:3:49: quotas.a.overdraft: undefined quota bucket "b"`, code: CodeBadQuota},
		{name: "quota overdraft cycle", config: `"quotas": {"a": {"capacity": "$1", "overdraft": "b"}, "b": {"capacity": "$1", "overdraft": "a"}}`,
			wantErr: `t.hujson:3:49: quotas.a.overdraft: the chain comes back to "a"; an overdraft chain must end`, code: CodeBadQuota},
		{name: "quota without capacity", config: `"quotas": {"b": {"rate": "$1/day"}}`,
			wantErr: `t.hujson:3:17: quotas.b: no capacity (want e.g. "capacity": "$10.00")`, code: CodeBadQuota},
		{name: "temp_grants quota bucket undefined", config: `"quotas": {"b": {"capacity": "$1"}},
"temp_grants": [{"src": ["*"], "grants": [{"role": "user"}, {"quotas": [{"bucket": "c"}]}]}]`,
			wantErr: `t.hujson:4:84: temp_grants[0].grants[1]: grant charges undefined quota bucket "c" (define it in the "quotas" section)`, code: CodeUndefinedQuota},
		{name: "connectors load", config: `"connectors": {"servers": {}}`},
		{name: "mcp is refused", config: `"mcp": {"servers": {}}`,
			wantErr: `t.hujson:3:1: section "mcp" is not supported by this version of sluice (configure MCP servers under connectors.servers)`, code: CodeUnsupportedSection},
		{name: "sandboxes is refused", config: `"sandboxes": {}`,
			wantErr: `t.hujson:3:1: section "sandboxes" is not supported yet by this version of sluice`, code: CodeUnsupportedSection},
		{name: "unknown section is an error", config: `"grant": []`,
			wantErr: `t.hujson:3:1: unknown top-level section "grant" (known: providers, grants, temp_grants, hooks, database, exporters, pricing, flags, quotas, tracing, model_aliases, force_model, routing, tests, connectors)`, code: CodeUnknownSection},
		{name: "unknown field below the top is a warning", config: `"database": {"vacuum": true}`,
			warn: `t.hujson:3:14: unknown field database.vacuum (ignored)`},
		{name: "flags load", config: `"flags": {"chat_ui": {"value": true}, "connectors": {"value": false}}`},
		{name: "flag without value", config: `"flags": {"chat_ui": {}}`,
			wantErr: `t.hujson:3:22: flags.chat_ui: want {"value": true or false}`, code: CodeType},
		{name: "flag value not a boolean", config: `"flags": {"chat_ui": {"value": "yes"}}`,
			wantErr: `t.hujson:3:32: flags.chat_ui.value: want boolean, got string`, code: CodeType},
		{name: "flag not an object", config: `"flags": {"chat_ui": true}`,
			wantErr: `t.hujson:3:22: flags.chat_ui: want object, got boolean`, code: CodeType},
		{name: "s3 exporter loads", config: `"exporters": {"s3": {"bucket_name": "b", "region": "us-east-1", "endpoint": "https://storage.example"}}`},
		{name: "s3 exporter with an empty bucket is off", config: `"exporters": {"s3": {"bucket_name": ""}}`},
		{name: "s3 exporter needs a region", config: `"exporters": {"s3": {"bucket_name": "b"}}`,
			wantErr: `t.hujson:3:21: exporters.s3: region is required`, code: CodeBadExporter},
		{name: "s3 exporter key without secret", config: `"exporters": {"s3": {"bucket_name": "b", "region": "r", "access_key_id": "k"}}`,
			wantErr: `t.hujson:3:21: exporters.s3: access_key_id and access_secret go together`, code: CodeBadExporter},
		{name: "s3 exporter endpoint not a URL", config: `"exporters": {"s3": {"bucket_name": "b", "region": "r", "endpoint": "minio:9000"}}`,
			wantErr: `t.hujson:3:69: exporters.s3.endpoint: "minio:9000" is not an http:// or https:// URL`, code: CodeBadExporter},
		{name: "s3 exporter negative every", config: `"exporters": {"s3": {"bucket_name": "b", "region": "r", "every": -1}}`,
			wantErr: `t.hujson:3:66: exporters.s3.every: must not be negative`, code: CodeBadExporter},
		{name: "s3 exporter limit too large", config: `"exporters": {"s3": {"bucket_name": "b", "region": "r", "limit": 100001}}`,
			wantErr: `t.hujson:3:66: exporters.s3.limit: 100001 is out of range`, code: CodeBadExporter},
		{name: "http exporter loads", config: `"exporters": {"http": {"url": "https://siem.example/ingest", "apikey": "k", "authorization": "x-api-key", "timeout": "10s"}}`},
		{name: "http exporter needs a url", config: `"exporters": {"http": {"apikey": "k"}}`,
			wantErr: `t.hujson:3:23: exporters.http: url "" is not an http:// or https:// URL`, code: CodeBadExporter},
		{name: "http exporter bad authorization", config: `"exporters": {"http": {"url": "https://s.example", "authorization": "basic"}}`,
			wantErr: `t.hujson:3:69: exporters.http has invalid authorization type: basic`, code: CodeBadAuth},
		{name: "unknown exporter is a warning", config: `"exporters": {"kafka": {}}`,
			warn: `t.hujson:3:15: unknown field exporters.kafka (ignored)`},
		{name: "retention object", config: `"database": {"retention": {"duration": "720h", "require_export": false}}`},
		{name: "retention object zero", config: `"database": {"retention": {"duration": "0"}}`},
		{name: "retention object below an hour", config: `"database": {"retention": {"duration": "30m"}}`,
			wantErr: `t.hujson:3:40: database.retention.duration: 30m0s is out of range (want "0" for zero retention, or from 1h to 87600h)`, code: CodeBadRetention},
		{name: "retention object above ten years", config: `"database": {"retention": {"duration": "87601h"}}`,
			wantErr: `t.hujson:3:40: database.retention.duration: 87601h0m0s is out of range`, code: CodeBadRetention},
		{name: "retention object without duration", config: `"database": {"retention": {"purge": []}}`,
			wantErr: `t.hujson:3:27: database.retention: the object form needs "duration"`, code: CodeBadRetention},
		{name: "require_export without an s3 exporter", config: `"database": {"retention": {"duration": "24h", "require_export": true}}`,
			wantErr: `t.hujson:3:65: database.retention.require_export: true needs exporters.s3 with a bucket_name`, code: CodeBadRetention},
		{name: "require_export with an s3 exporter", config: `"database": {"retention": {"duration": "24h", "require_export": true}},
"exporters": {"s3": {"bucket_name": "b", "region": "r"}}`},
		{name: "purge categories", config: `"database": {"retention": {"duration": "24h", "purge": ["request_body", "response_body"]}}`},
		{name: "purge unknown category warns", config: `"database": {"retention": {"duration": "24h", "purge": ["tools"]}}`,
			warn: `t.hujson:3:56: database.retention.purge: sluice keeps no content of category "tools" apart (it purges request_body, response_body); ignored`},
		{name: "zero retention refuses save_raws", config: `"database": {"save_raws": true, "retention": {"duration": "0"}}`,
			wantErr: `t.hujson:3:27: database.save_raws: true contradicts zero retention (database.retention.duration "0" keeps no request content on disk)`, code: CodeBadRetention},
		{name: "zero retention refuses keep_encrypted_blobs", config: `"database": {"retention": {"duration": "0"}, "keep_encrypted_blobs": true}`,
			wantErr: `t.hujson:3:70: database.keep_encrypted_blobs: true contradicts zero retention`, code: CodeBadRetention},
		{name: "on_log_failure serve", config: `"database": {"on_log_failure": "serve"}`},
		{name: "on_log_failure invalid", config: `"database": {"on_log_failure": "drop"}`,
			wantErr: `t.hujson:3:32: database.on_log_failure: invalid value "drop" (want "refuse" or "serve")`, code: CodeBadOnLogFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "{\n" + okProvider + "\n" + tt.config + "\n}"
			c, err := Parse("t.hujson", []byte(src), noEnv)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if tt.warn != "" && !slices.ContainsFunc(c.Warnings, func(d Diagnostic) bool { return d.String() == tt.warn }) {
					t.Errorf("warnings\n%v\nlack\n%s", c.Warnings, tt.warn)
				}
				return
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err = %v, want Errors", err)
			}
			if !strings.HasPrefix(errs[0].String(), tt.wantErr) || errs[0].Code != tt.code {
				t.Errorf("first error = %s (%s)\nwant %s (%s)", errs[0], errs[0].Code, tt.wantErr, tt.code)
			}
		})
	}
}

// TestAccessSectionsNeverDefault: the default grants apply only to a file
// with no access section at all.
func TestAccessSectionsNeverDefault(t *testing.T) {
	c, err := Parse("t.hujson", []byte("{"+okProvider+"}"), noEnv)
	if err != nil || !c.GrantsDefaulted || len(c.TempGrants) == 0 {
		t.Fatalf("no access section: err %v, defaulted %v; want the documented default grants", err, c != nil && c.GrantsDefaulted)
	}
	for _, sec := range []string{"mcp", "sandboxes"} {
		c, err := Parse("t.hujson", []byte("{"+okProvider+`"`+sec+`": {}}`), noEnv)
		if err == nil || c != nil {
			t.Errorf("%s: loaded (defaulted %v); want refused", sec, c.GrantsDefaulted)
		}
	}
	// An empty grants section is an access section too: everyone denied.
	c, err = Parse("t.hujson", []byte("{"+okProvider+`"grants": []}`), noEnv)
	if err != nil || c.GrantsDefaulted || len(c.TempGrants) != 0 {
		t.Errorf("empty grants: err %v, defaulted %v; want loaded without the default grants", err, c != nil && c.GrantsDefaulted)
	}
}

func TestDatabaseDefaults(t *testing.T) {
	c, err := Parse("t.hujson", []byte("{"+okProvider+`"database": {"retention": {"duration": "0"}}}`), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Database.ZeroRetention || c.Database.Retention != 0 || c.Database.OnLogFailure != LogFailureRefuse {
		t.Errorf("database = %+v; want zero retention, rows kept, on_log_failure refuse", c.Database)
	}
	c, err = Parse("t.hujson", []byte("{"+okProvider+`"database": {"retention": {"duration": "48h"}, "on_log_failure": "serve"}}`), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Database.ZeroRetention || c.Database.Retention != 48*time.Hour || c.Database.OnLogFailure != LogFailureServe {
		t.Errorf("database = %+v", c.Database)
	}
	if c := Default(); c.Database.OnLogFailure != LogFailureRefuse {
		t.Errorf("default on_log_failure = %q, want %q", c.Database.OnLogFailure, LogFailureRefuse)
	}
}

func TestProviderExtras(t *testing.T) {
	tests := []struct {
		name    string
		config  string
		wantErr string
		code    string
		check   func(t *testing.T, c *Config)
	}{
		{name: "cost_basis", config: `"providers": {"b": {"baseurl": "https://b.example", "apikey": "k", "models": ["m"], "cost_basis": "bedrock-eu"}}`,
			check: func(t *testing.T, c *Config) {
				if p := c.Provider("b"); p.CostBasis != BasisBedrockEU || p.Basis() != "bedrock-eu" {
					t.Errorf("cost_basis %q, Basis %q", p.CostBasis, p.Basis())
				}
			}},
		{name: "no cost_basis reports the provider ID", config: `"providers": {"mine": {"baseurl": "https://b.example", "apikey": "k", "models": ["m"]}}`,
			check: func(t *testing.T, c *Config) {
				if got := c.Provider("mine").Basis(); got != "mine" {
					t.Errorf("Basis = %q, want the provider ID", got)
				}
			}},
		{name: "unknown cost_basis", config: `"providers": {"b": {"baseurl": "https://b.example", "apikey": "k", "models": ["m"], "cost_basis": "aws"}}`,
			wantErr: `t.hujson:2:99: provider b has unknown cost_basis "aws" (known: openai, anthropic, google, vertex, bedrock, bedrock-us, bedrock-eu, bedrock-ap, azure, azure-eu, openrouter, vercel)`,
			code:    CodeBadCostBasis},
		{name: "disabled", config: `"providers": {"off": {"baseurl": "https://a.example", "apikey": "k", "models": ["m", "only-off"], "disabled": true},
			"on": {"baseurl": "https://b.example", "apikey": "k", "models": ["m"]}}`,
			check: func(t *testing.T, c *Config) {
				if p := c.Provider("off"); p == nil || !p.Disabled {
					t.Fatalf("disabled provider not kept for display: %+v", p)
				}
				if got := c.ProvidersFor("m"); len(got) != 1 || got[0].ID != "on" {
					t.Errorf("ProvidersFor(m) = %v, want only the enabled provider", got)
				}
				if got := c.ProvidersFor("only-off"); len(got) != 0 {
					t.Errorf("ProvidersFor(only-off) = %v, want none", got)
				}
				if got := c.Models(); !slices.Equal(got, []string{"m"}) {
					t.Errorf("Models = %v", got)
				}
			}},
		{name: "gemini cli vertex compat", config: `"providers": {"v": {"baseurl": "https://aiplatform.googleapis.com", "apikey": "k", "models": ["gemini-2.5-pro"],
			"compatibility": {"openai_chat": false, "experimental_gemini_cli_vertex_compat": true}}}`,
			check: func(t *testing.T, c *Config) {
				got := c.Provider("v").Compatibility.Enabled()
				if !slices.Equal(got, []string{FormatGoogleGenerateContent}) {
					t.Errorf("formats = %v, want the Vertex generateContent routes", got)
				}
			}},
		{name: "gemini cli vertex compat off adds nothing", config: `"providers": {"v": {"baseurl": "https://aiplatform.googleapis.com", "apikey": "k", "models": ["gemini-2.5-pro"],
			"compatibility": {"experimental_gemini_cli_vertex_compat": false}}}`,
			check: func(t *testing.T, c *Config) {
				if got := c.Provider("v").Compatibility.Enabled(); !slices.Equal(got, []string{FormatOpenAIChat}) {
					t.Errorf("formats = %v", got)
				}
			}},
		{name: "quotas load", config: okProvider + `"quotas": {"daily:<user>": {"capacity": "$10.00", "rate": "$5.00/day", "on_exceed": "reject"}, "fixed": {"capacity": "$0.50"}, "personal": {"capacity": "$1", "overdraft": "daily:<user>"}},
"temp_grants": [{"src": ["*"], "grants": [{"role": "user"}, {"quotas": [{"bucket": "daily:<user>"}, {"bucket": "fixed"}]}]}]`,
			check: func(t *testing.T, c *Config) {
				if p := c.Quota("personal"); len(c.Chain(p)) != 2 || c.Chain(p)[1].Name != "daily:<user>" {
					t.Errorf("personal chain = %v", c.Chain(p))
				}
				if len(c.Quotas) != 3 || c.GrantsDefaulted {
					t.Fatalf("quotas %d, defaulted %v", len(c.Quotas), c.GrantsDefaulted)
				}
				d := c.Quota("daily:<user>")
				if d.Capacity != 10_000_000_000 || d.Rate.Amount != 5_000_000_000 || d.Rate.Per != 24*time.Hour || d.OnExceed != "reject" {
					t.Errorf("daily = %+v", d.Bucket)
				}
				if f := c.Quota("fixed"); f.Capacity != 500_000_000 || f.Rate.Per != 0 || f.OnExceed != "reject" {
					t.Errorf("fixed = %+v (want no refill, on_exceed defaulted to reject)", f.Bucket)
				}
				if f := c.Quota("fixed"); f.Overdraft != "" || len(c.Chain(f)) != 1 {
					t.Errorf("fixed: overdraft %q, chain %d", f.Overdraft, len(c.Chain(f)))
				}
				if got := c.TempGrants[0].Grants[1].Quotas; !slices.Equal(got, []string{"daily:<user>", "fixed"}) {
					t.Errorf("temp grant quotas = %v", got)
				}
			}},
		{name: "new hook fields", config: okProvider + `"hooks": {"h": {"url": "https://h.example"}},
			"temp_grants": [{"src": ["*"], "grants": [{"hook": {"hook": "h", "fields": ["estimated_cost", "grants", "quotas"]}}]}]`,
			check: func(t *testing.T, c *Config) {
				if got := c.TempGrants[0].Grants[0].Hook.Fields; !slices.Equal(got, []string{"estimated_cost", "grants", "quotas"}) {
					t.Errorf("fields = %v", got)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("t.hujson", []byte("{\n"+tt.config+"\n}"), noEnv)
			if tt.wantErr != "" {
				var errs Errors
				if !errors.As(err, &errs) {
					t.Fatalf("err = %v, want Errors", err)
				}
				if errs[0].String() != tt.wantErr || errs[0].Code != tt.code {
					t.Errorf("first error = %s (%s)\nwant %s (%s)", errs[0], errs[0].Code, tt.wantErr, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

// TestPriceOn: a provider's cost_basis picks its vendor's list where that
// differs, the default price elsewhere, and the pricing section wins.
func TestPriceOn(t *testing.T) {
	c, err := Parse("t.hujson", []byte(`{"providers": {
		"global": {"baseurl": "https://g.example", "apikey": "k", "models": ["us.anthropic.claude-sonnet-4-5-20250929-v1:0"], "cost_basis": "bedrock"},
		"eu": {"baseurl": "https://e.example", "apikey": "k", "models": ["eu.anthropic.claude-sonnet-4-5-20250929-v1:0", "gemini-2.5-pro"], "cost_basis": "bedrock-eu"},
		"az": {"baseurl": "https://a.example", "apikey": "k", "models": ["gpt-5"], "cost_basis": "azure-eu"},
		"plain": {"baseurl": "https://p.example", "apikey": "k", "models": ["gpt-5", "claude-opus-4-6"]},
		"over": {"baseurl": "https://o.example", "apikey": "k", "models": ["claude-opus-4-6"], "cost_basis": "bedrock-ap"},
	}, "pricing": {"claude-opus-4-6": {"input": 4, "output": 20}}}`), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		provider, model string
		input, output   float64
	}{
		{"global", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", 3, 15},
		{"eu", "eu.anthropic.claude-sonnet-4-5-20250929-v1:0", 3.3, 16.5},
		{"eu", "gemini-2.5-pro", 1.25, 10}, // no bedrock-eu price: the default
		{"az", "gpt-5", 1.375, 11},
		{"plain", "gpt-5", 1.25, 10},
		{"over", "claude-opus-4-6", 4, 20}, // the pricing section wins
		{"nobody", "gpt-5", 1.25, 10},      // unknown provider: the default
	}
	for _, tt := range tests {
		p, ok := c.PriceOn(tt.provider, tt.model)
		if !ok || !near(p.Input, tt.input) || !near(p.Output, tt.output) {
			t.Errorf("PriceOn(%s, %s) = %+v %v; want input %v output %v", tt.provider, tt.model, p, ok, tt.input, tt.output)
		}
	}
	if p, _ := c.PriceFor("eu.anthropic.claude-sonnet-4-5-20250929-v1:0"); p.Input != 3 {
		t.Errorf("PriceFor ignores the basis: input %v, want 3", p.Input)
	}
}

func near(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 }

// TestApertureGrantsConfigLoads: an Aperture configuration with the
// current top-level grants section loads as written, without the default
// grants.
func TestApertureGrantsConfigLoads(t *testing.T) {
	const file = "aperture-grants.hujson"
	data, err := os.ReadFile(filepath.Join("..", "testdata", "configs", file))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(file, data, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if c.GrantsDefaulted || len(c.TempGrants) != 0 || len(c.Grants) != 2 {
		t.Errorf("defaulted %v, %d temp_grants, %d grants; want the file's 2 grants only", c.GrantsDefaulted, len(c.TempGrants), len(c.Grants))
	}
}
