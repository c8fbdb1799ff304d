package store

import (
	"bytes"
	"context"
	"github.com/tapdesk/tapdesk/internal/pgtest"
	"strings"
	"testing"

	"github.com/tapdesk/tapdesk"
)

// Events carry the id of the web request that wrote them (read from the
// context), and a trail begun before they did (17-field records) still
// verifies, lists and exports, with that id empty.
func TestRecordsBeforeRequestIDsStillVerify(t *testing.T) {
	pgtest.Backends(t, func(t *testing.T) {
		ctx := context.Background()
		db := keyedTestDB(t)
		ev := tapdesk.Event{Activity: tapdesk.ActSignIn, Category: tapdesk.CatSignIn, Actor: tapdesk.Actor{UPN: "old@x"}}
		if err := db.AppendEvent(ctx, ev); err != nil {
			t.Fatal(err)
		}
		// What an older tapdesk wrote: the same record without the last field,
		// signed as it was then.
		appendOlderRecords(t, db, 2)
		if err := db.AppendEvent(tapdesk.WithRequestID(ctx, "req-Zx81"), ev); err != nil {
			t.Fatal(err)
		}
		rep, err := db.VerifyChain(ctx)
		if err != nil || rep.Break != nil || rep.Checked != 4 {
			t.Fatalf("verify: %+v %v", rep, err)
		}
		evs, err := db.Events(ctx, EventFilter{})
		if err != nil || len(evs) != 4 {
			t.Fatalf("events %d %v", len(evs), err)
		}
		var got []string
		for _, e := range evs {
			got = append(got, e.Actor.UPN+"="+e.HTTPRequestID)
		}
		if strings.Join(got, " ") != "old@x=req-Zx81 older@x= older@x= old@x=" {
			t.Fatalf("events (newest first) with their request ids: %v", got)
		}
		var out bytes.Buffer
		if _, err := db.ExportEvents(ctx, &out, FormatJSONL, EventFilter{}); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(out.String(), `"httpRequestId":""`); n != 3 || !strings.Contains(out.String(), `"httpRequestId":"req-Zx81"`) {
			t.Fatalf("export:\n%s", out.String())
		}
	})
}
