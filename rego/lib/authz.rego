# The sluice authorization library: it combines the grants compiled from
# temp_grants (package sluice.grants) into the decision sluice asks for on
# every request. These rules are a stable contract; tests rely on them:
#
#   role   "admin", "user" or "none" (always defined; admin wins over user)
#   admin  true when role is "admin"
#   allow  role is "user" or "admin", a provider grant matches the request's
#          provider and model, and no deny rule fired
#   deny   reasons the request is refused; empty when it is allowed
#   hooks  the hook grants that apply to this caller, provider and model
#   mcp    true when a connector grant allows input.request.mcp (server,
#          kind, tool; see mcp.rego)
#   read_metrics  true when the caller may read GET /metrics (admins)
#   obligations   actions sluice carries out for an allowed request
#                 (obligations.rego has the contract)
#
# Input:
#
#   {"user":    {"login": "...", "node_id": "...", "tailnet": "...", "tags": ["tag:ci"]},
#    "request": {"provider": "...", "model": "...", "format": "...", "upstream_format": "...", "path": "...",
#                "requested_model": "...",
#                "mcp": {"server": "...", "kind": "tools", "tool": "...", "labels": [...]}}}
#
# request.mcp is set only for connector requests (/v1/mcp and
# /v1/connectors/), whose provider and model are empty.
#
# format is the caller's API format, upstream_format the one the provider
# is called in; they differ only when sluice translates between them.
# model is what the provider is asked for, after force_model and
# model_aliases; requested_model is what the client asked for.
#
# Your own modules may add rules to this package. Any
# `deny contains msg if {...}` refuses the request with msg.
package sluice.authz

# role is the caller's role. Deny by default: without a role grant a caller
# has no access at all, whatever else is granted.
default role := "none"

role := "admin" if {
	"admin" in roles
} else := "user" if {
	"user" in roles
}

# roles are the roles that role grants naming the caller assign.
roles contains role if {
	some entry in named_entries
	some role in entry.roles
}

# admin is true when the caller's role is "admin".
default admin := false

admin if role == "admin"

# allow is true when the request may go upstream.
default allow := false

allow if {
	granted
	count(deny) == 0
}

# granted is true when the caller has a role and one of their provider grants
# (or models capabilities, see capabilities.rego) matches the request's provider
# and model.
default granted := false

granted if {
	role != "none"
	some _ in matching_provider_grants
}

# provider_grants are the caller's provider grants that match the request.
provider_grants contains id if some id in matching_provider_grants

# matching_provider_grants are the IDs of the caller's provider grants that
# match the request, worked out once for granted and provider_grants. A
# provider grant's match holds its provider and model patterns as the
# glob.match patterns that star_match would build from them on every call:
# the generated grants compute them once.
matching_provider_grants contains p.grant if {
	some entry in named_entries
	some p in entry.providers
	glob.match(p.match[0], null, input.request.provider)
	glob.match(p.match[1], null, input.request.model)
}

deny contains msg if {
	role == "none"
	msg := sprintf("%s has no access: no role grant in %s names them (access is denied by default)", [caller, grant_sections])
}

# granted is always defined (false by default): comparing it costs less
# than negating it, and is checked first because it fails for every
# request that is allowed.
deny contains msg if {
	granted == false
	role != "none"
	msg := sprintf("%s may not use model %q of provider %q: no %s matches", [
		caller,
		object.get(input, ["request", "model"], ""),
		object.get(input, ["request", "provider"], ""),
		model_grant_kinds,
	])
}

# A provider the configuration disables gets no request, whatever the
# grants say (data.sluice.grants.disabled is absent when none is).
deny contains msg if {
	input.request.provider in data.sluice.grants.disabled
	msg := sprintf("provider %q is disabled in the configuration", [input.request.provider])
}

# grant_sections names where grants come from in messages; the generated
# package says which sections the configuration has.
default grant_sections := "temp_grants"

grant_sections := data.sluice.grants.sections

model_grant_kinds := "provider grant in temp_grants" if {
	grant_sections == "temp_grants"
} else := "provider grant or models capability"

# caller names the caller in messages.
default caller := "an unidentified caller"

caller := input.user.login if {
	is_string(input.user.login)
	input.user.login != ""
}
