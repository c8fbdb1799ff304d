package store

import "sync"

// verifiedCap is how many of the newest audit events verifiedRows holds:
// more than a busy helpdesk writes between filing a request and issuing
// its pass (the window a recount walks), at about 200 bytes each.
const verifiedCap = 4096

// verifiedRow is what a recount needs of an event it already checked: the
// mac and key id it checked (any change to either is a changed event), the
// mac of the event before it that its mac was computed over (so a passed
// event still links to the one before it, as a checked one does), the key
// that signed it, and the request its record names.
type verifiedRow struct {
	seq       int64 // 0: an empty slot
	mac       string
	keyID     string
	prev      string
	signer    string
	requestID string
}

// verifiedRows remembers the newest events this process wrote (signed
// with its own key and committed, so genuine by construction) or verified
// (the mac checked out over the event before it). A recount passes over a
// remembered event whose mac, key id and previous event's mac are as
// remembered without reading its record again, unless the record named the
// request being recounted: those it reads and checks every time. So the
// chain is held link by link as before, and only a record edited with its
// mac left as it was goes unseen at issue time, unless it is the request's
// own (verify reads every record). The recount still decides on records it
// has checked: what an event not of the request says cannot count for it,
// since what it named when checked is what is remembered.
type verifiedRows struct {
	mu   sync.Mutex
	rows [verifiedCap]verifiedRow
}

func (v *verifiedRows) note(r verifiedRow) {
	v.mu.Lock()
	v.rows[r.seq%verifiedCap] = r
	v.mu.Unlock()
}

// at returns what is remembered of the event numbered seq, if it is.
func (v *verifiedRows) at(seq int64) (verifiedRow, bool) {
	v.mu.Lock()
	m := v.rows[seq%verifiedCap]
	v.mu.Unlock()
	return m, m.seq == seq && seq > 0
}

// passable reports whether a recount of requestID may pass over the event
// numbered seq, read with mac and keyID right after an event whose mac is
// prev (or the anchor): remembered with that mac and key id, its mac
// computed over prev, and not naming requestID. It returns what is
// remembered of it.
func (v *verifiedRows) passable(seq int64, mac, keyID []byte, prev, requestID string) (verifiedRow, bool) {
	if m, ok := v.at(seq); ok && m.mac == string(mac) && m.keyID == string(keyID) && m.prev == prev && m.requestID != requestID {
		return m, true
	}
	return verifiedRow{}, false
}
