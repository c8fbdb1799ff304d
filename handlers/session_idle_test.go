package handlers

import (
	"context"
	"testing"
	"time"
)

// expiryStore records the expiry each row was committed with.
type expiryStore map[string]time.Time

func (m expiryStore) FindCtx(context.Context, string) ([]byte, bool, error) { return nil, false, nil }
func (m expiryStore) CommitCtx(_ context.Context, token string, _ []byte, expiry time.Time) error {
	m[token] = expiry
	return nil
}
func (m expiryStore) DeleteCtx(_ context.Context, token string) error { delete(m, token); return nil }

// Sessions are not written on every request to push an idle deadline on,
// yet a row written is still forgotten after
// the idle timeout unless written again, and never kept past the session's
// lifetime.
func TestSealedStoreForgetsIdleRows(t *testing.T) {
	rows := expiryStore{}
	st := newSealedStore(rows, "session key of at least 32 chars..")
	st.forgetIdle = 30 * time.Minute
	ctx := context.Background()
	before := time.Now()
	if err := st.CommitCtx(ctx, "active-token-0123456789", nil, before.Add(8*time.Hour)); err != nil {
		t.Fatal(err)
	}
	got := rows[storeKey("active-token-0123456789")]
	if got.Before(before.Add(30*time.Minute)) || got.After(time.Now().Add(30*time.Minute)) {
		t.Errorf("a session with 8 hours to live is kept until %s, want 30 minutes from its write", got.Sub(before))
	}
	end := before.Add(10 * time.Minute)
	if err := st.CommitCtx(ctx, "ending-token-0123456789", nil, end); err != nil {
		t.Fatal(err)
	}
	if got := rows[storeKey("ending-token-0123456789")]; !got.Equal(end) {
		t.Errorf("a session ending in 10 minutes is kept for %s", got.Sub(before))
	}
}
