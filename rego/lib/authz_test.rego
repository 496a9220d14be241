# Tests of the library's decision rules. Each test mocks the generated
# package data.sluice.grants, so they pass whatever the configuration.
package sluice.authz_test

import data.sluice.authz

# index builds what sluice generates in package sluice.grants from grants,
# an object of grant ID -> {"src": [...], and "role", "providers", "hook" or
# "mcp"}, so tests can mock the whole package.
index(grants) := {
	"grant": grants,
	"everyone": entry(grants, "*"),
	"index": {
		"logins": {src: entry(grants, src) | some src in all_src(grants); src_kind(src) == "login"},
		"domains": {substring(src, 2, -1): entry(grants, src) | some src in all_src(grants); src_kind(src) == "domain"},
		"tags": {src: entry(grants, src) | some src in all_src(grants); src_kind(src) == "tag"},
		"globs": {src: entry(grants, src) | some src in all_src(grants); src_kind(src) == "glob"},
	},
}

all_src(grants) := {src | some g in grants; some src in g.src}

entry(grants, src) := {
	"grants": ids,
	"roles": [r | some id in ids; r := grants[id].role],
	"providers": [
	object.union(p, {"grant": id, "match": [star_glob(p.provider), star_glob(p.model)]}) |
		some id in ids
		some p in grants[id].providers
	],
	"hooks": [object.union(
		{
			"hook": h.hook, "fields": h.fields, "events": h.match.events,
			"providers": h.match.providers, "models": h.match.models, "grant": id,
		},
		{"condition": c | c := h.condition},
	) |
		some id in ids
		h := grants[id].hook
	],
	"hook_match": [[any_glob(h.match.providers), any_glob(h.match.models)] |
		some id in ids
		h := grants[id].hook
	],
	"mcp": [object.union(m, {"grant": id}) | some id in ids; some m in grants[id].mcp],
} if {
	ids := sort([id | some id, g in grants; src in g.src])
}

# star_glob and any_glob build the glob.match patterns the generated
# grants hold for star_match and any_match.
star_glob(pattern) := replace(glob.quote_meta(pattern), `\*`, "*")

any_glob(patterns) := "*" if {
	count(patterns) == 0
} else := "*" if {
	"*" in patterns
} else := star_glob(patterns[0]) if {
	count(patterns) == 1
} else := concat("", ["{", concat(",", [replace(star_glob(p), ",", `\,`) | some p in patterns]), "}"])

src_kind(src) := "everyone" if {
	src == "*"
} else := "glob" if {
	contains(src, "*")
	not domain_glob(src)
} else := "domain" if {
	domain_glob(src)
} else := "tag" if {
	startswith(src, "tag:")
} else := "login"

domain_glob(src) if {
	startswith(src, "*@")
	rest := substring(src, 2, -1)
	rest != ""
	not contains(rest, "*")
	not contains(rest, "@")
}

req(login, provider, model) := {
	"user": {"login": login, "node_id": "n1", "tailnet": "example.com", "tags": []},
	"request": {"provider": provider, "model": model, "format": "openai_chat", "upstream_format": "openai_chat", "path": "/v1/chat/completions"},
}

two_users := {
	"temp_grants[0].grants[0]": {"src": ["dev@example.com"], "role": "user"},
	"temp_grants[0].grants[1]": {"src": ["dev@example.com"], "providers": [
		{"provider": "openai", "model": "gpt-5"},
		{"provider": "anthropic", "model": "claude-*"},
	]},
	"temp_grants[1].grants[0]": {"src": ["boss@example.com"], "role": "admin"},
	"temp_grants[1].grants[1]": {"src": ["boss@example.com", "dev@example.com"], "role": "user"},
	"temp_grants[1].grants[2]": {"src": ["boss@example.com"], "providers": [{"provider": "*", "model": "*"}]},
}

two_users_index := index(two_users)

decide(idx, doc) := d if {
	d := {
		"role": authz.role,
		"admin": authz.admin,
		"allow": authz.allow,
		"deny": authz.deny,
	} with data.sluice.grants as idx
		with input as doc
}

test_no_grants_denies_everyone if {
	d := decide(index({}), req("dev@example.com", "openai", "gpt-5"))
	d.role == "none"
	not d.admin
	not d.allow
	d.deny == {"dev@example.com has no access: no role grant in temp_grants names them (access is denied by default)"}
}

test_exact_grant_allows if {
	d := decide(two_users_index, req("dev@example.com", "openai", "gpt-5"))
	d.role == "user"
	d.allow
	d.deny == set()
}

test_model_not_granted if {
	d := decide(two_users_index, req("dev@example.com", "openai", "gpt-5-mini"))
	d.role == "user"
	not d.allow
	d.deny == {`dev@example.com may not use model "gpt-5-mini" of provider "openai": no provider grant in temp_grants matches`}
}

test_model_glob if {
	decide(two_users_index, req("dev@example.com", "anthropic", "claude-sonnet-4-5")).allow
	not decide(two_users_index, req("dev@example.com", "anthropic", "gpt-5")).allow
	not decide(two_users_index, req("dev@example.com", "openai", "claude-sonnet-4-5")).allow
}

test_unknown_user_has_no_role if {
	d := decide(two_users_index, req("eve@example.com", "openai", "gpt-5"))
	d.role == "none"
	not d.allow
}

test_admin_wins_over_user if {
	d := decide(two_users_index, req("boss@example.com", "gemini", "gemini-2.5-pro"))
	d.role == "admin"
	d.admin
	d.allow
}

test_provider_grant_without_role_denies if {
	grants := {"temp_grants[0].grants[0]": {"src": ["*"], "providers": [{"provider": "*", "model": "*"}]}}
	d := decide(index(grants), req("dev@example.com", "openai", "gpt-5"))
	d.role == "none"
	not d.allow
	count(d.deny) == 1
}

test_role_without_provider_grant_denies if {
	grants := {"temp_grants[0].grants[0]": {"src": ["*"], "role": "admin"}}
	d := decide(index(grants), req("dev@example.com", "openai", "gpt-5"))
	d.admin
	not d.allow
	count(d.deny) == 1
}

test_any_deny_blocks if {
	not authz.allow with data.sluice.grants as two_users_index
		with data.sluice.authz.deny as {"blocked by a rule of our own"}
		with input as req("boss@example.com", "openai", "gpt-5")
}

test_star_match if {
	authz.star_match("*", "anything")
	authz.star_match("*", "")
	authz.star_match("gpt-5", "gpt-5")
	authz.star_match("claude-*", "claude-opus-4-5")
	authz.star_match("*-mini", "gpt-5-mini")
	authz.star_match("a*c*e", "abcde")
	authz.star_match("openrouter/*", "openrouter/meta/llama")
	not authz.star_match("claude-*", "gpt-5")
	not authz.star_match("gpt-5", "gpt-5-mini")
	not authz.star_match("*-mini", "gpt-5-nano")
}

test_star_match_other_glob_characters_are_literal if {
	not authz.star_match("gpt-?", "gpt-5")
	not authz.star_match("gpt-[5]", "gpt-5")
	not authz.star_match("{gpt,o}-*", "gpt-5")
	authz.star_match("gpt-[5]*", "gpt-[5]-mini")
	authz.star_match("m?*", "m?x")
}
