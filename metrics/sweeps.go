package metrics

import (
	"slices"
	"sync"
	"time"
)

// SweepRun is one background job's latest run as this instance saw it.
type SweepRun struct {
	Task   string // the job's metric label: "expired", "escalated", ...
	At     time.Time
	Items  int  // what it acted on
	Failed bool // the run ended with an error (logged)
}

// sweepLog keeps the latest run of each job.
type sweepLog struct {
	mu   sync.Mutex
	last map[string]SweepRun
}

func (l *sweepLog) note(r SweepRun) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last = map[string]SweepRun{}
	}
	l.last[r.Task] = r
}

// LastSweeps is the latest run of each background job this instance ran,
// by task name; nil before the first sweep (or with nil Metrics).
func (m *Metrics) LastSweeps() []SweepRun {
	if m == nil {
		return nil
	}
	m.lastSweeps.mu.Lock()
	defer m.lastSweeps.mu.Unlock()
	out := make([]SweepRun, 0, len(m.lastSweeps.last))
	for _, r := range m.lastSweeps.last {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b SweepRun) int {
		if a.Task < b.Task {
			return -1
		}
		if a.Task > b.Task {
			return 1
		}
		return 0
	})
	return out
}
