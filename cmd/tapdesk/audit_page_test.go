package main

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/tapdesk/tapdesk"
)

// seedAuditPage appends n synthetic events one second apart on 1 November
// 2026, well before anything the demo itself records.
func seedAuditPage(t *testing.T, d *testDemo, n int) {
	t.Helper()
	start := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	if err := d.app.db.AppendEvents(context.Background(), n, 100, func(i int) tapdesk.Event {
		return syntheticEvent(i, start.Add(time.Duration(i)*time.Second))
	}); err != nil {
		t.Fatal(err)
	}
}

// rowSeqs are the seqs of the audit table's rows, top to bottom.
func rowSeqs(t *testing.T, doc *goquery.Document) []int64 {
	t.Helper()
	var out []int64
	doc.Find(`[data-testid="audit"] tbody tr`).Each(func(_ int, s *goquery.Selection) {
		n, err := strconv.ParseInt(s.AttrOr("data-seq", ""), 10, 64)
		if err != nil {
			t.Fatalf("row without a seq: %v", err)
		}
		out = append(out, n)
	})
	return out
}

const auditWindow = "from=2026-11-01T00%3A00&to=2026-11-02T00%3A00"

// The audit page pages through a seeded trail by seq both ways, every link
// keeping the filters, and counts what the filter selects.
func TestAuditPagePaging(t *testing.T) {
	d := startTestDemo(t)
	seedAuditPage(t, d, 250)
	a := d.browser(t)
	a.signIn("/audit?"+auditWindow, "auditor").status(http.StatusOK)
	if got := a.text(`[data-testid="audit-count"]`); got != "250 events match." {
		t.Errorf("count %q", got)
	}
	var pages [][]int64
	for {
		doc := a.doc()
		seqs := rowSeqs(t, doc)
		if !slices.IsSortedFunc(seqs, func(x, y int64) int { return int(y - x) }) {
			t.Fatalf("page not newest first: %v", seqs)
		}
		pages = append(pages, seqs)
		next, ok := doc.Find(`[data-testid="next-page"]`).Attr("href")
		if !ok {
			break
		}
		if !strings.Contains(next, "from=2026-11-01T00%3A00") || !strings.Contains(next, "to=2026-11-02T00%3A00") {
			t.Fatalf("the next page drops the filter: %s", next)
		}
		if len(pages) > 5 {
			t.Fatal("paging does not end")
		}
		a.get(next).status(http.StatusOK)
	}
	if len(pages) != 3 || len(pages[0]) != 100 || len(pages[1]) != 100 || len(pages[2]) != 50 {
		t.Fatalf("pages of %d/%d/%d rows in %d pages, want 100/100/50", len(pages[0]), len(pages[1]), len(pages[2]), len(pages))
	}
	all := slices.Concat(pages...)
	slices.Sort(all)
	if len(slices.Compact(all)) != 250 {
		t.Errorf("pages overlap or miss events: %d distinct", len(slices.Compact(all)))
	}
	// The last page goes back to exactly the page before it.
	prev, ok := a.doc().Find(`[data-testid="prev-page"]`).Attr("href")
	if !ok || !strings.Contains(prev, "from=2026-11-01T00%3A00") {
		t.Fatalf("the last page has no newer link keeping the filter: %q", prev)
	}
	a.get(prev).status(http.StatusOK)
	if got := rowSeqs(t, a.doc()); !slices.Equal(got, pages[1]) {
		t.Errorf("back from the last page: %v..., want the second page %v...", got[:3], pages[1][:3])
	}
	prev, _ = a.doc().Find(`[data-testid="prev-page"]`).Attr("href")
	a.get(prev).status(http.StatusOK)
	doc := a.doc()
	if got := rowSeqs(t, doc); !slices.Equal(got, pages[0]) {
		t.Errorf("back to the first page: %v..., want %v...", got[:3], pages[0][:3])
	}
	if doc.Find(`[data-testid="prev-page"]`).Length() != 0 {
		t.Error("the first page offers newer events")
	}
}

