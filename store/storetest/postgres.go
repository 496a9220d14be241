package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// EnvTestPostgres names the variable holding the DSN of a PostgreSQL
// database tests may create schemas in; without it they are skipped.
const EnvTestPostgres = "SLUICE_TEST_POSTGRES"

// PostgresDSN creates a fresh schema for one test and returns a DSN whose
// search_path points at it, so parallel tests never share a table. The
// schema is dropped when the test ends. Without EnvTestPostgres the test is
// skipped.
func PostgresDSN(t testing.TB) string {
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
