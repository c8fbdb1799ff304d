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
}

func (o *outsidePasses) register(r *prometheus.Registry) {
	o.found = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tapdesk_outside_passes_found_total",
		Help: "Temporary Access Passes found in Entra's directory audit log that no request in tapdesk issued, by who made them (user, app, tapdesk_app)."},
		[]string{"initiator"})
	o.deleted = prometheus.NewCounter(prometheus.CounterOpts{Name: "tapdesk_outside_passes_deleted_total",
		Help: "Passes made outside tapdesk that tapdesk deleted (TAPDESK_OUTSIDE_PASS_DELETE)."})
	r.MustRegister(o.found, o.deleted)
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
