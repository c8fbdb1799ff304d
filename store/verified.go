package store

import "sync"

// verifiedCap is how many of the newest audit events verifiedRows holds:
// more than a busy helpdesk writes between filing a request and issuing
// its pass (the window a recount walks), at about 200 bytes each.
const verifiedCap = 4096

// verifiedRow is what a recount needs of an event it already checked: the
// mac and key id it checked (any change to either is a changed event), the
// key that signed it, and the request its record names.
type verifiedRow struct {
	seq       int64 // 0: an empty slot
	mac       string
	keyID     string
	signer    string
	requestID string
}

// verifiedRows remembers the newest events this process wrote (signed
// with its own key, so genuine by construction) or verified (the mac
// checked out). A recount passes over a remembered event whose mac and key
// id are as remembered without reading its record again, unless the
// record named the request being recounted: those it reads and checks
// every time. So a record edited with its mac left as it was is not seen
// at issue time unless it is the request's own (verify sees it), and the
// recount still decides on records it has checked: what an event not of
// the request says cannot count for it, since what it named when checked
// is what is remembered.
type verifiedRows struct {
	mu   sync.Mutex
	rows [verifiedCap]verifiedRow
}

func (v *verifiedRows) note(r verifiedRow) {
	v.mu.Lock()
	v.rows[r.seq%verifiedCap] = r
	v.mu.Unlock()
}

// passable reports whether a recount of requestID may pass over the event
// numbered seq, read with mac and keyID: remembered with that mac and key
// id, and not naming requestID. It returns what is remembered of it.
func (v *verifiedRows) passable(seq int64, mac, keyID []byte, requestID string) (verifiedRow, bool) {
	v.mu.Lock()
	m := v.rows[seq%verifiedCap]
	v.mu.Unlock()
	if m.seq == seq && m.mac == string(mac) && m.keyID == string(keyID) && m.requestID != requestID {
		return m, true
	}
	return verifiedRow{}, false
}
