package policy

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestRoutingConfigErrors: every routing setting a file can get wrong is
// refused with its place, its code and a message that says what to do.
func TestRoutingConfigErrors(t *testing.T) {
	tests := []struct {
		name    string
		config  string
		wantErr string
		code    string
	}{
		{name: "alias pattern invalid", config: `"model_aliases": [{"pattern": "^gpt-(", "replacement": "x"}]`,
			wantErr: "t.hujson:3:31: model_aliases[0]: pattern \"^gpt-(\" is not a valid regular expression", code: CodeBadAlias},
		{name: "alias without replacement", config: `"model_aliases": [{"pattern": "^gpt-"}]`,
			wantErr: `t.hujson:3:19: model_aliases[0]: want {"pattern": REGEXP, "replacement": MODEL}`, code: CodeBadAlias},
		{name: "aliases not an array", config: `"model_aliases": {"pattern": "x"}`,
			wantErr: "t.hujson:3:18: ", code: CodeType},
		{name: "force_model empty", config: `"force_model": " "`,
			wantErr: "t.hujson:3:16: force_model: want a model name", code: CodeBadRouting},
		{name: "max_attempts zero", config: `"routing": {"max_attempts": 0}`,
			wantErr: "t.hujson:3:29: routing.max_attempts: 0 is too small", code: CodeBadRouting},
		{name: "deadline malformed", config: `"routing": {"deadline": "soon"}`,
			wantErr: `t.hujson:3:25: routing.deadline: invalid duration "soon"`, code: CodeBadDuration},
		{name: "unknown balancing", config: `"routing": {"load_balancing": "random"}`,
			wantErr: `t.hujson:3:31: routing.load_balancing: unknown strategy "random" (known: order, weighted, least_outstanding)`, code: CodeBadRouting},
		{name: "negative breaker", config: `"routing": {"circuit_breaker": {"failures": -1}}`,
			wantErr: "t.hujson:3:45: routing.circuit_breaker.failures: -1 is negative", code: CodeBadRouting},
		{name: "grant force_model empty", config: `"grants": [{"src": ["*"], "app": {"tailscale.com/cap/aperture": [{"force_model": ""}]}}]`,
			wantErr: "grants[0].app.tailscale.com/cap/aperture[0]: force_model: want a model name", code: CodeBadGrant},
		{name: "default provider unknown", config: `"routing": {"default_provider": "nope"}`,
			wantErr: `t.hujson:3:33: routing.default_provider: no provider "nope" is configured`, code: CodeBadRouting},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "{\n" + okProvider + "\n" + tt.config + "\n}"
			_, err := Parse("t.hujson", []byte(src), noEnv)
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err = %v, want Errors", err)
			}
			if !strings.Contains(errs[0].String(), tt.wantErr) || errs[0].Code != tt.code {
				t.Errorf("first error = %s (%s)\nwant %s (%s)", errs[0], errs[0].Code, tt.wantErr, tt.code)
			}
		})
	}
}

