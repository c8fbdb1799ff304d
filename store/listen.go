package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgxlisten"
)

// changesChannel is the PostgreSQL notification channel every write
// transaction notifies on commit (see dialect.writeLock), so each instance
// learns that another one changed the data it may hold in memory.
const changesChannel = "tapdesk_changes"

// ListenForChanges calls changed each time another instance (or this one)
// commits a write, until ctx ends. On SQLite there is one instance and
// nothing to listen to: it returns at once. On PostgreSQL it holds a
// connection of its own and reconnects after a failure; while it is not
// connected, notifications would be missed, so it calls lost when the
// connection goes and changed again once it is back: a cache that stops
// trusting itself on lost and trusts itself again on changed never serves
// what another instance changed meanwhile.
func (db *DB) ListenForChanges(ctx context.Context, changed, lost func()) error {
	if db.dialect != postgresDialect {
		return nil
	}
	cfg, err := pgx.ParseConfig(db.url)
	if err != nil {
		return err
	}
	cfg.RuntimeParams["application_name"] = listenerName
	l := &pgxlisten.Listener{
		Connect:        func(ctx context.Context) (*pgx.Conn, error) { return pgx.ConnectConfig(ctx, cfg) },
		LogError:       func(context.Context, error) { lost() },
		ReconnectDelay: reconnectDelay,
	}
	l.Handle(changesChannel, changeHandler{changed})
	err = l.Listen(ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// listenerName names the listener's connection in pg_stat_activity.
const listenerName = "tapdesk change listener"

// reconnectDelay is how long the listener waits before it connects again.
const reconnectDelay = 2 * time.Second

type changeHandler struct{ changed func() }

func (h changeHandler) HandleNotification(context.Context, *pgconn.Notification, *pgx.Conn) error {
	h.changed()
	return nil
}

// HandleBacklog runs once the listener is connected and listening again:
// whatever was committed while it was not is unknown, so it counts as a
// change.
func (h changeHandler) HandleBacklog(context.Context, string, *pgx.Conn) error {
	h.changed()
	return nil
}
