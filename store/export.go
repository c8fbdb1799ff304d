package store

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Export formats.
const (
	FormatCSV   = "csv"
	FormatJSONL = "jsonl"
)

// ExportHeader is the CSV export's column row. The names follow the fields
// of Entra's directory audit log (directoryAudit in Graph), flattened, so
// auditors can join the two.
var ExportHeader = []string{"seq", "activityDateTime", "activityDisplayName", "category", "result", "resultReason",
	"initiatedByTenantId", "initiatedByUserId", "initiatedByUserPrincipalName", "initiatedByDisplayName",
	"initiatedByIpAddress", "initiatedByUserAgent", "targetId", "targetUserPrincipalName",
	"requestId", "correlationId", "tapMethodId", "additionalDetails", "httpRequestId", "mac", "macKeyId"}

// ExportEvents writes the events f selects to w, oldest first, as CSV
// (UTF-8 with a byte-order mark, RFC 4180 quoting, spreadsheet formulas
// neutralised) or JSON Lines. It streams straight from the rows, without
// decoding them into events, so memory stays flat whatever the size.
// It returns how many events it wrote.
func (db *DB) ExportEvents(ctx context.Context, w io.Writer, format string, f EventFilter) (int64, error) {
	var enc rowEncoder
	bw := bufio.NewWriterSize(w, 64<<10)
	switch format {
	case FormatCSV:
		enc = newCSVEncoder(bw)
	case FormatJSONL:
		enc = &jsonlEncoder{w: bw}
	default:
		return 0, fmt.Errorf("export format %q: use csv or jsonl", format)
	}
	if err := enc.begin(); err != nil {
		return 0, err
	}
	q, args := f.query("seq, record, mac, key_id", "ASC")
	pipe, err := startRowPipe(ctx, db.db, q, args...)
	if err != nil {
		return 0, err
	}
	defer pipe.close()
	var r exportRow
	var n int64
	for {
		row, err := pipe.next()
		if err != nil {
			return n, err
		}
		if row == nil {
			break
		}
		r.chainRow = *row
		if err := parseRecord(r.record, &r.fields); err != nil {
			return n, fmt.Errorf("audit event %d: %w (run tapdesk audit verify)", r.seq, err)
		}
		if err := enc.row(&r); err != nil {
			return n, err
		}
		n++
	}
	if err := enc.end(); err != nil {
		return n, err
	}
	return n, bw.Flush()
}

// exportRow is one stored event with its record decoded.
type exportRow struct {
	chainRow
	fields [numRecordFields]string
}

type rowEncoder interface {
	begin() error
	row(r *exportRow) error
	end() error
}

type csvEncoder struct {
	bw     *bufio.Writer
	w      *csv.Writer
	record []string
}

func newCSVEncoder(bw *bufio.Writer) *csvEncoder {
	return &csvEncoder{bw: bw, w: csv.NewWriter(bw), record: make([]string, len(ExportHeader))}
}

func (e *csvEncoder) begin() error {
	e.bw.WriteString("\ufeff") // so Excel reads UTF-8 names correctly
	return e.w.Write(ExportHeader)
}

func (e *csvEncoder) row(r *exportRow) error {
	e.record[0] = strconv.FormatInt(r.seq, 10)
	for i, f := range r.fields {
		e.record[i+1] = NeutraliseCell(f)
	}
	e.record[len(e.record)-2] = r.mac
	e.record[len(e.record)-1] = r.keyID
	return e.w.Write(e.record)
}

func (e *csvEncoder) end() error {
	e.w.Flush()
	return e.w.Error()
}

// NeutraliseCell stops spreadsheet formula injection: a cell that starts
// with = + - @ (or a tab or CR, which some spreadsheets skip first) gets a
// leading apostrophe, so it is shown as text and never evaluated. Leading
// spaces and line feeds are looked past, and the full-width forms of the
// four signs count too: importers trim and normalise such cells.
func NeutraliseCell(s string) string {
	t := strings.TrimLeft(s, " \n")
	if t == "" {
		return s
	}
	switch t[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	for _, p := range []string{"＝", "＋", "－", "＠"} {
		if strings.HasPrefix(t, p) {
			return "'" + s
		}
	}
	return s
}

// jsonlEncoder writes one JSON object per line in the shape of Graph's
// directoryAudit, plus tapdesk's own fields (seq, requestId, tapMethodId,
// httpRequestId, mac, macKeyId). It appends bytes by hand: encoding/json on a map per row would
// cost more than the database read.
type jsonlEncoder struct {
	w   *bufio.Writer
	buf []byte
}

func (e *jsonlEncoder) begin() error { return nil }
func (e *jsonlEncoder) end() error   { return nil }

func (e *jsonlEncoder) row(r *exportRow) error {
	b := append(appendEventJSON(e.buf[:0], r), '\n')
	e.buf = b
	_, err := e.w.Write(b)
	return err
}

// appendEventJSON appends r as one JSON object, the shape of a JSON Lines
// export line (and of what the SIEM stream sends), without a line end.
func appendEventJSON(b []byte, r *exportRow) []byte {
	f := &r.fields
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, r.seq, 10)
	b = appendJSONField(b, "activityDateTime", f[0])
	b = appendJSONField(b, "activityDisplayName", f[1])
	b = appendJSONField(b, "category", f[2])
	b = appendJSONField(b, "result", f[3])
	b = appendJSONField(b, "resultReason", f[4])
	b = append(b, `,"initiatedBy":{"user":{`...)
	b = appendJSONString(append(b, `"tenantId":`...), f[5])
	b = appendJSONField(b, "id", f[6])
	b = appendJSONField(b, "userPrincipalName", f[7])
	b = appendJSONField(b, "displayName", f[8])
	b = appendJSONField(b, "ipAddress", f[9])
	b = appendJSONField(b, "userAgent", f[10])
	b = append(b, `}},"targetResources":[`...)
	if f[11] != "" || f[12] != "" {
		b = append(b, `{"type":"User"`...)
		b = appendJSONField(b, "id", f[11])
		b = appendJSONField(b, "userPrincipalName", f[12])
		b = append(b, '}')
	}
	b = append(b, ']')
	b = appendJSONField(b, "requestId", f[13])
	b = appendJSONField(b, "correlationId", f[14])
	b = appendJSONField(b, "tapMethodId", f[15])
	b = append(b, `,"additionalDetails":`...)
	if d := f[16]; d != "" && json.Valid([]byte(d)) {
		b = append(b, d...)
	} else {
		b = appendJSONString(b, d) // not JSON (written by hand?): kept as text
	}
	b = appendJSONField(b, "httpRequestId", f[17])
	b = appendJSONField(b, "mac", r.mac)
	b = appendJSONField(b, "macKeyId", r.keyID)
	return append(b, '}')
}

func appendJSONField(b []byte, name, value string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendJSONString(b, value)
}

// appendJSONString quotes s as a JSON string. Invalid UTF-8 becomes
// U+FFFD, as encoding/json does; < > & are escaped so a line pasted into
// HTML stays inert.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
