package main

import "testing"

func TestRedactURL(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"postgres://agentledger:s3cret@db.internal:5432/ledger?sslmode=verify-full", "postgres://agentledger:xxxxx@db.internal:5432/ledger?sslmode=verify-full"},
		{"postgresql://u:p%40ss@h/db", "postgresql://u:xxxxx@h/db"},
		{"postgres://agentledger@db.internal/ledger", "postgres://agentledger@db.internal/ledger"},
		{"agentledger-data/ledger.db", "agentledger-data/ledger.db"},
		{"postgres://u:pa ss%zz@h/db", "(a database URL that does not parse)"},
	} {
		if got := redactURL(tt.in); got != tt.want {
			t.Errorf("redactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
