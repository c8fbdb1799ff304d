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
//	HMAC-SHA256(key, "tapdesk-audit-v1" || prev mac || canonical event)
//
// where prev mac is the previous event's mac as stored (hex text; empty for
// the first event ever) and the canonical event is every stored column in a
// fixed order, each prefixed with its length, the sequence number included.
// Nobody without the key can rewrite an event, or remove, add or reorder
// one, without the next check failing. The key is never in the database.
//
// The encoding works on the stored text exactly (time in its fixed-width
// form, details as the JSON text written), so verifying never depends on
// re-encoding a value the same way twice.

// MinAuditKeyLength is the shortest audit key accepted (characters).
const MinAuditKeyLength = 32

// ErrNoAuditKey is returned when an event is appended before SetAuditKey.
var ErrNoAuditKey = errors.New("the audit key is not set: the audit trail cannot be written without it")

const chainVersion = "tapdesk-audit-v1"

// chainColumns are the columns a mac covers, in encoding order, after seq.
const chainColumns = `time, activity, category, result, reason,
	actor_tid, actor_oid, actor_upn, actor_name, actor_ip, actor_agent,
	target_id, target_upn, request_id, correlation_id, tap_method_id, details`

// numChainFields is the number of text columns in chainColumns.
const numChainFields = 17

// chainRow is one event as stored: the text of its columns.
type chainRow struct {
	seq    int64
	fields [numChainFields]string
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

// mac returns the hex mac of r as the event numbered seq following prev.
// The result is only valid until the next call.
func (c *chainHasher) mac(prev string, seq int64, r *chainRow) []byte {
	b := append(c.buf[:0], chainVersion...)
	b = appendField(b, prev)
	b = appendField(b, strconv.FormatInt(seq, 10))
	for _, f := range r.fields {
		b = appendField(b, f)
	}
	c.buf = b
	c.h.Reset()
	c.h.Write(b)
	c.sum = c.h.Sum(c.sum[:0])
	hex.Encode(c.hex, c.sum)
	return c.hex
}

// checks reports whether r's stored mac is right for r as event seq after prev.
func (c *chainHasher) checks(prev string, seq int64, r *chainRow) bool {
	return hmac.Equal(c.mac(prev, seq, r), []byte(r.mac))
}

func appendField(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}
