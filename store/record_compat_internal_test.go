package store

import (
	"bytes"
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tapdesk/tapdesk"
)

// Events carry the id of the web request that wrote them (read from the
// context), and a trail begun before they did (17-field records) still
// verifies, lists and exports, with that id empty.
func TestRecordsBeforeRequestIDsStillVerify(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "tapdesk.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.SetAuditKey(strings.Repeat("k", 32)); err != nil {
		t.Fatal(err)
	}
	ev := tapdesk.Event{Activity: tapdesk.ActSignIn, Category: tapdesk.CatSignIn, Actor: tapdesk.Actor{UPN: "old@x"}}
	if err := db.AppendEvent(ctx, ev); err != nil {
		t.Fatal(err)
	}
	// What an older tapdesk wrote: the same record without the last field,
	// signed as it was then.
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		a, err := db.newAppender(ctx, tx)
		if err != nil {
			return err
		}
		defer a.close()
		for range 2 {
			rec := `["2026-11-20T10:00:00.000000Z","Sign in","SignIn","success","","","","older@x","","","","","","","","","{}"]`
			seq := a.head + 1
			mac := string(a.h.mac(a.prev, seq, a.h.id, rec))
			if _, err := a.stmt.ExecContext(ctx, seq, rec, mac, a.h.id); err != nil {
				return err
			}
			a.head, a.prev = seq, mac
			a.db.written.Store(a.tx, seq)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
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
}
