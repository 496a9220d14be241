# Connector grants: which MCP tools, resources, templates and prompts, and
# which HTTP connector paths, a caller may use. The request names them as
#
#   input.request.mcp: {"server": "<connector ID>", "kind": "tools", "tool": "<name>", "labels": [...]}
#
# kind is "tools", "resources" (tool is the resource URI), "templates" (the
# URI template), "prompts" (the prompt name) or "proxy" (tool is the HTTP
# path without its leading "/"); a missing kind reads as "tools". labels
# are the connector's configured labels.
package sluice.authz

# mcp_kind is the category the request asks about.
mcp_kind := object.get(input, ["request", "mcp", "kind"], "tools")

# mcp_item is the tool name, URI, template, prompt or path asked for.
mcp_item := object.get(input, ["request", "mcp", "tool"], "")

mcp_server := object.get(input, ["request", "mcp", "server"], "")

# connector_kinds are the categories of a connectors pattern
# ("<id>/<category>/<item>").
connector_kinds := {"tools", "resources", "templates", "prompts", "proxy"}

# mcp is true when the caller has a role and some grant allows the item:
# a temp_grants mcp grant (tools only), an mcp_tools, mcp_resources or
# mcp_templates capability ("server/item" globs), or a connectors
# capability ("<id>/<category>/<item>" globs, or "label:<name>", which
# grants the whole connector).
default mcp := false

mcp if {
	role != "none"
	mcp_kind == "tools"
	some entry in named_entries
	some m in entry.mcp
	star_match(m.server, mcp_server)
	star_match(m.tool, mcp_item)
}

# The deprecated capabilities, one per kind.
legacy_mcp_keys := {"tools": "mcp_tools", "resources": "mcp_resources", "templates": "mcp_templates"}

mcp if {
	role != "none"
	key := legacy_mcp_keys[mcp_kind]
	some cap in capability_set
	some pattern in as_list(object.get(cap, key, []))
	path_match(pattern, concat("/", [mcp_server, mcp_item]))
}

mcp if {
	role != "none"
	some cap in capability_set
	some pattern in as_list(object.get(cap, "connectors", []))
	connector_pattern(pattern)
	path_match(pattern, concat("/", [mcp_server, mcp_kind, mcp_item]))
}

mcp if {
	role != "none"
	some cap in capability_set
	some pattern in as_list(object.get(cap, "connectors", []))
	startswith(pattern, "label:")
	substring(pattern, 6, -1) in object.get(input, ["request", "mcp", "labels"], [])
}

# connector_pattern is true for a well-formed connectors pattern: at most
# three segments, the second a known category or a glob. Malformed patterns
# are dropped (they grant nothing), as documented.
connector_pattern(pattern) if {
	not startswith(pattern, "label:")
	parts := split(pattern, "/")
	count(parts) <= 3
	connector_category(parts)
}

connector_category(parts) if count(parts) < 2

connector_category(parts) if parts[1] in connector_kinds

connector_category(parts) if parts[1] in {"*", "**"}

# mcp_grants lists the server and tool patterns of temp_grants mcp grants
# given to the caller (with a role), whatever the request: what a client
# may be shown.
mcp_grants contains m if {
	role != "none"
	some entry in named_entries
	some m in entry.mcp
}
