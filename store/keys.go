package store

import (
	"context"
	"crypto/hmac"
	"fmt"
	"sync"
)

// auditKeys are the configured keys: the current one signs new events,
// old ones (after a rotation) only verify the events they signed.
type auditKeys struct {
	current string            // id of the current key
	byID    map[string][]byte // every configured key by id
	order   []string          // ids, current first: the order v2 events try them in
	signers sync.Pool         // of *chainHasher with the current key, for appends
	// verified: the newest events written or checked with these keys
	// (a recount passes over them); a new key set starts it afresh.
	verified verifiedRows
}

func newAuditKeys(current string, old []string) *auditKeys {
	k := &auditKeys{current: AuditKeyID(current), byID: map[string][]byte{}}
	for _, key := range append([]string{current}, old...) {
		id := AuditKeyID(key)
		if _, dup := k.byID[id]; !dup {
			k.byID[id] = []byte(key)
			k.order = append(k.order, id)
		}
	}
	cur := k.byID[k.current]
	k.signers.New = func() any { return newChainHasher(cur, k.current) }
	return k
}

// keyring checks events with the key each names, keeping one HMAC state per
// key for the whole walk. One per goroutine.
type keyring struct {
	keys    *auditKeys
	hashers map[string]*chainHasher
	last    *chainHasher // the hasher of the last event checked: usually the next one's too
	legacy  *chainHasher // the key that checked the last v2 event
}

func (k *auditKeys) ring() *keyring {
	return &keyring{keys: k, hashers: map[string]*chainHasher{}}
}

// has reports whether the key named id is configured.
func (r *keyring) has(id string) bool {
	_, ok := r.keys.byID[id]
	return ok
}

// hasher returns the hasher for the key named id, nil if it is not configured.
func (r *keyring) hasher(id string) *chainHasher {
	if r.last != nil && r.last.id == id {
		return r.last
	}
	h := r.hashers[id]
	if h == nil {
		key, ok := r.keys.byID[id]
		if !ok {
			return nil
		}
		h = newChainHasher(key, id)
		r.hashers[id] = h
	}
	r.last = h
	return h
}

// checks reports whether row's stored mac is right for it as event seq
// after prev, under the key it names (a v2 event: under any configured key).
func (r *keyring) checks(prev string, seq int64, row *chainRow) bool {
	if row.keyID != "" {
		h := r.hasher(row.keyID)
		return h != nil && hmac.Equal(h.mac(prev, seq, row.keyID, row.record), []byte(row.mac))
	}
	if r.legacy != nil && hmac.Equal(r.legacy.mac(prev, seq, "", row.record), []byte(row.mac)) {
		return true
	}
	for _, id := range r.keys.order {
		h := r.hasher(id)
		if h != r.legacy && hmac.Equal(h.mac(prev, seq, "", row.record), []byte(row.mac)) {
			r.legacy = h
			return true
		}
	}
	return false
}

// signer is the id of the key that checked row, after checks said it did.
func (r *keyring) signer(row *chainRow) string {
	if row.keyID == "" && r.legacy != nil {
		return r.legacy.id
	}
	return row.keyID
}

// KeyMismatchError is a trail whose newest event this tapdesk's keys do not
// check: it must not start, nor chain new events onto it.
type KeyMismatchError struct {
	Path    string
	Seq     int64
	KeyID   string // the key id the event names ("" for an event from before key ids)
	Changed bool   // the event names a configured key but does not check out with it
	Retired bool   // the event was signed with an old key after one signed with the current key
}

// retiredHead reports whether a head signed with key id head, right after
// an event signed with key id prev, was signed with a retired key: tapdesk
// signs only with the current key, so once an event under the current key
// is in the trail, an old key signing after it is someone holding the old
// key (verify's keyOrder rule, for the two newest events).
func (k *auditKeys) retiredHead(head, prev string) bool {
	return head != "" && head != k.current && prev == k.current
}

func (e *KeyMismatchError) Error() string {
	if e.Retired {
		return fmt.Sprintf("the audit trail in %s ends with an event (seq %d) signed with key id %s, a retired key, after an event signed with the current key: "+
			"tapdesk never signs with a retired key, so someone holding it added the event; tapdesk writes nothing onto it. Run tapdesk audit verify.", e.Path, e.Seq, e.KeyID)
	}
	if e.Changed {
		return fmt.Sprintf("the audit trail in %s does not check out at its newest event (seq %d): it names a configured key (key id %s) "+
			"but was changed, or added by someone without the key; tapdesk writes nothing onto it. Run tapdesk audit verify.", e.Path, e.Seq, e.KeyID)
	}
	id := ""
	if e.KeyID != "" {
		id = fmt.Sprintf(" (key id %s)", e.KeyID)
	}
	return fmt.Sprintf("the audit key does not match the trail in %s: the newest event (seq %d) was signed with another key%s; "+
		"set TAPDESK_AUDIT_KEY to the key used before, or add it to TAPDESK_AUDIT_OLD_KEYS to rotate to a new key", e.Path, e.Seq, id)
}

// CheckAuditKey checks the newest event's mac with the configured keys, so
// tapdesk never starts on a trail written with a key it does not hold: every
// event it wrote would chain onto one it cannot vouch for, and verify would
// fail from there. An empty trail passes; so does one whose newest event was
// signed with a configured old key (the first start after a rotation).
func (db *DB) CheckAuditKey(ctx context.Context) error {
	if db.keys == nil {
		return ErrNoAuditKey
	}
	got, err := queryAll(ctx, db.db, func(s rowScanner) (chainRow, error) {
		var r chainRow
		err := s.Scan(&r.seq, &r.record, &r.mac, &r.keyID)
		return r, err
	}, `SELECT seq, record, mac, key_id FROM audit_events ORDER BY seq DESC LIMIT 2`)
	if err != nil {
		return fmt.Errorf("read the newest audit events: %w", err)
	}
	if len(got) == 0 {
		return nil
	}
	// Each event chains onto the newest one before it (after a prune that
	// removed everything, onto nothing).
	head, prev := &got[0], ""
	if len(got) > 1 {
		prev = got[1].mac
	}
	ring := db.keys.ring()
	switch {
	case head.keyID != "" && !ring.has(head.keyID):
		return &KeyMismatchError{Path: db.path, Seq: head.seq, KeyID: head.keyID}
	case len(got) > 1 && db.keys.retiredHead(head.keyID, got[1].keyID):
		return &KeyMismatchError{Path: db.path, Seq: head.seq, KeyID: head.keyID, Retired: true}
	case ring.checks(prev, head.seq, head):
		return nil
	case head.keyID == "":
		return &KeyMismatchError{Path: db.path, Seq: head.seq}
	}
	return &KeyMismatchError{Path: db.path, Seq: head.seq, KeyID: head.keyID, Changed: true}
}
