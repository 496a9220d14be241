package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// accessRecord is an access line's record as the gateway makes it, with
// values that need quoting or escaping.
func accessRecord() slog.Record {
	r := slog.NewRecord(time.Date(2026, 12, 6, 14, 3, 7, 123456789, time.UTC), slog.LevelInfo, "access", 0)
	r.AddAttrs(
		slog.String("request_id", "019af0c2d7e4a1b2c3d4e5f6"),
		slog.String("decision_id", ""),
		slog.String("login", "Zoë \"admin\" <zoe@example.com>"),
		slog.String("method", "POST"),
		slog.String("path", "/v1/chat/completions?q=a b&x=\xff\n"),
		slog.String("format", "openai"),
		slog.String("model", "gpt-5"),
		slog.String("provider", "openai"),
		slog.Int("status", 502),
		slog.Bool("stream", true),
		slog.Int64("input_tokens", 1234),
		slog.Int64("output_tokens", -1),
		slog.Float64("latency_ms", 1234.567),
		slog.Float64("ttfb_ms", 0.001),
		slog.String("error_kind", "upstream_timeout"),
	)
	return r
}

// TestAccessLoggerWritesWhatSlogWrote: serve's access logger writes an
// access line byte for byte as the slog logger it replaced
// (newLogger(...).With("log", "access")) did, in both formats, so every
// reader of the log parses it as before.
func TestAccessLoggerWritesWhatSlogWrote(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			var got, want bytes.Buffer
			f := &serveFlags{accessLog: true, logFormat: format, accessOut: &got}
			log := accessLogger(f, newLogger(format, &bytes.Buffer{}))
			before := newLogger(format, &want).With("log", "access")
			for _, l := range []*slog.Logger{log, before} {
				if err := l.Handler().Handle(context.Background(), accessRecord()); err != nil {
					t.Fatal(err)
				}
			}
			if got.String() != want.String() || got.Len() == 0 {
				t.Errorf("access line\n%q\nslog's logger wrote\n%q", got.String(), want.String())
			}
		})
	}
}

// parseTextLine reads a text log line's key=value pairs, unquoting
// quoted values.
func parseTextLine(t *testing.T, line string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for line != "" {
		eq := strings.IndexByte(line, '=')
		if eq < 0 {
			t.Fatalf("no '=' in %q", line)
		}
		key, rest := line[:eq], line[eq+1:]
		var val string
		if strings.HasPrefix(rest, `"`) {
			q, err := strconv.QuotedPrefix(rest)
			if err != nil {
				t.Fatalf("value of %s: %v", key, err)
			}
			val, _ = strconv.Unquote(q)
			rest = rest[len(q):]
		} else if sp := strings.IndexByte(rest, ' '); sp >= 0 {
			val, rest = rest[:sp], rest[sp:]
		} else {
			val, rest = rest, ""
		}
		m[key] = val
		line = strings.TrimPrefix(rest, " ")
	}
	return m
}

// TestServeAccessLineParses: a request's access line on serve's stderr,
// in either format, parses into the fields it always had.
func TestServeAccessLineParses(t *testing.T) {
	config := writeFile(t, `{"providers": {"openai": {"baseurl": "http://127.0.0.1:1", "apikey": "sk-x", "models": ["gpt-5"]}}}`)
	for _, format := range []string{"text", "json"} {
		t.Run(format, func(t *testing.T) {
			addr, stderr, stop := startServe(t, "--config", config, "--listen", "127.0.0.1:0", "--local-user", "dev@example.com",
				"--log-format", format, "--access-log-flush", "0")
			resp, err := http.Post(addr+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"no such \"model\"","messages":[]}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			stop()
			var lines []map[string]string
			for _, l := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
				m := map[string]string{}
				if format == "json" {
					var raw map[string]any
					if err := json.Unmarshal([]byte(l), &raw); err != nil {
						t.Fatalf("not a JSON line: %q", l)
					}
					for k, v := range raw {
						if s, ok := v.(string); ok {
							m[k] = s
						} else {
							b, _ := json.Marshal(v)
							m[k] = string(b)
						}
					}
				} else {
					m = parseTextLine(t, l)
				}
				if m["log"] == "access" {
					lines = append(lines, m)
				}
			}
			if len(lines) != 1 {
				t.Fatalf("%d access lines, want 1:\n%s", len(lines), stderr.String())
			}
			m := lines[0]
			if _, err := time.Parse(time.RFC3339Nano, m["time"]); err != nil {
				t.Errorf("time %q: %v", m["time"], err)
			}
			if ms, err := strconv.ParseFloat(m["latency_ms"], 64); err != nil || ms < 0 {
				t.Errorf("latency_ms %q", m["latency_ms"])
			}
			want := map[string]string{"level": "INFO", "msg": "access", "login": "dev@example.com", "method": "POST",
				"path": "/v1/chat/completions", "model": `no such "model"`, "status": "404", "stream": "false"}
			for k, v := range want {
				if m[k] != v {
					t.Errorf("%s = %q, want %q (line %v)", k, m[k], v, m)
				}
			}
			if m["request_id"] == "" {
				t.Errorf("no request_id: %v", m)
			}
		})
	}
}
