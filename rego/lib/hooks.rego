# Hook grants: which hooks see this caller's traffic to this provider and
# model. Each element of hooks is
#
#   {"hook": NAME, "fields": [...], "events": [...], "providers": [...],
#    "models": [...], "grant": "temp_grants[i].grants[j]"}
#
# plus "condition" (a CEL expression sluice evaluates when the event fires)
# when the grant has one. A grant's match is AND across its non-empty
# fields and OR within a field; events are checked when they happen, not here.
package sluice.authz

hooks contains hook if {
	some entry in named
	some hook in entry.hooks
	any_match(hook.providers, input.request.provider)
	any_match(hook.models, input.request.model)
}

# any_match is true when patterns is empty or one of them matches value.
any_match(patterns, value) if {
	count(patterns) == 0
} else if {
	some pattern in patterns
	star_match(pattern, value)
}
