# MCP grants: which MCP servers and tools a caller may use. The request names
# them as input.request.mcp: {"server": "...", "tool": "..."}.
package sluice.authz

# mcp is true when the caller has a role and one of their mcp grants allows
# the requested server and tool.
default mcp := false

mcp if {
	role != "none"
	some entry in named
	some m in entry.mcp
	star_match(m.server, input.request.mcp.server)
	star_match(m.tool, input.request.mcp.tool)
}

# mcp_grants lists the server and tool patterns granted to the caller (with
# a role), whatever the request: what a client may be shown.
mcp_grants contains m if {
	role != "none"
	some entry in named
	some m in entry.mcp
}