// TestProviderHeaders: identity headers load in file order; credentials
// are refused with a pointer to apikey, other forbidden headers with why.
func TestProviderHeaders(t *testing.T) {
	tests := []struct {
		name    string
		headers string
		want    []Header
		wantErr string
	}{
		{name: "identity", headers: `{"User-Agent": "MyApp/1.0", "HTTP-Referer": "https://app.example", "X-Title": "App"}`,
			want: []Header{{Name: "User-Agent", Value: "MyApp/1.0"}, {Name: "HTTP-Referer", Value: "https://app.example"}, {Name: "X-Title", Value: "App"}}},
		{name: "authorization", headers: `{"Authorization": "Bearer sk-1"}`, wantErr: `provider p: header "Authorization" is a credential; put the provider's key in its "apikey"`},
		{name: "x-api-key", headers: `{"x-api-key": "k"}`, wantErr: `header "x-api-key" is a credential`},
		{name: "x-goog-api-key", headers: `{"X-Goog-Api-Key": "k"}`, wantErr: `header "X-Goog-Api-Key" is a credential`},
		{name: "api-key", headers: `{"api-key": "k"}`, wantErr: `header "api-key" is a credential`},
		{name: "hop by hop", headers: `{"Connection": "close"}`, wantErr: `header "Connection" may not be set by a grant`},
		{name: "bad name", headers: `{"X Title": "a"}`, wantErr: `header name "X Title" is not a valid HTTP header name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := `{"providers": {"p": {"baseurl": "https://p.example", "apikey": "k", "models": ["m"], "headers": ` + tt.headers + `}}}`
			c, err := Parse("t.hujson", []byte(src), noEnv)
			if tt.wantErr != "" {
				var errs Errors
				if !errors.As(err, &errs) || errs[0].Code != CodeBadHeader || !strings.Contains(errs[0].Message, tt.wantErr) {
					t.Fatalf("err = %v, want %s (%s)", err, tt.wantErr, CodeBadHeader)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, c.Provider("p").Headers); diff != "" {
				t.Errorf("headers (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRoutingDefaults: failover is on and the default provider off when a
// file says nothing; a routing section changes only what it names.
func TestRoutingDefaults(t *testing.T) {
	c, err := Parse("t.hujson", []byte("{"+okProvider+"}"), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(DefaultRouting(), c.Routing); diff != "" {
		t.Errorf("routing without a section (-want +got):\n%s", diff)
	}
	if !c.Routing.Failover || c.Routing.DefaultProvider != "" {
		t.Errorf("default routing = %+v, want failover on and no default provider", c.Routing)
	}
	c, err = Parse("t.hujson", []byte("{"+okProvider+`"routing": {"failover": false, "deadline": "5s", "default_provider": "p",
		"load_balancing": "weighted", "circuit_breaker": {"failures": 2, "cooldown": "1m"}}}`), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := Routing{Failover: false, MaxAttempts: 3, Deadline: 5 * time.Second, DefaultProvider: "p", Balance: BalanceWeighted,
		BreakerFailures: 2, BreakerCooldown: time.Minute}
	if diff := cmp.Diff(want, c.Routing); diff != "" {
		t.Errorf("routing (-want +got):\n%s", diff)
	}
}

// TestResolve: force_model, then the first alias that matches, then the
// provider:model?params spelling, in that order.
func TestResolve(t *testing.T) {
	const providers = `"providers": {
		"openrouter": {"baseurl": "https://or.example", "apikey": "k", "models": ["openai/gpt-4o"]},
		"local": {"baseurl": "https://l.example", "apikey": "k", "models": ["llama3:8b"]}},`
	tests := []struct {
		name     string
		settings string
		model    string
		force    string // as serve --force-model gives it
		want     Target
		wantErr  error
	}{
		{name: "no rules", model: "gpt-4o", want: Target{Model: "gpt-4o"}},
		{name: "dollar capture", settings: `"model_aliases": [{"pattern": "^gpt-(.*)", "replacement": "openrouter:openai/gpt-$1"}]`,
			model: "gpt-4o", want: Target{Model: "openai/gpt-4o", Provider: "openrouter"}},
		{name: "backslash capture", settings: `"model_aliases": [{"pattern": "^gpt-(.*)", "replacement": "openrouter:openai/gpt-\\1"}]`,
			model: "gpt-4o", want: Target{Model: "openai/gpt-4o", Provider: "openrouter"}},
		{name: "backslash capture followed by digits", settings: `"model_aliases": [{"pattern": "^m(.)$", "replacement": "x\\1-0"}]`,
			model: "m7", want: Target{Model: "x7-0"}},
		{name: "first match wins", settings: `"model_aliases": [{"pattern": "^fast$", "replacement": "a"}, {"pattern": "^f", "replacement": "b"}]`,
			model: "fast", want: Target{Model: "a"}},
		{name: "later rule when the first does not match", settings: `"model_aliases": [{"pattern": "^slow$", "replacement": "a"}, {"pattern": "^f", "replacement": "b"}]`,
			model: "fast", want: Target{Model: "bast"}},
		{name: "no match keeps the model", settings: `"model_aliases": [{"pattern": "^claude-", "replacement": "x"}]`,
			model: "gpt-4o", want: Target{Model: "gpt-4o"}},
		{name: "force wins over the request", settings: `"force_model": "openai/gpt-4o"`,
			model: "claude-opus", want: Target{Model: "openai/gpt-4o"}},
		{name: "aliases apply to the forced model", settings: `"force_model": "gpt-4o", "model_aliases": [{"pattern": "^gpt-(.*)", "replacement": "openrouter:openai/gpt-$1"}]`,
			model: "anything", want: Target{Model: "openai/gpt-4o", Provider: "openrouter"}},
		{name: "command line force wins over the file's", settings: `"force_model": "a"`, force: "b",
			model: "c", want: Target{Model: "b"}},
		{name: "explicit provider with params", model: "openrouter:openai/gpt-4o?temperature=0.7&top_p=0.9",
			want: Target{Model: "openai/gpt-4o", Provider: "openrouter", Params: "temperature=0.7&top_p=0.9"}},
		{name: "colon of a model name is no provider", model: "llama3:8b", want: Target{Model: "llama3:8b"}},
		{name: "provider without model", model: "openrouter:", wantErr: ErrBadModel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("t.hujson", []byte("{"+providers+tt.settings+"}"), noEnv)
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Resolve(tt.model, tt.force)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			tt.want.Requested = tt.model
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Resolve(%q) (-want +got):\n%s", tt.model, diff)
			}
		})
	}
}

// BenchmarkResolve measures what every request pays for routing: no rule
// (the common case), and a file of aliases with the last one matching.
func BenchmarkResolve(b *testing.B) {
	for _, bc := range []struct {
		name, settings, model string
	}{
		{name: "no rules", model: "gpt-5"},
		{name: "tenth alias", settings: strings.Repeat(`{"pattern": "^nomatch-[0-9]+$", "replacement": "x"},`, 9) +
			`{"pattern": "^gpt-(.*)", "replacement": "p:openai/gpt-$1?temperature=0.2"}`, model: "gpt-4o"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			src := "{" + okProvider + `"model_aliases": [` + bc.settings + "]}"
			c, err := Parse("b.hujson", []byte(src), noEnv)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Resolve(bc.model, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
