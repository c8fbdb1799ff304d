package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// DisplayDSN is dsn as it may be printed, logged or stored in an audit
// event: a SQLite path as it is, a URL (PostgreSQL's, or anything that
// looks like one) without its password.
func DisplayDSN(dsn string) string {
	if looksLikePostgres(dsn) && !IsPostgresURL(dsn) {
		// A mistyped URL (postgres:/user:password@host) parses as a path,
		// with the password in it.
		return "(a database URL that is not shown: it may hold a password)"
	}
	if !strings.Contains(dsn, "://") {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		// The password may be anywhere in text that does not parse.
		return "(a database URL that does not parse)"
	}
	// The driver also takes a password from the query string.
	q := u.Query()
	hidden := false
	for k := range q {
		if lk := strings.ToLower(k); lk == "password" || lk == "sslpassword" {
			q[k] = []string{"xxxxx"}
			hidden = true
		}
	}
	if hidden {
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// CheckDSN refuses a database setting that is neither a SQLite path nor a
// PostgreSQL URL tapdesk can read, with a sentence that says why (and no
// password).
func CheckDSN(dsn string) error {
	if p := dsnProblem(dsn); p != "" {
		return errors.New(p)
	}
	return nil
}

// dsnProblem says why dsn is neither a SQLite path nor a PostgreSQL URL
// tapdesk can use, or returns "" when it is one of them. A mistyped URL
// would otherwise be taken for a file name.
func dsnProblem(dsn string) string {
	if strings.TrimSpace(dsn) == "" {
		return "no database given: name a SQLite file (tapdesk.db) or a PostgreSQL URL (postgres://user@host/tapdesk)"
	}
	if IsPostgresURL(dsn) {
		if _, err := url.Parse(dsn); err != nil {
			return "the PostgreSQL URL does not parse (a password with / ? # @ or % in it must be percent-encoded); write it as postgres://user:password@host:5432/tapdesk?sslmode=verify-full"
		}
		return ""
	}
	scheme, _, isURL := strings.Cut(strings.ToLower(dsn), "://")
	if looksLikePostgres(dsn) {
		return "the database setting is not a PostgreSQL URL tapdesk reads: write it as postgres://user:password@host:5432/tapdesk (postgres:// or postgresql://, in lower case, with two slashes)"
	}
	if isURL && !strings.ContainsAny(scheme, "/\\") {
		return fmt.Sprintf("%s is neither a SQLite file nor a PostgreSQL URL: tapdesk reads a file path (tapdesk.db, /var/lib/tapdesk/tapdesk.db) or postgres://user:password@host:5432/tapdesk", DisplayDSN(dsn))
	}
	return ""
}

// looksLikePostgres reports whether dsn starts like a PostgreSQL URL
// (postgres: or postgresql:, any case, or a misspelt postgress://), so a
// malformed one is refused rather than taken for a file name.
func looksLikePostgres(dsn string) bool {
	lower := strings.ToLower(dsn)
	if !strings.HasPrefix(lower, "postgres") {
		return false
	}
	scheme, _, ok := strings.Cut(lower, ":")
	return ok && !strings.ContainsAny(scheme, "/\\. ")
}

// sqliteFolderProblem says why a SQLite database cannot be created at
// path because of its folder, or returns "".
func sqliteFolderProblem(path string) string {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("the folder %s, where the SQLite database %s goes, does not exist: create it (owned by the user tapdesk runs as) or name a file in a folder that does", dir, path)
	case err != nil:
		return fmt.Sprintf("the folder %s, where the SQLite database %s goes, cannot be read: %v", dir, path, pathReason(err))
	case !fi.IsDir():
		return fmt.Sprintf("%s, where the SQLite database %s goes, is a file, not a folder", dir, path)
	}
	return ""
}

// openError is a database that could not be opened, said so an operator
// knows what to fix; the driver's error stays underneath for errors.Is.
type openError struct {
	msg string
	err error
}

func (e *openError) Error() string { return e.msg }
func (e *openError) Unwrap() error { return e.err }

// postgresOpenError explains why connecting to the PostgreSQL database
// at where (a URL without its password) failed. pgx's own messages name
// the host, user and database but never the password.
func postgresOpenError(where string, err error) error {
	u, _ := url.Parse(where)
	user, database, server := "", "", "the server"
	if u != nil {
		user = u.User.Username()
		database = strings.TrimPrefix(u.Path, "/")
		if h := u.Query().Get("host"); h != "" {
			server = h
		} else if u.Host != "" {
			server = u.Host
		}
	}
	var pgErr *pgconn.PgError
	var dnsErr *net.DNSError
	var msg string
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "28P01":
		msg = fmt.Sprintf("PostgreSQL at %s refused user %q: the password is wrong", server, user)
	case errors.As(err, &pgErr) && pgErr.Code == "28000":
		msg = fmt.Sprintf("PostgreSQL at %s does not let user %q in from here (pg_hba.conf): %s", server, user, pgErr.Message)
	case errors.As(err, &pgErr) && pgErr.Code == "3D000":
		msg = fmt.Sprintf("PostgreSQL at %s has no database %q: create it (createdb -O %s %s) or correct the database in the URL", server, database, cmp.Or(user, "tapdesk"), cmp.Or(database, "tapdesk"))
	case errors.As(err, &pgErr):
		msg = fmt.Sprintf("PostgreSQL at %s refused the connection: %s (SQLSTATE %s)", server, pgErr.Message, pgErr.Code)
	case errors.As(err, &dnsErr):
		msg = fmt.Sprintf("cannot find the PostgreSQL server %s: the host name does not resolve", server)
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOENT):
		msg = fmt.Sprintf("nothing answers at %s: is PostgreSQL running there, and are the host and port in the URL right?", server)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), isTimeout(err):
		msg = fmt.Sprintf("PostgreSQL at %s did not answer in time: is the host right, and does a firewall let tapdesk through?", server)
	default:
		msg = fmt.Sprintf("cannot connect to the PostgreSQL database %s: %v", where, err)
	}
	return &openError{msg: msg, err: err}
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
