package compat

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/sluice-gateway/sluice/compat/eventstream"
)

func TestWriteError(t *testing.T) {
	const msg = `model "gpt-9" is not served here`
	tests := []struct {
		format     string
		kind       ErrorKind
		status     int
		wantStatus int
		// want is the body; bedrockType the x-amzn-ErrorType header.
		want        string
		bedrockType string
	}{
		{format: OpenAIChat, kind: KindNotFound, wantStatus: 404,
			want: `{"error":{"message":"` + `model \"gpt-9\" is not served here` + `","type":"invalid_request_error","param":null,"code":"not_found"}}`},
		{format: OpenAIResponses, kind: KindInvalidRequest, status: 400, wantStatus: 400,
			want: `{"error":{"message":"m","type":"invalid_request_error","param":null,"code":null}}`},
		{format: AnthropicMessages, kind: KindPermissionDenied, wantStatus: 403,
			want: `{"type":"error","error":{"type":"permission_error","message":"m"}}`},
		{format: AnthropicMessages, kind: KindTooLarge, wantStatus: 413,
			want: `{"type":"error","error":{"type":"request_too_large","message":"m"}}`},
		{format: AnthropicMessages, kind: KindUnavailable, wantStatus: 503,
			want: `{"type":"error","error":{"type":"overloaded_error","message":"m"}}`},
		{format: GeminiGenerateContent, kind: KindPermissionDenied, wantStatus: 403,
			want: `{"error":{"code":403,"message":"m","status":"PERMISSION_DENIED"}}`},
		{format: GoogleGenerateContent, kind: KindNotFound, wantStatus: 404,
			want: `{"error":{"code":404,"message":"m","status":"NOT_FOUND"}}`},
		{format: GoogleRawPredict, kind: KindInvalidRequest, status: 400, wantStatus: 400,
			want: `{"error":{"code":400,"message":"m","status":"INVALID_ARGUMENT"}}`},
		{format: GeminiGenerateContent, kind: KindTimeout, wantStatus: 504,
			want: `{"error":{"code":504,"message":"m","status":"DEADLINE_EXCEEDED"}}`},
		{format: BedrockModelInvoke, kind: KindPermissionDenied, wantStatus: 403,
			want: `{"message":"m"}`, bedrockType: "AccessDeniedException"},
		{format: BedrockConverse, kind: KindNotFound, wantStatus: 404,
			want: `{"message":"m"}`, bedrockType: "ResourceNotFoundException"},
		{format: BedrockConverse, kind: KindRateLimited, wantStatus: 429,
			want: `{"message":"m"}`, bedrockType: "ThrottlingException"},
		{format: BedrockConverse, kind: KindUnavailable, wantStatus: 503,
			want: `{"message":"m"}`, bedrockType: "ServiceUnavailableException"},
		{format: BedrockModelInvoke, kind: KindInvalidRequest, status: 400, wantStatus: 400,
			want: `{"message":"m"}`, bedrockType: "ValidationException"},
		{format: "unknown", kind: KindUpstreamError, wantStatus: 502,
			want: `{"error":{"message":"m","type":"server_error","param":null,"code":"upstream_error"}}`},
		{format: OpenAIChat, kind: "no-such-kind", wantStatus: 500,
			want: `{"error":{"message":"m","type":"server_error","param":null,"code":"internal_error"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.format+"/"+string(tt.kind), func(t *testing.T) {
			message := "m"
			if tt.format == OpenAIChat && tt.kind == KindNotFound {
				message = msg
			}
			w := httptest.NewRecorder()
			w.Header().Set("Content-Length", "999") // stale value from an upstream
			WriteError(w, tt.format, tt.status, tt.kind, message)
			if w.Code != tt.wantStatus {
				t.Errorf("status %d, want %d", w.Code, tt.wantStatus)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("content type %q", ct)
			}
			if cl := w.Header().Get("Content-Length"); cl != strconv.Itoa(w.Body.Len()) {
				t.Errorf("content length %s for %d bytes", cl, w.Body.Len())
			}
			if !jsonEqual(w.Body.Bytes(), []byte(tt.want)) {
				t.Errorf("body %s\nwant %s", w.Body, tt.want)
			}
			if got := w.Header().Get("X-Amzn-ErrorType"); got != tt.bedrockType {
				t.Errorf("x-amzn-ErrorType %q, want %q", got, tt.bedrockType)
			}
		})
	}
}

func TestKindStatus(t *testing.T) {
	for kind, status := range map[ErrorKind]int{KindInvalidRequest: 400, KindPermissionDenied: 403, KindNotFound: 404,
		KindMethodNotAllowed: 405, KindTooLarge: 413, KindRateLimited: 429, KindGuardrailBlocked: 403,
		KindUpstreamError: 502, KindTimeout: 504, KindUnavailable: 503, KindInternal: 500} {
		if kind.Status() != status {
			t.Errorf("%s: %d", kind, kind.Status())
		}
	}
}

// TestWriteStreamErrorIsRecorded writes an in-stream error in every format
// and checks that the format's own parser sees it: the recorder reports
// the message as the upstream's failure.
func TestWriteStreamErrorIsRecorded(t *testing.T) {
	const msg = "the upstream stopped answering"
	for _, format := range Formats() {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteStreamError(&buf, format, KindTimeout, msg); err != nil {
				t.Fatal(err)
			}
			r := NewRecorder(format, true, RecorderOptions{})
			_, _ = r.Write(buf.Bytes())
			res := r.Result()
			if res.Err != nil {
				t.Fatalf("recorder: %v", res.Err)
			}
			want := msg
			if format == BedrockModelInvoke || format == BedrockConverse {
				want = "modelStreamErrorException: " + msg
			}
			if res.Failure != want {
				t.Errorf("failure %q, want %q (stream %q)", res.Failure, want, buf.String())
			}
		})
	}
}

func TestWriteStreamErrorShapes(t *testing.T) {
	var buf bytes.Buffer
	_ = WriteStreamError(&buf, AnthropicMessages, KindUnavailable, "Overloaded")
	if want := "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"; buf.String() != want {
		t.Errorf("anthropic: %q", buf.String())
	}
	buf.Reset()
	_ = WriteStreamError(&buf, BedrockConverse, KindRateLimited, "slow down")
	var d eventstream.Decoder
	var got []string
	_ = d.Feed(buf.Bytes(), func(m eventstream.Message) {
		got = append(got, eventstream.Header(m, eventstream.HeaderMessageType), eventstream.Header(m, eventstream.HeaderExceptionType), string(m.Payload))
	})
	if len(got) != 3 || got[0] != "exception" || got[1] != "throttlingException" || !json.Valid([]byte(got[2])) {
		t.Errorf("bedrock exception frame %q", got)
	}
	if err := WriteStreamError(&buf, "nope", KindInternal, "x"); err == nil {
		t.Error("unknown format accepted")
	}
}

func TestWriteErrorGuardrail(t *testing.T) {
	w := httptest.NewRecorder()
	WriteError(w, AnthropicMessages, http.StatusBadRequest, KindGuardrailBlocked, "blocked by policy hook")
	var v struct {
		Error struct{ Type, Message string }
	}
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil || w.Code != 400 || v.Error.Message != "blocked by policy hook" {
		t.Errorf("%d %s", w.Code, w.Body)
	}
}
