# Which grants name the caller. A grant set's src entries are "*" (every
# identified caller), an exact login, "*@domain" (every login of a domain),
# "tag:name" (tagged devices, from input.user.tags) or any other pattern with
# "*" wildcards.
#
# The generated package data.sluice.grants indexes what each pattern
# receives by login, domain and tag, so a decision costs about the same with
# ten grants or ten thousand; only the other wildcard patterns (globs) are
# tried one by one.
#
# A reload keeps the cached decisions of callers whose entries did not
# change, so the gateway relies on how these rules read the index: a
# caller is named by "everyone", by the entries of their own login, the
# domain after its "@", their tags and groups (a SCIM group by the logins
# entry of its email), and by globs. A rule that read the index otherwise
# must change that reasoning (engine/scope.go) too.
package sluice.authz

# named maps each src pattern that names the caller to what it receives:
# {"grants": [...], "roles": [...], "providers": [...], "hooks": [...], "mcp": [...]}.
# "*" names every identified caller: one with a login or a device tag.
# Two bodies rather than a helper rule, which would cost a rule of its
# own on every decision.
named["*"] := data.sluice.grants.everyone if input.user.login != ""

named["*"] := data.sluice.grants.everyone if count(input.user.tags) > 0

named[login] := entry if {
	login := input.user.login
	entry := data.sluice.grants.index.logins[login]
}

named[concat("", ["*@", domain])] := entry if {
	[name, domain] := split(input.user.login, "@")
	name != "*"
	entry := data.sluice.grants.index.domains[domain]
}

named[tag] := entry if {
	some tag in input.user.tags
	entry := data.sluice.grants.index.tags[tag]
}

# input.user.groups is absent for most callers, and then this body is the
# only one tried for groups.
named[group] := entry if {
	some group in input.user.groups
	entry := group_entry(group)
}

group_entry(group) := data.sluice.grants.index.groups[group] if {
	startswith(group, "group:")
} else := data.sluice.grants.index.logins[group] if {
	# A SCIM group is named by its email, like a login.
	not startswith(group, "group:")
}

named[pattern] := entry if {
	some pattern, entry in data.sluice.grants.index.globs
	glob_names_caller(pattern)
}

glob_names_caller(pattern) if {
	startswith(pattern, "tag:")
	some tag in input.user.tags
	star_match(pattern, tag)
}

glob_names_caller(pattern) if {
	not startswith(pattern, "tag:")
	star_match(pattern, input.user.login)
}

# named_entries is named as one value, for the rules that read every entry
# of it (roles, provider grants, hooks, capabilities...). It holds the same
# entries, but OPA reads a complete rule without building the empty object
# it starts every read of a partial one with, so each of those rules costs
# a decision less.
named_entries := named

# sources are the src patterns that name the caller.
sources contains src if some src, _ in named

# caller_grants are the IDs ("temp_grants[i].grants[j]") of the grants whose
# src names the caller.
caller_grants contains id if {
	some entry in named_entries
	some id in entry.grants
}

# matched explains caller_grants: each grant naming the caller with the src
# pattern that did.
matched contains {"grant": id, "src": src} if {
	some src, entry in named
	some id in entry.grants
}

# star_match is true when value matches pattern, where "*" in pattern stands
# for any run of characters ("claude-*", "*-mini", "*") and every other
# character stands for itself.
star_match(pattern, value) if {
	pattern == "*"
} else if {
	pattern == value
} else := glob.match(replace(glob.quote_meta(pattern), `\*`, "*"), null, value) if {
	contains(pattern, "*")
}
