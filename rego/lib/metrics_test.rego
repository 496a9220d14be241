# Tests of read_metrics, against mocked grants (see authz_test.rego).
package sluice.authz_test

import data.sluice.authz

read_metrics(idx, login) if {
	authz.read_metrics with data.sluice.grants as idx
		with input as req(login, "", "")
}

test_admin_reads_metrics if {
	read_metrics(two_users_index, "boss@example.com")
}

test_user_does_not_read_metrics if {
	not read_metrics(two_users_index, "dev@example.com")
}

test_stranger_does_not_read_metrics if {
	not read_metrics(two_users_index, "eve@example.com")
	not read_metrics(two_users_index, "")
}

test_admin_without_provider_grants_reads_metrics if {
	# The right comes with the role, not with access to any model.
	grants := {"temp_grants[0].grants[0]": {"src": ["ops@example.com"], "role": "admin"}}
	read_metrics(index(grants), "ops@example.com")
}

test_deny_rules_do_not_touch_read_metrics if {
	# deny is about model requests; an admin's own deny rule does not take
	# the metrics away, and no deny rule gives them.
	authz.read_metrics with data.sluice.grants as two_users_index
		with data.sluice.authz.deny as {"blocked by a rule of our own"}
		with input as req("boss@example.com", "", "")
}

test_read_metrics_is_always_defined if {
	authz.read_metrics == false with data.sluice.grants as index({})
		with input as req("dev@example.com", "", "")
}
