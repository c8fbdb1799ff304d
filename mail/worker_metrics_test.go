package mail

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tapdesk/tapdesk/metrics"
)

// counterValue is the value of name{label=value} in g ("" label: unlabelled).
func counterValue(t *testing.T, g prometheus.Gatherer, name, label, value string) float64 {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			match := label == ""
			for _, l := range m.GetLabel() {
				match = match || (l.GetName() == label && l.GetValue() == value)
			}
			if match {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no %s{%s=%q}", name, label, value)
	return 0
}

func TestWorkerCountsSendsAndFailures(t *testing.T) {
	m := metrics.New(metrics.Build{Version: "test", Commit: "test"})
	e := newWorkerEnv(t, deadSender(t), WorkerOptions{MaxAttempts: 2, Metrics: m})
	e.outbox.add("approval_request", "req-1", "ann@contoso.example", e.clock.now())

	e.runOnce(t, 0, 1) // fails, will retry
	if got := counterValue(t, m.Registry(), "tapdesk_mail_failures_total", "kind", metrics.MailTemporary); got != 1 {
		t.Errorf("temporary failures %v after one retried failure", got)
	}
	e.clock.advance(testBackoff)
	e.runOnce(t, 0, 1) // the last attempt: given up
	if got := counterValue(t, m.Registry(), "tapdesk_mail_failures_total", "kind", metrics.MailPermanent); got != 1 {
		t.Errorf("permanent failures %v after giving up", got)
	}

	e.sender.set(captureSender(t, startCapture(t)))
	e.outbox.add("approval_request", "req-2", "ben@contoso.example", e.clock.now())
	e.runOnce(t, 1, 0)
	if got := counterValue(t, m.Registry(), "tapdesk_mail_sent_total", "", ""); got != 1 {
		t.Errorf("sent %v after one send", got)
	}
	if got := counterValue(t, m.Registry(), "tapdesk_mail_failures_total", "kind", metrics.MailTemporary); got != 1 {
		t.Errorf("temporary failures moved to %v on a send", got)
	}
}
