package evidence_test

import (
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/evidence"
)

func newSigner(t testing.TB) *evidence.Signer {
	t.Helper()
	_, k, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	// Through the PEM, as the setting gives it.
	s, err := evidence.ParsePrivateKey(evidence.PrivateKeyPEM(k))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestKeysRoundTrip(t *testing.T) {
	s := newSigner(t)
	pub, err := evidence.ParsePublicKey(evidence.PublicKeyPEM(s.Public()))
	if err != nil || !pub.Equal(s.Public()) {
		t.Fatalf("public key round trip: %v", err)
	}
	body := strings.Join(strings.Split(strings.TrimSpace(evidence.PublicKeyPEM(s.Public())), "\n")[1:2], "")
	if pub, err := evidence.ParsePublicKey(body); err != nil || !pub.Equal(s.Public()) {
		t.Fatalf("the PEM's body alone: %v", err)
	}
	for name, bad := range map[string]string{
		"not PEM":    "hello",
		"public key": evidence.PublicKeyPEM(s.Public()),
	} {
		if _, err := evidence.ParsePrivateKey(bad); err == nil {
			t.Errorf("%s read as a private key", name)
		}
	}
}

func TestCheckpointSignature(t *testing.T) {
	s := newSigner(t)
	cp := s.SignCheckpoint(42, strings.Repeat("ab", 32), time.Date(2026, 11, 29, 5, 0, 0, 0, time.UTC))
	back, err := evidence.ParseCheckpoint(cp.Line())
	if err != nil {
		t.Fatal(err)
	}
	if err := back.Verify(s.Public()); err != nil {
		t.Fatalf("a fresh checkpoint does not verify: %v", err)
	}
	forged := back
	forged.Seq = 41
	if err := forged.Verify(s.Public()); err == nil || !strings.Contains(err.Error(), "forged or altered") {
		t.Errorf("a changed seq: %v", err)
	}
	other := newSigner(t)
	if err := back.Verify(other.Public()); err == nil || !strings.Contains(err.Error(), "names key") {
		t.Errorf("another key: %v", err)
	}
	if _, err := evidence.ParseCheckpoint([]byte(`{"format":"tapdesk-audit-checkpoint-v1","seq":1,"extra":1}`)); err == nil {
		t.Error("unknown fields were accepted")
	}
}

func samplePack(t *testing.T, s *evidence.Signer) []byte {
	t.Helper()
	at := time.Date(2026, 11, 29, 5, 0, 0, 0, time.UTC)
	r := &tapdesk.Request{ID: "01JREQUEST0000000000000000", State: tapdesk.StateDenied, TargetUPN: "nina@contoso.example",
		Justification: "Locked out", CreatedAt: at, UpdatedAt: at, ExpiresAt: at.Add(time.Hour), DecisionNote: "caller could not say their manager"}
	evs := []evidence.SealedEvent{
		{Event: tapdesk.Event{Seq: 10, Time: at, Activity: tapdesk.ActRequestFiled, RequestID: r.ID}, MAC: strings.Repeat("1", 64)},
		{Event: tapdesk.Event{Seq: 12, Time: at, Activity: tapdesk.ActMailQueued, RequestID: r.ID}, MAC: strings.Repeat("2", 64)},
		{Event: tapdesk.Event{Seq: 15, Time: at, Activity: tapdesk.ActDeny, Result: tapdesk.ResultFailure, Reason: "caller could not say their manager",
			RequestID: r.ID, Details: map[string]string{"approver": "avery"}}, MAC: strings.Repeat("3", 64)},
	}
	cp := s.SignCheckpoint(20, strings.Repeat("4", 64), at)
	pack, err := s.BuildPack(r, evs, cp, "Audrey Auditor", at)
	if err != nil {
		t.Fatal(err)
	}
	return pack
}

// edit decodes a pack, changes it and encodes it again.
func edit(t *testing.T, pack []byte, change func(map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(pack, &m); err != nil {
		t.Fatal(err)
	}
	change(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func events(m map[string]any) []any { return m["events"].([]any) }

func TestPackChecksOutAndTamperingIsNamed(t *testing.T) {
	s := newSigner(t)
	pack := samplePack(t, s)
	sum, bad := evidence.CheckPack(pack, s.Public())
	if len(bad) > 0 {
		t.Fatalf("a fresh pack does not check out: %v", bad)
	}
	if sum.Events != 3 || sum.FirstSeq != 10 || sum.LastSeq != 15 || sum.Checkpoint.Seq != 20 {
		t.Errorf("summary %+v", sum)
	}
	// Re-encoded without indentation it still checks out: the digests are
	// of the content, not the spacing.
	if _, bad := evidence.CheckPack(edit(t, pack, func(map[string]any) {}), s.Public()); len(bad) > 0 {
		t.Errorf("re-encoded pack: %v", bad)
	}
	cases := map[string]struct {
		change func(map[string]any)
		want   string
	}{
		"an edited reason": {func(m map[string]any) {
			events(m)[2].(map[string]any)["reason"] = "approved by phone"
		}, "Event 15 (Deny request) was changed"},
		"a removed event": {func(m map[string]any) {
			m["events"] = append(events(m)[:1], events(m)[2:]...)
		}, "Event 12 (Queue mail) is missing"},
		"a changed seq": {func(m map[string]any) {
			events(m)[1].(map[string]any)["seq"] = 13
		}, "Event 13 (Queue mail), number 2 in the pack, is not among the signed events"},
		"a changed mac": {func(m map[string]any) {
			events(m)[0].(map[string]any)["mac"] = strings.Repeat("9", 64)
		}, "Event 10 (File request) carries a mac other than the signed one"},
		"an edited request": {func(m map[string]any) {
			m["request"].(map[string]any)["decision_note"] = "fine"
		}, "was changed after the pack was signed: its content does not match"},
		"an edited manifest": {func(m map[string]any) {
			m["manifest"].(map[string]any)["exported_by"] = "Mallory"
		}, "The pack's signature does not check out with the public key"},
		"a forged checkpoint": {func(m map[string]any) {
			m["manifest"].(map[string]any)["checkpoint"].(map[string]any)["seq"] = 14
		}, "The pack's signature does not check out"},
		"an unknown field": {func(m map[string]any) {
			m["pass"] = "secret"
		}, "not a tapdesk evidence pack"},
		"another format": {func(m map[string]any) {
			m["format"] = "something-else"
		}, "not a tapdesk evidence pack"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, bad := evidence.CheckPack(edit(t, pack, c.change), s.Public())
			if !strings.Contains(strings.Join(bad, "\n"), c.want) {
				t.Errorf("problems %q, want one saying %q", bad, c.want)
			}
		})
	}
	t.Run("another key", func(t *testing.T) {
		_, bad := evidence.CheckPack(pack, newSigner(t).Public())
		if len(bad) != 1 || !strings.Contains(bad[0], "names key "+s.KeyID()) {
			t.Errorf("problems %q", bad)
		}
	})
}

// A pack whose checkpoint comes before an event is refused when built;
// one signed by a key other than the checkpoint's is named when checked.
func TestPackCheckpointMustFollowTheEvents(t *testing.T) {
	s := newSigner(t)
	at := time.Now()
	r := &tapdesk.Request{ID: "01JREQUEST0000000000000000"}
	evs := []evidence.SealedEvent{{Event: tapdesk.Event{Seq: 30, RequestID: r.ID}, MAC: strings.Repeat("1", 64)}}
	if _, err := s.BuildPack(r, evs, s.SignCheckpoint(29, strings.Repeat("4", 64), at), "x", at); err == nil {
		t.Error("a checkpoint before the last event was packed")
	}
	other := newSigner(t)
	pack, err := s.BuildPack(r, evs, other.SignCheckpoint(31, strings.Repeat("4", 64), at), "x", at)
	if err != nil {
		t.Fatal(err)
	}
	_, bad := evidence.CheckPack(pack, s.Public())
	if len(bad) != 1 || !strings.Contains(bad[0], "The checkpoint in the pack does not check out") {
		t.Errorf("problems %q", bad)
	}
}
