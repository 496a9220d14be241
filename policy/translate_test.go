package policy

import (
	"strings"
	"testing"
)

// TestProviderTranslate: "translate" is a boolean, off unless set, and a
// value of another type is refused with its place.
func TestProviderTranslate(t *testing.T) {
	tests := []struct {
		name    string
		field   string
		want    bool
		wantErr string
	}{
		{name: "absent is off", field: ``},
		{name: "true", field: `, "translate": true`, want: true},
		{name: "false", field: `, "translate": false`},
		{name: "not a boolean", field: `, "translate": "yes"`, wantErr: "providers.p.translate: want boolean, got string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := `{"providers": {"p": {"baseurl": "https://p.example", "apikey": "k", "models": ["m"]` + tt.field + `}}}`
			c, err := Parse("t.hujson", []byte(cfg), noEnv)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Warnings) > 0 {
				t.Errorf("warnings %v", c.Warnings)
			}
			if got := c.Provider("p").Translate; got != tt.want {
				t.Errorf("Translate = %v, want %v", got, tt.want)
			}
		})
	}
}
