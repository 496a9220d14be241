package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sluice-gateway/sluice/store/postgres"
	"github.com/sluice-gateway/sluice/store/storetest"
)

// EnvTestPostgres names the variable holding the DSN of a PostgreSQL
// database the tests may create schemas in; without it they are skipped.
const EnvTestPostgres = "SLUICE_TEST_POSTGRES"

// newDSN creates a fresh schema for one test and returns a DSN whose
// search_path points at it, so parallel tests never share a table. The
// schema is dropped when the test ends.
func newDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvTestPostgres)
	if base == "" {
		t.Skipf("%s not set: PostgreSQL tests skipped", EnvTestPostgres)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", EnvTestPostgres, err)
	}
	defer conn.Close(ctx)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "sluice_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("%s: %v", EnvTestPostgres, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

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
