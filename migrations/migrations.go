// Package migrations holds tapdesk's SQL schema as numbered files, embedded
// in the binary and applied at start by the store (goose format). SQL stays
// portable between SQLite and PostgreSQL: TEXT timestamps in one fixed-width
// UTC format, no SQLite-only types.
package migrations

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
