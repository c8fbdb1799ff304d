package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// SIEM counts the audit stream's deliveries. A nil *SIEM counts nothing.
type SIEM struct {
	events   *prometheus.CounterVec
	batches  *prometheus.CounterVec
	failures *prometheus.CounterVec
}

// SIEMLag is how far one sink is behind the trail.
type SIEMLag struct {
	Behind int64     // events not yet acknowledged
	Oldest time.Time // time of the oldest of them (zero: none)
}

// NewSIEM registers the stream's counters for sinks, and its lag gauges,
// read from the database at each scrape through lag (not cached: a scrape
// is rare and the reads are a few index lookups, and lag is what an
// operator watches fall after an outage). now is the app's clock.
func (m *Metrics) NewSIEM(sinks []string, lag func(ctx context.Context, sink string) (SIEMLag, error), now func() time.Time) *SIEM {
	if m == nil {
		return nil
	}
	s := &SIEM{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tapdesk_siem_events_sent_total",
			Help: "Audit events a SIEM sink's receiver acknowledged, by sink (a batch sent again after a failure counts again)."}, []string{"sink"}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tapdesk_siem_batches_sent_total",
			Help: "Batches a SIEM sink's receiver acknowledged, by sink."}, []string{"sink"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tapdesk_siem_send_failures_total",
			Help: "Failed attempts to send a batch to a SIEM sink (each is retried), by sink."}, []string{"sink"}),
	}
	for _, name := range sinks {
		s.events.WithLabelValues(name)
		s.batches.WithLabelValues(name)
		s.failures.WithLabelValues(name)
	}
	m.registry.MustRegister(s.events, s.batches, s.failures, &siemLag{sinks: sinks, lag: lag, now: now,
		behind: prometheus.NewDesc("tapdesk_siem_events_behind",
			"Audit events not yet acknowledged by a SIEM sink's receiver, by sink.", []string{"sink"}, nil),
		age: prometheus.NewDesc("tapdesk_siem_oldest_undelivered_age_seconds",
			"Age of the oldest audit event not yet acknowledged by a SIEM sink's receiver (0: none waiting), by sink.", []string{"sink"}, nil)})
	return s
}

// Sent counts a batch of n events acknowledged.
func (s *SIEM) Sent(sink string, n int) {
	if s == nil {
		return
	}
	s.events.WithLabelValues(sink).Add(float64(n))
	s.batches.WithLabelValues(sink).Inc()
}

// Failed counts a failed attempt.
func (s *SIEM) Failed(sink string) {
	if s == nil {
		return
	}
	s.failures.WithLabelValues(sink).Inc()
}

type siemLag struct {
	sinks       []string
	lag         func(context.Context, string) (SIEMLag, error)
	now         func() time.Time
	behind, age *prometheus.Desc
}

func (l *siemLag) Describe(ch chan<- *prometheus.Desc) { ch <- l.behind; ch <- l.age }

func (l *siemLag) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, sink := range l.sinks {
		lag, err := l.lag(ctx, sink)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(l.behind, err)
			continue
		}
		age := 0.0
		if !lag.Oldest.IsZero() {
			age = max(0, l.now().Sub(lag.Oldest).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(l.behind, prometheus.GaugeValue, float64(lag.Behind), sink)
		ch <- prometheus.MustNewConstMetric(l.age, prometheus.GaugeValue, age, sink)
	}
}
