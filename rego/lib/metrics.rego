# Who may read the gateway's own metrics (GET /metrics). Metrics hold counts
# only, but they tell who uses the gateway how much, so they are not public.
package sluice.authz

# read_metrics is true when the caller may read GET /metrics. Each way to
# the right is its own rule body, and any one of them is enough: admins
# below, and grants that give read_metrics (for example a monitoring
# device's tag) in a rule of their own beside it. It needs no role: a
# metrics scraper need not be able to use any model.
default read_metrics := false

read_metrics if admin

# A read_metrics capability in grants (or the tailnet policy file) gives
# it too; the metrics rule of capabilities.rego decides that.
read_metrics if metrics
