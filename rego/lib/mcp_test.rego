package sluice.authz_test

import data.sluice.authz

mcp_grants := {
	"temp_grants[0].grants[0]": {"src": ["*"], "role": "user"},
	"temp_grants[0].grants[1]": {"src": ["*"], "mcp": [{"server": "github", "tool": "get_*"}]},
	"temp_grants[1].grants[0]": {"src": ["tag:ci"], "mcp": [{"server": "*", "tool": "*"}]},
}

mcp_index := index(mcp_grants)

mcp_allowed(login, server, tool) if {
	authz.mcp with data.sluice.grants as mcp_index
		with input as {"user": {"login": login, "tags": []}, "request": {"mcp": {"server": server, "tool": tool}}}
}

test_mcp_tool_glob if {
	mcp_allowed("dev@example.com", "github", "get_issue")
	not mcp_allowed("dev@example.com", "github", "delete_repo")
	not mcp_allowed("dev@example.com", "slack", "get_channel")
}

test_mcp_needs_a_role if {
	# tag:ci has an mcp grant but no role grant of its own; "*" gives
	# every caller the user role, so remove it to see the difference.
	grants := object.remove(mcp_grants, ["temp_grants[0].grants[0]"])
	idx := index(grants)
	not authz.mcp with data.sluice.grants as idx
		with input as {"user": {"login": "", "tags": ["tag:ci"]}, "request": {"mcp": {"server": "github", "tool": "delete_repo"}}}
}

test_mcp_grants_lists_patterns if {
	g := authz.mcp_grants with data.sluice.grants as mcp_index
		with input as {"user": {"login": "dev@example.com", "tags": []}}
	g == {{"server": "github", "tool": "get_*", "grant": "temp_grants[0].grants[1]"}}
}