// Filters are kept in the form, the paging and the export links; activity
// is a list of known activities; the count follows the filter; the presets
// count back from the server's clock; no match says so.
func TestAuditPageFilters(t *testing.T) {
	d := startTestDemo(t)
	seedAuditPage(t, d, 250)
	a := d.browser(t)
	a.signIn("/audit?"+auditWindow+"&activity=Deny+request&result=failure", "auditor").status(http.StatusOK)
	doc := a.doc()
	// i%8 == 7 for i < 250: 31 denials.
	if got := a.text(`[data-testid="audit-count"]`); got != "31 events match." {
		t.Errorf("count %q", got)
	}
	if n := doc.Find(`[data-testid="audit"] tbody tr`).Length(); n != 31 {
		t.Errorf("%d rows", n)
	}
	doc.Find(`[data-testid="audit"] tbody td[data-label="Activity"]`).Each(func(_ int, s *goquery.Selection) {
		if s.Text() != "Deny request" {
			t.Errorf("row of %q under an activity filter", s.Text())
		}
	})
	opts := doc.Find(`select[name="activity"] option`)
	if opts.Length() != len(tapdesk.Activities())+1 {
		t.Errorf("activity list has %d options, want %d", opts.Length(), len(tapdesk.Activities())+1)
	}
	if got := doc.Find(`select[name="activity"] option[selected]`).AttrOr("value", ""); got != "Deny request" {
		t.Errorf("selected activity %q", got)
	}
	if got := doc.Find(`input[name="from"]`).AttrOr("value", ""); got != "2026-11-01T00:00" {
		t.Errorf("from kept as %q", got)
	}
	for _, id := range []string{"export-csv", "export-jsonl"} {
		href := doc.Find(`[data-testid="`+id+`"]`).AttrOr("href", "")
		u, err := url.Parse(href)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		if q.Get("activity") != "Deny request" || q.Get("from") != "2026-11-01T00:00" || q.Get("to") != "2026-11-02T00:00" || q.Get("result") != "failure" {
			t.Errorf("%s drops the filter: %s", id, href)
		}
	}
	// Details are folded per row.
	if doc.Find(`[data-testid="audit"] tbody tr td.details details`).Length() != 31 || doc.Find(`details[open]`).Length() != 0 {
		t.Error("event details are not collapsed per row")
	}

	// Presets set From back from the server's clock and keep the rest.
	preset := doc.Find(`[data-testid="preset-1"]`).AttrOr("href", "")
	u, _ := url.Parse(preset)
	from, err := time.Parse(tapdesk.AuditFilterTimeLayout, u.Query().Get("from"))
	if err != nil || time.Since(from) < 7*24*time.Hour-2*time.Minute || time.Since(from) > 7*24*time.Hour+2*time.Minute {
		t.Errorf("the 7-day preset starts at %q", u.Query().Get("from"))
	}
	if u.Query().Get("activity") != "Deny request" || u.Query().Has("to") {
		t.Errorf("the preset does not keep the filter, or keeps To: %s", preset)
	}

	// No match: an empty state that says what to do.
	a.get("/audit?from=2020-01-01T00%3A00&to=2020-01-02T00%3A00").status(http.StatusOK)
	if !strings.Contains(a.text(`[data-testid="audit-empty"]`), "Widen the time window") || a.text(`[data-testid="audit-count"]`) != "0 events match." {
		t.Errorf("no empty state:\n%s", a.body)
	}

	// An activity this version does not record: kept, said, still applied.
	a.get("/audit?activity=Approve+everything").status(http.StatusOK)
	doc = a.doc()
	if got := doc.Find(`select[name="activity"] option[selected]`).AttrOr("value", ""); got != "Approve everything" {
		t.Errorf("unknown activity not kept: %q", got)
	}
	if !strings.Contains(a.text(`[data-testid="filter-note"]`), "not an activity this version of tapdesk records") {
		t.Error("unknown activity not explained")
	}
}

