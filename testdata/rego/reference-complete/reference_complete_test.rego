# The reference's complete example: everyone a user with every model, one
# admin who may also use every MCP server and tool.
package reference_complete_test

import data.sluice.authz

req(login, provider, model) := {
	"user": {"login": login, "node_id": "n1", "tailnet": "company.com", "tags": []},
	"request": {"provider": provider, "model": model, "format": "openai_chat", "path": "/v1/chat/completions"},
}

mcp_req(login, server, tool) := {
	"user": {"login": login, "node_id": "n1", "tailnet": "company.com", "tags": []},
	"request": {"mcp": {"server": server, "tool": tool}},
}

test_everyone_is_a_user_with_every_model if {
	authz.role == "user" with input as req("developer@company.com", "gemini", "gemini-2.5-pro")
	authz.allow with input as req("developer@company.com", "gemini", "gemini-2.5-pro")
}

test_admin if {
	authz.admin with input as req("admin@company.com", "openai", "gpt-5")
	authz.allow with input as req("admin@company.com", "openai", "gpt-5")
}

test_mcp_only_for_the_admin if {
	authz.mcp with input as mcp_req("admin@company.com", "github", "create_issue")
	not authz.mcp with input as mcp_req("developer@company.com", "github", "create_issue")
}
