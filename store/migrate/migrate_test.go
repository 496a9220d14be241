package migrate_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	_ "modernc.org/sqlite"

	"github.com/sluice-gateway/sluice/store/migrate"
)

func TestParseName(t *testing.T) {
	tests := []struct {
		file    string
		version int
		name    string
		err     bool
	}{
		{"0001_init.sql", 1, "init", false},
		{"0042_add_index_2.sql", 42, "add_index_2", false},
		{"001_short.sql", 0, "", true},
		{"0000_zero.sql", 0, "", true},
		{"0002_Bad-Name.sql", 0, "", true},
		{"0003_x.txt", 0, "", true},
		{"0004_quote'.sql", 0, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			v, name, err := migrate.ParseName(tt.file)
			if (err != nil) != tt.err || v != tt.version || name != tt.name {
				t.Errorf("ParseName = %d, %q, %v; want %d, %q, error %v", v, name, err, tt.version, tt.name, tt.err)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name     string
		fs       fstest.MapFS
		versions []int
		err      string
	}{
		{"sorted, other files ignored", fstest.MapFS{
			"m/0002_b.sql": {Data: []byte("B")}, "m/0001_a.sql": {Data: []byte("A")}, "m/README": {Data: []byte("x")},
		}, []int{1, 2}, ""},
		{"duplicate version", fstest.MapFS{
			"m/0001_a.sql": {Data: []byte("A")}, "m/00001_b.sql": {Data: []byte("B")},
		}, nil, "share version 1"},
		{"bad name", fstest.MapFS{"m/1_a.sql": {Data: []byte("A")}}, nil, "want NNNN_name.sql"},
		{"missing dir", fstest.MapFS{}, nil, "read migrations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := migrate.Load(tt.fs, "m")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, m := range ms {
				got = append(got, m.Version)
			}
			if !reflect.DeepEqual(got, tt.versions) {
				t.Errorf("versions = %v, want %v", got, tt.versions)
			}
		})
	}
}

func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "m.db")+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func tables(t *testing.T, db *sql.DB) []string {
	t.Helper()
	rows, err := db.Query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

func TestApply(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	v1 := []migrate.Migration{
		{Version: 1, Name: "a", SQL: "CREATE TABLE a (x INTEGER); CREATE TABLE b (y TEXT);"},
	}
	applied, err := migrate.Apply(ctx, db, v1, migrate.Options{})
	if err != nil || !reflect.DeepEqual(applied, []int{1}) {
		t.Fatalf("first Apply = %v, %v; want [1]", applied, err)
	}
	if applied, err := migrate.Apply(ctx, db, v1, migrate.Options{}); err != nil || applied != nil {
		t.Fatalf("second Apply = %v, %v; want nothing to do", applied, err)
	}
	v2 := append(v1, migrate.Migration{Version: 2, Name: "c", SQL: "CREATE TABLE c (z INTEGER)"})
	if applied, err := migrate.Apply(ctx, db, v2, migrate.Options{}); err != nil || !reflect.DeepEqual(applied, []int{2}) {
		t.Fatalf("Apply of a new migration = %v, %v; want [2]", applied, err)
	}
	if got := tables(t, db); !reflect.DeepEqual(got, []string{"a", "b", "c", "schema_migrations"}) {
		t.Errorf("tables = %v", got)
	}
	// An older binary refuses the newer schema.
	if _, err := migrate.Apply(ctx, db, v1, migrate.Options{}); !errors.Is(err, migrate.ErrTooNew) {
		t.Errorf("Apply of older migrations = %v, want ErrTooNew", err)
	}
}

func TestApplyRollsBackFailure(t *testing.T) {
	ctx := context.Background()
	db := openDB(t)
	ms := []migrate.Migration{
		{Version: 1, Name: "good", SQL: "CREATE TABLE good (x INTEGER)"},
		{Version: 2, Name: "bad", SQL: "CREATE TABLE broken (x INTEGER"},
	}
	_, err := migrate.Apply(ctx, db, ms, migrate.Options{})
	if err == nil || !strings.Contains(err.Error(), "0002_bad") {
		t.Fatalf("Apply = %v, want an error naming 0002_bad", err)
	}
	if got := tables(t, db); len(got) != 0 {
		t.Errorf("tables after a failed migration = %v, want none (all rolled back)", got)
	}
	if _, err := migrate.Apply(ctx, db, []migrate.Migration{{Version: 1, Name: "x'; DROP", SQL: "SELECT 1"}}, migrate.Options{}); err == nil {
		t.Error("a migration name with a quote was accepted")
	}
}

func FuzzParseName(f *testing.F) {
	for _, s := range []string{"0001_init.sql", "0002_a_b.sql", "1.sql", "0001_.sql", "99999999999_x.sql"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, file string) {
		v, name, err := migrate.ParseName(file)
		if err != nil {
			return
		}
		if v <= 0 || name == "" || strings.ContainsAny(name, "'\";- ") {
			t.Fatalf("ParseName(%q) = %d, %q", file, v, name)
		}
	})
}