// An invalid date stays in its field (as text, so the browser shows it),
// is explained next to it and tied to it for screen readers; the other
// filters stay too; a 422, never a 500.
func TestAuditPageInvalidInputKept(t *testing.T) {
	d := startTestDemo(t)
	a := d.browser(t)
	a.signIn("/", "auditor")
	a.get("/audit?from=yesterday&actor=alex.agent%40contoso.example&activity=Sign+in").status(http.StatusUnprocessableEntity)
	doc := a.doc()
	in := doc.Find(`input[name="from"]`)
	if in.AttrOr("value", "") != "yesterday" || in.AttrOr("type", "") != "text" {
		t.Errorf("the bad From is not kept visibly: value %q type %q", in.AttrOr("value", ""), in.AttrOr("type", ""))
	}
	if in.AttrOr("aria-invalid", "") != "true" {
		t.Error("the bad From is not marked invalid")
	}
	msg := doc.Find("#" + in.AttrOr("aria-describedby", "none")).Text()
	if !strings.Contains(msg, `"yesterday" is not a date and time`) {
		t.Errorf("the From error is not tied to its field: %q", msg)
	}
	if !strings.Contains(a.text(`[data-testid="filter-error"]`), "yesterday") {
		t.Error("no sentence at the top")
	}
	if doc.Find(`input[name="actor"]`).AttrOr("value", "") != "alex.agent@contoso.example" ||
		doc.Find(`select[name="activity"] option[selected]`).AttrOr("value", "") != "Sign in" {
		t.Error("the other filters were wiped")
	}
	if doc.Find(`[data-testid="export-csv"]`).Length() != 0 {
		t.Error("an export link is offered for a filter that would be refused")
	}
	if doc.Find(`input[name="to"]`).AttrOr("type", "") != "datetime-local" {
		t.Error("a valid field lost its picker")
	}

	a.get("/audit?from=2026-11-02T00%3A00&to=2026-11-01T00%3A00").status(http.StatusUnprocessableEntity).contains("not before the To time")
	a.get("/audit?result=maybe").status(http.StatusUnprocessableEntity).contains("Result is success, failure or any")
	a.get("/audit?before=abc").status(http.StatusOK).contains("does not exist")
}

// The chain's verdict: holding is a calm status; broken is a critical alert
// that says what it means and what to do.
func TestAuditVerifyAlert(t *testing.T) {
	d := startTestDemo(t)
	a := d.browser(t)
	a.signIn("/audit/verify", "auditor").status(http.StatusOK)
	holds := a.doc().Find(`[data-testid="chain-holds"]`)
	if !holds.HasClass("success") || holds.AttrOr("role", "") != "status" {
		t.Errorf("chain holds: class %q role %q", holds.AttrOr("class", ""), holds.AttrOr("role", ""))
	}
	if _, err := d.app.db.SQL().Exec(`UPDATE audit_events SET record = json_set(record, '$[7]', 'mallory@example.com') WHERE seq = 2`); err != nil {
		t.Fatal(err)
	}
	a.get("/audit/verify").status(http.StatusOK)
	broken := a.doc().Find(`[data-testid="chain-broken"]`)
	if !broken.HasClass("alert") || !broken.HasClass("critical") || broken.AttrOr("role", "") != "alert" {
		t.Errorf("chain broken: class %q role %q", broken.AttrOr("class", ""), broken.AttrOr("role", ""))
	}
	text := strings.Join(strings.Fields(broken.Text()), " ")
	for _, want := range []string{"event 2: changed", "Stop.", "Keep a copy of the database", "tapdesk audit verify --db DB --head SEQ:MAC", "Contact your security team"} {
		if !strings.Contains(text, want) {
			t.Errorf("the alert lacks %q: %s", want, text)
		}
	}
	if regexp.MustCompile(`chain-holds`).MatchString(a.body) {
		t.Error("a broken chain also says it holds")
	}
}
