package store

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzRecordRoundTrip: any 18 strings encode to a record that is JSON and
// decodes to the same strings (invalid UTF-8 becomes U+FFFD, as
// encoding/json has it).
func FuzzRecordRoundTrip(f *testing.F) {
	f.Add("2026-11-23T10:00:00.000000Z", "Create request", "\"\\/<>&\n\r\t\x00\x1f", "\xff\xc3 \u2028\u2029", "日本😀", `{"a":"b"}`)
	f.Add("", "", "", "", "", "")
	f.Add("]", "[", ",", "\"", "\\u0000", "\\ud800")
	f.Fuzz(func(t *testing.T, a, b, c, d, e, g string) {
		in := [numRecordFields]string{a, b, c, d, e, g, a + b, c + d, e + g, g, a, b, c, d, e, g, a + g, b + e}
		rec := string(appendRecord(nil, &in))
		var std []string
		if err := json.Unmarshal([]byte(rec), &std); err != nil || len(std) != numRecordFields {
			t.Fatalf("record %q is not a JSON array of 18 strings: %v", rec, err)
		}
		var out [numRecordFields]string
		if err := parseRecord(rec, &out); err != nil {
			t.Fatalf("parse %q: %v", rec, err)
		}
		for i := range in {
			if out[i] != strings.ToValidUTF8(in[i], "\uFFFD") && utf8.ValidString(in[i]) || out[i] != std[i] {
				t.Fatalf("field %d: %q came back as %q (encoding/json: %q)", i, in[i], out[i], std[i])
			}
		}
		// What was decoded encodes and decodes to itself.
		var again [numRecordFields]string
		if err := parseRecord(string(appendRecord(nil, &out)), &again); err != nil || again != out {
			t.Fatalf("decoded fields %q did not survive another round: %q %v", out, again, err)
		}
	})
}

// FuzzParseRecord: any bytes, as another writer (or an attacker with the
// database file) may leave them, parse without panicking; what parses is
// what encoding/json reads.
func FuzzParseRecord(f *testing.F) {
	f.Add(`["a","","","","","","","","","","","","","","","",""]`)
	f.Add(`[ "\u00e9\ud83d\ude00\/\b\f" ,"","","","","","","","","","","","","","","","{\"a\":\"b\"}" ]`)
	f.Add(`["\ud800","","","","","","","","","","","","","","","",""]`)
	f.Add(`["\x"` + strings.Repeat(`,""`, 16) + `]`)
	f.Add(`["a","","","","","","","","","","","","","","","","","req-1"]`)
	f.Add(`[]`)
	f.Add(`["a"`)
	f.Add("[\"\xff\"" + strings.Repeat(`,""`, 16) + `]`)
	f.Fuzz(func(t *testing.T, s string) {
		var out [numRecordFields]string
		if err := parseRecord(s, &out); err != nil {
			return
		}
		if !utf8.ValidString(s) {
			return // encoding/json replaces invalid bytes; parseRecord keeps raw ones
		}
		var std []string
		if err := json.Unmarshal([]byte(s), &std); err != nil {
			t.Fatalf("parsed %q, which encoding/json refuses: %v", s, err)
		}
		if len(std) == oldRecordFields {
			std = append(std, "") // written before http_request_id
		}
		for i := range out {
			if out[i] != std[i] {
				t.Fatalf("field %d of %q: parsed %q, encoding/json reads %q", i, s, out[i], std[i])
			}
		}
	})
}
