package grants_mcp_test

import data.sluice.authz

tool(login, server, name) := {
	"user": {"login": login, "tags": []},
	"request": {"mcp": {"server": server, "tool": name}},
}

test_everyone_searches_docs if {
	authz.mcp with input as tool("bob@company.com", "docs", "search_pages")
	not authz.mcp with input as tool("bob@company.com", "docs", "delete_page")
}

test_alice_uses_github_by_connector if {
	authz.mcp with input as tool("alice@company.com", "github", "create_issue")
	not authz.mcp with input as tool("bob@company.com", "github", "create_issue")
}

test_label_selectors_match_labels_not_ids if {
	not authz.mcp with input as tool("alice@company.com", "noCustomerData", "x")
	authz.mcp with input as {
		"user": {"login": "alice@company.com", "tags": []},
		"request": {"mcp": {"server": "wiki", "kind": "tools", "tool": "x", "labels": ["noCustomerData"]}},
	}
}

test_no_role_no_tools if {
	eve := "eve@else.org"
	not authz.mcp with input as tool(eve, "docs", "search_pages")
}
