//go:build !race

// The scale tests run without the race detector, which multiplies memory
// and time tenfold and would measure itself, not tapdesk. CI runs them in
// a step of their own: go test -run Large ./store/

package store_test

import (
	"context"
	"runtime"
	"testing"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/store"
)

// heapWatcher samples the live heap every few writes of an export.
type heapWatcher struct {
	n, peak uint64
	bytes   int64
}

func (w *heapWatcher) Write(p []byte) (int, error) {
	w.n++
	w.bytes += int64(len(p))
	if w.n%64 == 0 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		w.peak = max(w.peak, ms.HeapInuse)
	}
	return len(p), nil
}

// A 200,000-event export streams: the heap stays small while tens of
// megabytes go out.
func TestLargeExportStreams(t *testing.T) {
	const n = 200_000
	db, _ := openDB(t)
	ev := tapdesk.Event{Activity: tapdesk.ActUserLookup, Category: tapdesk.CatRequest, Actor: agent, ActorIP: "10.0.0.1",
		ActorAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36", TargetUPN: "someone.with.a.long.name@contoso.example",
		Details: map[string]string{"synthetic": "true", "query": "someone"}}
	if err := db.AppendEvents(context.Background(), n, 20_000, func(i int) tapdesk.Event { return ev }); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	for _, format := range []string{store.FormatCSV, store.FormatJSONL} {
		var w heapWatcher
		count, err := db.ExportEvents(context.Background(), &w, format, store.EventFilter{})
		if err != nil || count != n {
			t.Fatalf("%s: %d events, %v", format, count, err)
		}
		t.Logf("%s: %d MB written, peak heap %.1f MB", format, w.bytes>>20, float64(w.peak)/(1<<20))
		if w.bytes < 50<<20 {
			t.Fatalf("%s export is only %d bytes: the check below proves little", format, w.bytes)
		}
		if w.peak > 32<<20 {
			t.Errorf("%s export peak heap %.1f MB: it does not stream", format, float64(w.peak)/(1<<20))
		}
	}
}
