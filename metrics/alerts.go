package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tapdesk/tapdesk"
)

func newAlertsRaised() *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tapdesk_alerts_raised_total",
		Help: "Alerts raised for the security team, by rule (tapdesk.AlertRules); counted by the instance that raised them."}, []string{"rule"})
	// Zero series for every rule, so rates and alerting on them work
	// before the first alert.
	for _, r := range tapdesk.AlertRules() {
		c.WithLabelValues(string(r))
	}
	return c
}

// AlertRaised counts an alert of rule (a rule name, never a person).
func (m *Metrics) AlertRaised(rule string) {
	if m == nil {
		return
	}
	m.alertsRaised.WithLabelValues(rule).Inc()
}
