package store_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"github.com/tapdesk/tapdesk/internal/pgtest"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/store"
)

// awkward holds every kind of cell a naive export gets wrong.
var awkward = []tapdesk.Event{
	{Activity: tapdesk.ActSignIn, Category: tapdesk.CatSignIn, Actor: tapdesk.Actor{UPN: "zoë.örn@x", Name: "Zoë \"Z\" Örn, Jr."},
		ActorAgent: "Mozilla/5.0 (line\nbreak)", Details: map[string]string{"note": "=HYPERLINK(\"http://evil\")"}},
	{Activity: tapdesk.ActRequestFiled, Category: tapdesk.CatRequest, Actor: agent, Reason: "=1+2",
		TargetUPN: "+cmd@x", TargetID: "-2", RequestID: "req-1", CorrelationID: "corr-1", HTTPRequestID: "web-7Kq2"},
	{Activity: tapdesk.ActDeny, Category: tapdesk.CatApproval, Actor: approver, Result: tapdesk.ResultFailure,
		Reason: "@SUM(A1)", RequestID: "req-1", CorrelationID: "corr-1", Details: map[string]string{"why": "tab\there, <b>&amp;</b>\u2028"}},
	{Activity: tapdesk.ActReveal, Category: tapdesk.CatMethod, Actor: agent, RequestID: "req-2", TargetUPN: "nina@x",
		TAPMethodID: "tap-1", ActorIP: "\t192.0.2.1"},
}

func export(t *testing.T, db *store.DB, format string, f store.EventFilter) string {
	t.Helper()
	var b bytes.Buffer
	if _, err := db.ExportEvents(context.Background(), &b, format, f); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func appendAll(t *testing.T, db *store.DB, evs []tapdesk.Event) {
	t.Helper()
	for i, ev := range evs {
		ev.Time = t0.Add(time.Duration(i) * time.Second)
		if err := db.AppendEvent(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
}

func TestExportCSV(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		appendAll(t, db, awkward)
		out := export(t, db, store.FormatCSV, store.EventFilter{})
		if !strings.HasPrefix(out, "\ufeff") {
			t.Fatal("no byte-order mark")
		}
		rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(out, "\ufeff"))).ReadAll()
		if err != nil {
			t.Fatalf("CSV does not parse: %v", err)
		}
		if len(rows) != 1+len(awkward) || strings.Join(rows[0], ",") != strings.Join(store.ExportHeader, ",") {
			t.Fatalf("rows %d, header %v", len(rows), rows[0])
		}
		col := map[string]int{}
		for i, h := range store.ExportHeader {
			col[h] = i
		}
		// Quoting round-trips: commas, quotes, newlines, non-ASCII come back whole.
		if got := rows[1][col["initiatedByDisplayName"]]; got != `Zoë "Z" Örn, Jr.` {
			t.Errorf("display name %q", got)
		}
		if got := rows[1][col["initiatedByUserAgent"]]; got != "Mozilla/5.0 (line\nbreak)" {
			t.Errorf("user agent %q", got)
		}
		// Cells that start a formula are neutralised; nothing else is touched.
		for _, c := range []struct {
			row       int
			col, want string
		}{
			{2, "resultReason", "'=1+2"}, {2, "targetUserPrincipalName", "'+cmd@x"}, {2, "targetId", "'-2"},
			{3, "resultReason", "'@SUM(A1)"}, {4, "initiatedByIpAddress", "'\t192.0.2.1"}, {2, "requestId", "req-1"},
			{2, "httpRequestId", "web-7Kq2"}, {3, "httpRequestId", ""},
		} {
			if got := rows[c.row][col[c.col]]; got != c.want {
				t.Errorf("row %d %s = %q, want %q", c.row, c.col, got, c.want)
			}
		}
		var details map[string]string
		if err := json.Unmarshal([]byte(rows[1][col["additionalDetails"]]), &details); err != nil || details["note"] != `=HYPERLINK("http://evil")` {
			t.Errorf("details %q: %v", rows[1][col["additionalDetails"]], err)
		}
		for i, r := range rows[1:] {
			if r[0] != fmt.Sprint(i+1) || len(r[col["mac"]]) != 64 {
				t.Errorf("row %d: seq %q mac %q", i+1, r[0], r[col["mac"]])
			}
		}
	})
}

type jsonlEvent struct {
	Seq                 int64
	ActivityDateTime    string
	ActivityDisplayName string
	Category, Result    string
	ResultReason        string
	InitiatedBy         struct {
		User struct{ TenantID, ID, UserPrincipalName, DisplayName, IPAddress, UserAgent string }
	}
	TargetResources   []struct{ Type, ID, UserPrincipalName string }
	RequestID         string
	CorrelationID     string
	TapMethodID       string
	AdditionalDetails map[string]string
	HTTPRequestID     string
	Mac               string
	MacKeyID          string
}

