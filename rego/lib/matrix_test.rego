package sluice.authz_test

import data.sluice.authz

matrix_models := {
	"openai": ["gpt-5", "gpt-5-mini"],
	"anthropic": ["claude-sonnet-4-5"],
	"gemini": ["gemini-2.5-pro"],
}

matrix_input(login) := {"user": {"login": login, "tags": []}, "models": matrix_models}

test_matrix_candidates_are_the_granted_pairs if {
	authz.matrix_candidates == {["openai", "gpt-5"], ["anthropic", "claude-sonnet-4-5"]} with data.sluice.grants as two_users_index
		with input as matrix_input("dev@example.com")
	count(authz.matrix_candidates) == 4 with data.sluice.grants as two_users_index
		with input as matrix_input("boss@example.com")
	authz.matrix_candidates == set() with data.sluice.grants as two_users_index
		with input as matrix_input("eve@example.com")
}

test_matrix_candidates_of_models_capabilities if {
	caps := {"user": {"login": "dev@example.com", "tags": [], "caps": [{"role": "user", "models": ["anthropic/*", "openai/gpt-5"]}]}, "models": matrix_models}
	authz.matrix_candidates == {["openai", "gpt-5"], ["anthropic", "claude-sonnet-4-5"]} with data.sluice.grants as index({})
		with input as caps
}
