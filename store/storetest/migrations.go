package storetest

import "github.com/sluice-gateway/sluice/store/migrate"

// MigrationsBefore returns the migrations of ms older than version: the
// schema a sluice from before that migration left, to test an upgrade.
func MigrationsBefore(ms []migrate.Migration, version int) []migrate.Migration {
	for i, m := range ms {
		if m.Version >= version {
			return ms[:i]
		}
	}
	return ms
}
