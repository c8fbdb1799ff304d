package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/metrics"
	"github.com/tapdesk/tapdesk/store"
)

// newMetrics builds the app's registry with this binary's build info.
func newMetrics() *metrics.Metrics {
	b := currentBuild()
	return metrics.New(metrics.Build{Version: b.Version, Commit: b.Commit})
}

// countFromStore registers the gauges read from the database at scrape time.
func countFromStore(m *metrics.Metrics, db *store.DB) {
	states := make([]string, len(tapdesk.AllStates))
	for i, s := range tapdesk.AllStates {
		states[i] = string(s)
	}
	m.RequestsByState(states, func(ctx context.Context) (map[string]int, error) {
		counts, err := db.RequestCountsByState(ctx)
		out := make(map[string]int, len(counts))
		for s, n := range counts {
			out[string(s)] = n
		}
		return out, err
	})
	m.OutboxDepth(func(ctx context.Context) (int, error) {
		pending, _, err := db.OutboxCounts(ctx)
		return pending, err
	})
	db.AuditCommitted = func(c tapdesk.Category, n int) { m.AuditAppended(string(c), n) }
}

// listenMetrics opens the metrics address ("" or "off": no listener).
func listenMetrics(addr string) (net.Listener, error) {
	if addr == "" || addr == "off" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen for metrics on %s (TAPDESK_METRICS_ADDR): %w", addr, err)
	}
	return ln, nil
}

// metricsServer serves /metrics alone, on its own listener: the portal's
// address never answers it, so a scrape port can stay inside the network.
func metricsServer(m *metrics.Metrics) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	return &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 16 << 10}
}

// serveMetrics runs srv on ln until it is shut down.
func serveMetrics(srv *http.Server, ln net.Listener, log interface{ Error(string, ...any) }) {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Error("metrics listener stopped", "err", err)
	}
}
