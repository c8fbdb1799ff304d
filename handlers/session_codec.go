package handlers

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"maps"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/signin"
)

// sessionCodec encodes session data as JSON with each value's type named,
// so it decodes to the same Go types. scs's gob codec, which tapdesk used
// before, builds its decoder afresh for every session it reads, which cost
// more than the rest of a page's session work. Data without the JSON prefix
// (written by gob before) still decodes (gobSession), and a value of a type
// not listed here is written by gob as before, so no session is lost
// either way.
//
// decoded, when set, keeps what recent data decoded to (session_cache.go).
type sessionCodec struct {
	decoded *sessionDecodeCache
}

// gobSession is the gob form of a session, as scs's GobCodec wrote it.
type gobSession struct {
	Deadline time.Time
	Values   map[string]any
}

func (gobSession) encode(deadline time.Time, values map[string]any) ([]byte, error) {
	var b bytes.Buffer
	if err := gob.NewEncoder(&b).Encode(&gobSession{Deadline: deadline, Values: values}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func (gobSession) decode(b []byte) (time.Time, map[string]any, error) {
	var g gobSession
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&g); err != nil {
		return time.Time{}, nil, err
	}
	return g.Deadline, g.Values, nil
}

// sessionJSONPrefix marks data written by sessionCodec; scs's gob data
// starts with the type definition of its record, never with this.
var sessionJSONPrefix = []byte("!tapdesk-session-json-v1\n")

// sessionRecord is the JSON form of a session.
type sessionRecord struct {
	Deadline time.Time               `json:"deadline"`
	Values   map[string]sessionValue `json:"values"`
}

// sessionValue holds one session value: exactly one field is set.
type sessionValue struct {
	String    *string            `json:"string,omitempty"`
	Principal *tapdesk.Principal `json:"principal,omitempty"`
	Times     *sessionTimes      `json:"times,omitempty"`
	Pending   *signin.Pending    `json:"pending,omitempty"`
}

func (c sessionCodec) Encode(deadline time.Time, values map[string]any) ([]byte, error) {
	rec := sessionRecord{Deadline: deadline, Values: make(map[string]sessionValue, len(values))}
	for k, v := range values {
		var sv sessionValue
		switch v := v.(type) {
		case string:
			sv.String = &v
		case tapdesk.Principal:
			sv.Principal = &v
		case sessionTimes:
			sv.Times = &v
		case signin.Pending:
			sv.Pending = &v
		default:
			return gobSession{}.encode(deadline, values)
		}
		rec.Values[k] = sv
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	return append(sessionJSONPrefix[:len(sessionJSONPrefix):len(sessionJSONPrefix)], b...), nil
}

func (c sessionCodec) Decode(b []byte) (time.Time, map[string]any, error) {
	deadline, values, shared, err := c.decodeShared(b)
	if shared {
		values = maps.Clone(values)
	}
	return deadline, values, err
}

// decodeShared is Decode, but a hit in the decode cache hands out the
// cache's own map (shared): the caller must not change it, and copies it
// first if it would (session.own).
func (c sessionCodec) decodeShared(b []byte) (deadline time.Time, values map[string]any, shared bool, err error) {
	rest, ok := bytes.CutPrefix(b, sessionJSONPrefix)
	if !ok {
		deadline, values, err = gobSession{}.decode(b)
		return deadline, values, false, err
	}
	if c.decoded != nil {
		if deadline, values, ok := c.decoded.get(b); ok {
			return deadline, values, true, nil
		}
	}
	var rec sessionRecord
	if err := json.Unmarshal(rest, &rec); err != nil {
		return time.Time{}, nil, false, err
	}
	values = make(map[string]any, len(rec.Values))
	for k, sv := range rec.Values {
		switch {
		case sv.String != nil:
			values[k] = *sv.String
		case sv.Principal != nil:
			values[k] = *sv.Principal
		case sv.Times != nil:
			values[k] = *sv.Times
		case sv.Pending != nil:
			values[k] = *sv.Pending
		}
	}
	if c.decoded != nil {
		c.decoded.put(b, rec.Deadline, values)
	}
	return rec.Deadline, values, false, nil
}
