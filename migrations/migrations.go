// Package migrations holds agentledger's SQL migrations, one folder per
// dialect, embedded in the binary. Files are named NNNN_name.up.sql and
// applied in version order; there are no down migrations, because the
// ledger is append-only.
package migrations

import "embed"

// Postgres holds the Postgres migrations, postgres/NNNN_name.up.sql.
//
//go:embed postgres/*.sql
var Postgres embed.FS
