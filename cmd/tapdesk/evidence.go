package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/tapdesk/tapdesk"
	"github.com/tapdesk/tapdesk/evidence"
)

// Evidence that stands outside the database (issue 13): signed
// checkpoints of the trail's head and per-request evidence packs. The
// formats and signing live in package evidence; this is their wiring.

// demoSigningKey signs the demo's checkpoints and packs. Like the demo's
// audit key it is fixed and public, so packs from a kept demo database
// check out with the key `tapdesk audit public-key` prints for it; serve
// refuses it.
func demoSigningKey() ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("tapdesk-demo-signing-key-not-a-secret"))
	return ed25519.NewKeyFromSeed(seed[:])
}

// demoEvidence is the demo's checkpoint config: its public key signs.
func demoEvidence(cfg evidence.PublisherConfig) evidence.PublisherConfig {
	if cfg.Signer == nil {
		cfg.Signer = evidence.NewSigner(demoSigningKey())
	}
	return cfg
}

// evidenceSettings declares the settings of checkpoints and packs, which
// serve and the audit commands share.
func evidenceSettings(s *settings) {
	s.section("Audit evidence")
	s.secret("audit-signing-key", "Ed25519 private key in PKCS#8 PEM (openssl genpkey -algorithm ed25519) that signs the audit checkpoints and evidence packs; without it neither is made. tapdesk audit public-key prints the public key auditors keep", false)
	s.str("audit-head-interval", "1h", "how often a signed checkpoint of the audit trail's head is published (and once more at shutdown)")
	s.str("audit-head-file", "", "append every signed checkpoint to this file as a JSON line (opened append-only, synced); keep it where the database's owner cannot rewrite it, and pass it to audit verify --checkpoints")
	s.str("audit-head-webhook", "", "POST every signed checkpoint as JSON to this https URL (retried with backoff)")
}

// evidenceConfig reads those settings; nil Signer when no key is set.
func evidenceConfig(s *settings, problems *[]string) evidence.PublisherConfig {
	var cfg evidence.PublisherConfig
	if k := s.get("audit-signing-key"); k != "" {
		signer, err := evidence.ParsePrivateKey(k)
		if err != nil {
			*problems = append(*problems, "TAPDESK_AUDIT_SIGNING_KEY: "+err.Error())
		}
		cfg.Signer = signer
	}
	cfg.Interval = s.duration("audit-head-interval", problems)
	if p := tapdesk.AuditHeadIntervalProblem(cfg.Interval); cfg.Interval != 0 && p != "" {
		*problems = append(*problems, "TAPDESK_AUDIT_HEAD_INTERVAL: "+p)
	}
	cfg.File = s.get("audit-head-file")
	if w := s.get("audit-head-webhook"); w != "" {
		u, err := url.Parse(w)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			*problems = append(*problems, "TAPDESK_AUDIT_HEAD_WEBHOOK: must be a URL like https://evidence.example.com/checkpoints")
		}
		cfg.Webhook = w
	}
	return cfg
}

// signingKeyProblems refuses the public demo signing key in serve: anyone
// could sign checkpoints and packs with it.
func signingKeyProblems(cfg evidence.PublisherConfig) []string {
	if cfg.Signer != nil && cfg.Signer.KeyID() == evidence.KeyID(demoSigningKey().Public().(ed25519.PublicKey)) {
		return []string{"TAPDESK_AUDIT_SIGNING_KEY: is the public demo key, so anyone could sign checkpoints and evidence packs with it; " +
			"generate one of your own: openssl genpkey -algorithm ed25519"}
	}
	return nil
}

// startEvidence makes the app's publisher when a signing key is set.
func (a *app) startEvidence() {
	cfg := a.cfg.Evidence
	if cfg.Signer == nil {
		a.cfg.Logger.Warn("no TAPDESK_AUDIT_SIGNING_KEY: audit checkpoints are not published and evidence packs cannot be made")
		return
	}
	cfg.Logger, cfg.Now = a.cfg.Logger, a.cfg.Now
	a.evidence = evidence.NewPublisher(a.db, cfg)
}

// publishCheckpoint is the sweep's job: the interval's checkpoint, once
// across instances.
func (a *app) publishCheckpoint(ctx context.Context) (int, error) {
	if a.evidence == nil {
		return 0, nil
	}
	return a.evidence.PublishDue(ctx)
}

// publishAtShutdown publishes the last checkpoint on the way out; the
// webhook gets what is left of the shutdown grace (deliver), no more.
func (a *app) publishAtShutdown(deliver context.Context) {
	if a.evidence == nil {
		return
	}
	start := time.Now()
	if _, err := a.evidence.PublishFinal(deliver); err != nil {
		a.cfg.Logger.Error("publishing the audit checkpoint at shutdown", "err", err, "took", time.Since(start).String())
	}
}

// printDemoEvidenceKey tells the demo's user the key its evidence packs
// check out with (tapdesk audit check-evidence FILE --public-key KEY).
func printDemoEvidenceKey(w io.Writer) {
	fmt.Fprintln(w, "\nEvidence packs (a request's page, for auditors and its agent) are signed with a public demo key;")
	fmt.Fprintln(w, "save this as demo-public.pem and check a pack with: go run ./cmd/tapdesk audit check-evidence PACK --public-key demo-public.pem")
	fmt.Fprint(w, evidence.PublicKeyPEM(demoSigningKey().Public().(ed25519.PublicKey)))
}
