package store

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// An audit event is stored as one record: a JSON array of its fields as
// strings, in recordFields order. The record is exactly what the chain's mac
// covers, so no field can change without the chain noticing; the columns
// that filters use (time, activity, actor, target, result, request id) are
// generated from it by SQLite, never written on their own. Records written
// before events carried the web request's id have 17 fields and still
// parse (and verify: the mac covers the stored text, whatever its length);
// new ones have 18. Reading three
// columns instead of nineteen is also what lets verify and export run at
// hundreds of thousands of events a second.

// recordFields names the record's positions (the generated columns reuse
// these names).
var recordFields = [numRecordFields]string{"time", "activity", "category", "result", "reason",
	"actor_tid", "actor_oid", "actor_upn", "actor_name", "actor_ip", "actor_agent",
	"target_id", "target_upn", "request_id", "correlation_id", "tap_method_id", "details", "http_request_id"}

const (
	numRecordFields = 18
	// oldRecordFields is the length of records written before
	// http_request_id: the last field then reads as "".
	oldRecordFields = 17
)

// appendRecord encodes fields as the record's JSON array.
func appendRecord(b []byte, fields *[numRecordFields]string) []byte {
	b = append(b, '[')
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, f)
	}
	return append(b, ']')
}

var errRecord = errors.New("audit record is not a JSON array of 17 or 18 strings")

// parseRecord decodes a record into fields. Strings without escapes are
// sliced from s without copying.
func parseRecord(s string, fields *[numRecordFields]string) error {
	i := skipSpace(s, 0)
	if i >= len(s) || s[i] != '[' {
		return errRecord
	}
	i++
	*fields = [numRecordFields]string{}
	for n := range numRecordFields {
		i = skipSpace(s, i)
		v, next, err := parseJSONString(s, i)
		if err != nil {
			return err
		}
		fields[n] = v
		i = skipSpace(s, next)
		if i >= len(s) {
			return errRecord
		}
		if n == oldRecordFields-1 && s[i] == ']' {
			i++
			break
		}
		want := byte(',')
		if n == numRecordFields-1 {
			want = ']'
		}
		if s[i] != want {
			return errRecord
		}
		i++
	}
	if skipSpace(s, i) != len(s) {
		return errRecord
	}
	return nil
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// parseJSONString reads the JSON string starting at s[i] (the opening
// quote) and returns its value and the index after the closing quote.
func parseJSONString(s string, i int) (string, int, error) {
	if i >= len(s) || s[i] != '"' {
		return "", 0, errRecord
	}
	i++
	start := i
	for i < len(s) {
		switch c := s[i]; {
		case c == '"':
			return s[start:i], i + 1, nil
		case c == '\\':
			return unescapeJSON(s, start, i)
		case c < 0x20:
			return "", 0, errRecord
		}
		i++
	}
	return "", 0, errRecord
}

// unescapeJSON finishes a string that has escapes, from i (a backslash).
func unescapeJSON(s string, start, i int) (string, int, error) {
	var b strings.Builder
	b.WriteString(s[start:i])
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			return b.String(), i + 1, nil
		case c < 0x20:
			return "", 0, errRecord
		case c != '\\':
			b.WriteByte(c)
			i++
			continue
		}
		if i+1 >= len(s) {
			return "", 0, errRecord
		}
		switch e := s[i+1]; e {
		case '"', '\\', '/':
			b.WriteByte(e)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, ok := hex4(s, i+2)
			if !ok {
				return "", 0, errRecord
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if r2, ok := hex4(s, i+2); ok && i+1 < len(s) && s[i] == '\\' && s[i+1] == 'u' {
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						b.WriteRune(dec)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			b.WriteRune(r)
			continue
		default:
			return "", 0, errRecord
		}
		i += 2
	}
	return "", 0, errRecord
}

func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	v, err := strconv.ParseUint(s[i:i+4], 16, 32)
	return rune(v), err == nil
}
