package no_translation_test

import data.sluice.authz

alice := {"login": "alice@example.com", "tags": []}

test_same_format_allowed if {
	authz.allow with input as {"user": alice, "request": {
		"provider": "vllm", "model": "qwen3-coder-30b",
		"format": "openai_chat", "upstream_format": "openai_chat",
	}}
	count(authz.deny) == 0 with input as {"user": alice, "request": {
		"provider": "vllm", "model": "qwen3-coder-30b",
		"format": "openai_chat", "upstream_format": "openai_chat",
	}}
}

test_claude_code_to_chat_provider_denied if {
	authz.deny == {"translation between API formats is not allowed"} with input as {"user": alice, "request": {
		"provider": "vllm", "model": "qwen3-coder-30b",
		"format": "anthropic_messages", "upstream_format": "openai_chat",
	}}
}

test_codex_to_anthropic_denied if {
	"translation between API formats is not allowed" in authz.deny with input as {"user": alice, "request": {
		"provider": "anthropic", "model": "claude-sonnet-4-5",
		"format": "openai_responses", "upstream_format": "anthropic_messages",
	}}
}
