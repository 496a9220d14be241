# What `sluice policy matrix` asks before deciding a caller's pairs one by
# one. granted, and so allow, holds only for a pair one of the caller's
# provider grants or models capabilities matches; the matrix decides only
# those pairs with the full policy.
package sluice.authz

# matrix_candidates are the indices of input.pairs ([{"provider", "model"}])
# the caller's provider grants or models capabilities match, matched as
# granted matches input.request.
matrix_candidates contains i if {
	some entry in named
	some p in entry.providers
	some i, pair in input.pairs
	star_match(p.provider, pair.provider)
	star_match(p.model, pair.model)
}

matrix_candidates contains i if {
	some cap in capabilities
	some pattern in cap_models(cap)
	some i, pair in input.pairs
	path_match(pattern, concat("/", [pair.provider, pair.model]))
}
