package policy

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the loader: it must never panic, and
// it returns either a config or errors, never both nor neither.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "testdata", "configs", "*.hujson"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add(DefaultHuJSON)
	f.Add([]byte(`{"providers": {"p": {"baseurl": "${X}", "models": ["$${"]}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.hujson", data, func(k string) (string, bool) { return "v", k == "X" })
		if (c == nil) == (err == nil) {
			t.Fatalf("Parse returned config %v and error %v", c != nil, err)
		}
		if c != nil {
			for _, p := range c.Providers {
				if c.Provider(p.ID) != p {
					t.Fatalf("provider %q not indexed", p.ID)
				}
			}
		}
	})
}
