package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"sync/atomic"
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
	// The listener pings itself through the database: a connection that
	// died without closing (a partition, a dropped NAT entry, a pooler
	// that never delivers) would otherwise leave the feed "up" while it
	// hears nothing, until TCP gives up on it hours later.
	var nonce [8]byte
	rand.Read(nonce[:])
	h := &changeHandler{changed: changed, ping: "ping " + hex.EncodeToString(nonce[:])}
	l := &pgxlisten.Listener{
		Connect:        func(ctx context.Context) (*pgx.Conn, error) { return pgx.ConnectConfig(ctx, cfg) },
		LogError:       func(context.Context, error) { lost() },
		ReconnectDelay: reconnectDelay,
	}
	l.Handle(changesChannel, h)
	go h.heartbeat(ctx, db, lost)
	err = l.Listen(ctx)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// pingEvery is how often the listener pings itself; a ping not heard
// back within pingTimeout means the feed is down.
const (
	pingEvery   = time.Second
	pingTimeout = 3 * time.Second
)

type changeHandler struct {
	changed func()
	ping    string // this listener's own ping payload
	heard   atomic.Int64
	conn    atomic.Pointer[pgx.Conn] // the listening connection, once it listens
}

func (h *changeHandler) HandleNotification(_ context.Context, n *pgconn.Notification, _ *pgx.Conn) error {
	if strings.HasPrefix(n.Payload, "ping ") {
		if n.Payload == h.ping {
			h.heard.Store(time.Now().UnixNano())
		}
		return nil // another instance's ping, or ours: no change
	}
	h.changed()
	return nil
}

// HandleBacklog runs once the listener is connected and listening again:
// whatever was committed while it was not is unknown, so it counts as a
// change.
func (h *changeHandler) HandleBacklog(_ context.Context, _ string, conn *pgx.Conn) error {
	h.heard.Store(time.Now().UnixNano())
	h.conn.Store(conn)
	h.changed()
	return nil
}

// heartbeat sends the ping every pingEvery and, when the listening
// connection has not heard one for pingTimeout, reports the feed lost and
// cuts that connection so the listener connects afresh.
func (h *changeHandler) heartbeat(ctx context.Context, db *DB, lost func()) {
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		db.db.ExecContext(ctx, "SELECT pg_notify(?, ?)", changesChannel, h.ping) // an error shows as silence
		if c := h.conn.Load(); c != nil && time.Since(time.Unix(0, h.heard.Load())) > pingTimeout {
			lost()
			h.conn.CompareAndSwap(c, nil)
			c.PgConn().Conn().Close() // the listener's wait fails, and it reconnects
		}
	}
}

// listenerName names the listener's connection in pg_stat_activity.
const listenerName = "tapdesk change listener"

// reconnectDelay is how long the listener waits before it connects again.
const reconnectDelay = 2 * time.Second
