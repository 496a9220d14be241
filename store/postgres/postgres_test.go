package postgres_test

import (
	"context"
	"strings"
	"testing"

	"github.com/sluice-gateway/sluice/store/postgres"
	"github.com/sluice-gateway/sluice/store/storetest"
)

// newDSN is a fresh schema for one test (see storetest.PostgresDSN).
func newDSN(t testing.TB) string { return storetest.PostgresDSN(t) }

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) string { return newDSN(t) })
}

func TestMigrationsRecordedOnce(t *testing.T) {
	dsn := newDSN(t)
	ctx := context.Background()
	for range 2 {
		db, closeDB, err := postgres.Open(ctx, dsn)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		var n int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&n); err != nil {
			t.Fatal(err)
		}
		ms, _ := postgres.Migrations()
		if n != len(ms) {
			t.Errorf("schema_migrations has %d rows, want %d", n, len(ms))
		}
		db.Close()
		closeDB()
	}
}

func TestOpenErrorHidesPassword(t *testing.T) {
	// Nothing listens on port 1; the error must not echo the secret.
	_, _, err := postgres.Open(context.Background(), "postgres://u:hunter2secret@127.0.0.1:1/db?connect_timeout=2")
	if err == nil {
		t.Fatal("Open of an unreachable server succeeded")
	}
	if s := err.Error(); strings.Contains(s, "hunter2secret") {
		t.Errorf("error reveals the password: %s", s)
	}
}

func BenchmarkWriter(b *testing.B) {
	storetest.BenchmarkWriter(b, newDSN(b))
}

func BenchmarkWriterVaried(b *testing.B) {
	storetest.BenchmarkWriterVaried(b, newDSN(b))
}
