# Capabilities of the grants section and of the tailnet policy file. Both
# carry the same "tailscale.com/cap/aperture" capability objects: the
# generated package lists the config's under the src patterns that receive
# them (entry.caps), and in tailnet mode WhoIs delivers the caller's own as
# input.user.caps. The rules below read both alike; access is their union.
#
#   headers  {"header": "Name: value", "grant": ...} to add upstream
#   quotas   {"bucket": ..., "grant": ...} the request would charge
#   metrics  true when the caller may read /metrics (read_metrics or admin)
#   cors     {"paths", "origin", "methods", "headers", "grant"} for set_cors
#   force_models  the models the caller's force_model capabilities (and
#                 force_model obligations) send every request to (at most
#                 one, or the request is refused)
#
# role, allow, hooks and mcp take their capabilities into account too.
package sluice.authz

# capabilities are the capability objects that apply to the caller, each
# with "grant" naming where it comes from: "grants[i].app[...][j]" for the
# configuration, "tailnet:caps[j]" for the tailnet policy file.
capabilities contains cap if {
	some entry in named_entries
	some cap in entry.caps
}

capabilities contains object.union(cap, {"grant": sprintf("tailnet:caps[%d]", [i])}) if {
	some i, cap in input.user.caps
	is_object(cap)
}

# capability_set is capabilities as one value, which the rules below read
# instead, some nine times a decision: OPA reads a complete rule without
# building the empty set it starts every read of a partial one with.
capability_set := capabilities

# capability_keys are the keys sluice understands.
capability_keys := {
	"grant", "role", "models", "send_hooks", "quotas", "add_headers", "read_metrics",
	"connectors", "mcp_tools", "mcp_resources", "mcp_templates", "enable_chat_ui",
	"set_cors", "cors_paths", "Access-Control-Allow-Origin",
	"Access-Control-Allow-Methods", "Access-Control-Allow-Headers",
	"force_model",
}

# force_model capabilities become force_model obligations (see
# obligations.rego), which force_models collects.

# Capabilities sluice cannot fully apply refuse the request. The checks
# run only when the caller has capabilities, which callers of a
# temp_grants-only configuration never have.
deny contains msg if {
	count(capability_set) > 0
	some msg in capability_denials
}

# capability_denials are the reasons the capabilities refuse the request.
# A capability sluice cannot fully apply refuses it: its unknown key may be
# a restriction. (The configuration's are checked at load.)
capability_denials contains msg if {
	some cap in capability_set
	some key, _ in cap
	not key in capability_keys
	msg := sprintf("%s has capability %q, which sluice does not know; the request is refused rather than apply part of the grant", [cap.grant, key])
}

# fqn is the request's "provider/model" name, which models patterns match.
fqn := concat("/", [object.get(input, ["request", "provider"], ""), object.get(input, ["request", "model"], "")])

# as_list turns a string-or-list capability value into a list of strings.
# One chain, so that a call stops at the first case that holds.
as_list(v) := [v] if {
	is_string(v)
} else := [x | some x in v; is_string(x)] if {
	is_array(v)
} else := []

cap_models(cap) := as_list(object.get(cap, "models", []))

# path_match is true when value matches pattern, where "*" stands for any
# run of characters within one "/"-separated segment and "**" for any number
# of segments.
path_match(pattern, value) if {
	pattern == "**"
} else if {
	pattern == value
} else := glob.match(replace(glob.quote_meta(pattern), `\*`, "*"), ["/"], value) if {
	contains(pattern, "*")
}

# cap_applies is true when a capability bears on this request: it names no
# models, or one of its models matches. Hooks, headers and quotas that sit
# beside models in one capability object apply to those models only.
cap_applies(cap) if count(cap_models(cap)) == 0

cap_applies(cap) if {
	some pattern in cap_models(cap)
	path_match(pattern, fqn)
}

