package policy

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tailscale/hujson"
)

// FuzzParse feeds arbitrary bytes to the loader: it must never panic, it
// returns either a config or errors, never both nor neither, and a
// disabled provider is never routed to.
//
// Each new input the fuzzer finds is minimized at a cost that grows with
// the square of its length: whole shared configurations as seeds kept both
// workers minimizing for the whole run (about 25 executions in 30s). So
// the seeds are the shared configurations cut into one small document per
// section member, without comments, and inputs over maxFuzzInput bytes are
// skipped. A few hand-written seeds keep comments, macros and the refused
// sections in play.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "configs", "*.hujson"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for _, seed := range splitSeeds(f, data) {
			f.Add(seed)
		}
	}
	for _, seed := range splitSeeds(f, DefaultHuJSON) {
		f.Add(seed)
	}
	f.Add([]byte("// c\n{\"providers\": {/* p */ \"p\": {\"baseurl\": \"https://p\", \"models\": [\"m\",],},},}"))
	f.Add([]byte(`{"providers": {"p": {"baseurl": "${X}", "models": ["$${"]}}}`))
	f.Add([]byte(`{"grants": [], "quotas": {}, "flags": {"f": {"value": true}}, "x": 1}`))
	f.Add([]byte(`{"connectors": {"servers": {"a": {"protocol": "mcp", "url": "https://a", "labels": ["x"], "auth": {"type": "oauth2_client_credentials", "client_id": "i", "client_secret": "s", "token_url": "https://t"}}, "b_c": {"protocol": "http"}}}}`))
	f.Add([]byte(`{"database": {"retention": {"duration": "0", "purge": ["a"], "require_export": true}, "on_log_failure": "serve"}}`))
	f.Add([]byte(`{"model_aliases": [{"pattern": "^g(.*)", "replacement": "p:\\1"}], "force_model": "m", "routing": {"failover": false, "default_provider": "p", "circuit_breaker": {"failures": 1}}, "providers": {"p": {"baseurl": "https://p", "models": ["m"], "headers": {"X-Title": "t"}, "weight": 2}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		c, err := Parse("fuzz.hujson", data, func(k string) (string, bool) { return "v", k == "X" })
		if (c == nil) == (err == nil) {
			t.Fatalf("Parse returned config %v and error %v", c != nil, err)
		}
		if c == nil {
			return
		}
		for _, p := range c.Providers {
			if c.Provider(p.ID) != p {
				t.Fatalf("provider %q not indexed", p.ID)
			}
			for _, m := range p.Models {
				for _, q := range c.ProvidersFor(m) {
					if q.Disabled {
						t.Fatalf("disabled provider %q routed for %q", q.ID, m)
					}
				}
			}
		}
	})
}

// maxFuzzInput bounds fuzz inputs, and with them the cost of minimizing.
const maxFuzzInput = 1024

// splitSeeds cuts a HuJSON configuration into small documents, one per
// member of each top-level section ({"providers": {"openai": {...}}}),
// without comments or blanks.
func splitSeeds(tb testing.TB, data []byte) [][]byte {
	tb.Helper()
	root, err := hujson.Parse(data)
	if err != nil {
		tb.Fatal(err)
	}
	root.Minimize()
	var out [][]byte
	for _, sec := range root.Value.(*hujson.Object).Members {
		name := string(sec.Name.Pack())
		switch v := sec.Value.Value.(type) {
		case *hujson.Object:
			for _, m := range v.Members {
				out = append(out, []byte("{"+name+":{"+string(m.Name.Pack())+":"+string(m.Value.Pack())+"}}"))
			}
		case *hujson.Array:
			for _, e := range v.Elements {
				out = append(out, []byte("{"+name+":["+string(e.Pack())+"]}"))
			}
		default:
			out = append(out, []byte("{"+name+":"+string(sec.Value.Pack())+"}"))
		}
	}
	return out
}