func TestExportJSONL(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		appendAll(t, db, awkward)
		out := export(t, db, store.FormatJSONL, store.EventFilter{})
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		if len(lines) != len(awkward) {
			t.Fatalf("%d lines for %d events", len(lines), len(awkward))
		}
		for i, line := range lines {
			var ev jsonlEvent
			dec := json.NewDecoder(strings.NewReader(line))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&ev); err != nil {
				t.Fatalf("line %d does not parse: %v\n%s", i+1, err, line)
			}
			want := awkward[i]
			if ev.Seq != int64(i+1) || ev.ActivityDisplayName != string(want.Activity) || ev.InitiatedBy.User.UserPrincipalName != want.Actor.UPN ||
				ev.InitiatedBy.User.DisplayName != want.Actor.Name || ev.InitiatedBy.User.UserAgent != want.ActorAgent ||
				ev.ResultReason != want.Reason || ev.TapMethodID != want.TAPMethodID || ev.HTTPRequestID != want.HTTPRequestID || len(ev.Mac) != 64 || ev.MacKeyID != store.AuditKeyID(testAuditKey) ||
				ev.ActivityDateTime != t0.Add(time.Duration(i)*time.Second).Format("2006-01-02T15:04:05.000000Z") {
				t.Errorf("line %d: %+v", i+1, ev)
			}
			for k, v := range want.Details {
				if ev.AdditionalDetails[k] != v {
					t.Errorf("line %d detail %s = %q, want %q", i+1, k, ev.AdditionalDetails[k], v)
				}
			}
			if (want.TargetUPN != "") != (len(ev.TargetResources) == 1) {
				t.Errorf("line %d targets %+v", i+1, ev.TargetResources)
			}
		}
		if strings.Contains(out, "<b>") {
			t.Error("JSONL leaves < > unescaped")
		}
	})
}

func TestExportFilters(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		db, _ := openDB(t)
		appendAll(t, db, awkward)
		seqs := func(format string, f store.EventFilter) string {
			var got []string
			out := export(t, db, format, f)
			if format == store.FormatCSV {
				rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(out, "\ufeff"))).ReadAll()
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range rows[1:] {
					got = append(got, r[0])
				}
			} else {
				sc := bufio.NewScanner(strings.NewReader(out))
				for sc.Scan() {
					var ev jsonlEvent
					if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
						t.Fatal(err)
					}
					got = append(got, fmt.Sprint(ev.Seq))
				}
			}
			return strings.Join(got, ",")
		}
		cases := []struct {
			name string
			f    store.EventFilter
			want string
		}{
			{"all", store.EventFilter{}, "1,2,3,4"},
			{"from (inclusive)", store.EventFilter{From: t0.Add(2 * time.Second)}, "3,4"},
			{"to (exclusive)", store.EventFilter{To: t0.Add(2 * time.Second)}, "1,2"},
			{"range", store.EventFilter{From: t0.Add(time.Second), To: t0.Add(3 * time.Second)}, "2,3"},
			{"activity", store.EventFilter{Activity: string(tapdesk.ActDeny)}, "3"},
			{"actor by upn", store.EventFilter{Actor: agent.UPN}, "2,4"},
			{"actor by id", store.EventFilter{Actor: approver.ObjectID}, "3"},
			{"target", store.EventFilter{Target: "nina@x"}, "4"},
			{"result", store.EventFilter{Result: "failure"}, "3"},
			{"request", store.EventFilter{RequestID: "req-1"}, "2,3"},
			{"combined", store.EventFilter{RequestID: "req-1", Actor: agent.UPN}, "2"},
			{"nothing", store.EventFilter{Actor: "nobody@x"}, ""},
		}
		for _, tc := range cases {
			for _, format := range []string{store.FormatCSV, store.FormatJSONL} {
				t.Run(tc.name+"/"+format, func(t *testing.T) {
					if got := seqs(format, tc.f); got != tc.want {
						t.Errorf("got %q, want %q", got, tc.want)
					}
				})
			}
		}
		if _, err := db.ExportEvents(context.Background(), io.Discard, "xml", store.EventFilter{}); err == nil {
			t.Error("an unknown format was accepted")
		}
	})
}

func TestNeutraliseCell(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		for in, want := range map[string]string{
			"=1+2": "'=1+2", "+1": "'+1", "-1": "'-1", "@SUM(A1)": "'@SUM(A1)", "\tx": "'\tx", "\rx": "'\rx",
			" =1": "' =1", "\n=1": "'\n=1", "  \n @x": "'  \n @x", "＝1": "'＝1", "＋1": "'＋1", "＠x": "'＠x",
			"": "", "a=1": "a=1", "alex@x": "alex@x", " ": " ", "2026-11-25": "2026-11-25", "Zoë": "Zoë",
		} {
			if got := store.NeutraliseCell(in); got != want {
				t.Errorf("NeutraliseCell(%q) = %q, want %q", in, got, want)
			}
		}
	})
}
