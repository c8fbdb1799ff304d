package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

// The operations settings are checked like the others: every bad one named
// at once, with what would do.
func TestOpsSettingsRefused(t *testing.T) {
	env := validServeEnv(t)
	env["TAPDESK_LOG_FORMAT"] = "xml"
	env["TAPDESK_SWEEP_INTERVAL"] = "1s"
	env["TAPDESK_SHUTDOWN_GRACE"] = "0s"
	err := run(context.Background(), []string{"serve"}, envFrom(env), io.Discard, io.Discard)
	if err == nil {
		t.Fatal("serve started with bad operations settings")
	}
	for _, want := range []string{`TAPDESK_LOG_FORMAT: "xml" is not json or text`, "TAPDESK_SWEEP_INTERVAL: 1s is outside 5s to 1h",
		"TAPDESK_SHUTDOWN_GRACE: \"0s\" is not a duration longer than 0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal lacks %q:\n%v", want, err)
		}
	}
	err = run(context.Background(), []string{"demo", "--addr", "127.0.0.1:0", "--sweep-interval", "2h", "--log-format", "yaml"},
		envFrom(nil), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "TAPDESK_SWEEP_INTERVAL: 2h is outside") || !strings.Contains(err.Error(), "TAPDESK_LOG_FORMAT") {
		t.Fatalf("demo: %v", err)
	}
}
