package handlers

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// sessionRowStore keeps session rows by key (store.SessionRows), each with
// the time it may be forgotten.
type sessionRowStore interface {
	FindCtx(ctx context.Context, key string) ([]byte, bool, error)
	CommitCtx(ctx context.Context, key string, b []byte, expiry time.Time) error
	DeleteCtx(ctx context.Context, key string) error
}

// sealedStore wraps a row store so that what it holds is useless without
// the browser's cookie: rows are keyed by a SHA-256 of the session token
// (never the token), and each row's data is sealed with AES-GCM under the
// session key with the token as associated data. A copy of the database
// thus gives no token to present, and data moved onto another row (another
// token's hash) does not open there.
type sealedStore struct {
	inner sessionRowStore
	aead  cipher.AEAD
	// forgetIdle (0: never) cuts a row's expiry to this long after it is
	// written, as scs's IdleTimeout would: a session that sees no request
	// is forgotten after the idle timeout, not kept until its lifetime
	// ends. Every request that records activity writes the row, so the row
	// outlives the session's idle deadline (loadPrincipal's, which counts
	// from the activity recorded, never later than the write).
	forgetIdle time.Duration
	// rows and cache: when inner can say when a row expires and count
	// writes (cachedRows), unsealed rows are kept (session_cache.go).
	rows  cachedRows
	cache *sessionRowCache
	// flashes seals the flash cookie (session_flash.go), under a key of its
	// own derived from the session key.
	flashes *flashSealer
}

// newSealedStore wraps inner; sessionKey is tapdesk's session secret.
func newSealedStore(inner sessionRowStore, sessionKey string) *sealedStore {
	// v2: rows keyed by token hash and bound to the token. Data sealed by
	// v1 (keyed by the plain token, no binding) never opens under this key.
	st := &sealedStore{inner: inner, aead: sealingKey("tapdesk session v2", sessionKey), flashes: newFlashSealer(sessionKey)}
	if rows, ok := inner.(cachedRows); ok {
		st.rows, st.cache = rows, newSessionRowCache(sessionCacheEntries)
	}
	return st
}

// tokenHash is a session token's SHA-256: its row is stored under the hex
// of it (storeKey), and cached under it as it is (sessionRowCache).
type tokenHash [sha256.Size]byte

func hashToken(token string) tokenHash { return sha256.Sum256([]byte(token)) }

// storeKey is the row key for a session token.
func storeKey(token string) string { return hashToken(token).rowKey() }

// rowKey is the row key of the token h is the hash of.
func (h tokenHash) rowKey() string {
	var key [2 * sha256.Size]byte // hex.EncodeToString without its extra copy
	hex.Encode(key[:], h[:])
	return string(key[:])
}

// boundTo is the associated data that ties sealed data to its token.
func boundTo(token string) []byte { return []byte("tapdesk session data\x00" + token) }

func (s *sealedStore) seal(token string, plain []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	nonce := make([]byte, n, n+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, plain, boundTo(token)), nil
}

// open returns the data sealed for token, or false if it does not open: the
// session key was rotated, or the row was altered, copied or moved. Either
// way there is no session (a new one starts and the person signs in
// again), never an error page.
func (s *sealedStore) open(token string, sealed []byte) ([]byte, bool) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, false
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], boundTo(token))
	if err != nil {
		return nil, false
	}
	return plain, true
}

func (s *sealedStore) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	if s.rows != nil {
		if gen, trusted := s.rows.Generation(); trusted {
			return s.findCached(ctx, token, gen)
		}
	}
	sealed, found, err := s.inner.FindCtx(ctx, storeKey(token))
	if err != nil || !found {
		return nil, false, err
	}
	plain, ok := s.open(token, sealed)
	return plain, ok, nil
}

// findCached finds the row of token in the cache if it was read under gen
// (the write count read before anything else), else in the database,
// keeping what it read there under gen: a write that lands meanwhile has
// advanced the count past gen, so the row is not served again.
func (s *sealedStore) findCached(ctx context.Context, token string, gen uint64) ([]byte, bool, error) {
	h := hashToken(token)
	if plain, ok := s.cache.get(h, gen, time.Now()); ok {
		return plain, true, nil
	}
	sealed, expiry, found, err := s.rows.FindExpiryCtx(ctx, h.rowKey())
	if err != nil || !found {
		return nil, false, err
	}
	plain, ok := s.open(token, sealed)
	if ok {
		s.cache.put(h, sessionRow{gen: gen, expiry: expiry, plain: plain})
	}
	return plain, ok, nil
}

func (s *sealedStore) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	sealed, err := s.seal(token, b)
	if err != nil {
		return err
	}
	if idleEnd := time.Now().Add(s.forgetIdle).UTC(); s.forgetIdle > 0 && idleEnd.Before(expiry) {
		expiry = idleEnd
	}
	h := hashToken(token)
	if s.cache != nil {
		defer s.cache.forget(h)
	}
	return s.inner.CommitCtx(ctx, h.rowKey(), sealed, expiry)
}

func (s *sealedStore) DeleteCtx(ctx context.Context, token string) error {
	h := hashToken(token)
	if s.cache != nil {
		defer s.cache.forget(h)
	}
	return s.inner.DeleteCtx(ctx, h.rowKey())
}
