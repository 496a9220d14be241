package sluice.authz

# Callers use the API formats the providers speak: no request is
# translated from one format into another.
deny contains "translation between API formats is not allowed" if {
	input.request.upstream_format != input.request.format
}
