package views

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

// When renders the server's reading of the time: relative to the clock in
// the context (the handlers' clock), UTC in title and datetime.
func TestWhenUsesThePageClock(t *testing.T) {
	now := time.Date(2026, 11, 23, 14, 8, 0, 0, time.UTC)
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := When(time.Date(2026, 11, 23, 15, 5, 0, 0, berlin)).Render(WithNow(context.Background(), now), &buf); err != nil {
		t.Fatal(err)
	}
	doc, err := goquery.NewDocumentFromReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	el := doc.Find("time[data-when]")
	if got := el.Text(); got != "14:05 UTC · 3 min ago" {
		t.Errorf("text %q", got)
	}
	// Each half is a span the stylesheet keeps on one line; a narrow line
	// breaks between them (a date and "3 days ago" do not fit a phone's
	// line together).
	if halves := el.ChildrenFiltered("span"); halves.Length() != 2 || halves.Eq(0).Text() != "14:05 UTC" || halves.Eq(1).Text() != "3 min ago" {
		t.Errorf("halves: %d spans, %q and %q", halves.Length(), halves.Eq(0).Text(), halves.Eq(1).Text())
	}
	if got, _ := el.Attr("datetime"); got != "2026-11-23T14:05:00Z" {
		t.Errorf("datetime %q", got)
	}
	if got, _ := el.Attr("title"); got != "2026-11-23 14:05:00 UTC" {
		t.Errorf("title %q", got)
	}

	buf.Reset()
	if err := WhenPtr(nil).Render(context.Background(), &buf); err != nil || strings.TrimSpace(buf.String()) != "" {
		t.Errorf("WhenPtr(nil) rendered %q (%v)", buf.String(), err)
	}
	buf.Reset()
	if err := When(time.Time{}).Render(context.Background(), &buf); err != nil || strings.TrimSpace(buf.String()) != "" {
		t.Errorf("When(zero) rendered %q (%v)", buf.String(), err)
	}
}
