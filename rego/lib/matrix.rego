# What `sluice policy matrix` asks before deciding a caller's pairs one by
# one. granted, and so allow, holds only for a pair one of the caller's
# provider grants or models capabilities matches; the matrix decides only
# those pairs with the full policy.
package sluice.authz

# matrix_candidates are the [provider, model] pairs of input.models
# ({"provider": ["model", ...]}) the caller's provider grants or models
# capabilities match, matched as granted matches input.request. Provider
# patterns are matched first: most rule out every model of a provider.
matrix_candidates contains [provider, model] if {
	some entry in named_entries
	some p in entry.providers
	some provider, models in input.models
	star_match(p.provider, provider)
	some model in models
	star_match(p.model, model)
}

matrix_candidates contains [provider, model] if {
	some cap in capability_set
	some pattern in cap_models(cap)
	some provider, models in input.models
	some model in models
	path_match(pattern, concat("/", [provider, model]))
}
