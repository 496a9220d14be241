package sluice.authz_test

import data.sluice.authz

matrix_pairs := [
	{"provider": "openai", "model": "gpt-5"},
	{"provider": "openai", "model": "gpt-5-mini"},
	{"provider": "anthropic", "model": "claude-sonnet-4-5"},
	{"provider": "gemini", "model": "gemini-2.5-pro"},
]

matrix_input(login) := {"user": {"login": login, "tags": []}, "pairs": matrix_pairs}

test_matrix_candidates_are_the_granted_pairs if {
	authz.matrix_candidates == {0, 2} with data.sluice.grants as two_users_index
		with input as matrix_input("dev@example.com")
	authz.matrix_candidates == {0, 1, 2, 3} with data.sluice.grants as two_users_index
		with input as matrix_input("boss@example.com")
	authz.matrix_candidates == set() with data.sluice.grants as two_users_index
		with input as matrix_input("eve@example.com")
}

test_matrix_candidates_of_models_capabilities if {
	caps := {"user": {"login": "dev@example.com", "tags": [], "caps": [{"role": "user", "models": ["anthropic/*", "openai/gpt-5"]}]}, "pairs": matrix_pairs}
	authz.matrix_candidates == {0, 2} with data.sluice.grants as index({})
		with input as caps
}
