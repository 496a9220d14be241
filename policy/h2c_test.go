package policy

import (
	"strings"
	"testing"
)

// TestProviderH2C: "h2c" is a boolean, off unless set; on an https://
// base URL it is a warning, since TLS negotiates HTTP/2 by itself.
func TestProviderH2C(t *testing.T) {
	tests := []struct {
		name    string
		baseurl string
		field   string
		want    bool
		warning string
		wantErr string
	}{
		{name: "absent is off", baseurl: "http://gpu.internal:8000"},
		{name: "true", baseurl: "http://gpu.internal:8000", field: `, "h2c": true`, want: true},
		{name: "false", baseurl: "http://gpu.internal:8000", field: `, "h2c": false`},
		{name: "on https", baseurl: "https://p.example", field: `, "h2c": true`, want: true, warning: "h2c applies to http:// base URLs only"},
		{name: "not a boolean", baseurl: "http://gpu.internal:8000", field: `, "h2c": "yes"`, wantErr: "providers.p.h2c: want boolean, got string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := `{"providers": {"p": {"baseurl": "` + tt.baseurl + `", "apikey": "k", "models": ["m"]` + tt.field + `}}}`
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
			if tt.warning == "" && len(c.Warnings) > 0 {
				t.Errorf("warnings %v", c.Warnings)
			}
			if tt.warning != "" && (len(c.Warnings) != 1 || !strings.Contains(c.Warnings[0].Message, tt.warning)) {
				t.Errorf("warnings %v, want one with %q", c.Warnings, tt.warning)
			}
			if got := c.Provider("p").H2C; got != tt.want {
				t.Errorf("H2C = %v, want %v", got, tt.want)
			}
		})
	}
}
