package store

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash"
	"strconv"
)

// The audit trail is a keyed hash chain. Each event's mac is
//
//	HMAC-SHA256(key, "tapdesk-audit-v3" || key id || prev mac || seq || record)
//
// each part prefixed with its length, where key id names the key (see
// AuditKeyID), prev mac is the previous event's mac as stored (hex text;
// empty for the first event ever), seq the event's number and record its
// stored fields (see record.go). Nobody without the key can rewrite an
// event, or remove, add or reorder one inside the trail, without the next
// check failing. The key is never in the database. Events cut off the end
// leave no gap: verify catches that when a request changed after the last
// event, and otherwise only against a head recorded elsewhere (verify
// --head).
//
// Events written before key ids ("v2") have no key id and no key id in
// their mac; they verify with whichever configured key signed them. ("v1"
// was an earlier encoding over separate columns, kept apart by the
// version.)
//
// The mac covers the stored text exactly, so verifying never depends on
// encoding a value the same way twice.

// MinAuditKeyLength is the shortest audit key accepted (characters).
const MinAuditKeyLength = 32

// ErrNoAuditKey is returned when an event is appended before SetAuditKey.
var ErrNoAuditKey = errors.New("the audit key is not set: the audit trail cannot be written without it")

const (
	chainV2 = "tapdesk-audit-v2" // events without a key id
	chainV3 = "tapdesk-audit-v3" // events naming their key
)

// AuditKeyID names an audit key in the trail: the first 8 bytes of
// HMAC-SHA256(key, "tapdesk-audit-key-id"), in hex. It is derived, so
// operators list old keys without labelling them and a mistyped key shows
// up as an unknown id. It tells nothing about the key that the events' own
// macs do not already: guessing a weak key is as easy against any mac.
func AuditKeyID(key string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte("tapdesk-audit-key-id"))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// chainRow is one event as stored.
type chainRow struct {
	seq    int64
	record string
	mac    string
	keyID  string // "" for a v2 event
}

// chainHasher computes macs with one key; it reuses its HMAC state and
// buffers, so one per goroutine.
type chainHasher struct {
	id  string // AuditKeyID of its key
	h   hash.Hash
	buf []byte
	sum []byte
	hex []byte
}

func newChainHasher(key []byte, id string) *chainHasher {
	return &chainHasher{id: id, h: hmac.New(sha256.New, key), buf: make([]byte, 0, 1024),
		sum: make([]byte, 0, sha256.Size), hex: make([]byte, sha256.Size*2)}
}

// mac returns the hex mac of record as the event numbered seq after prev,
// stored with keyID ("" for a v2 event: no key id, the v2 encoding). It is
// the one place a mac is computed. The result is only valid until the next
// call.
func (c *chainHasher) mac(prev string, seq int64, keyID, record string) []byte {
	var b []byte
	if keyID == "" {
		b = append(c.buf[:0], chainV2...)
	} else {
		b = append(c.buf[:0], chainV3...)
		b = appendField(b, keyID)
	}
	b = appendField(b, prev)
	b = appendField(b, strconv.FormatInt(seq, 10))
	b = appendField(b, record)
	c.buf = b
	c.h.Reset()
	c.h.Write(b)
	c.sum = c.h.Sum(c.sum[:0])
	hex.Encode(c.hex, c.sum)
	return c.hex
}

func appendField(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}