# applicable_capabilities are the capabilities that bear on this request,
# worked out once for the rules below that each need them. Those that every
# decision reads (hooks, headers, quotas) first check that the caller has
# capabilities at all, which callers of a temp_grants-only configuration
# never have: a cached count costs a decision less than evaluating this
# rule.
applicable_capabilities contains cap if {
	some cap in capability_set
	cap_applies(cap)
}

roles contains role if {
	some cap in capability_set
	role := object.get(cap, "role", "")
	role in {"user", "admin"}
}

# model_grants are the capabilities whose models match the request.
model_grants contains cap.grant if {
	some cap in capability_set
	some pattern in cap_models(cap)
	path_match(pattern, fqn)
}

# They match like provider grants: they give granted and provider_grants.
matching_provider_grants contains id if some id in model_grants

hooks contains hook if {
	count(capability_set) > 0
	some cap in applicable_capabilities
	some h in object.get(cap, "send_hooks", [])
	is_string(h.name)
	hook := {
		"hook": h.name,
		"fields": as_list(object.get(h, "send", [])),
		"events": hook_events(object.get(h, "events", [])),
		"providers": [],
		"models": [],
		"grant": cap.grant,
	}
}

# hook_events defaults a send_hooks entry without events to the event
# temp_grants hook grants default to.
hook_events(events) := ["tool_call_entire_request"] if {
	count(as_list(events)) == 0
} else := as_list(events)

headers contains {"header": header, "grant": cap.grant} if {
	count(capability_set) > 0
	some cap in applicable_capabilities
	some header in as_list(object.get(cap, "add_headers", []))
}

# quotas are the buckets the request is charged in, by their configured
# names ("daily:<user>"; sluice expands <user> to the caller's login). Every
# one must cover the request's reserved cost, or it is refused with 429.
# A temp_grants {"quotas": [...]} grant is listed among the capabilities as
# a capability without models, so it charges every request of its sources.
quotas contains {"bucket": q.bucket, "grant": cap.grant} if {
	count(capability_set) > 0
	some cap in applicable_capabilities
	some q in object.get(cap, "quotas", [])
	quota_entry(q)
}

# A bucket the configuration does not define (named by a grant of the
# tailnet policy file) cannot be charged: the request is refused rather
# than served past the limit the grant meant to set.
capability_denials contains msg if {
	some q in quotas
	not quota_defined(q.bucket)
	msg := sprintf("%s charges quota bucket %q, which the quotas section does not define; the request is refused rather than let through uncharged", [q.grant, q.bucket])
}

# A malformed quotas entry (not {"bucket": NAME}) refuses the request.
capability_denials contains msg if {
	some cap in applicable_capabilities
	some q in object.get(cap, "quotas", [])
	not quota_entry(q)
	msg := sprintf("%s has a quotas entry without a bucket name; the request is refused rather than let through uncharged", [cap.grant])
}

capability_denials contains msg if {
	some cap in applicable_capabilities
	not is_array(object.get(cap, "quotas", []))
	msg := sprintf("%s has quotas that are not a list of {\"bucket\": NAME}; the request is refused rather than let through uncharged", [cap.grant])
}

quota_entry(q) if {
	is_object(q)
	is_string(q.bucket)
}

# quota_defined is true for a bucket of the quotas section. The generated
# package writes quota_buckets only when the section has buckets.
quota_defined(bucket) if data.sluice.grants.quota_buckets[bucket]

# metrics is true when the caller may read /metrics.
default metrics := false

metrics if admin

metrics if {
	some cap in capability_set
	object.get(cap, "read_metrics", false) == true
}

cors contains c if {
	some cap in capability_set
	object.get(cap, "set_cors", false) == true
	c := {
		"paths": as_list(object.get(cap, "cors_paths", [])),
		"origin": object.get(cap, "Access-Control-Allow-Origin", ""),
		"methods": object.get(cap, "Access-Control-Allow-Methods", ""),
		"headers": object.get(cap, "Access-Control-Allow-Headers", ""),
		"grant": cap.grant,
	}
}

# app_grants are the custom app capabilities of the config grants naming
# the caller, for hooks that ask for "grants".
app_grants contains app if {
	some entry in named_entries
	some app in entry.app
}
