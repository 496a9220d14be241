package connectors_test

import data.sluice.authz

# item is a connector request as /v1/mcp and /v1/connectors/ make it; the
# gateway sends the connector's configured labels along.
item(login, groups, server, kind, name) := {
	"user": {"login": login, "tags": [], "groups": groups},
	"request": {"mcp": {"server": server, "kind": kind, "tool": name, "labels": labels[server]}},
}

labels := {"docs": ["public"], "tracker": [], "github": []}

test_everyone_uses_public_docs if {
	authz.mcp with input as item("bob@example.com", [], "docs", "tools", "delete_page")
	authz.mcp with input as item("bob@example.com", [], "docs", "resources", "file:///guide.md")
}

test_eng_reads_the_tracker_but_cannot_close if {
	authz.mcp with input as item("carol@example.com", ["group:eng"], "tracker", "tools", "get_issue")
	authz.mcp with input as item("carol@example.com", ["group:eng"], "tracker", "resources", "issue://1/comments")
	not authz.mcp with input as item("carol@example.com", ["group:eng"], "tracker", "tools", "close_issue")
	not authz.mcp with input as item("bob@example.com", [], "tracker", "tools", "get_issue")
}

# "github/proxy/*" is one path segment; "github/proxy/repos/**" has more
# than two slashes, so it is dropped and grants nothing.
test_github_paths if {
	authz.mcp with input as item("carol@example.com", ["group:eng"], "github", "proxy", "user")
	not authz.mcp with input as item("carol@example.com", ["group:eng"], "github", "proxy", "user/keys")
	not authz.mcp with input as item("carol@example.com", ["group:eng"], "github", "proxy", "repos/sluice/pulls")
}

test_legacy_mcp_tools if {
	authz.mcp with input as item("alice@example.com", [], "tracker", "tools", "close_issue")
	not authz.mcp with input as item("alice@example.com", [], "tracker", "prompts", "close_issue")
}
