package ui

import (
	"fmt"
	"net/http"
	"strings"
)

// snippet is one client's setup, ready to paste.
type snippet struct {
	ID, Client, Where, Text string
}

type connectData struct {
	Base     string
	Snippets []snippet
}

// connect shows how to point each client at this gateway, with the address
// the viewer reached it at and a model they may use filled in.
func (h *Handler) connect(w http.ResponseWriter, r *http.Request, c Caller) {
	base := gatewayBase(r)
	var anthropic, openai, gemini, any string
	if h.opts.Models != nil {
		if ms, err := h.opts.Models(r); err == nil {
			for _, m := range ms {
				switch {
				case anthropic == "" && strings.HasPrefix(m.ID, "claude"):
					anthropic = m.ID
				case gemini == "" && strings.HasPrefix(m.ID, "gemini"):
					gemini = m.ID
				case openai == "" && !strings.HasPrefix(m.ID, "claude") && !strings.HasPrefix(m.ID, "gemini"):
					openai = m.ID
				}
				if any == "" {
					any = m.ID
				}
			}
		}
	}
	or := func(m, fallback string) string {
		if m != "" {
			return m
		}
		if any != "" {
			return any
		}
		return fallback
	}
	anthropic, openai, gemini = or(anthropic, "claude-sonnet-4-5"), or(openai, "gpt-5"), or(gemini, "gemini-2.5-pro")
	d := connectData{Base: base, Snippets: []snippet{
		{"claude-code", "Claude Code", "in your shell (or the env block of ~/.claude/settings.json)", fmt.Sprintf(
			"export ANTHROPIC_BASE_URL=%s\nexport ANTHROPIC_AUTH_TOKEN=-   # any value: the gateway knows who you are\nclaude", base)},
		{"codex", "Codex", "~/.codex/config.toml", fmt.Sprintf(
			"model_provider = \"sluice\"\nmodel = %q\n\n[model_providers.sluice]\nname = \"sluice\"\nbase_url = \"%s/v1\"\nwire_api = \"responses\"", openai, base)},
		{"gemini-cli", "Gemini CLI", "in your shell; ~/.gemini/settings.json selects the API-key backend", fmt.Sprintf(
			"export GOOGLE_GEMINI_BASE_URL=%s\nexport GEMINI_API_KEY=-\n# ~/.gemini/settings.json:\n# {\"security\": {\"auth\": {\"selectedType\": \"gemini-api-key\"}}}\ngemini -m %s", base, gemini)},
		{"opencode", "opencode", "opencode.json", fmt.Sprintf(
			"{\n  \"$schema\": \"https://opencode.ai/config.json\",\n  \"provider\": {\n    \"sluice\": {\n      \"npm\": \"@ai-sdk/openai-compatible\",\n      \"name\": \"sluice\",\n      \"options\": {\"baseURL\": \"%s/v1\", \"apiKey\": \"-\"},\n      \"models\": {%q: {}}\n    }\n  }\n}", base, openai)},
		{"openai-sdk", "OpenAI SDK (Python)", "your program", fmt.Sprintf(
			"from openai import OpenAI\n\nclient = OpenAI(base_url=\"%s/v1\", api_key=\"-\")\nprint(client.chat.completions.create(\n    model=%q, messages=[{\"role\": \"user\", \"content\": \"Hello\"}],\n).choices[0].message.content)", base, openai)},
		{"anthropic-sdk", "Anthropic SDK (Python)", "your program", fmt.Sprintf(
			"import anthropic\n\nclient = anthropic.Anthropic(base_url=%q, api_key=\"-\")\nmsg = client.messages.create(\n    model=%q, max_tokens=1024,\n    messages=[{\"role\": \"user\", \"content\": \"Hello\"}],\n)\nprint(msg.content[0].text)", base, anthropic)},
		{"curl", "curl", "any shell", fmt.Sprintf(
			"curl %s/v1/chat/completions \\\n  -H 'content-type: application/json' \\\n  -d '{\"model\": %q, \"messages\": [{\"role\": \"user\", \"content\": \"Hello\"}]}'", base, openai)},
	}}
	h.render(w, r, c, http.StatusOK, "connect", "Connect a client", "connect", d)
}

// gatewayBase is the address the viewer reached the gateway at. Clients
// on a tailnet use plain http: WireGuard already encrypts, and TLS to a
// short name breaks them.
func gatewayBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := r.Host
	if host == "" {
		host = "localhost"
	}
	return scheme + "://" + host
}
