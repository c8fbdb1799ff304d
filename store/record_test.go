package store

import (
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// Records round-trip for any strings, and parse exactly as encoding/json
// reads them, including the escapes SQLite's json functions write.
func TestRecordRoundTrip(t *testing.T) {
	alphabet := []string{"a", "Z", "é", "ß", "日本", "😀", "\"", "\\", "/", "\n", "\r", "\t", "\x00", "\x1f", "<", ">", "&",
		"\u2028", "\u2029", "\xff", "\xc3", ",", "]", "[", "{", "}", " "}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		var f [numRecordFields]string
		for i := range f {
			var b strings.Builder
			for range rng.IntN(12) {
				b.WriteString(alphabet[rng.IntN(len(alphabet))])
			}
			f[i] = b.String()
		}
		rec := string(appendRecord(nil, &f))
		var std []string
		if err := json.Unmarshal([]byte(rec), &std); err != nil {
			t.Fatalf("record %q is not JSON: %v", rec, err)
		}
		var got [numRecordFields]string
		if err := parseRecord(rec, &got); err != nil {
			t.Fatalf("parse %q: %v", rec, err)
		}
		for i := range f {
			if got[i] != std[i] {
				t.Fatalf("field %d: parsed %q, encoding/json reads %q", i, got[i], std[i])
			}
			if utf8.ValidString(f[i]) && got[i] != f[i] {
				t.Fatalf("field %d: %q came back as %q", i, f[i], got[i])
			}
		}
	}
	// Escapes another writer may use.
	var got [numRecordFields]string
	rec := `[ "\u00e9\ud83d\ude00\/\b\f" ,"","","","","","","","","","","","","","","","{\"a\":\"b\"}" ]`
	if err := parseRecord(rec, &got); err != nil || got[0] != "é😀/\b\f" || got[16] != `{"a":"b"}` {
		t.Fatalf("escapes: %q %v", got, err)
	}
	// A record written before events carried the web request's id (17
	// fields) reads with that id empty, even into fields that held one.
	got[17] = "left over"
	if err := parseRecord(`["t"`+strings.Repeat(`,""`, 16)+`]`, &got); err != nil || got[0] != "t" || got[17] != "" {
		t.Fatalf("old record: %q %v", got, err)
	}
	for _, bad := range []string{``, `[]`, `["a"]`, `{"a":1}`, strings.Repeat(`"a",`, 17), `["\x"` + strings.Repeat(`,""`, 16) + `]`,
		`[` + strings.Repeat(`"",`, 16) + `""] x`, `[` + strings.Repeat(`"",`, 18) + `""]`, `[` + strings.Repeat(`"",`, 15) + `""]`, `[` + strings.Repeat(`1,`, 16) + `1]`} {
		if err := parseRecord(bad, &got); err == nil {
			t.Errorf("parsed %q", bad)
		}
	}
}
