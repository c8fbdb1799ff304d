// Package migrations holds tapdesk's SQL schema as numbered files, embedded
// in the binary and applied at start by the store (goose format): one
// folder per database. Both keep the same columns and the same TEXT
// timestamps in one fixed-width UTC format, so the store's queries and the
// audit records are the same on either; a new migration gets the same
// number in both folders.
package migrations

import (
	"embed"
	"io/fs"
)

//go:embed sqlite/*.sql postgres/*.sql
var files embed.FS

// SQLite holds the SQLite migrations.
var SQLite = sub("sqlite")

// Postgres holds the PostgreSQL migrations. PostgreSQL support began at
// schema version 10, so its first file builds that version whole.
var Postgres = sub("postgres")

func sub(dir string) fs.FS {
	f, err := fs.Sub(files, dir)
	if err != nil {
		panic(err) // the folder is embedded above
	}
	return f
}
