package handlers

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// rowStore keeps rows in memory, without expiry or a write count, like any
// backend the sealed store may wrap.
type rowStore map[string][]byte

func (m rowStore) FindCtx(_ context.Context, key string) ([]byte, bool, error) {
	b, ok := m[key]
	return b, ok, nil
}
func (m rowStore) CommitCtx(_ context.Context, key string, b []byte, _ time.Time) error {
	m[key] = b
	return nil
}
func (m rowStore) DeleteCtx(_ context.Context, key string) error { delete(m, key); return nil }

func TestSealedStore(t *testing.T) {
	ctx := context.Background()
	rows := rowStore{}
	st := newSealedStore(rows, "session key of at least 32 chars..")
	expiry := time.Now().Add(time.Hour)
	alice, bob := "alice-token-0123456789", "bob-token-0123456789"
	if err := st.CommitCtx(ctx, alice, []byte("alice's session"), expiry); err != nil {
		t.Fatal(err)
	}
	if err := st.CommitCtx(ctx, bob, []byte("bob's session"), expiry); err != nil {
		t.Fatal(err)
	}

	t.Run("rows hold no token and no plain data", func(t *testing.T) {
		for key, data := range rows {
			for _, secret := range []string{alice, bob, "session"} {
				if key == secret || bytes.Contains(data, []byte(secret)) || bytes.Contains([]byte(key), []byte(secret)) {
					t.Errorf("row %q holds %q", key, secret)
				}
			}
		}
		if _, ok := rows[storeKey(alice)]; !ok {
			t.Errorf("alice's row is not under her token's hash: %v", rows)
		}
	})
	t.Run("the owner's token opens its row", func(t *testing.T) {
		b, found, err := st.FindCtx(ctx, alice)
		if err != nil || !found || string(b) != "alice's session" {
			t.Fatalf("got %q %v %v", b, found, err)
		}
	})
	t.Run("a row's key presented as a token finds nothing", func(t *testing.T) {
		if _, found, err := st.FindCtx(ctx, storeKey(alice)); found || err != nil {
			t.Fatalf("found %v, err %v", found, err)
		}
	})
	t.Run("data moved to another token's row does not open", func(t *testing.T) {
		a, b := rows[storeKey(alice)], rows[storeKey(bob)]
		rows[storeKey(alice)], rows[storeKey(bob)] = b, a
		defer func() { rows[storeKey(alice)], rows[storeKey(bob)] = a, b }()
		for _, tok := range []string{alice, bob} {
			if got, found, err := st.FindCtx(ctx, tok); found || err != nil {
				t.Errorf("%s opened %q (err %v)", tok, got, err)
			}
		}
	})
	t.Run("altered or short data does not open", func(t *testing.T) {
		orig := rows[storeKey(alice)]
		defer func() { rows[storeKey(alice)] = orig }()
		for _, bad := range [][]byte{nil, orig[:5], append(bytes.Clone(orig[:len(orig)-1]), orig[len(orig)-1]^1)} {
			rows[storeKey(alice)] = bad
			if _, found, err := st.FindCtx(ctx, alice); found || err != nil {
				t.Errorf("%x: found %v, err %v", bad, found, err)
			}
		}
	})
	t.Run("another session key opens nothing", func(t *testing.T) {
		other := newSealedStore(rows, "another session key, 32 chars...")
		if _, found, err := other.FindCtx(ctx, alice); found || err != nil {
			t.Fatalf("found %v, err %v", found, err)
		}
	})
	t.Run("delete removes the row", func(t *testing.T) {
		if err := st.DeleteCtx(ctx, alice); err != nil {
			t.Fatal(err)
		}
		if _, ok := rows[storeKey(alice)]; ok || len(rows) != 1 {
			t.Fatalf("rows left: %d", len(rows))
		}
	})
}
