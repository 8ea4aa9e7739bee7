package pgtest

import (
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestNewSchema(t *testing.T) {
	var schema string
	t.Run("inner", func(t *testing.T) {
		dsn := NewSchema(t)
		conn, err := pgx.Connect(t.Context(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(t.Context())
		var tables int
		if err := conn.QueryRow(t.Context(), `SELECT current_schema(), (SELECT count(*) FROM pg_tables WHERE schemaname = current_schema())`).
			Scan(&schema, &tables); err != nil {
			t.Fatal(err)
		}
		if len(schema) < 10 || schema[:2] != "t_" || tables != 0 {
			t.Errorf("current_schema(), tables = %q, %d, want a fresh t_… schema with no tables", schema, tables)
		}
		if _, err := conn.Exec(t.Context(), `CREATE TABLE x (a int)`); err != nil {
			t.Fatalf("create a table in the schema: %v", err)
		}
	})
	conn, err := pgx.Connect(t.Context(), BaseDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var exists bool
	if err := conn.QueryRow(t.Context(), `SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("schema %s exists after its test ended, want dropped", schema)
	}
}

func TestWithSearchPath(t *testing.T) {
	for _, tt := range []struct {
		dsn, want string
	}{
		{"postgres://u@h:5432/db?sslmode=disable", "postgres://u@h:5432/db?search_path=s&sslmode=disable"},
		{"postgresql://u@h/db", "postgresql://u@h/db?search_path=s"},
		{"host=h user=u dbname=db", "host=h user=u dbname=db search_path=s"},
	} {
		got, err := withSearchPath(tt.dsn, "s")
		if err != nil || got != tt.want {
			t.Errorf("withSearchPath(%q) = %q, %v, want %q", tt.dsn, got, err, tt.want)
		}
	}
}

func TestSchemaName(t *testing.T) {
	a, b := schemaName("TestX/with spaces-and_UPPER"), schemaName("TestX/with spaces-and_UPPER")
	if a == b {
		t.Errorf("schemaName twice = %q, %q, want distinct names", a, b)
	}
	if want := "t_testx_with_spaces_and_upper_"; a[:len(want)] != want {
		t.Errorf("schemaName = %q, want prefix %q", a, want)
	}
	if long := schemaName(string(make([]byte, 200))); len(long) > 63 {
		t.Errorf("schemaName(200 bytes) = %d bytes, want at most 63", len(long))
	}
}
