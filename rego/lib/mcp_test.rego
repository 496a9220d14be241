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

# Connector grants (grants section capabilities and the tailnet policy file).

conn_mock := {
	"everyone": object.union(empty_entry, {"caps": [{"role": "user", "grant": "c0"}]}),
	"index": {
		"logins": {
			"alice@example.com": object.union(empty_entry, {"caps": [{"connectors": ["docs/**", "tracker/tools/get_*", "github/proxy/*", "github/proxy/repos/*"], "grant": "c1"}]}),
			"bob@example.com": object.union(empty_entry, {"caps": [
				{"connectors": ["docs/tools/search", "label:public", "docs/tools/x/y/z", "docs/things/*"], "grant": "c2"},
				{"mcp_tools": "tracker/list_*", "mcp_resources": ["docs/**"], "grant": "c3"},
			]}),
		},
		"domains": {},
		"tags": {},
		"groups": {},
		"globs": {},
	},
}

conn_allowed(login, server, kind, item, labels) if {
	authz.mcp with data.sluice.grants as conn_mock
		with input as {"user": {"login": login, "tags": []}, "request": {"mcp": {"server": server, "kind": kind, "tool": item, "labels": labels}}}
}

test_connectors_globs if {
	conn_allowed("alice@example.com", "docs", "tools", "search", [])
	conn_allowed("alice@example.com", "docs", "resources", "file:///guide.md", [])
	conn_allowed("alice@example.com", "tracker", "tools", "get_issue", [])
	not conn_allowed("alice@example.com", "tracker", "tools", "delete_issue", [])
	not conn_allowed("alice@example.com", "tracker", "prompts", "get_issue", [])
}

test_connectors_proxy_paths if {
	# "*" is one path segment; "github/proxy/repos/*" has more than two
	# slashes, so it is dropped and grants nothing.
	conn_allowed("alice@example.com", "github", "proxy", "user", [])
	not conn_allowed("alice@example.com", "github", "proxy", "repos/sluice", [])
}

test_connectors_label_grants_whole_connector if {
	conn_allowed("bob@example.com", "tracker", "tools", "delete_issue", ["public"])
	conn_allowed("bob@example.com", "tracker", "proxy", "anything/at/all", ["internal", "public"])
	not conn_allowed("bob@example.com", "tracker", "tools", "delete_issue", ["internal"])
}

test_connectors_malformed_patterns_dropped if {
	# "docs/tools/x/y/z" has more than two slashes and "docs/things/*" an
	# unknown category: neither grants anything.
	not conn_allowed("bob@example.com", "docs", "tools", "x/y/z", [])
	not conn_allowed("bob@example.com", "docs", "things", "a", [])
	conn_allowed("bob@example.com", "docs", "tools", "search", [])
}

test_legacy_mcp_capabilities_by_kind if {
	conn_allowed("bob@example.com", "tracker", "tools", "list_issues", [])
	not conn_allowed("bob@example.com", "tracker", "resources", "list_issues", [])
	conn_allowed("bob@example.com", "docs", "resources", "file:///a/b", [])
	not conn_allowed("bob@example.com", "docs", "templates", "file:///{path}", [])
}

test_connectors_need_a_role if {
	mock := object.union(conn_mock, {"everyone": empty_entry})
	not authz.mcp with data.sluice.grants as mock
		with input as {"user": {"login": "alice@example.com", "tags": []}, "request": {"mcp": {"server": "docs", "kind": "tools", "tool": "search"}}}
}

test_connectors_tailnet_caps if {
	authz.mcp with data.sluice.grants as conn_mock
		with input as {"user": {"login": "carol@example.com", "tags": [], "caps": [{"connectors": "docs/tools/*"}]}, "request": {"mcp": {"server": "docs", "kind": "tools", "tool": "search"}}}
	not authz.mcp with data.sluice.grants as conn_mock
		with input as {"user": {"login": "carol@example.com", "tags": [], "caps": [{"connectors": "docs/tools/*"}]}, "request": {"mcp": {"server": "docs", "kind": "prompts", "tool": "search"}}}
}
