package store

import (
	"runtime"
	"testing"
)

// TestRowsPerStatement: with one processor, where the inserter gives way
// only between statements, SQLite statements are shorter; otherwise each
// backend keeps its size.
func TestRowsPerStatement(t *testing.T) {
	tests := []struct {
		name  string
		d     dialect
		procs int
		want  int
	}{
		{"sqlite, one processor", sqliteDialect, 1, 8},
		{"sqlite, two processors", sqliteDialect, 2, 64},
		{"postgres, one processor", postgresDialect, 1, 200},
		{"postgres, two processors", postgresDialect, 2, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(tt.procs))
			if got := tt.d.rowsPerStatement(); got != tt.want {
				t.Errorf("rowsPerStatement() = %d, want %d", got, tt.want)
			}
		})
	}
}
