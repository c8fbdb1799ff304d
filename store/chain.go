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
//	HMAC-SHA256(key, "tapdesk-audit-v2" || prev mac || seq || record)
//
// each part prefixed with its length, where prev mac is the previous
// event's mac as stored (hex text; empty for the first event ever), seq the
// event's number and record its stored fields (see record.go). Nobody
// without the key can rewrite an event, or remove, add or reorder one
// inside the trail, without the next check failing. The key is never in the
// database. Events cut off the end leave no gap: verify catches that when a
// request changed after the last event, and otherwise only against a head
// recorded elsewhere (verify --head). ("v1" was an earlier encoding over
// separate columns, kept apart by the version.)
//
// The mac covers the stored text exactly, so verifying never depends on
// encoding a value the same way twice.

// MinAuditKeyLength is the shortest audit key accepted (characters).
const MinAuditKeyLength = 32

// ErrNoAuditKey is returned when an event is appended before SetAuditKey.
var ErrNoAuditKey = errors.New("the audit key is not set: the audit trail cannot be written without it")

const chainVersion = "tapdesk-audit-v2"

// chainRow is one event as stored.
type chainRow struct {
	seq    int64
	record string
	mac    string
}

// chainHasher computes macs; it reuses its buffers, so one per goroutine.
type chainHasher struct {
	h   hash.Hash
	buf []byte
	sum []byte
	hex []byte
}

func newChainHasher(key []byte) *chainHasher {
	return &chainHasher{h: hmac.New(sha256.New, key), buf: make([]byte, 0, 1024),
		sum: make([]byte, 0, sha256.Size), hex: make([]byte, sha256.Size*2)}
}

// mac returns the hex mac of record as the event numbered seq after prev.
// The result is only valid until the next call.
func (c *chainHasher) mac(prev string, seq int64, record string) []byte {
	b := append(c.buf[:0], chainVersion...)
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

// checks reports whether r's stored mac is right for r as event seq after prev.
func (c *chainHasher) checks(prev string, seq int64, r *chainRow) bool {
	return hmac.Equal(c.mac(prev, seq, r.record), []byte(r.mac))
}

func appendField(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}
