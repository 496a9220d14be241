# Obligations: what a decision asks the gateway to do besides letting the
# request through. Every element of obligations is an object with an
# "action" and the action's own members; "grant" names where it comes from
# (a grant of the configuration, or any string of your module's choosing).
# sluice carries them out only when the request is allowed. This is a
# stable contract:
#
#   {"action": "add_header", "header": "Name: value"}
#       set a header on the upstream request (credential headers are refused)
#   {"action": "charge_quota", "bucket": NAME}
#       charge the request in a bucket of the quotas section
#   {"action": "send_hook", "hook": NAME, "fields": [...], "events": [...], ...}
#       call a hook, as the hooks rule describes
#   {"action": "require_hook", "hook": NAME, "fields": [...], "events": [...]}
#       call a hook that must answer: the hooks section must define it, and
#       when its pre_request call fails the request is refused (fail_policy
#       closed, whatever the hook says); events default to ["pre_request"]
#   {"action": "redact_hook_fields", "fields": [...]}
#       leave these payload fields (request_body, user_message, tools,
#       response_body, raw_responses, estimated_cost, grants, quotas) out of
#       every hook call of the request
#   {"action": "cap_max_tokens", "max_tokens": N}
#       the answer's length cap: the request's own max_tokens (in its
#       format's member) is lowered to N, or set when it has none
#   {"action": "force_model", "model": M}
#       send the request to model M, whatever it asked for (it is decided
#       again for M, and M's obligations apply)
#   {"action": "force_provider", "provider": P}
#       serve the request by provider P only (no failover to another)
#   {"action": "full_capture"}
#       keep the request's and the response's bodies in the request log,
#       as database.save_raws does for every request
#
# Merging, when several rules (generated grants and your modules) apply:
# headers, quota buckets, hooks and redactions add up; the smallest
# max_tokens cap wins; a required hook that is also sent is called once,
# required; full capture by any rule captures. Two different forced models,
# or two different forced providers, refuse the request with a deny
# reason rather than pick one. An obligation sluice does not know, or a
# malformed one, refuses the request too: it may be a restriction.
#
# The grants of the configuration produce add_header, charge_quota,
# send_hook and force_model obligations from the headers, quotas, hooks
# and force_model rules; your modules add theirs with
#
#   obligations contains {"action": "cap_max_tokens", "max_tokens": 1024, "grant": "interns"} if {...}
#
# An obligation rule must not refer to allow or deny: obligations are read
# beside them, and a cycle is refused by OPA's compiler.
package sluice.authz

# obligation_actions are the actions sluice carries out.
obligation_actions := {
	"add_header", "charge_quota", "send_hook", "require_hook", "redact_hook_fields",
	"cap_max_tokens", "force_model", "force_provider", "full_capture",
}

# hook_payload_fields are the payload fields a redaction may name.
hook_payload_fields := {
	"tools", "request_body", "user_message", "response_body", "raw_responses",
	"estimated_cost", "grants", "quotas",
}

obligations contains {"action": "add_header", "header": h.header, "grant": h.grant} if {
	some h in headers
}

obligations contains {"action": "charge_quota", "bucket": q.bucket, "grant": q.grant} if {
	some q in quotas
}

obligations contains hook_obligation(h) if some h in hooks

# hook_obligation is the send_hook obligation of a hooks element. A
# malformed element is passed on as it is, to be refused.
hook_obligation(h) := object.union(h, {"action": "send_hook"}) if {
	is_object(h)
} else := h

obligations contains {"action": "force_model", "model": m, "grant": cap.grant} if {
	some cap in capability_set
	m := object.get(cap, "force_model", null)
	is_string(m)
}

# obligations_of are the well-formed obligations of one action.
obligations_of(action) := object.get(wellformed_obligations, action, set())

# wellformed_obligations are the well-formed obligations by action, read
# whole by obligations_of: one pass over the obligations for every action
# rather than one per action.
wellformed_obligations[o.action] contains o if {
	some o in obligations
	is_object(o)
	obligation_ok(o)
}

# force_models are the models the request is forced to: at most one, or
# the request is refused.
force_models contains o.model if {
	some o in obligations_of("force_model")
	is_string(o.model)
}

