package migrations

import "embed"

// SQLite holds the SQLite schema migrations, sqlite/NNNN_name.up.sql, applied
// in ascending order of NNNN by ledger/sqlite.
//
//go:embed sqlite/*.sql
var SQLite embed.FS
