package ui

// navItem is one link of the navigation.
type navItem struct {
	Label string
	Path  string
	// Key names the page; the page whose key matches is highlighted.
	Key string
}

// navUser is everyone's navigation; navAdmin is shown to admins only.
var (
	navUser = []navItem{
		{"My usage", "/ui/", "usage"},
		{"Logs", "/ui/logs", "logs"},
		{"Models", "/ui/models", "models"},
		{"Connect a client", "/ui/connect", "connect"},
	}
	navAdmin = []navItem{
		{"Usage overview", "/admin/adoption", "adoption"},
		{"Activity", "/admin/activity", "activity"},
		{"Logs (all)", "/admin/logs", "all-logs"},
		{"Policy", "/admin/policy", "policy"},
		{"Settings", "/admin/settings", "settings"},
	}
)
