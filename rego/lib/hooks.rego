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

#
# entry.hook_match[i] holds hooks[i]'s providers and models as the two
# glob.match patterns that any_match would match them as on every call:
# the generated grants compute them once.
hooks contains hook if {
	some entry in named_entries
	some i, hook in entry.hooks
	glob.match(entry.hook_match[i][0], null, input.request.provider)
	glob.match(entry.hook_match[i][1], null, input.request.model)
}

# any_match is true when patterns is empty or one of them matches value.
any_match(patterns, value) if {
	count(patterns) == 0
} else if {
	some pattern in patterns
	star_match(pattern, value)
}
