package metrics

import "github.com/prometheus/client_golang/prometheus"

// Who made a pass found outside tapdesk: a person (the admin center, a
// script signed in as them), another app, or tapdesk's own app with no
// request behind it.
const (
	OutsideUser       = "user"
	OutsideApp        = "app"
	OutsideTapdeskApp = "tapdesk_app"
)

// outsidePasses counts passes made outside tapdesk (the outside package).
type outsidePasses struct {
	found   *prometheus.CounterVec
	deleted prometheus.Counter
	// scanFailures is how many runs in a row could not read the audit
	// log to the end: above 0, passes made outside may go unseen.
	scanFailures prometheus.Gauge
}

func (o *outsidePasses) register(r *prometheus.Registry) {
	o.found = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tapdesk_outside_passes_found_total",
		Help: "Temporary Access Passes found in Entra's directory audit log that no request in tapdesk issued, by who made them (user, app, tapdesk_app)."},
		[]string{"initiator"})
	o.deleted = prometheus.NewCounter(prometheus.CounterOpts{Name: "tapdesk_outside_passes_deleted_total",
		Help: "Passes made outside tapdesk that tapdesk deleted (TAPDESK_OUTSIDE_PASS_DELETE)."})
	o.scanFailures = prometheus.NewGauge(prometheus.GaugeOpts{Name: "tapdesk_outside_pass_scan_failures",
		Help: "Runs in a row that could not read Entra's directory audit log to the end (0: the last run did); above 0, passes made outside tapdesk may go unseen."})
	r.MustRegister(o.found, o.deleted, o.scanFailures)
	for _, i := range []string{OutsideUser, OutsideApp, OutsideTapdeskApp} {
		o.found.WithLabelValues(i)
	}
}

// OutsidePassFound counts a pass made outside tapdesk by initiator.
func (m *Metrics) OutsidePassFound(initiator string) {
	if m == nil {
		return
	}
	m.outside.found.WithLabelValues(initiator).Inc()
}

// OutsidePassDeleted counts a pass made outside tapdesk that tapdesk deleted.
func (m *Metrics) OutsidePassDeleted() {
	if m == nil {
		return
	}
	m.outside.deleted.Inc()
}

// OutsidePassScanFailures sets how many runs in a row could not read the
// directory audit log to the end.
func (m *Metrics) OutsidePassScanFailures(n int) {
	if m == nil {
		return
	}
	m.outside.scanFailures.Set(float64(n))
}