# force_providers are the providers the request is forced to: at most one,
# or the request is refused.
force_providers contains o.provider if {
	some o in obligations_of("force_provider")
	is_string(o.provider)
}

# max_tokens_cap is the smallest cap_max_tokens obligation; undefined when
# none applies.
max_tokens_cap := min({o.max_tokens | some o in obligations_of("cap_max_tokens")})

# redacted_hook_fields are the payload fields no hook of the request gets.
redacted_hook_fields contains f if {
	some o in obligations_of("redact_hook_fields")
	some f in as_list(object.get(o, "fields", []))
}

# full_capture is true when some obligation asks to keep the bodies.
default full_capture := false

full_capture if count(obligations_of("full_capture")) > 0

# required_hooks are the hooks the request must be sent through.
required_hooks contains o.hook if {
	some o in obligations_of("require_hook")
	is_string(o.hook)
}

# Obligations sluice cannot carry out refuse the request. The checks run
# only when the decision has obligations that need them, which most have
# not: each rule body OPA tries costs about as much as a lookup in the
# grants, and the checks try some twenty.
deny contains msg if {
	n := count(obligations)
	n > 0
	n > count(unchecked_obligations)
	some msg in obligation_denials
}

# unchecked_obligations are the obligations no check can refuse, so that a
# decision whose obligations are all of them skips the checks: send_hook
# obligations with a string hook name, as the hooks rule makes from the
# configuration's hook grants. Such an obligation is well formed
# (obligation_ok), and none of the other checks reads send_hook
# obligations. Every other obligation is checked. They are a subset of
# obligations, so that comparing the two counts tells whether any
# obligation needs the checks, without building a set of the rest.
unchecked_obligations contains o if {
	some o in obligations
	o.action == "send_hook"
	is_string(o.hook)
}

# obligation_denials are the reasons the obligations refuse the request:
# forced models or providers that disagree, an obligation sluice cannot
# carry out (one chain of checks per obligation), a redaction of a field
# it does not know.
obligation_denials contains msg if {
	count(force_models) > 1
	msg := sprintf("policy forces different models (%s); the request is refused rather than pick one", [concat(", ", sort(force_models))])
}

obligation_denials contains msg if {
	count(force_providers) > 1
	msg := sprintf("policy forces different providers (%s); the request is refused rather than pick one", [concat(", ", sort(force_providers))])
}

obligation_denials contains msg if {
	some o in obligations
	msg := obligation_problem(o)
}

obligation_problem(o) := sprintf("policy returned the obligation %v, which is not an object with an action; the request is refused rather than ignore it", [o]) if {
	not is_object(o)
} else := sprintf("policy returned the obligation %v, whose action sluice does not know; the request is refused rather than ignore it", [o]) if {
	not o.action in obligation_actions
} else := sprintf("policy returned the malformed obligation %v; the request is refused rather than ignore it", [o]) if {
	not obligation_ok(o)
}

obligation_denials contains msg if {
	some f in redacted_hook_fields
	not f in hook_payload_fields
	msg := sprintf("policy redacts the hook payload field %q, which sluice does not know; the request is refused rather than risk sending it", [f])
}

# obligation_ok is true for an obligation whose members the action needs
# are there, with the right types.
# Each case compares o.action with ==, so that OPA's rule index picks the
# one case of the obligation's action instead of trying all eight.
obligation_ok(o) if {
	o.action == "add_header"
	is_string(o.header)
}

obligation_ok(o) if {
	o.action == "charge_quota"
	is_string(o.bucket)
}

obligation_ok(o) if {
	o.action == "send_hook"
	is_string(o.hook)
}

obligation_ok(o) if {
	o.action == "require_hook"
	is_string(o.hook)
}

obligation_ok(o) if {
	o.action == "redact_hook_fields"
	count(as_list(object.get(o, "fields", null))) > 0
}

obligation_ok(o) if {
	o.action == "cap_max_tokens"
	is_number(o.max_tokens)
	o.max_tokens >= 1
	o.max_tokens == round(o.max_tokens)
}

obligation_ok(o) if {
	o.action == "force_model"
	is_string(o.model)
	o.model != ""
}

obligation_ok(o) if {
	o.action == "force_provider"
	is_string(o.provider)
	o.provider != ""
}

obligation_ok(o) if o.action == "full_capture"
