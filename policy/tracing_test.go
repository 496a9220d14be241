package policy

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestTracingSection: the tracing section loads what it says, and each
// invalid setting is refused at its place.
func TestTracingSection(t *testing.T) {
	on, ratio := true, 0.01
	tests := []struct {
		name    string
		config  string
		want    Tracing
		wantErr string // first error, "file:line:col: message"
	}{
		{name: "absent", config: `"pricing": {}`, want: Tracing{}},
		{name: "full", config: `"tracing": {"enabled": true, "endpoint": "http://127.0.0.1:4318", "protocol": "http/protobuf",
"sample_ratio": 0.01, "capture_content": true, "headers": {"Authorization": "Bearer ${TRACE_TOKEN}"}}`,
			want: Tracing{Enabled: &on, Endpoint: "http://127.0.0.1:4318", Protocol: TracingHTTP, SampleRatio: &ratio,
				CaptureContent: true, Headers: map[string]string{"Authorization": "Bearer tok"}}},
		{name: "grpc", config: `"tracing": {"protocol": "grpc", "endpoint": "https://collector.example:4317"}`,
			want: Tracing{Protocol: TracingGRPC, Endpoint: "https://collector.example:4317"}},
		{name: "unknown protocol", config: `"tracing": {"protocol": "zipkin"}`,
			wantErr: `t.hujson:3:25: tracing.protocol: unknown protocol "zipkin" (want "http/protobuf" or "grpc")`},
		{name: "ratio above one", config: `"tracing": {"sample_ratio": 5}`,
			wantErr: `t.hujson:3:29: tracing.sample_ratio: 5 is out of range (want 0 to 1, e.g. 0.01 for 1% of requests)`},
		{name: "ratio not a number", config: `"tracing": {"sample_ratio": true}`,
			wantErr: `t.hujson:3:29: tracing.sample_ratio: want number, got boolean`},
		{name: "endpoint without scheme", config: `"tracing": {"endpoint": "collector:4318"}`,
			wantErr: `t.hujson:3:25: tracing.endpoint: "collector:4318": want an http:// or https:// URL such as "http://127.0.0.1:4318"`},
		{name: "endpoint with credentials", config: `"tracing": {"endpoint": "https://u:secret@collector"}`,
			wantErr: `t.hujson:3:25: tracing.endpoint: the URL carries credentials; put them in tracing.headers`},
		{name: "bad header name", config: `"tracing": {"headers": {"bad name": "x"}}`,
			wantErr: `t.hujson:3:37: tracing.headers: "bad name" is not a valid HTTP header name`},
		{name: "enabled not a boolean", config: `"tracing": {"enabled": "yes"}`,
			wantErr: `t.hujson:3:24: tracing.enabled: want boolean, got string`},
	}
	env := func(name string) (string, bool) { return "tok", name == "TRACE_TOKEN" }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse("t.hujson", []byte("{\n"+okProvider+"\n"+tt.config+"\n}"), env)
			if tt.wantErr != "" {
				var errs Errors
				if !errors.As(err, &errs) || !strings.HasPrefix(errs[0].String(), tt.wantErr) || errs[0].Code != CodeBadTracing && errs[0].Code != CodeType {
					t.Fatalf("err = %v\nwant %s", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error shows the URL's password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, c.Tracing); diff != "" {
				t.Errorf("tracing (-want +got):\n%s", diff)
			}
		})
	}
}
