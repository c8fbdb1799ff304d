package store

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/tapdesk/tapdesk"
)

// RateLimiter keeps the pace of limited actions (tapdesk.RateLimits) in the
// database, so that instances sharing it count together: behind a load
// balancer an attacker alternating between instances gets one limit, not
// one per instance. Each limit and key is one row holding its theoretical
// arrival time (tapdesk.RateLimit.Admits); each check is one statement that
// tests and moves it, outside any transaction and without the write lock
// (db.inTx): a check waits only for checks of the same key, never for the
// writes of the rest of tapdesk.
type RateLimiter struct {
	db  *DB
	key []byte // keys the HMAC that stands for each person or address
}

// rateKeyLabel separates the HMAC key of rate-limit rows from whatever
// else the secret keys.
const rateKeyLabel = "tapdesk rate limit keys v1"

// RateLimiter returns the limiter on db. secret is one every instance has
// (the audit key): keys are stored as an HMAC under a key drawn from it,
// so the table holds no person's id or client address, and they cannot be
// found from it by hashing guesses without the secret.
func (db *DB) RateLimiter(secret string) (*RateLimiter, error) {
	if len(secret) < MinAuditKeyLength {
		return nil, fmt.Errorf("the rate limiter's secret must be at least %d characters", MinAuditKeyLength)
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(rateKeyLabel))
	return &RateLimiter{db: db, key: m.Sum(nil)}, nil
}

// keyHash is what the table stores for key under limit.
func (l *RateLimiter) keyHash(key string) []byte {
	m := hmac.New(sha256.New, l.key)
	m.Write([]byte(key))
	return m.Sum(nil)
}

// spendRate lets an action through if the key's arrival time is at most
// ? (the latest that admits), and moves it one interval on from itself or
// now, whichever is later; or, refused, leaves it. A key with no row gets
// one a full bucket less one. admitted says which happened, in the same
// statement: concurrent checks of one key take turns on its row (on
// PostgreSQL, INSERT ... ON CONFLICT DO UPDATE re-reads the row once it
// holds it), so N at once across instances let exactly the limit through.
const spendRate = `INSERT INTO rate_limits (limit_name, key_hash, tat, admitted) VALUES (?, ?, ?, ?)
	ON CONFLICT (limit_name, key_hash) DO UPDATE SET
		admitted = rate_limits.tat <= ?,
		tat = CASE WHEN rate_limits.tat > ? THEN rate_limits.tat
			WHEN rate_limits.tat > ? THEN rate_limits.tat + ?
			ELSE ? END
	RETURNING tat, admitted`

// refundRate gives back an action spent by a check set that a later check
// refused.
const refundRate = `UPDATE rate_limits SET tat = tat - ? WHERE limit_name = ? AND key_hash = ?`

// Take spends one action of every check at now, or none of them: if a
// check is over its limit, the actions spent by the checks before it are
// given back and the first such check is returned. Limits that are off
// always pass.
//
// A refused check set spends nothing once it returns; while it runs,
// another check of the same key may find the action it gives back still
// spent, and be refused. The limiter errs on the side of the limit: a
// refund that fails leaves the action spent, and the refusal stands (an
// error would let the request through).
func (l *RateLimiter) Take(ctx context.Context, now time.Time, checks ...tapdesk.RateCheck) (*tapdesk.RateRefusal, error) {
	var spent []tapdesk.RateCheck
	refund := func() error {
		// Given back even when the client has hung up meanwhile.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), refundTimeout)
		defer cancel()
		var errs []error
		for _, ch := range spent {
			if err := l.exec(ctx, refundRate, int64(ch.Limit.Interval()), ch.Limit.Name(), l.keyHash(ch.Key)); err != nil {
				errs = append(errs, fmt.Errorf("give back a %s action: %w", ch.Limit.Name(), err))
			}
		}
		return errors.Join(errs...)
	}
	for _, ch := range checks {
		if ch.Limit.Off() {
			continue
		}
		tat, ok, err := l.spend(ctx, now, ch)
		if err != nil {
			return nil, errors.Join(err, refund())
		}
		if !ok {
			_ = refund() // the refusal stands, given back or not (see above)
			return &tapdesk.RateRefusal{Limit: ch.Limit, Key: ch.Key, RetryAt: ch.Limit.RetryAt(tat)}, nil
		}
		spent = append(spent, ch)
	}
	return nil, nil
}

// refundTimeout bounds giving back an action: one row's update.
const refundTimeout = 5 * time.Second

// spend runs spendRate for one check and returns the key's arrival time
// and whether the action was let through.
func (l *RateLimiter) spend(ctx context.Context, now time.Time, ch tapdesk.RateCheck) (time.Time, bool, error) {
	st, err := l.db.prepared(ctx, spendRate)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("check the %s limit: %w", ch.Limit.Name(), err)
	}
	interval := int64(ch.Limit.Interval())
	at := now.UnixNano()
	latest := ch.Limit.LatestTAT(now).UnixNano()
	var tat int64
	var admitted bool
	err = st.QueryRowContext(ctx, ch.Limit.Name(), l.keyHash(ch.Key), at+interval, true,
		latest, latest, at, interval, at+interval).Scan(&tat, &admitted)
	l.db.writes.Add(1) // the checkpointer copies what it wrote back (checkpoint.go)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("check the %s limit: %w", ch.Limit.Name(), err)
	}
	return time.Unix(0, tat), admitted, nil
}

func (l *RateLimiter) exec(ctx context.Context, query string, args ...any) error {
	st, err := l.db.prepared(ctx, query)
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx, args...)
	l.db.writes.Add(1)
	return err
}

// SweepRateLimits deletes the rows whose arrival time has passed by now:
// their keys have their whole limit back, as keys without a row do. It
// returns how many it deleted. One statement, without the write lock:
// a check racing it on PostgreSQL either moves the row first (and it
// stays) or finds it gone and inserts it afresh.
func (db *DB) SweepRateLimits(ctx context.Context, now time.Time) (int, error) {
	res, err := db.db.ExecContext(ctx, `DELETE FROM rate_limits WHERE tat <= ?`, now.UnixNano())
	db.writes.Add(1)
	if err != nil {
		return 0, fmt.Errorf("delete spent rate limits: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
