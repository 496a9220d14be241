package ui

import "net/http"

// route is one page: its ServeMux pattern, whether it is for admins only,
// and the function that serves it. Every /admin/ path is admin-only
// whatever the flag says.
type route struct {
	pattern string
	admin   bool
	serve   func(h *Handler, w http.ResponseWriter, r *http.Request, c Caller)
}

// routes are the dashboard's pages; nav lists the ones linked from the
// navigation.
var routes = []route{
	{"GET /ui/{$}", false, (*Handler).myUsage},
	{"GET /ui/users/{login}", false, (*Handler).userUsage},
	{"GET /ui/logs", false, (*Handler).myLogs},
	{"GET /ui/sessions/{id}", false, (*Handler).sessionRequests},
	{"GET /ui/requests/{id}", false, (*Handler).requestDetail},
	{"GET /ui/models", false, (*Handler).models},
	{"GET /ui/connect", false, (*Handler).connect},

	{"GET /admin/adoption", true, (*Handler).adoption},
	{"GET /admin/adoption.csv", true, (*Handler).adoptionCSV},
	{"GET /admin/activity", true, (*Handler).activity},
	{"GET /admin/logs", true, (*Handler).allLogs},
	{"GET /admin/policy", true, (*Handler).policyPage},
	{"GET /admin/policy/matrix", true, (*Handler).matrixPage},
	{"GET /admin/policy/explain", true, (*Handler).explainRedirect},
	{"GET /admin/policy/explain/{id}", true, (*Handler).explainPage},
	{"GET /admin/settings", true, (*Handler).settingsPage},
}
